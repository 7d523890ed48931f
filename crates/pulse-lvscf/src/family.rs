//! Address families that cannot go together (IPv6 is a Pulse extension): the one list of these
//! rejections. `pulsectl config check` reports them for literal addresses (`mixed-families`);
//! pulse's plan and lvsd's plan ask again with host names resolved, so a name that resolves
//! to the other family is refused with the same words.

use crate::model::{Host, LvsConfig, Network};
use std::fmt;
use std::net::IpAddr;

/// One pair of addresses of different families that must share one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MixedFamily {
    /// `primary` and `backup`: the heartbeat's public link is one UDP path.
    PrimaryBackup {
        /// `primary`.
        primary: IpAddr,
        /// `backup`.
        backup: IpAddr,
    },
    /// `primary_private` and `backup_private`.
    PrivateLink {
        /// `primary_private`.
        primary: IpAddr,
        /// `backup_private`.
        backup: IpAddr,
    },
    /// The two ends of a `heartbeat_link` line (0-based among those lines).
    HeartbeatLink {
        /// Which `heartbeat_link` line.
        index: usize,
        /// Its primary end.
        primary: IpAddr,
        /// Its backup end.
        backup: IpAddr,
    },
    /// A real server of the other family than its virtual service. IPVS forwards across
    /// families only by tunnelling (`ip_vs_ctl.c`: `-EAFNOSUPPORT` for a mixed-family
    /// destination unless its forwarding is `IP_VS_CONN_F_TUNNEL`): a DR frame keeps the VIP as
    /// destination, and NAT rewrites addresses within one family.
    Server {
        /// The `virtual` block.
        virtual_name: String,
        /// The `server` block.
        server: String,
        /// The VIP.
        vip: IpAddr,
        /// The server's address.
        addr: IpAddr,
        /// `network`.
        network: Network,
    },
    /// `sorry_server` (an IPv4 address, as piranha reads it) under an IPv6 VIP, outside
    /// `network = tunnel`.
    SorryServer {
        /// The `virtual` block.
        virtual_name: String,
        /// The VIP.
        vip: IpAddr,
        /// `sorry_server`.
        addr: IpAddr,
        /// `network`.
        network: Network,
    },
}

fn family(a: &IpAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

impl fmt::Display for MixedFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PrimaryBackup { primary, backup } => write!(
                f,
                "`primary` {primary} is {} but `backup` {backup} is {}",
                family(primary),
                family(backup)
            ),
            Self::PrivateLink { primary, backup } => write!(
                f,
                "`primary_private` {primary} is {} but `backup_private` {backup} is {}",
                family(primary),
                family(backup)
            ),
            Self::HeartbeatLink {
                index,
                primary,
                backup,
            } => write!(
                f,
                "heartbeat_link #{}: {primary} is {} but {backup} is {}",
                index + 1,
                family(primary),
                family(backup)
            ),
            Self::Server {
                virtual_name,
                server,
                vip,
                addr,
                network,
            } => write!(
                f,
                "`server {server}` ({addr}, {}) cannot serve the {} VIP {vip} of `virtual {virtual_name}` with `network = {}`",
                family(addr),
                family(vip),
                network
            ),
            Self::SorryServer {
                virtual_name,
                vip,
                addr,
                network,
            } => write!(
                f,
                "`sorry_server` {addr} ({}) cannot serve the {} VIP {vip} of `virtual {virtual_name}` with `network = {}`",
                family(addr),
                family(vip),
                network
            ),
        }
    }
}

impl MixedFamily {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            Self::PrimaryBackup { .. } | Self::PrivateLink { .. } | Self::HeartbeatLink { .. } => {
                "both ends of a heartbeat link must be IPv4, or both IPv6"
            }
            Self::Server { .. } | Self::SorryServer { .. } => {
                "IPVS forwards between IPv4 and IPv6 only with `network = tunnel`; give the server an address of the VIP's family"
            }
        }
    }
}

/// Every mixed-family pair of `cfg`, with hosts resolved by `resolve` (`None`: not known, not
/// checked). Only active virtual services and servers count.
pub fn mixed_families(
    cfg: &LvsConfig,
    resolve: &mut dyn FnMut(&Host) -> Option<IpAddr>,
) -> Vec<MixedFamily> {
    let mut out = Vec::new();
    let mut pair = |a: &Option<Host>, b: &Option<Host>| -> Option<(IpAddr, IpAddr)> {
        let a = resolve(a.as_ref()?)?;
        let b = resolve(b.as_ref()?)?;
        (a.is_ipv4() != b.is_ipv4()).then_some((a, b))
    };
    if let Some((primary, backup)) = pair(&cfg.primary, &cfg.backup) {
        out.push(MixedFamily::PrimaryBackup { primary, backup });
    }
    // The private link exists only when `primary_private` is set and differs from `primary`
    // (piranha ignores `backup_private` otherwise); each end defaults to its public address.
    let pp = cfg.primary_private.clone().or_else(|| cfg.primary.clone());
    let bp = cfg.backup_private.clone().or_else(|| cfg.backup.clone());
    if pp != cfg.primary
        && let Some((primary, backup)) = pair(&pp, &bp)
    {
        out.push(MixedFamily::PrivateLink { primary, backup });
    }
    for (index, (p, b)) in cfg.heartbeat_links.iter().enumerate() {
        if let Some((primary, backup)) = pair(&Some(p.clone()), &Some(b.clone())) {
            out.push(MixedFamily::HeartbeatLink {
                index,
                primary,
                backup,
            });
        }
    }
    if cfg.network == Network::Tunnel {
        return out;
    }
    for vs in cfg.virtuals.iter().filter(|v| v.active) {
        let Some(vip) = vs.address.as_ref().and_then(|a| resolve(&a.addr)) else {
            continue;
        };
        for rs in vs.servers.iter().filter(|r| r.active) {
            let Some(addr) = rs.address.as_ref().and_then(&mut *resolve) else {
                continue;
            };
            if addr.is_ipv4() != vip.is_ipv4() {
                out.push(MixedFamily::Server {
                    virtual_name: vs.name.clone(),
                    server: rs.name.clone(),
                    vip,
                    addr,
                    network: cfg.network,
                });
            }
        }
        if let Some(s) = vs.sorry_server
            && vip.is_ipv6()
        {
            out.push(MixedFamily::SorryServer {
                virtual_name: vs.name.clone(),
                vip,
                addr: IpAddr::V4(s),
                network: cfg.network,
            });
        }
    }
    out
}

/// Literal addresses only (what a check without name resolution can know).
pub fn literal(h: &Host) -> Option<IpAddr> {
    match h {
        Host::Ip(a) => Some(*a),
        Host::Name(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed(src: &str) -> Vec<String> {
        let cfg = crate::parse(src).config;
        mixed_families(&cfg, &mut literal)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const V6_WITH_V4_SERVER: &str = "virtual w {\n active = 1\n address = 2001:db8::100 eth0\n sorry_server = 192.0.2.99\n\
                                     server a {\n address = 192.0.2.21\n active = 1\n }\n}\n";

    #[test]
    fn a_v4_server_under_a_v6_vip_only_with_tunnel() {
        for network in ["direct", "nat"] {
            let m = mixed(&format!("network = {network}\n{V6_WITH_V4_SERVER}"));
            assert_eq!(m.len(), 2, "{m:?}");
            assert!(m[0].contains("`server a` (192.0.2.21, IPv4) cannot serve the IPv6 VIP"));
            assert!(
                m[1].starts_with("`sorry_server` 192.0.2.99 (IPv4)"),
                "{}",
                m[1]
            );
        }
        assert!(mixed(&format!("network = tunnel\n{V6_WITH_V4_SERVER}")).is_empty());
    }

    #[test]
    fn heartbeat_ends_and_inactive_blocks() {
        let m = mixed(
            "primary = 2001:db8::11\nbackup = 2001:db8::12\nprimary_private = 198.51.100.11\n\
             backup_private = 2001:db8:1::12\nheartbeat_link = 203.0.113.11 203.0.113.12\n\
             virtual w {\n active = 0\n address = 2001:db8::100 eth0\n\
             server a {\n address = 192.0.2.21\n active = 1\n }\n}\n",
        );
        assert_eq!(
            m,
            ["`primary_private` 198.51.100.11 is IPv4 but `backup_private` 2001:db8:1::12 is IPv6"],
            "an inactive virtual is not checked"
        );
    }
}
