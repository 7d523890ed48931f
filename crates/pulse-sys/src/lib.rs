//! `pulse-sys`: the Linux side of a director — interfaces, VIP addresses over rtnetlink (neli),
//! and gratuitous ARP / unsolicited neighbour advertisements on a raw link-layer socket (pnet).
//!
//! This is the only crate that talks to the kernel for addresses and frames. It holds no policy:
//! what to claim and when is decided by `pulse-proto`'s state machine and the daemon.

#![warn(missing_docs)]

pub mod ipvs;
pub mod logging;
pub mod netcheck;
pub mod process;
pub mod resolve;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, RtTable, Rta, Rtm, Rtn, Rtprot};
use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::nl::{NlPayload, Nlmsghdr};
use neli::router::synchronous::NlRouter;
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, RtattrBuilder, Rtmsg, RtmsgBuilder};
use neli::types::{Buffer, RtBuffer};
use neli::utils::Groups;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What went wrong, with the interface and address it concerned.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// No interface of that name in this network namespace.
    #[error("no interface named {0}")]
    NoInterface(String),
    /// The interface has no Ethernet address (gratuitous ARP impossible).
    #[error("interface {0} has no MAC address")]
    NoMac(String),
    /// Opening the rtnetlink socket failed.
    #[error("cannot open rtnetlink: {0}")]
    Connect(String),
    /// The kernel refused an address change.
    #[error("cannot {op} {addr}/{prefix} on {ifname}: {msg}")]
    Address {
        /// `add` or `delete`.
        op: &'static str,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix: u8,
        /// The interface.
        ifname: String,
        /// The kernel's or neli's message.
        msg: String,
    },
    /// Listing addresses failed.
    #[error("cannot list addresses: {0}")]
    List(String),
    /// The kernel refused a route change or dump (`ecmp = 1`'s announcement routes).
    #[error("cannot {op} route {addr} dev lo table {table}: {msg}")]
    Route {
        /// `replace`, `delete` or `list`.
        op: &'static str,
        /// The VIP (unspecified for a dump).
        addr: IpAddr,
        /// The routing table.
        table: u32,
        /// The kernel's or neli's message.
        msg: String,
    },
    /// The raw socket for ARP could not be opened or written.
    #[error("cannot send ARP on {ifname}: {source}")]
    Arp {
        /// The interface.
        ifname: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An interface as the daemon needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Kernel name, e.g. `eth0`.
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Ethernet address.
    pub mac: Option<[u8; 6]>,
    /// IPv4 addresses (primary and secondary).
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 addresses.
    pub ipv6: Vec<Ipv6Addr>,
    /// Administratively up and with carrier.
    pub running: bool,
}

/// All interfaces of this network namespace.
pub fn interfaces() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            running: i.is_up() && i.is_running(),
            ipv4: i
                .ips
                .iter()
                .filter_map(|n| match n.ip() {
                    std::net::IpAddr::V4(a) => Some(a),
                    std::net::IpAddr::V6(_) => None,
                })
                .collect(),
            ipv6: i
                .ips
                .iter()
                .filter_map(|n| match n.ip() {
                    std::net::IpAddr::V6(a) => Some(a),
                    std::net::IpAddr::V4(_) => None,
                })
                .collect(),
            mac: i.mac.map(|m| m.octets()),
            index: i.index,
            name: i.name,
        })
        .collect()
}

/// The interface called `name` (an alias such as `eth0:1` names its base device `eth0`).
pub fn interface(name: &str) -> Result<Interface, SysError> {
    let base = name.split(':').next().unwrap_or(name);
    interfaces()
        .into_iter()
        .find(|i| i.name == base)
        .ok_or_else(|| SysError::NoInterface(base.to_string()))
}

/// An IPv4 address on an interface, as rtnetlink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressEntry {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
    /// The label (`eth0:1` for piranha-style aliases).
    pub label: Option<String>,
}

/// A route netlink connection for address changes.
pub struct Rtnl {
    router: NlRouter,
}

impl std::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rtnl")
    }
}

/// errno values the kernel uses for "already there" and "not there".
const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;
/// `fib_table_delete` for a route that is not there.
const ESRCH: i32 = 3;

impl Rtnl {
    /// Open a route netlink socket in the current network namespace.
    pub fn connect() -> Result<Self, SysError> {
        let (router, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| SysError::Connect(e.to_string()))?;
        Ok(Self { router })
    }

    /// Add `addr/prefix` to interface `ifindex`, labelled `label` (piranha's `eth0:1` alias
    /// names; `ip addr` shows them; IPv4 only, the kernel has no labels for IPv6). An IPv6
    /// address is added with `IFA_F_NODAD` (`ip addr add … nodad`): without it the kernel
    /// holds it tentative for `dad_transmits` × `retrans_time` (1 s by default) before it may
    /// be used, and a takeover must not wait; the pair, not DAD, decides who holds a VIP. It
    /// is added deprecated (`preferred_lft 0`), so it is never the source of the host's own
    /// connections.
    /// Returns `false` if the address was already there.
    pub fn add_address(
        &self,
        ifindex: u32,
        ifname: &str,
        label: &str,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<bool, SysError> {
        let err = |msg: String| SysError::Address {
            op: "add",
            addr,
            prefix,
            ifname: ifname.to_string(),
            msg,
        };
        let msg = address_msg(ifindex, label, addr, prefix).map_err(|e| err(e.to_string()))?;
        match self.exchange(Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL | NlmF::ACK, msg) {
            Ok(()) => Ok(true),
            Err(Some(errno)) if errno == EEXIST => Ok(false),
            Err(e) => Err(err(describe(e))),
        }
    }

    /// Remove `addr/prefix` from interface `ifindex`. Returns `false` if it was not there.
    pub fn delete_address(
        &self,
        ifindex: u32,
        ifname: &str,
        addr: IpAddr,
        prefix: u8,
    ) -> Result<bool, SysError> {
        let err = |msg: String| SysError::Address {
            op: "delete",
            addr,
            prefix,
            ifname: ifname.to_string(),
            msg,
        };
        let msg = address_msg(ifindex, "", addr, prefix).map_err(|e| err(e.to_string()))?;
        match self.exchange(Rtm::Deladdr, NlmF::ACK, msg) {
            Ok(()) => Ok(true),
            Err(Some(errno)) if errno == EADDRNOTAVAIL => Ok(false),
            Err(e) => Err(err(describe(e))),
        }
    }

    /// Every IPv4 address of this namespace.
    pub fn addresses(&self) -> Result<Vec<AddressEntry>, SysError> {
        let req = IfaddrmsgBuilder::default()
            .ifa_family(RtAddrFamily::Inet)
            .ifa_prefixlen(0)
            .ifa_scope(RtScope::Universe)
            .ifa_index(0)
            .build()
            .map_err(|e| SysError::List(e.to_string()))?;
        let recv = self
            .router
            .send::<Rtm, Ifaddrmsg, Rtm, Ifaddrmsg>(
                Rtm::Getaddr,
                NlmF::DUMP,
                NlPayload::Payload(req),
            )
            .map_err(|e| SysError::List(e.to_string()))?;
        let mut out = Vec::new();
        for msg in recv {
            let msg: Nlmsghdr<Rtm, Ifaddrmsg> = msg.map_err(|e| SysError::List(e.to_string()))?;
            let NlPayload::Payload(p) = msg.nl_payload() else {
                continue;
            };
            if *p.ifa_family() != RtAddrFamily::Inet {
                continue;
            }
            let handle = p.rtattrs().get_attr_handle();
            let Ok(raw) = handle.get_attr_payload_as::<u32>(Ifa::Local) else {
                continue;
            };
            let label = handle
                .get_attr_payload_as_with_len::<String>(Ifa::Label)
                .ok()
                .map(|l| l.trim_end_matches('\0').to_string());
            out.push(AddressEntry {
                ifindex: *p.ifa_index(),
                addr: Ipv4Addr::from(u32::from_be(raw)),
                prefix: *p.ifa_prefixlen(),
                label,
            });
        }
        Ok(out)
    }

    /// `ecmp = 1`'s announcement: `ip route replace VIP/32 dev lo table TABLE` (a /128 for
    /// IPv6). The routing daemon learns it from netlink at once and exports it; replacing makes
    /// a repeat harmless.
    pub fn replace_host_route(&self, table: u32, addr: IpAddr, lo: u32) -> Result<(), SysError> {
        let err = |msg: String| SysError::Route {
            op: "replace",
            addr,
            table,
            msg,
        };
        let msg = route_msg(table, addr, Some(lo)).map_err(|e| err(e.to_string()))?;
        self.exchange_route(Rtm::Newroute, NlmF::CREATE | NlmF::REPLACE | NlmF::ACK, msg)
            .map_err(|e| err(describe(e)))
    }

    /// The withdrawal: `ip route del VIP/32 table TABLE`. `false` if it was not there.
    pub fn delete_host_route(&self, table: u32, addr: IpAddr) -> Result<bool, SysError> {
        let err = |msg: String| SysError::Route {
            op: "delete",
            addr,
            table,
            msg,
        };
        let msg = route_msg(table, addr, None).map_err(|e| err(e.to_string()))?;
        match self.exchange_route(Rtm::Delroute, NlmF::ACK, msg) {
            Ok(()) => Ok(true),
            Err(Some(errno)) if errno == ESRCH => Ok(false),
            Err(e) => Err(err(describe(e))),
        }
    }

    /// The host routes (/32, /128) of `table`: what a restarted pulse adopts.
    pub fn host_routes(&self, table: u32) -> Result<Vec<IpAddr>, SysError> {
        let err = |msg: String| SysError::Route {
            op: "list",
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            table,
            msg,
        };
        let mut out = Vec::new();
        for family in [RtAddrFamily::Inet, RtAddrFamily::Inet6] {
            let req = RtmsgBuilder::default()
                .rtm_family(family)
                .rtm_dst_len(0)
                .rtm_src_len(0)
                .rtm_tos(0)
                .rtm_table(RtTable::Unspec)
                .rtm_protocol(Rtprot::Unspec)
                .rtm_scope(RtScope::Universe)
                .rtm_type(Rtn::Unspec)
                .build()
                .map_err(|e| err(e.to_string()))?;
            let recv = self
                .router
                .send::<Rtm, Rtmsg, Rtm, Rtmsg>(Rtm::Getroute, NlmF::DUMP, NlPayload::Payload(req))
                .map_err(|e| err(e.to_string()))?;
            for msg in recv {
                let msg: Nlmsghdr<Rtm, Rtmsg> = msg.map_err(|e| err(e.to_string()))?;
                let NlPayload::Payload(p) = msg.nl_payload() else {
                    continue;
                };
                let handle = p.rtattrs().get_attr_handle();
                let t = handle
                    .get_attr_payload_as::<u32>(Rta::Table)
                    .unwrap_or_else(|_| u32::from(u8::from(*p.rtm_table())));
                if t != table {
                    continue;
                }
                let Some(dst) = handle.get_attribute(Rta::Dst) else {
                    continue;
                };
                let bytes: &[u8] = dst.rta_payload().as_ref();
                let addr = match (*p.rtm_family(), *p.rtm_dst_len(), bytes.len()) {
                    (RtAddrFamily::Inet, 32, 4) => IpAddr::V4(Ipv4Addr::from(
                        <[u8; 4]>::try_from(bytes).unwrap_or_default(),
                    )),
                    (RtAddrFamily::Inet6, 128, 16) => IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(bytes).unwrap_or_default(),
                    )),
                    _ => continue,
                };
                out.push(addr);
            }
        }
        Ok(out)
    }

    fn exchange_route(&self, ty: Rtm, flags: NlmF, msg: Rtmsg) -> Result<(), Option<i32>> {
        let recv = self
            .router
            .send::<Rtm, Rtmsg, Rtm, Rtmsg>(ty, flags, NlPayload::Payload(msg))
            .map_err(|e| errno_of(&e))?;
        for m in recv {
            let _: Nlmsghdr<Rtm, Rtmsg> = m.map_err(|e| errno_of(&e))?;
        }
        Ok(())
    }

    /// Send one request and wait for its acknowledgement; `Err(Some(errno))` for a kernel
    /// error, `Err(None)` for anything else.
    fn exchange(&self, ty: Rtm, flags: NlmF, msg: Ifaddrmsg) -> Result<(), Option<i32>> {
        let recv = self
            .router
            .send::<Rtm, Ifaddrmsg, Rtm, Ifaddrmsg>(ty, flags, NlPayload::Payload(msg))
            .map_err(|e| errno_of(&e))?;
        for m in recv {
            let _: Nlmsghdr<Rtm, Ifaddrmsg> = m.map_err(|e| errno_of(&e))?;
        }
        Ok(())
    }
}

fn errno_of<T, P>(e: &RouterError<T, P>) -> Option<i32> {
    match e {
        RouterError::Nlmsgerr(m) => Some(-*m.error()),
        _ => None,
    }
}

fn describe(e: Option<i32>) -> String {
    match e {
        Some(errno) => std::io::Error::from_raw_os_error(errno).to_string(),
        None => "netlink failure".to_string(),
    }
}

/// A host route to `addr` in `table`, through `oif` when adding (`dev lo`): scope link, as
/// `ip route` gives a route without a gateway.
fn route_msg(
    table: u32,
    addr: IpAddr,
    oif: Option<u32>,
) -> Result<Rtmsg, Box<dyn std::error::Error>> {
    let mut attrs = RtBuffer::<Rta, Buffer>::new();
    let (family, len) = match addr {
        IpAddr::V4(v4) => {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Dst)
                    .rta_payload(Buffer::from(&v4.octets()[..]))
                    .build()?,
            );
            (RtAddrFamily::Inet, 32)
        }
        IpAddr::V6(v6) => {
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Rta::Dst)
                    .rta_payload(Buffer::from(&v6.octets()[..]))
                    .build()?,
            );
            (RtAddrFamily::Inet6, 128)
        }
    };
    // RTA_TABLE carries tables above 255; the header's byte says "see the attribute".
    attrs.push(
        RtattrBuilder::default()
            .rta_type(Rta::Table)
            .rta_payload(table)
            .build()?,
    );
    if let Some(oif) = oif {
        attrs.push(
            RtattrBuilder::default()
                .rta_type(Rta::Oif)
                .rta_payload(oif)
                .build()?,
        );
    }
    let header_table = u8::try_from(table).map_or(RtTable::Unspec, RtTable::from);
    Ok(RtmsgBuilder::default()
        .rtm_family(family)
        .rtm_dst_len(len)
        .rtm_src_len(0)
        .rtm_tos(0)
        .rtm_table(header_table)
        .rtm_protocol(if oif.is_some() {
            Rtprot::Static
        } else {
            Rtprot::Unspec
        })
        .rtm_scope(if oif.is_some() {
            RtScope::Link
        } else {
            RtScope::Nowhere
        })
        .rtm_type(if oif.is_some() {
            Rtn::Unicast
        } else {
            Rtn::Unspec
        })
        .rtattrs(attrs)
        .build()?)
}

fn address_msg(
    ifindex: u32,
    label: &str,
    addr: IpAddr,
    prefix: u8,
) -> Result<Ifaddrmsg, Box<dyn std::error::Error>> {
    let mut attrs = RtBuffer::<Ifa, Buffer>::new();
    let (family, flags) = match addr {
        IpAddr::V4(v4) => {
            // Payloads are written in host order; addresses go in network order.
            let be = u32::from(v4).to_be();
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Ifa::Local)
                    .rta_payload(be)
                    .build()?,
            );
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Ifa::Address)
                    .rta_payload(be)
                    .build()?,
            );
            if prefix < 31 {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                let bcast = (u32::from(v4) & mask) | !mask;
                attrs.push(
                    RtattrBuilder::default()
                        .rta_type(Ifa::Broadcast)
                        .rta_payload(bcast.to_be())
                        .build()?,
                );
            }
            if !label.is_empty() {
                attrs.push(
                    RtattrBuilder::default()
                        .rta_type(Ifa::Label)
                        .rta_payload(label)
                        .build()?,
                );
            }
            (RtAddrFamily::Inet, IfaF::empty())
        }
        IpAddr::V6(v6) => {
            // IPv6 takes IFA_ADDRESS (IFA_LOCAL would do too) and no label:
            // `inet6_rtm_newaddr` has no IFA_LABEL in its policy.
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Ifa::Address)
                    .rta_payload(Buffer::from(&v6.octets()[..]))
                    .build()?,
            );
            // `preferred_lft 0, valid_lft forever` (struct ifa_cacheinfo: preferred, valid,
            // cstamp, tstamp): a deprecated address, which the kernel never picks as the
            // source of our own connections (RFC 6724 rule 3). Without it the /128 VIP wins
            // rule 8 (longest match) against the host's /64, so lvsd's health checks left
            // from the VIP and the real servers, which hold the VIP themselves, answered
            // to themselves. It still receives, answers neighbour solicitations and serves.
            let mut cacheinfo = Vec::with_capacity(16);
            for v in [0u32, u32::MAX, 0, 0] {
                cacheinfo.extend_from_slice(&v.to_ne_bytes());
            }
            attrs.push(
                RtattrBuilder::default()
                    .rta_type(Ifa::Cacheinfo)
                    .rta_payload(Buffer::from(cacheinfo))
                    .build()?,
            );
            (RtAddrFamily::Inet6, IfaF::NODAD)
        }
    };
    Ok(IfaddrmsgBuilder::default()
        .ifa_family(family)
        .ifa_prefixlen(prefix)
        .ifa_flags(flags)
        .ifa_scope(RtScope::Universe)
        .ifa_index(ifindex)
        .rtattrs(attrs)
        .build()?)
}

/// A raw link-layer socket on one interface, for gratuitous ARP and unsolicited neighbour
/// advertisements.
pub struct ArpSender {
    ifname: String,
    mac: [u8; 6],
    tx: Box<dyn pnet_datalink::DataLinkSender>,
}

impl std::fmt::Debug for ArpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArpSender")
            .field("ifname", &self.ifname)
            .finish()
    }
}

impl ArpSender {
    /// Open a raw socket on `ifname` (the base device of an alias).
    pub fn open(ifname: &str) -> Result<Self, SysError> {
        let base = ifname.split(':').next().unwrap_or(ifname);
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == base)
            .ok_or_else(|| SysError::NoInterface(base.to_string()))?;
        let mac = iface
            .mac
            .ok_or_else(|| SysError::NoMac(base.to_string()))?
            .octets();
        let cfg = pnet_datalink::Config {
            promiscuous: false,
            read_buffer_size: 64,
            ..Default::default()
        };
        let arp_err = |source| SysError::Arp {
            ifname: base.to_string(),
            source,
        };
        let tx = match pnet_datalink::channel(&iface, cfg).map_err(arp_err)? {
            pnet_datalink::Channel::Ethernet(tx, _rx) => tx,
            _ => return Err(arp_err(std::io::Error::other("not an Ethernet channel"))),
        };
        Ok(Self {
            ifname: base.to_string(),
            mac,
            tx,
        })
    }

    /// The interface's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Announce `ip` at this interface's MAC: for IPv4 one gratuitous ARP reply, exactly as
    /// piranha's `send_arp` frames it; for IPv6 one unsolicited neighbour advertisement
    /// (`pulse_proto::ndisc`).
    pub fn announce(&mut self, ip: IpAddr) -> Result<(), SysError> {
        let v4;
        let v6;
        let frame: &[u8] = match ip {
            IpAddr::V4(ip) => {
                v4 = pulse_proto::arp::gratuitous_reply(self.mac, ip);
                &v4
            }
            IpAddr::V6(ip) => {
                v6 = pulse_proto::ndisc::unsolicited_na(self.mac, ip);
                &v6
            }
        };
        match self.tx.send_to(frame, None) {
            Some(Ok(())) => Ok(()),
            Some(Err(source)) => Err(SysError::Arp {
                ifname: self.ifname.clone(),
                source,
            }),
            None => Err(SysError::Arp {
                ifname: self.ifname.clone(),
                source: std::io::Error::other("send failed"),
            }),
        }
    }
}

/// A change of an interface's state, from the kernel's link notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub ifindex: u32,
    /// Administratively up and with carrier (`IFF_UP` and `IFF_RUNNING`).
    pub running: bool,
}

/// rtnetlink's link multicast group (`RTNLGRP_LINK`).
const RTNLGRP_LINK: u32 = 1;

/// Watch link state changes (`monitor_links`): every kernel link notification is passed to
/// `on_event` from a thread of its own, until `on_event` returns `false`. Event-driven: no
/// polling, and it sees bonding and VLAN devices like any other (piranha's ioctl polling did not).
pub fn watch_links(
    mut on_event: impl FnMut(LinkEvent) -> bool + Send + 'static,
) -> Result<(), SysError> {
    use neli::consts::rtnl::Iff;
    use neli::rtnl::Ifinfomsg;
    let (router, mut events) =
        NlRouter::connect(NlFamily::Route, None, Groups::new_groups(&[RTNLGRP_LINK]))
            .map_err(|e| SysError::Connect(e.to_string()))?;
    std::thread::Builder::new()
        .name("link-watch".into())
        .spawn(move || {
            // The router owns the socket; keep it alive as long as we listen.
            let _router = router;
            while let Some(msg) = events.next_typed::<Rtm, Ifinfomsg>() {
                let Ok(msg) = msg else { continue };
                let NlPayload::Payload(info) = msg.nl_payload() else {
                    continue;
                };
                let flags = *info.ifi_flags();
                let event = LinkEvent {
                    ifindex: u32::try_from(*info.ifi_index()).unwrap_or(0),
                    running: flags.contains(Iff::UP) && flags.contains(Iff::RUNNING),
                };
                if !on_event(event) {
                    return;
                }
            }
        })
        .map_err(|e| SysError::Connect(e.to_string()))?;
    Ok(())
}

/// Keep the heartbeat on time under load: run the calling thread under `SCHED_FIFO` at
/// `priority`, and lock the process's memory so a page fault cannot delay a heartbeat. Without
/// this, two busy cores starved a 50 ms heartbeat into false failovers in the soak benchmark
/// (docs/benchmarks.md). `SCHED_RESET_ON_FORK`: threads and processes it starts (lvsd,
/// `active_cmd`) run at normal priority, so a runaway child cannot starve the machine.
#[allow(unsafe_code)]
pub fn make_realtime(priority: i32) -> Result<(), RealtimeError> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is an initialised `sched_param` living across the call, pid 0 names the
    // calling thread, and the kernel copies the struct without keeping the pointer.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc != 0 {
        return Err(RealtimeError::Scheduling(std::io::Error::last_os_error()));
    }
    nix::sys::mman::mlockall(
        nix::sys::mman::MlockAllFlags::MCL_CURRENT | nix::sys::mman::MlockAllFlags::MCL_FUTURE,
    )
    .map_err(|e| RealtimeError::LockMemory(e.into()))
}

/// What [`make_realtime`] could not do: each needs its own words (a locked-memory limit is not
/// a scheduling refusal).
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// `sched_setscheduler` refused (no `CAP_SYS_NICE`, or an RT budget of 0).
    #[error("cannot run with real-time priority (SCHED_FIFO): {0}")]
    Scheduling(std::io::Error),
    /// SCHED_FIFO is set, but `mlockall` failed (`RLIMIT_MEMLOCK`, no `CAP_IPC_LOCK`).
    #[error("real-time priority set, but memory cannot be locked (mlockall): {0}")]
    LockMemory(std::io::Error),
}
