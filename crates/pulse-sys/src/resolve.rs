//! lvs.cf's hosts as addresses, and this host's own addresses: what `pulse` plans its part in
//! the pair from, and what `pulsectl config push|receive` find the partner and check a file
//! with. One copy, so the daemon and the tool never disagree about which director is which.

use pulse_lvscf::model::Host;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

/// A host of lvs.cf as an IPv4 address (heartbeat addresses and VIPs are IPv4 today).
pub fn resolve(h: &Host) -> Option<Ipv4Addr> {
    match resolve_ip(h, true)? {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// A host of lvs.cf as an address of either family (`v4_only`: the first IPv4 one). Names go
/// through the system resolver (`getaddrinfo`), which may block.
pub fn resolve_ip(h: &Host, v4_only: bool) -> Option<IpAddr> {
    match h {
        Host::Ip(a) => Some(*a),
        Host::Name(n) => (n.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .map(|a| a.ip())
            .find(|a| !v4_only || a.is_ipv4()),
    }
}

/// Every IPv4 address of this network namespace's interfaces.
pub fn local_addresses() -> Vec<Ipv4Addr> {
    crate::interfaces()
        .into_iter()
        .flat_map(|i| i.ipv4)
        .collect()
}
