//! The IPVS generic-netlink family: [`Request`]s to bytes ([`encode`]), reply attributes to the
//! typed table ([`decode_service`], [`decode_dest`], ...).
//!
//! Every number and layout below was checked against the kernel: the uapi header
//! `include/uapi/linux/ip_vs.h` (command and attribute enums, `struct ip_vs_flags`,
//! `IPVS_GENL_NAME`, `IPVS_GENL_VERSION`), and `net/netfilter/ipvs/ip_vs_ctl.c` (the nla policies
//! `ip_vs_cmd_policy`/`ip_vs_svc_policy`/`ip_vs_dest_policy`/`ip_vs_daemon_policy`, what
//! `ip_vs_genl_parse_service`/`ip_vs_genl_parse_dest`/`ip_vs_genl_new_daemon`/
//! `ip_vs_genl_del_daemon`/`ip_vs_genl_set_config` require, and what
//! `ip_vs_genl_fill_service`/`ip_vs_genl_fill_dest`/`ip_vs_genl_fill_stats[64]`/
//! `ip_vs_genl_fill_daemon`/`ip_vs_genl_get_cmd` emit). ipvsadm's and keepalived's
//! `libipvs.c` (`ipvs_nl_fill_service_attr`, `ipvs_nl_fill_dest_attr`) send the same attributes,
//! except that they send the full entry for deletes too (the kernel reads only the key then) and
//! no `NLA_F_NESTED` on nests (the kernel accepts either).
//!
//! Byte order: netlink integers are host order; `IPVS_SVC_ATTR_PORT`, `IPVS_DEST_ATTR_PORT` and
//! an IPv4 `IPVS_SVC_ATTR_NETMASK` are big-endian (`nla_get_be16`/`nla_get_be32`); addresses are
//! the 16-byte `union nf_inet_addr` (IPv4 in the first 4 bytes, the rest zero).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use thiserror::Error;

pub use crate::explain::explain;
pub use crate::netlink::{Body, DecodeError, Message, Messages, messages};

use crate::netlink::{
    self, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, begin_nest, end_nest, fixed, get_be16, get_str,
    get_u16, get_u32, get_uint, parse, put_attr, put_str, put_u16, put_u32,
};
use crate::types::{
    Dest, DestCounters, DestKey, Family, Forward, Info, IpvsOp, Netmask, Protocol, Service,
    ServiceFlags, ServiceKey, ServiceStats, SyncDaemon, SyncRole, Timeouts,
};

/// `IPVS_GENL_NAME`: the generic-netlink family to resolve through `nlctrl`.
pub const FAMILY_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`, sent in every `genlmsghdr`.
pub const GENL_VERSION: u8 = 1;

/// `IPVS_CMD_*` (uapi `ip_vs.h`, the anonymous enum after `struct ip_vs_flags`).
pub mod cmd {
    /// `IPVS_CMD_NEW_SERVICE`; also the command of service replies.
    pub const NEW_SERVICE: u8 = 1;
    /// `IPVS_CMD_SET_SERVICE`.
    pub const SET_SERVICE: u8 = 2;
    /// `IPVS_CMD_DEL_SERVICE`.
    pub const DEL_SERVICE: u8 = 3;
    /// `IPVS_CMD_GET_SERVICE` (one service, or all with `NLM_F_DUMP`).
    pub const GET_SERVICE: u8 = 4;
    /// `IPVS_CMD_NEW_DEST`; also the command of destination dump replies.
    pub const NEW_DEST: u8 = 5;
    /// `IPVS_CMD_SET_DEST`.
    pub const SET_DEST: u8 = 6;
    /// `IPVS_CMD_DEL_DEST`.
    pub const DEL_DEST: u8 = 7;
    /// `IPVS_CMD_GET_DEST` (dump only).
    pub const GET_DEST: u8 = 8;
    /// `IPVS_CMD_NEW_DAEMON`; also the command of daemon dump replies.
    pub const NEW_DAEMON: u8 = 9;
    /// `IPVS_CMD_DEL_DAEMON`.
    pub const DEL_DAEMON: u8 = 10;
    /// `IPVS_CMD_GET_DAEMON` (dump only).
    pub const GET_DAEMON: u8 = 11;
    /// `IPVS_CMD_SET_CONFIG`; also the command of the `GET_CONFIG` reply.
    pub const SET_CONFIG: u8 = 12;
    /// `IPVS_CMD_GET_CONFIG`.
    pub const GET_CONFIG: u8 = 13;
    /// `IPVS_CMD_SET_INFO`: only the command of the `GET_INFO` reply.
    pub const SET_INFO: u8 = 14;
    /// `IPVS_CMD_GET_INFO`.
    pub const GET_INFO: u8 = 15;
    /// `IPVS_CMD_ZERO`.
    pub const ZERO: u8 = 16;
    /// `IPVS_CMD_FLUSH`.
    pub const FLUSH: u8 = 17;
}

/// Attribute numbers (uapi `ip_vs.h`).
pub mod attr {
    /// `IPVS_CMD_ATTR_*`: the first level of every message.
    pub mod cmd {
        /// `IPVS_CMD_ATTR_SERVICE` (nested `IPVS_SVC_ATTR_*`).
        pub const SERVICE: u16 = 1;
        /// `IPVS_CMD_ATTR_DEST` (nested `IPVS_DEST_ATTR_*`).
        pub const DEST: u16 = 2;
        /// `IPVS_CMD_ATTR_DAEMON` (nested `IPVS_DAEMON_ATTR_*`).
        pub const DAEMON: u16 = 3;
        /// `IPVS_CMD_ATTR_TIMEOUT_TCP` (u32 seconds).
        pub const TIMEOUT_TCP: u16 = 4;
        /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN` (u32 seconds).
        pub const TIMEOUT_TCP_FIN: u16 = 5;
        /// `IPVS_CMD_ATTR_TIMEOUT_UDP` (u32 seconds).
        pub const TIMEOUT_UDP: u16 = 6;
        /// One past the highest (`__IPVS_CMD_ATTR_MAX`).
        pub(crate) const COUNT: usize = 7;
    }

    /// `IPVS_SVC_ATTR_*`, inside `IPVS_CMD_ATTR_SERVICE`.
    pub mod svc {
        /// `IPVS_SVC_ATTR_AF` (u16 `AF_*`).
        pub const AF: u16 = 1;
        /// `IPVS_SVC_ATTR_PROTOCOL` (u16 `IPPROTO_*`).
        pub const PROTOCOL: u16 = 2;
        /// `IPVS_SVC_ATTR_ADDR` (16-byte `union nf_inet_addr`).
        pub const ADDR: u16 = 3;
        /// `IPVS_SVC_ATTR_PORT` (`__be16` in a u16 attribute).
        pub const PORT: u16 = 4;
        /// `IPVS_SVC_ATTR_FWMARK` (u32).
        pub const FWMARK: u16 = 5;
        /// `IPVS_SVC_ATTR_SCHED_NAME` (NUL-terminated, at most 15 bytes before the NUL).
        pub const SCHED_NAME: u16 = 6;
        /// `IPVS_SVC_ATTR_FLAGS` (`struct ip_vs_flags { u32 flags; u32 mask; }`).
        pub const FLAGS: u16 = 7;
        /// `IPVS_SVC_ATTR_TIMEOUT` (u32 seconds).
        pub const TIMEOUT: u16 = 8;
        /// `IPVS_SVC_ATTR_NETMASK` (u32; IPv4: `__be32` mask, IPv6: prefix length).
        pub const NETMASK: u16 = 9;
        /// `IPVS_SVC_ATTR_STATS` (nested `IPVS_STATS_ATTR_*`, mostly u32).
        pub const STATS: u16 = 10;
        /// `IPVS_SVC_ATTR_PE_NAME` (NUL-terminated).
        pub const PE_NAME: u16 = 11;
        /// `IPVS_SVC_ATTR_STATS64` (nested `IPVS_STATS_ATTR_*`, all u64).
        pub const STATS64: u16 = 12;
        pub(crate) const COUNT: usize = 13;
    }

    /// `IPVS_DEST_ATTR_*`, inside `IPVS_CMD_ATTR_DEST`.
    pub mod dest {
        /// `IPVS_DEST_ATTR_ADDR` (16-byte `union nf_inet_addr`).
        pub const ADDR: u16 = 1;
        /// `IPVS_DEST_ATTR_PORT` (`__be16` in a u16 attribute).
        pub const PORT: u16 = 2;
        /// `IPVS_DEST_ATTR_FWD_METHOD` (u32, `IP_VS_CONN_F_FWD_MASK` bits).
        pub const FWD_METHOD: u16 = 3;
        /// `IPVS_DEST_ATTR_WEIGHT` (u32 carrying the kernel's `int`).
        pub const WEIGHT: u16 = 4;
        /// `IPVS_DEST_ATTR_U_THRESH` (u32).
        pub const U_THRESH: u16 = 5;
        /// `IPVS_DEST_ATTR_L_THRESH` (u32).
        pub const L_THRESH: u16 = 6;
        /// `IPVS_DEST_ATTR_ACTIVE_CONNS` (u32, replies only).
        pub const ACTIVE_CONNS: u16 = 7;
        /// `IPVS_DEST_ATTR_INACT_CONNS` (u32, replies only).
        pub const INACT_CONNS: u16 = 8;
        /// `IPVS_DEST_ATTR_PERSIST_CONNS` (u32, replies only).
        pub const PERSIST_CONNS: u16 = 9;
        /// `IPVS_DEST_ATTR_STATS` (nested).
        pub const STATS: u16 = 10;
        /// `IPVS_DEST_ATTR_ADDR_FAMILY` (u16 `AF_*`; absent before Linux 3.18).
        pub const ADDR_FAMILY: u16 = 11;
        /// `IPVS_DEST_ATTR_STATS64` (nested).
        pub const STATS64: u16 = 12;
        /// `IPVS_DEST_ATTR_TUN_TYPE` (u8).
        pub const TUN_TYPE: u16 = 13;
        /// `IPVS_DEST_ATTR_TUN_PORT` (`__be16`).
        pub const TUN_PORT: u16 = 14;
        /// `IPVS_DEST_ATTR_TUN_FLAGS` (u16).
        pub const TUN_FLAGS: u16 = 15;
        pub(crate) const COUNT: usize = 16;
    }

    /// `IPVS_DAEMON_ATTR_*`, inside `IPVS_CMD_ATTR_DAEMON`.
    pub mod daemon {
        /// `IPVS_DAEMON_ATTR_STATE` (u32 `IP_VS_STATE_MASTER`/`_BACKUP`).
        pub const STATE: u16 = 1;
        /// `IPVS_DAEMON_ATTR_MCAST_IFN` (NUL-terminated, at most 15 bytes before the NUL).
        pub const MCAST_IFN: u16 = 2;
        /// `IPVS_DAEMON_ATTR_SYNC_ID` (u32; the kernel keeps the low 8 bits).
        pub const SYNC_ID: u16 = 3;
        /// `IPVS_DAEMON_ATTR_SYNC_MAXLEN` (u16).
        pub const SYNC_MAXLEN: u16 = 4;
        /// `IPVS_DAEMON_ATTR_MCAST_GROUP` (`__be32`).
        pub const MCAST_GROUP: u16 = 5;
        /// `IPVS_DAEMON_ATTR_MCAST_GROUP6` (16 bytes).
        pub const MCAST_GROUP6: u16 = 6;
        /// `IPVS_DAEMON_ATTR_MCAST_PORT` (u16).
        pub const MCAST_PORT: u16 = 7;
        /// `IPVS_DAEMON_ATTR_MCAST_TTL` (u8).
        pub const MCAST_TTL: u16 = 8;
        pub(crate) const COUNT: usize = 9;
    }

    /// `IPVS_STATS_ATTR_*`, inside the `STATS`/`STATS64` nests.
    pub mod stats {
        /// `IPVS_STATS_ATTR_CONNS`.
        pub const CONNS: u16 = 1;
        /// `IPVS_STATS_ATTR_INPKTS`.
        pub const INPKTS: u16 = 2;
        /// `IPVS_STATS_ATTR_OUTPKTS`.
        pub const OUTPKTS: u16 = 3;
        /// `IPVS_STATS_ATTR_INBYTES` (u64 even in `STATS`).
        pub const INBYTES: u16 = 4;
        /// `IPVS_STATS_ATTR_OUTBYTES` (u64 even in `STATS`).
        pub const OUTBYTES: u16 = 5;
        /// `IPVS_STATS_ATTR_CPS`.
        pub const CPS: u16 = 6;
        /// `IPVS_STATS_ATTR_INPPS`.
        pub const INPPS: u16 = 7;
        /// `IPVS_STATS_ATTR_OUTPPS`.
        pub const OUTPPS: u16 = 8;
        /// `IPVS_STATS_ATTR_INBPS`.
        pub const INBPS: u16 = 9;
        /// `IPVS_STATS_ATTR_OUTBPS`.
        pub const OUTBPS: u16 = 10;
        /// `IPVS_STATS_ATTR_PAD`: alignment filler from `nla_put_u64_64bit`, skipped.
        pub const PAD: u16 = 11;
        pub(crate) const COUNT: usize = 12;
    }

    /// `IPVS_INFO_ATTR_*`, top level of the `GET_INFO` reply.
    pub mod info {
        /// `IPVS_INFO_ATTR_VERSION` (u32 `IP_VS_VERSION_CODE`).
        pub const VERSION: u16 = 1;
        /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (u32).
        pub const CONN_TAB_SIZE: u16 = 2;
        pub(crate) const COUNT: usize = 3;
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// One request to the IPVS family.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Request {
    /// A table change (`NEW_`/`SET_`/`DEL_SERVICE`, `NEW_`/`SET_`/`DEL_DEST`). Answered by an ack.
    Op(IpvsOp),
    /// `IPVS_CMD_FLUSH`: delete every service. Answered by an ack.
    Flush,
    /// `IPVS_CMD_GET_INFO`. Answered by one [`Reply::Info`], then an ack.
    GetInfo,
    /// `IPVS_CMD_GET_SERVICE` dump: one [`Reply::Service`] per service, then `NLMSG_DONE`.
    GetServices,
    /// `IPVS_CMD_GET_SERVICE` for one service: one [`Reply::Service`] then an ack, or `ESRCH`.
    GetService(ServiceKey),
    /// `IPVS_CMD_GET_DEST` dump of one service: one [`Reply::Dest`] per real server, then
    /// `NLMSG_DONE`. A service that does not exist dumps as empty, not as an error
    /// (`ip_vs_genl_dump_dests` ends the dump silently).
    GetDests(ServiceKey),
    /// `IPVS_CMD_GET_CONFIG`. Answered by one [`Reply::Timeouts`], then an ack.
    GetTimeouts,
    /// `IPVS_CMD_SET_CONFIG`; a 0 leaves that timeout unchanged (`ip_vs_set_timeout`).
    SetTimeouts(Timeouts),
    /// `IPVS_CMD_NEW_DAEMON`. Answered by an ack.
    StartDaemon(SyncDaemon),
    /// `IPVS_CMD_DEL_DAEMON`: the kernel needs only the role (`ip_vs_genl_del_daemon` reads
    /// `IPVS_DAEMON_ATTR_STATE` alone, in every kernel since the genl interface appeared).
    StopDaemon(SyncRole),
    /// `IPVS_CMD_GET_DAEMON` dump: one [`Reply::Daemon`] per running daemon, then `NLMSG_DONE`.
    GetDaemons,
    /// `IPVS_CMD_ZERO`: zero the counters of one service, or of all (`None`).
    Zero(Option<ServiceKey>),
}

impl Request {
    /// Whether the request is a dump (`NLM_F_DUMP`): it ends with `NLMSG_DONE`, and gets no ack
    /// even though `NLM_F_ACK` is set (`netlink_rcv_skb` skips the ack when a dump starts).
    /// Other requests end with an ack or an error; `Get*` ones get their data reply first.
    pub fn is_dump(&self) -> bool {
        matches!(
            self,
            Self::GetServices | Self::GetDests(_) | Self::GetDaemons
        )
    }

    /// The `IPVS_CMD_*` sent.
    pub fn command(&self) -> u8 {
        match self {
            Self::Op(IpvsOp::AddService(_)) => cmd::NEW_SERVICE,
            Self::Op(IpvsOp::EditService(_)) => cmd::SET_SERVICE,
            Self::Op(IpvsOp::DeleteService(_)) => cmd::DEL_SERVICE,
            Self::Op(IpvsOp::AddDest(..)) => cmd::NEW_DEST,
            Self::Op(IpvsOp::EditDest(..)) => cmd::SET_DEST,
            Self::Op(IpvsOp::DeleteDest(..)) => cmd::DEL_DEST,
            Self::Flush => cmd::FLUSH,
            Self::GetInfo => cmd::GET_INFO,
            Self::GetServices | Self::GetService(_) => cmd::GET_SERVICE,
            Self::GetDests(_) => cmd::GET_DEST,
            Self::GetTimeouts => cmd::GET_CONFIG,
            Self::SetTimeouts(_) => cmd::SET_CONFIG,
            Self::StartDaemon(_) => cmd::NEW_DAEMON,
            Self::StopDaemon(_) => cmd::DEL_DAEMON,
            Self::GetDaemons => cmd::GET_DAEMON,
            Self::Zero(_) => cmd::ZERO,
        }
    }

    /// The command of the data replies this request gets (`ip_vs_genl_get_cmd`'s `reply_cmd`,
    /// the dump functions' `genlmsg_put`), or `None` if it gets only an ack.
    pub fn reply_command(&self) -> Option<u8> {
        match self {
            Self::GetServices | Self::GetService(_) => Some(cmd::NEW_SERVICE),
            Self::GetDests(_) => Some(cmd::NEW_DEST),
            Self::GetDaemons => Some(cmd::NEW_DAEMON),
            Self::GetTimeouts => Some(cmd::SET_CONFIG),
            Self::GetInfo => Some(cmd::SET_INFO),
            _ => None,
        }
    }
}

impl fmt::Display for Request {
    /// What the request does, for logs and [`crate::explain()`]: `add service TCP 10.0.0.1:80 (wlc)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Op(op) => op.fmt(f),
            Self::Flush => f.write_str("flush the IPVS table"),
            Self::GetInfo => f.write_str("get IPVS info"),
            Self::GetServices => f.write_str("list services"),
            Self::GetService(k) => write!(f, "get service {k}"),
            Self::GetDests(k) => write!(f, "list real servers of {k}"),
            Self::GetTimeouts => f.write_str("get IPVS timeouts"),
            Self::SetTimeouts(t) => write!(
                f,
                "set IPVS timeouts (tcp {}, tcpfin {}, udp {})",
                t.tcp, t.tcp_fin, t.udp
            ),
            Self::StartDaemon(d) => write!(
                f,
                "start {} sync daemon on {} (syncid {})",
                role_name(d.role),
                d.interface,
                d.sync_id
            ),
            Self::StopDaemon(role) => write!(f, "stop {} sync daemon", role_name(*role)),
            Self::GetDaemons => f.write_str("list sync daemons"),
            Self::Zero(Some(k)) => write!(f, "zero counters of {k}"),
            Self::Zero(None) => f.write_str("zero all counters"),
        }
    }
}

pub(crate) fn role_name(role: SyncRole) -> &'static str {
    match role {
        SyncRole::Master => "master",
        SyncRole::Backup => "backup",
    }
}

/// Appends one complete netlink message for `req` to `out`: `nlmsghdr` (length, type
/// `family_id`, flags `NLM_F_REQUEST | NLM_F_ACK` plus `NLM_F_DUMP` for dumps, `seq`, pid 0),
/// `genlmsghdr` (command, version 1), attributes padded to 4 bytes with `NLA_F_NESTED` on nests.
///
/// Appending lets a transport batch many requests into one `sendmsg`; `out` only grows (no
/// other allocation). The bytes are what the kernel parses; invalid values (a 20-byte scheduler
/// name, a negative weight) are sent as they are and the kernel answers with an errno. Run
/// [`validate`] first to catch those before they cost a round trip.
pub fn encode(req: &Request, family_id: u16, seq: u32, out: &mut Vec<u8>) {
    let mut flags = NLM_F_REQUEST | NLM_F_ACK;
    if req.is_dump() {
        flags |= NLM_F_DUMP;
    }
    let start = netlink::begin_message(out, family_id, flags, seq, req.command(), GENL_VERSION);
    match req {
        Request::Op(IpvsOp::AddService(s) | IpvsOp::EditService(s)) => {
            // ip_vs_genl_set_cmd: NEW_SERVICE and SET_SERVICE parse a full entry.
            let nest = begin_nest(out, attr::cmd::SERVICE);
            put_service(out, s);
            end_nest(out, nest);
        }
        Request::Op(IpvsOp::DeleteService(key))
        | Request::GetService(key)
        | Request::GetDests(key)
        | Request::Zero(Some(key)) => put_service_key_nest(out, key),
        Request::Op(IpvsOp::AddDest(key, d) | IpvsOp::EditDest(key, d)) => {
            // ip_vs_genl_set_cmd: dest commands parse the service with full_entry = false and
            // the dest with full_entry = true for NEW_DEST/SET_DEST.
            put_service_key_nest(out, key);
            let nest = begin_nest(out, attr::cmd::DEST);
            put_dest(out, d);
            end_nest(out, nest);
        }
        Request::Op(IpvsOp::DeleteDest(key, dk)) => {
            put_service_key_nest(out, key);
            let nest = begin_nest(out, attr::cmd::DEST);
            put_dest_key(out, dk);
            end_nest(out, nest);
        }
        Request::Flush
        | Request::GetInfo
        | Request::GetServices
        | Request::GetTimeouts
        | Request::GetDaemons
        | Request::Zero(None) => {}
        Request::SetTimeouts(t) => {
            // ip_vs_genl_set_config: top-level u32s, each optional; ip_vs_set_timeout leaves a
            // protocol's timeout unchanged when its value is 0, so all three are always sent
            // (as ipvsadm does).
            put_u32(out, attr::cmd::TIMEOUT_TCP, t.tcp);
            put_u32(out, attr::cmd::TIMEOUT_TCP_FIN, t.tcp_fin);
            put_u32(out, attr::cmd::TIMEOUT_UDP, t.udp);
        }
        Request::StartDaemon(d) => {
            // ip_vs_genl_new_daemon requires STATE, MCAST_IFN and SYNC_ID.
            let nest = begin_nest(out, attr::cmd::DAEMON);
            put_u32(out, attr::daemon::STATE, d.role.number());
            put_str(out, attr::daemon::MCAST_IFN, &d.interface);
            put_u32(out, attr::daemon::SYNC_ID, u32::from(d.sync_id));
            end_nest(out, nest);
        }
        Request::StopDaemon(role) => {
            // ip_vs_genl_del_daemon requires STATE only.
            let nest = begin_nest(out, attr::cmd::DAEMON);
            put_u32(out, attr::daemon::STATE, role.number());
            end_nest(out, nest);
        }
    }
    netlink::end_message(out, start);
}

/// The identifying attributes `ip_vs_genl_parse_service` requires: AF, then FWMARK or
/// PROTOCOL + ADDR + PORT. Order as `ip_vs_genl_fill_service` writes them.
fn put_service_key(out: &mut Vec<u8>, key: &ServiceKey) {
    put_u16(out, attr::svc::AF, key.family().number());
    match key {
        ServiceKey::Fwmark { mark, .. } => put_u32(out, attr::svc::FWMARK, *mark),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            put_u16(out, attr::svc::PROTOCOL, protocol.number());
            put_attr(out, attr::svc::ADDR, &inet_addr(addr));
            put_attr(out, attr::svc::PORT, &port.to_be_bytes());
        }
    }
}

fn put_service_key_nest(out: &mut Vec<u8>, key: &ServiceKey) {
    let nest = begin_nest(out, attr::cmd::SERVICE);
    put_service_key(out, key);
    end_nest(out, nest);
}

/// A full service entry: the key, then SCHED_NAME, PE_NAME (only when set), FLAGS, TIMEOUT,
/// NETMASK — what `ip_vs_genl_parse_service(full_entry)` requires and the order
/// `ip_vs_genl_fill_service` replies in.
fn put_service(out: &mut Vec<u8>, s: &Service) {
    put_service_key(out, &s.key);
    put_str(out, attr::svc::SCHED_NAME, &s.scheduler);
    if let Some(pe) = s.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
        put_str(out, attr::svc::PE_NAME, pe);
    }
    // struct ip_vs_flags { flags, mask }: with mask all-ones the kernel's
    // `(old & ~mask) | (flags & mask)` replaces the flags outright on SET_SERVICE.
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&s.flags.configurable().0.to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    put_attr(out, attr::svc::FLAGS, &flags);
    put_u32(out, attr::svc::TIMEOUT, s.timeout);
    put_attr(out, attr::svc::NETMASK, &netmask_bytes(s.netmask));
}

/// `IPVS_SVC_ATTR_NETMASK`: the kernel reads it with `nla_get_be32` (a raw copy). For IPv4 it
/// is the mask in network order; for IPv6 `ip_vs_add_service` compares the same raw value with
/// 1..=128 as a plain `__u32`, so the prefix length is in host order.
fn netmask_bytes(mask: Netmask) -> [u8; 4] {
    match mask {
        Netmask::V4(m) => m.octets(),
        Netmask::V6Prefix(p) => p.to_ne_bytes(),
    }
}

/// A full destination: ADDR, PORT, FWD_METHOD, WEIGHT, U_THRESH, L_THRESH (what
/// `ip_vs_genl_parse_dest(full_entry)` requires), ADDR_FAMILY; order as `ip_vs_genl_fill_dest`.
/// No TUN_* attributes: an IPIP tunnel is the kernel's default (`tun_type` 0).
fn put_dest(out: &mut Vec<u8>, d: &Dest) {
    put_attr(out, attr::dest::ADDR, &inet_addr(&d.key.addr));
    put_attr(out, attr::dest::PORT, &d.key.port.to_be_bytes());
    put_u32(out, attr::dest::FWD_METHOD, d.forward.number());
    put_attr(out, attr::dest::WEIGHT, &d.weight.to_ne_bytes());
    put_u32(out, attr::dest::U_THRESH, d.upper_threshold);
    put_u32(out, attr::dest::L_THRESH, d.lower_threshold);
    put_u16(
        out,
        attr::dest::ADDR_FAMILY,
        Family::of(&d.key.addr).number(),
    );
}

/// DEL_DEST: ADDR and PORT (required), ADDR_FAMILY (without it the kernel assumes the service's
/// family, which misses a real server of the other family).
fn put_dest_key(out: &mut Vec<u8>, k: &DestKey) {
    put_attr(out, attr::dest::ADDR, &inet_addr(&k.addr));
    put_attr(out, attr::dest::PORT, &k.port.to_be_bytes());
    put_u16(out, attr::dest::ADDR_FAMILY, Family::of(&k.addr).number());
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first four (`nla_memcpy` copies the whole union).
fn inet_addr(addr: &IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// A request the kernel would reject, found before sending it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// `ip_vs_svc_policy`: `SCHED_NAME` is a NUL string of at most 15 bytes.
    #[error("scheduler name {0:?} must be 1 to 15 bytes without NUL")]
    Scheduler(String),
    /// `ip_vs_svc_policy`: `PE_NAME` is a NUL string of at most 16 bytes.
    #[error("persistence engine name {0:?} must be at most 16 bytes without NUL")]
    PeName(String),
    /// `ip_vs_daemon_policy`: `MCAST_IFN` is a NUL string of at most 15 bytes.
    #[error("sync daemon interface name {0:?} must be 1 to 15 bytes without NUL")]
    Interface(String),
    /// A firewall mark of 0 is not a fwmark service (`ip_vs_genl_parse_service` then looks the
    /// service up by address).
    #[error("firewall-mark service with mark 0")]
    ZeroFwmark,
    /// An IPv4 service with a prefix-length netmask, or an IPv6 one with a dotted mask.
    #[error("service {0}: netmask does not match its address family")]
    NetmaskFamily(ServiceKey),
    /// `ip_vs_add_service`/`ip_vs_edit_service`: IPv6 prefix outside 1..=128 is `EINVAL`.
    #[error("service {service}: IPv6 persistence netmask /{prefix} is outside 1..128")]
    V6Prefix {
        /// The service.
        service: ServiceKey,
        /// The prefix length.
        prefix: u32,
    },
    /// `ip_vs_add_dest`/`ip_vs_edit_dest`: negative weight is `ERANGE`.
    #[error("real server {dest}: weight {weight} is negative")]
    NegativeWeight {
        /// The real server.
        dest: DestKey,
        /// Its weight.
        weight: i32,
    },
    /// `ip_vs_add_dest`/`ip_vs_edit_dest`: lower threshold above upper is `ERANGE`.
    #[error("real server {dest}: lower threshold {lower} is above upper threshold {upper}")]
    Thresholds {
        /// The real server.
        dest: DestKey,
        /// Lower threshold.
        lower: u32,
        /// Upper threshold.
        upper: u32,
    },
    /// `ip_vs_add_dest`/`ip_vs_edit_dest`: upper threshold above `INT_MAX` is `EINVAL`.
    #[error("real server {dest}: upper threshold {upper} is above 2147483647")]
    UpperThreshold {
        /// The real server.
        dest: DestKey,
        /// Upper threshold.
        upper: u32,
    },
    /// `ip_vs_genl_set_cmd`: a real server of the other address family needs tunnelling.
    #[error(
        "real server {dest} of {service}: a different address family works only with tunnel forwarding"
    )]
    MixedFamily {
        /// The service.
        service: ServiceKey,
        /// The real server.
        dest: DestKey,
    },
    /// `ip_vs_set_timeout`: more than `INT_MAX / HZ` seconds is `EINVAL`; checked against
    /// HZ = 1000, the largest common `CONFIG_HZ`.
    #[error("timeout {0} s is above {max} s", max = MAX_TIMEOUT)]
    Timeout(u32),
}

/// The largest timeout every kernel accepts: `INT_MAX / 1000`.
const MAX_TIMEOUT: u32 = 2_147_483;

/// Checks the limits the kernel enforces (policies in `ip_vs_ctl.c` and the checks in
/// `ip_vs_add_service`, `ip_vs_edit_service`, `ip_vs_add_dest`, `ip_vs_edit_dest`,
/// `ip_vs_genl_set_cmd`, `ip_vs_set_timeout`), so a bad value fails here with a message instead
/// of as an errno in the middle of a batch. Lookups (does the service exist? is the scheduler
/// module there?) are left to the kernel.
pub fn validate(req: &Request) -> Result<(), InvalidRequest> {
    match req {
        Request::Op(IpvsOp::AddService(s) | IpvsOp::EditService(s)) => validate_service(s),
        Request::Op(IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d)) => {
            validate_key(k)?;
            validate_dest(k, d)
        }
        Request::Op(IpvsOp::DeleteService(k) | IpvsOp::DeleteDest(k, _))
        | Request::GetService(k)
        | Request::GetDests(k)
        | Request::Zero(Some(k)) => validate_key(k),
        Request::SetTimeouts(t) => [t.tcp, t.tcp_fin, t.udp]
            .into_iter()
            .find(|&v| v > MAX_TIMEOUT)
            .map_or(Ok(()), |v| Err(InvalidRequest::Timeout(v))),
        Request::StartDaemon(d) => {
            if name_ok(&d.interface, 15) && !d.interface.is_empty() {
                Ok(())
            } else {
                Err(InvalidRequest::Interface(d.interface.clone()))
            }
        }
        Request::Flush
        | Request::GetInfo
        | Request::GetServices
        | Request::GetTimeouts
        | Request::StopDaemon(_)
        | Request::GetDaemons
        | Request::Zero(None) => Ok(()),
    }
}

fn name_ok(name: &str, max: usize) -> bool {
    name.len() <= max && !name.contains('\0')
}

fn validate_key(key: &ServiceKey) -> Result<(), InvalidRequest> {
    match key {
        ServiceKey::Fwmark { mark: 0, .. } => Err(InvalidRequest::ZeroFwmark),
        _ => Ok(()),
    }
}

fn validate_service(s: &Service) -> Result<(), InvalidRequest> {
    validate_key(&s.key)?;
    if s.scheduler.is_empty() || !name_ok(&s.scheduler, 15) {
        return Err(InvalidRequest::Scheduler(s.scheduler.clone()));
    }
    if let Some(pe) = &s.pe_name
        && !name_ok(pe, 16)
    {
        return Err(InvalidRequest::PeName(pe.clone()));
    }
    match (s.key.family(), s.netmask) {
        (Family::V4, Netmask::V4(_)) => Ok(()),
        (Family::V6, Netmask::V6Prefix(p)) if (1..=128).contains(&p) => Ok(()),
        (Family::V6, Netmask::V6Prefix(prefix)) => Err(InvalidRequest::V6Prefix {
            service: s.key,
            prefix,
        }),
        _ => Err(InvalidRequest::NetmaskFamily(s.key)),
    }
}

fn validate_dest(k: &ServiceKey, d: &Dest) -> Result<(), InvalidRequest> {
    let dest = d.key;
    if d.weight < 0 {
        return Err(InvalidRequest::NegativeWeight {
            dest,
            weight: d.weight,
        });
    }
    if d.lower_threshold > d.upper_threshold {
        return Err(InvalidRequest::Thresholds {
            dest,
            lower: d.lower_threshold,
            upper: d.upper_threshold,
        });
    }
    if d.upper_threshold > i32::MAX.unsigned_abs() {
        return Err(InvalidRequest::UpperThreshold {
            dest,
            upper: d.upper_threshold,
        });
    }
    if Family::of(&dest.addr) != k.family() && d.forward != Forward::Tunnel {
        return Err(InvalidRequest::MixedFamily { service: *k, dest });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// A decoded data reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Reply {
    /// A service (`GetService`, `GetServices`).
    Service(Service, ServiceStats),
    /// A real server (`GetDests`).
    Dest(Dest, DestCounters),
    /// The protocol timeouts (`GetTimeouts`).
    Timeouts(Timeouts),
    /// Version and connection-table size (`GetInfo`).
    Info(Info),
    /// A running sync daemon (`GetDaemons`).
    Daemon(SyncDaemon),
}

/// Decodes a [`Body::Data`] received for `req`: checks the command
/// is the one the request's replies carry ([`Request::reply_command`]), then decodes it. For
/// `GetDests` the service's family is the hint for kernels without `IPVS_DEST_ATTR_ADDR_FAMILY`.
pub fn decode_reply(req: &Request, cmd: u8, attrs: &[u8]) -> Result<Reply, DecodeError> {
    let Some(expected) = req.reply_command() else {
        return Err(DecodeError::UnexpectedData { cmd });
    };
    if cmd != expected {
        return Err(DecodeError::UnexpectedCommand { expected, got: cmd });
    }
    match req {
        Request::GetServices | Request::GetService(_) => {
            decode_service(attrs).map(|(s, st)| Reply::Service(s, st))
        }
        Request::GetDests(key) => decode_dest(attrs, key.family()).map(|(d, c)| Reply::Dest(d, c)),
        Request::GetTimeouts => decode_timeouts(attrs).map(Reply::Timeouts),
        Request::GetInfo => decode_info(attrs).map(Reply::Info),
        Request::GetDaemons => decode_daemon(attrs).map(Reply::Daemon),
        _ => Err(DecodeError::UnexpectedData { cmd }),
    }
}

const SVC_NAMES: [&str; attr::svc::COUNT] = [
    "IPVS_SVC_ATTR_UNSPEC",
    "IPVS_SVC_ATTR_AF",
    "IPVS_SVC_ATTR_PROTOCOL",
    "IPVS_SVC_ATTR_ADDR",
    "IPVS_SVC_ATTR_PORT",
    "IPVS_SVC_ATTR_FWMARK",
    "IPVS_SVC_ATTR_SCHED_NAME",
    "IPVS_SVC_ATTR_FLAGS",
    "IPVS_SVC_ATTR_TIMEOUT",
    "IPVS_SVC_ATTR_NETMASK",
    "IPVS_SVC_ATTR_STATS",
    "IPVS_SVC_ATTR_PE_NAME",
    "IPVS_SVC_ATTR_STATS64",
];

const DEST_NAMES: [&str; attr::dest::COUNT] = [
    "IPVS_DEST_ATTR_UNSPEC",
    "IPVS_DEST_ATTR_ADDR",
    "IPVS_DEST_ATTR_PORT",
    "IPVS_DEST_ATTR_FWD_METHOD",
    "IPVS_DEST_ATTR_WEIGHT",
    "IPVS_DEST_ATTR_U_THRESH",
    "IPVS_DEST_ATTR_L_THRESH",
    "IPVS_DEST_ATTR_ACTIVE_CONNS",
    "IPVS_DEST_ATTR_INACT_CONNS",
    "IPVS_DEST_ATTR_PERSIST_CONNS",
    "IPVS_DEST_ATTR_STATS",
    "IPVS_DEST_ATTR_ADDR_FAMILY",
    "IPVS_DEST_ATTR_STATS64",
    "IPVS_DEST_ATTR_TUN_TYPE",
    "IPVS_DEST_ATTR_TUN_PORT",
    "IPVS_DEST_ATTR_TUN_FLAGS",
];

const DAEMON_NAMES: [&str; attr::daemon::COUNT] = [
    "IPVS_DAEMON_ATTR_UNSPEC",
    "IPVS_DAEMON_ATTR_STATE",
    "IPVS_DAEMON_ATTR_MCAST_IFN",
    "IPVS_DAEMON_ATTR_SYNC_ID",
    "IPVS_DAEMON_ATTR_SYNC_MAXLEN",
    "IPVS_DAEMON_ATTR_MCAST_GROUP",
    "IPVS_DAEMON_ATTR_MCAST_GROUP6",
    "IPVS_DAEMON_ATTR_MCAST_PORT",
    "IPVS_DAEMON_ATTR_MCAST_TTL",
];

const STATS_NAMES: [&str; attr::stats::COUNT] = [
    "IPVS_STATS_ATTR_UNSPEC",
    "IPVS_STATS_ATTR_CONNS",
    "IPVS_STATS_ATTR_INPKTS",
    "IPVS_STATS_ATTR_OUTPKTS",
    "IPVS_STATS_ATTR_INBYTES",
    "IPVS_STATS_ATTR_OUTBYTES",
    "IPVS_STATS_ATTR_CPS",
    "IPVS_STATS_ATTR_INPPS",
    "IPVS_STATS_ATTR_OUTPPS",
    "IPVS_STATS_ATTR_INBPS",
    "IPVS_STATS_ATTR_OUTBPS",
    "IPVS_STATS_ATTR_PAD",
];

/// A parsed nest: attribute payloads by number, with their names for errors.
struct Table<'a, const N: usize> {
    tb: [Option<&'a [u8]>; N],
    names: &'static [&'static str; N],
}

impl<'a, const N: usize> Table<'a, N> {
    fn parse(
        buf: &'a [u8],
        context: &'static str,
        names: &'static [&'static str; N],
    ) -> Result<Self, DecodeError> {
        Ok(Self {
            tb: parse::<N>(buf, context)?,
            names,
        })
    }

    fn name(&self, kind: u16) -> &'static str {
        self.names[usize::from(kind)]
    }

    fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.tb[usize::from(kind)]
    }

    fn req(&self, kind: u16) -> Result<&'a [u8], DecodeError> {
        self.get(kind).ok_or(DecodeError::Missing {
            attr: self.name(kind),
        })
    }

    fn u16(&self, kind: u16) -> Result<u16, DecodeError> {
        get_u16(self.name(kind), self.req(kind)?)
    }

    fn u32(&self, kind: u16) -> Result<u32, DecodeError> {
        get_u32(self.name(kind), self.req(kind)?)
    }

    fn u32_or_0(&self, kind: u16) -> Result<u32, DecodeError> {
        self.get(kind)
            .map_or(Ok(0), |p| get_u32(self.name(kind), p))
    }

    fn uint_or_0(&self, kind: u16) -> Result<u64, DecodeError> {
        self.get(kind)
            .map_or(Ok(0), |p| get_uint(self.name(kind), p))
    }

    fn be16(&self, kind: u16) -> Result<u16, DecodeError> {
        get_be16(self.name(kind), self.req(kind)?)
    }

    fn str(&self, kind: u16) -> Result<&'a str, DecodeError> {
        get_str(self.name(kind), self.req(kind)?)
    }

    fn family(&self, kind: u16) -> Result<Family, DecodeError> {
        let af = self.u16(kind)?;
        Family::from_number(af).ok_or(DecodeError::BadValue {
            attr: self.name(kind),
            value: u64::from(af),
        })
    }

    /// `union nf_inet_addr` (16 bytes; 4 accepted for IPv4).
    fn addr(&self, kind: u16, family: Family) -> Result<IpAddr, DecodeError> {
        let p = self.req(kind)?;
        let attr = self.name(kind);
        match family {
            Family::V4 if p.len() == 4 || p.len() == 16 => {
                Ok(IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3])))
            }
            Family::V4 => Err(DecodeError::AttrLengthEither {
                attr,
                a: 4,
                b: 16,
                got: p.len(),
            }),
            Family::V6 => Ok(IpAddr::V6(Ipv6Addr::from(fixed::<16>(attr, p)?))),
        }
    }
}

/// The payload of a top-level nest (`IPVS_CMD_ATTR_SERVICE`, `_DEST`, `_DAEMON`).
fn top_nest<'a>(attrs: &'a [u8], kind: u16, name: &'static str) -> Result<&'a [u8], DecodeError> {
    let tb = parse::<{ attr::cmd::COUNT }>(attrs, "top-level attributes")?;
    tb[usize::from(kind)].ok_or(DecodeError::Missing { attr: name })
}

fn decode_stats(buf: &[u8], context: &'static str) -> Result<ServiceStats, DecodeError> {
    use attr::stats as a;
    let t = Table::parse(buf, context, &STATS_NAMES)?;
    Ok(ServiceStats {
        conns: t.uint_or_0(a::CONNS)?,
        inpkts: t.uint_or_0(a::INPKTS)?,
        outpkts: t.uint_or_0(a::OUTPKTS)?,
        inbytes: t.uint_or_0(a::INBYTES)?,
        outbytes: t.uint_or_0(a::OUTBYTES)?,
        cps: t.uint_or_0(a::CPS)?,
        inpps: t.uint_or_0(a::INPPS)?,
        outpps: t.uint_or_0(a::OUTPPS)?,
        inbps: t.uint_or_0(a::INBPS)?,
        outbps: t.uint_or_0(a::OUTBPS)?,
    })
}

/// Decodes a service reply (`IPVS_CMD_NEW_SERVICE` with an `IPVS_CMD_ATTR_SERVICE` nest, as
/// `ip_vs_genl_fill_service` builds it) from the attributes after the generic-netlink header.
/// `STATS64` is preferred over `STATS`; `IP_VS_SVC_F_HASHED` is dropped from the flags; a
/// scheduler-less service reports the scheduler `"none"`.
pub fn decode_service(attrs: &[u8]) -> Result<(Service, ServiceStats), DecodeError> {
    use attr::svc as a;
    let nest = top_nest(attrs, attr::cmd::SERVICE, "IPVS_CMD_ATTR_SERVICE")?;
    let t = Table::parse(nest, "IPVS_CMD_ATTR_SERVICE", &SVC_NAMES)?;
    let family = t.family(a::AF)?;
    let key = if t.get(a::FWMARK).is_some() {
        ServiceKey::Fwmark {
            family,
            mark: t.u32(a::FWMARK)?,
        }
    } else {
        let number = t.u16(a::PROTOCOL)?;
        let protocol = Protocol::from_number(number).ok_or(DecodeError::BadValue {
            attr: t.name(a::PROTOCOL),
            value: u64::from(number),
        })?;
        ServiceKey::Addr {
            protocol,
            addr: t.addr(a::ADDR, family)?,
            port: t.be16(a::PORT)?,
        }
    };
    let scheduler = t.str(a::SCHED_NAME)?.to_owned();
    let pe_name = match t.get(a::PE_NAME) {
        Some(p) => Some(get_str(t.name(a::PE_NAME), p)?).filter(|pe| !pe.is_empty()),
        None => None,
    }
    .map(str::to_owned);
    let flags = fixed::<8>(t.name(a::FLAGS), t.req(a::FLAGS)?)?;
    let flags = ServiceFlags(u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]));
    let mask = fixed::<4>(t.name(a::NETMASK), t.req(a::NETMASK)?)?;
    let netmask = match family {
        Family::V4 => Netmask::V4(Ipv4Addr::from(mask)),
        Family::V6 => Netmask::V6Prefix(u32::from_ne_bytes(mask)),
    };
    let service = Service {
        key,
        scheduler,
        flags: flags.configurable(),
        timeout: t.u32(a::TIMEOUT)?,
        netmask,
        pe_name,
    };
    let stats = match (t.get(a::STATS64), t.get(a::STATS)) {
        (Some(s), _) => decode_stats(s, "IPVS_SVC_ATTR_STATS64")?,
        (None, Some(s)) => decode_stats(s, "IPVS_SVC_ATTR_STATS")?,
        (None, None) => ServiceStats::default(),
    };
    Ok((service, stats))
}

/// Decodes a destination reply (`IPVS_CMD_NEW_DEST` with an `IPVS_CMD_ATTR_DEST` nest, as
/// `ip_vs_genl_fill_dest` builds it). `family` is the service's: the destination's family when
/// the kernel (before 3.18) sends no `IPVS_DEST_ATTR_ADDR_FAMILY`. Only the low three bits of
/// `FWD_METHOD` are the method. Thresholds, connection counts and stats default to 0 if absent.
pub fn decode_dest(attrs: &[u8], family: Family) -> Result<(Dest, DestCounters), DecodeError> {
    use attr::dest as a;
    let nest = top_nest(attrs, attr::cmd::DEST, "IPVS_CMD_ATTR_DEST")?;
    let t = Table::parse(nest, "IPVS_CMD_ATTR_DEST", &DEST_NAMES)?;
    let family = match t.get(a::ADDR_FAMILY) {
        Some(_) => t.family(a::ADDR_FAMILY)?,
        None => family,
    };
    let method = t.u32(a::FWD_METHOD)?;
    let forward = Forward::from_number(method).ok_or(DecodeError::BadValue {
        attr: t.name(a::FWD_METHOD),
        value: u64::from(method),
    })?;
    let dest = Dest {
        key: DestKey {
            addr: t.addr(a::ADDR, family)?,
            port: t.be16(a::PORT)?,
        },
        forward,
        weight: i32::from_ne_bytes(fixed::<4>(t.name(a::WEIGHT), t.req(a::WEIGHT)?)?),
        upper_threshold: t.u32_or_0(a::U_THRESH)?,
        lower_threshold: t.u32_or_0(a::L_THRESH)?,
    };
    let stats = match (t.get(a::STATS64), t.get(a::STATS)) {
        (Some(s), _) => decode_stats(s, "IPVS_DEST_ATTR_STATS64")?,
        (None, Some(s)) => decode_stats(s, "IPVS_DEST_ATTR_STATS")?,
        (None, None) => ServiceStats::default(),
    };
    let counters = DestCounters {
        active_conns: t.u32_or_0(a::ACTIVE_CONNS)?,
        inactive_conns: t.u32_or_0(a::INACT_CONNS)?,
        persistent_conns: t.u32_or_0(a::PERSIST_CONNS)?,
        stats,
    };
    Ok((dest, counters))
}

/// Decodes the `GET_CONFIG` reply (`IPVS_CMD_SET_CONFIG` with top-level `TIMEOUT_*` u32s). A
/// timeout the kernel omits (its protocol not built in) is 0.
pub fn decode_timeouts(attrs: &[u8]) -> Result<Timeouts, DecodeError> {
    use attr::cmd as a;
    const NAMES: [&str; a::COUNT] = [
        "IPVS_CMD_ATTR_UNSPEC",
        "IPVS_CMD_ATTR_SERVICE",
        "IPVS_CMD_ATTR_DEST",
        "IPVS_CMD_ATTR_DAEMON",
        "IPVS_CMD_ATTR_TIMEOUT_TCP",
        "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN",
        "IPVS_CMD_ATTR_TIMEOUT_UDP",
    ];
    let t = Table::parse(attrs, "top-level attributes", &NAMES)?;
    Ok(Timeouts {
        tcp: t.u32_or_0(a::TIMEOUT_TCP)?,
        tcp_fin: t.u32_or_0(a::TIMEOUT_TCP_FIN)?,
        udp: t.u32_or_0(a::TIMEOUT_UDP)?,
    })
}

/// Decodes the `GET_INFO` reply (`IPVS_CMD_SET_INFO` with top-level `IPVS_INFO_ATTR_*` u32s).
pub fn decode_info(attrs: &[u8]) -> Result<Info, DecodeError> {
    use attr::info as a;
    const NAMES: [&str; a::COUNT] = [
        "IPVS_INFO_ATTR_UNSPEC",
        "IPVS_INFO_ATTR_VERSION",
        "IPVS_INFO_ATTR_CONN_TAB_SIZE",
    ];
    let t = Table::parse(attrs, "top-level attributes", &NAMES)?;
    Ok(Info {
        version: t.u32(a::VERSION)?,
        conn_tab_size: t.u32(a::CONN_TAB_SIZE)?,
    })
}

/// Decodes a daemon dump reply (`IPVS_CMD_NEW_DAEMON` with an `IPVS_CMD_ATTR_DAEMON` nest, as
/// `ip_vs_genl_fill_daemon` builds it). Multicast group, port, TTL and maxlen are not kept.
pub fn decode_daemon(attrs: &[u8]) -> Result<SyncDaemon, DecodeError> {
    use attr::daemon as a;
    let nest = top_nest(attrs, attr::cmd::DAEMON, "IPVS_CMD_ATTR_DAEMON")?;
    let t = Table::parse(nest, "IPVS_CMD_ATTR_DAEMON", &DAEMON_NAMES)?;
    let state = t.u32(a::STATE)?;
    let role = match state {
        1 => SyncRole::Master,
        2 => SyncRole::Backup,
        other => {
            return Err(DecodeError::BadValue {
                attr: t.name(a::STATE),
                value: u64::from(other),
            });
        }
    };
    let id = t.u32(a::SYNC_ID)?;
    let sync_id = u8::try_from(id).map_err(|_| DecodeError::BadValue {
        attr: t.name(a::SYNC_ID),
        value: u64::from(id),
    })?;
    Ok(SyncDaemon {
        role,
        interface: t.str(a::MCAST_IFN)?.to_owned(),
        sync_id,
    })
}
