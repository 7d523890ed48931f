//! lvs.cf's hosts as addresses, and this host's own addresses: what `pulse` plans its part in
//! the pair from, and what `pulsectl config push|receive` find the partner and check a file
//! with. One copy, so the daemon and the tool never disagree about which director is which.

use pulse_lvscf::model::Host;
use std::net::{IpAddr, ToSocketAddrs};

/// A host of lvs.cf as an address: a literal as written, a name as its first IPv4 address, or
/// its first IPv6 one if it has none (heartbeat addresses and VIPs may be either family).
pub fn resolve(h: &Host) -> Option<IpAddr> {
    resolve_ip(h, true).or_else(|| resolve_ip(h, false))
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

/// Every address, IPv4 then IPv6, of this network namespace's interfaces.
pub fn local_addresses() -> Vec<IpAddr> {
    crate::interfaces()
        .into_iter()
        .flat_map(|i| {
            let v4 = i.ipv4.into_iter().map(IpAddr::V4);
            v4.chain(i.ipv6.into_iter().map(IpAddr::V6))
        })
        .collect()
}
