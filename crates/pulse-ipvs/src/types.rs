//! The IPVS table as typed values: what a service and a destination are, independent of the
//! wire. Both the codec (`codec`) and the reconcile core (`pulse-lvs`) speak these types.

use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Transport protocol of an address service (`-t` / `-u`; SCTP is `--sctp-service`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IPPROTO_TCP (6).
    Tcp,
    /// IPPROTO_UDP (17).
    Udp,
    /// IPPROTO_SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number carried in `IPVS_SVC_ATTR_PROTOCOL`.
    pub fn number(self) -> u16 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if IPVS supports it.
    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            132 => Some(Self::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// Address family of a service or destination (`AF_INET` 2, `AF_INET6` 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The `AF_*` number.
    pub fn number(self) -> u16 {
        match self {
            Self::V4 => 2,
            Self::V6 => 10,
        }
    }

    /// The family for an `AF_*` number.
    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            2 => Some(Self::V4),
            10 => Some(Self::V6),
            _ => None,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }
}

/// What identifies a virtual service in the kernel: `-f MARK`, or `-t|-u|--sctp-service VIP:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ServiceKey {
    /// A firewall-mark service. The kernel still keys it by family (`ipvsadm -f 1` vs `-6 -f 1`).
    Fwmark {
        /// The family of the packets it matches.
        family: Family,
        /// The mark (non-zero).
        mark: u32,
    },
    /// An address service.
    Addr {
        /// TCP, UDP or SCTP.
        protocol: Protocol,
        /// The virtual IP.
        addr: IpAddr,
        /// The virtual port (host order here; big-endian on the wire).
        port: u16,
    },
}

impl ServiceKey {
    /// The family of the service.
    pub fn family(&self) -> Family {
        match self {
            Self::Fwmark { family, .. } => *family,
            Self::Addr { addr, .. } => Family::of(addr),
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `ipvsadm -Ln`'s spelling: `TCP  10.0.0.1:80`, `FWM  7`, `UDP  [2001:db8::1]:53`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fwmark {
                family: Family::V4,
                mark,
            } => write!(f, "FWM {mark}"),
            Self::Fwmark {
                family: Family::V6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
            Self::Addr {
                protocol,
                addr: IpAddr::V4(a),
                port,
            } => write!(f, "{protocol} {a}:{port}"),
            Self::Addr {
                protocol,
                addr: IpAddr::V6(a),
                port,
            } => write!(f, "{protocol} [{a}]:{port}"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`), sent with an all-ones mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// `IP_VS_SVC_F_PERSISTENT`: `-p`.
    pub const PERSISTENT: u32 = 0x0001;
    /// `IP_VS_SVC_F_HASHED`: set by the kernel on every listed service; never sent.
    pub const HASHED: u32 = 0x0002;
    /// `IP_VS_SVC_F_ONEPACKET`: `-o` (UDP one-packet scheduling).
    pub const ONEPACKET: u32 = 0x0004;
    /// `IP_VS_SVC_F_SCHED1` (`sh-fallback`, `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2` (`sh-port`, `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3`.
    pub const SCHED3: u32 = 0x0020;

    /// The flags an operator controls: everything but `HASHED` (kernel bookkeeping).
    pub fn configurable(self) -> Self {
        Self(self.0 & !Self::HASHED)
    }
}

/// A virtual service as configured: its key and the attributes `ipvsadm -E` can change in place.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Service {
    /// What identifies it.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wrr`, `lc`, `wlc`, `lblc`, `lblcr`, `dh`, `sh`, `sed`, `nq`, `fo`,
    /// `ovf`, `mh`, `twos`); the kernel loads `ip_vs_NAME`.
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` without `HASHED`.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with `PERSISTENT`; the kernel keeps 0 otherwise).
    pub timeout: u32,
    /// Persistence netmask: an IPv4 mask (`255.255.255.255` = none), or for IPv6 a prefix length
    /// (128 = none).
    pub netmask: Netmask,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

/// A persistence netmask as the kernel stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Netmask {
    /// IPv4 mask (on the wire: the four mask bytes in network order).
    V4(std::net::Ipv4Addr),
    /// IPv6 prefix length 1..=128 (on the wire: a native-endian u32).
    V6Prefix(u32),
}

impl Netmask {
    /// "No mask" for a family: `255.255.255.255` or `/128`.
    pub fn full(family: Family) -> Self {
        match family {
            Family::V4 => Self::V4(std::net::Ipv4Addr::BROADCAST),
            Family::V6 => Self::V6Prefix(128),
        }
    }
}

/// Packet-forwarding method of a destination (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Forward {
    /// `-m`, NAT (`IP_VS_CONN_F_MASQ` = 0).
    Masq,
    /// Local node (1): the kernel reports it for destinations that are the director's own address.
    Local,
    /// `-i`, IP-in-IP tunnel (2).
    Tunnel,
    /// `-g`, direct routing (3).
    Route,
    /// Bypass (4): never configured by Pulse, decoded for completeness.
    Bypass,
}

impl Forward {
    /// The `IPVS_DEST_ATTR_FWD_METHOD` value.
    pub fn number(self) -> u32 {
        match self {
            Self::Masq => 0,
            Self::Local => 1,
            Self::Tunnel => 2,
            Self::Route => 3,
            Self::Bypass => 4,
        }
    }

    /// The method for a `FWD_METHOD` value (only the low three bits are the method).
    pub fn from_number(n: u32) -> Option<Self> {
        match n & 7 {
            0 => Some(Self::Masq),
            1 => Some(Self::Local),
            2 => Some(Self::Tunnel),
            3 => Some(Self::Route),
            4 => Some(Self::Bypass),
            _ => None,
        }
    }

    /// `ipvsadm -Ln`'s column: `Masq`, `Local`, `Tunnel`, `Route`, `Bypass`.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            Self::Masq => "Masq",
            Self::Local => "Local",
            Self::Tunnel => "Tunnel",
            Self::Route => "Route",
            Self::Bypass => "Bypass",
        }
    }
}

/// What identifies a destination within its service: `-r RIP:RPORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DestKey {
    /// Real server address (may differ in family from the service only for tunnels).
    pub addr: IpAddr,
    /// Real port (host order here; 0 for fwmark services whose servers keep the packet's port).
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A destination (real server) as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Dest {
    /// Address and port.
    pub key: DestKey,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight; 0 quiesces (no new connections). The kernel rejects negative weights.
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
}

/// Counters the kernel reports with each destination in a dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct DestCounters {
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS`.
    pub active_conns: u32,
    /// `IPVS_DEST_ATTR_INACT_CONNS`.
    pub inactive_conns: u32,
    /// `IPVS_DEST_ATTR_PERSIST_CONNS`.
    pub persistent_conns: u32,
    /// Its traffic: connections scheduled to it, packets and bytes (from STATS64 when present).
    pub stats: ServiceStats,
}

/// A service's or a destination's traffic counters (`IPVS_*_ATTR_STATS64`, or `IPVS_*_ATTR_STATS`
/// on kernels before 4.1, whose packet and rate counters are 32-bit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ServiceStats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Current connection rate.
    pub cps: u64,
    /// Current incoming packet rate.
    pub inpps: u64,
    /// Current outgoing packet rate.
    pub outpps: u64,
    /// Current incoming byte rate.
    pub inbps: u64,
    /// Current outgoing byte rate.
    pub outbps: u64,
}

/// The three protocol timeouts of `ipvsadm --set TCP TCPFIN UDP`, in seconds (0 = unchanged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Role of an IPVS connection-sync daemon (`IP_VS_STATE_MASTER` 1, `IP_VS_STATE_BACKUP` 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SyncRole {
    /// Sends connection state.
    Master,
    /// Receives it.
    Backup,
}

impl SyncRole {
    /// The `IPVS_DAEMON_ATTR_STATE` value.
    pub fn number(self) -> u32 {
        match self {
            Self::Master => 1,
            Self::Backup => 2,
        }
    }
}

/// A sync daemon (`ipvsadm --start-daemon ROLE --mcast-interface IFACE --syncid N`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: SyncRole,
    /// Multicast interface.
    pub interface: String,
    /// Sync id (0–255).
    pub sync_id: u8,
}

/// What `IPVS_CMD_GET_INFO` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Info {
    /// `IP_VS_VERSION_CODE`, e.g. `0x010201` for 1.2.1.
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

/// One change to the kernel's table: what the reconcile core emits and the client executes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum IpvsOp {
    /// `ipvsadm -A`.
    AddService(Service),
    /// `ipvsadm -E`: scheduler, flags, persistence or netmask changed in place.
    EditService(Service),
    /// `ipvsadm -D`.
    DeleteService(ServiceKey),
    /// `ipvsadm -a`.
    AddDest(ServiceKey, Dest),
    /// `ipvsadm -e`: weight, thresholds or forwarding method changed in place.
    EditDest(ServiceKey, Dest),
    /// `ipvsadm -d`.
    DeleteDest(ServiceKey, DestKey),
}

impl fmt::Display for IpvsOp {
    /// One line, for logs and error messages: `add service TCP 10.0.0.1:80 (wlc)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AddService(s) => write!(f, "add service {} ({})", s.key, s.scheduler),
            Self::EditService(s) => write!(f, "edit service {} ({})", s.key, s.scheduler),
            Self::DeleteService(k) => write!(f, "delete service {k}"),
            Self::AddDest(k, d) => write!(
                f,
                "add real server {} to {k} ({}, weight {})",
                d.key,
                d.forward.ipvsadm_name(),
                d.weight
            ),
            Self::EditDest(k, d) => write!(
                f,
                "edit real server {} of {k} ({}, weight {})",
                d.key,
                d.forward.ipvsadm_name(),
                d.weight
            ),
            Self::DeleteDest(k, d) => write!(f, "delete real server {d} from {k}"),
        }
    }
}
