//! The typed model of lvs.cf, with piranha's defaults, built from the syntax tree.
//!
//! Compatibility rule: a file piranha 0.8.6 accepts loads with the same meaning. Where piranha's
//! reading is a known bug (CRLF files, docs/reference/piranha.md §2.1) the evident meaning is loaded and a warning
//! says so; where it is merely surprising (octal numbers, `active` defaulting to 0, keywords
//! nobody reads, the real-server port quirk) the piranha meaning is kept and a warning says so.

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::keywords::{self, Access, Scope};
use crate::syntax::{Block, BlockKind, Document, Item, LineKind, Token};
use crate::value::{self, IntError};
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// A host: an address, or a name resolved when a daemon starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A host name (piranha resolves it with `gethostbyname`).
    Name(String),
}

impl Host {
    /// The IPv4 address, if this is one.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        match self {
            Self::Ip(IpAddr::V4(a)) => Some(*a),
            _ => None,
        }
    }

    /// `0.0.0.0`, piranha's "not set".
    pub fn is_unspecified(&self) -> bool {
        matches!(self, Self::Ip(ip) if ip.is_unspecified())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(n) => f.write_str(n),
        }
    }
}

impl Serialize for Host {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A duration in seconds with millisecond precision (`keepalive = 0.05` is a Pulse extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds {
    /// Milliseconds.
    pub millis: u64,
}

impl Seconds {
    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self { millis: s * 1000 }
    }

    /// As a `std::time::Duration`.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis.is_multiple_of(1000) {
            write!(f, "{}", self.millis / 1000)
        } else {
            let s = format!("{}.{:03}", self.millis / 1000, self.millis % 1000);
            f.write_str(s.trim_end_matches('0'))
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `service = lvs|fos`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceMode {
    /// IPVS virtual services (`lvsd`).
    Lvs,
    /// Failover services (`fos`).
    Fos,
}

impl fmt::Display for ServiceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lvs => "lvs",
            Self::Fos => "fos",
        })
    }
}

/// `network = nat|direct|tunnel`: the IPVS forwarding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Masquerading (`-m`).
    Nat,
    /// Direct routing (`-g`).
    Direct,
    /// IP-in-IP tunnelling (`-i`).
    Tunnel,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nat => "nat",
            Self::Direct => "direct",
            Self::Tunnel => "tunnel",
        })
    }
}

/// `protocol = tcp|udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

/// `reservation_conflict_action = nothing|preempt` (FOS shared SCSI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationConflictAction {
    /// Wait for the partner.
    Nothing,
    /// Preempt the reservation.
    Preempt,
}

impl fmt::Display for ReservationConflictAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nothing => "nothing",
            Self::Preempt => "preempt",
        })
    }
}

/// `IP DEV`: an address and the interface alias it goes on (`address = 192.0.2.100 eth0:1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressOnDevice {
    /// The address.
    pub addr: Host,
    /// The device, with piranha's `:N` alias suffix if given.
    pub device: String,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LvsConfig {
    /// `serial_no`: the file's version (never read by piranha; Pulse compares it between nodes).
    pub serial_no: i64,
    /// `service`.
    pub service: ServiceMode,
    /// `primary`: the node whose interfaces hold this address is the primary.
    pub primary: Option<Host>,
    /// `primary_private`: second heartbeat link (defaults to `primary`).
    pub primary_private: Option<Host>,
    /// `primary_shared`.
    pub primary_shared: Option<String>,
    /// `backup`; `None` when absent or `0.0.0.0`.
    pub backup: Option<Host>,
    /// `backup_private` (defaults to `backup`).
    pub backup_private: Option<Host>,
    /// `backup_shared`.
    pub backup_shared: Option<String>,
    /// `backup_active`.
    pub backup_active: bool,
    /// `heartbeat` (read by nobody).
    pub heartbeat: bool,
    /// `heartbeat_port`.
    pub heartbeat_port: u16,
    /// `keepalive`.
    pub keepalive: Seconds,
    /// `deadtime`.
    pub deadtime: Seconds,
    /// `network`.
    pub network: Network,
    /// `nat_router`.
    pub nat_router: Option<AddressOnDevice>,
    /// `nat_nmask`; `None` = no mask.
    pub nat_nmask: Option<Ipv4Addr>,
    /// `rsh_command`.
    pub rsh_command: String,
    /// `debug_level` (read by nobody).
    pub debug_level: String,
    /// `monitor_links` (any non-zero integer turns it on).
    pub monitor_links: bool,
    /// `syncdaemon`.
    pub syncdaemon: bool,
    /// `syncd_iface`.
    pub syncd_iface: String,
    /// `syncd_id` (piranha uses the low 8 bits).
    pub syncd_id: u8,
    /// `tcp_timeout` in seconds (0 = leave the kernel's value).
    pub tcp_timeout: u32,
    /// `tcpfin_timeout`.
    pub tcpfin_timeout: u32,
    /// `udp_timeout`.
    pub udp_timeout: u32,
    /// `hard_shutdown`.
    pub hard_shutdown: bool,
    /// `active_cmd`.
    pub active_cmd: Option<String>,
    /// `inactive_cmd`.
    pub inactive_cmd: Option<String>,
    /// `reservation_conflict_action`.
    pub reservation_conflict_action: Option<ReservationConflictAction>,
    /// `ipvsadm`.
    pub ipvsadm: String,
    /// `heartbeat_key` (Pulse): path of the shared key; set means authenticated heartbeats.
    pub heartbeat_key: Option<String>,
    /// `heartbeat_link = PRIMARY_ADDR BACKUP_ADDR` lines (Pulse): further heartbeat links,
    /// beside the public (`primary`/`backup`) and private ones.
    pub heartbeat_links: Vec<(Host, Host)>,
    /// `garp_repeat` (Pulse): gratuitous ARPs per address on takeover (piranha: 5).
    pub garp_repeat: u32,
    /// `garp_interval` (Pulse): time between them (piranha: 1 s).
    pub garp_interval: Seconds,
    /// `warm_standby` (Pulse): lvsd runs on the inactive director too, keeping its IPVS table
    /// programmed and its real servers checked, so a takeover only moves the VIPs. Off means
    /// piranha's way: lvsd starts at takeover.
    pub warm_standby: bool,
    /// `metrics_port` (Pulse): TCP port of pulse's Prometheus/OpenMetrics endpoint; 0 (the
    /// default) means no endpoint.
    pub metrics_port: u16,
    /// `metrics_address` (Pulse): the address it listens on (default loopback only).
    pub metrics_address: Host,
    /// `virtual NAME { ... }` blocks, in file order.
    pub virtuals: Vec<VirtualService>,
    /// `failover NAME { ... }` blocks, in file order.
    pub failovers: Vec<VirtualService>,
    /// `fos_restarts` (Pulse, `service = fos`): restarts of a failing local failover service
    /// before the node gives up so the partner takes over (piranha: without bound).
    pub fos_restarts: u32,
    /// `fos_command_timeout` (Pulse): a `start_cmd`/`stop_cmd` still running after this is
    /// killed and counts as failed (piranha waited for ever).
    pub fos_command_timeout: Seconds,
    /// `fos_ping_target` (Pulse): the address the inactive node pings before taking over a
    /// failed service of its partner; unset: the default gateway, as piranha.
    pub fos_ping_target: Option<Host>,
    /// `ecmp` (Pulse): active/active mode. Every director of the group serves every VIP at
    /// once behind a router's equal-cost multipath; each announces a VIP (a host route in
    /// `ecmp_table`, exported by the operator's routing daemon) only while it can serve it.
    /// No heartbeat failover: the VIPs live on `lo`.
    pub ecmp: bool,
    /// `ecmp_director = ADDRESS` lines (Pulse): the directors of the group (this one included),
    /// for `pulsectl status`'s view of the group.
    pub ecmp_directors: Vec<Host>,
    /// `ecmp_table` (Pulse): the kernel routing table pulse adds and removes `VIP/32 dev lo`
    /// routes in (the recipe's table 100).
    pub ecmp_table: u32,
    /// `ecmp_min_servers` (Pulse): a VIP is announced only while at least this many of its real
    /// servers pass their checks.
    pub ecmp_min_servers: u32,
    /// `ecmp_drain` (Pulse): how long a release keeps serving at most after withdrawing the
    /// routes, so the router moves the flows away before lvsd stops (sooner once no traffic
    /// arrives).
    pub ecmp_drain: Seconds,
}

/// A `virtual` (or `failover`) block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VirtualService {
    /// The block's name.
    pub name: String,
    /// `active`.
    pub active: bool,
    /// `address = IP DEV`.
    pub address: Option<AddressOnDevice>,
    /// `vip_nmask`; `None` = no mask.
    pub vip_nmask: Option<Ipv4Addr>,
    /// `port`.
    pub port: u16,
    /// `fwmark` (non-zero: the IPVS service is keyed by mark, not address).
    pub fwmark: u32,
    /// `protocol`.
    pub protocol: Protocol,
    /// `scheduler`.
    pub scheduler: String,
    /// `persistent` in seconds (0 = off).
    pub persistent: u32,
    /// `pmask`; `None` = no mask.
    pub pmask: Option<Ipv4Addr>,
    /// `send`, as lvsd passes it to the checker (one pair of double quotes stripped).
    pub send: Option<String>,
    /// `expect`.
    pub expect: Option<String>,
    /// `use_regex`.
    pub use_regex: bool,
    /// `send_program`.
    pub send_program: Option<String>,
    /// `load_monitor`.
    pub load_monitor: Option<String>,
    /// `timeout` in seconds: check period and connect/read timeout.
    pub timeout: u32,
    /// `reentry` in seconds.
    pub reentry: u32,
    /// `quiesce_server`.
    pub quiesce_server: bool,
    /// `sorry_server`.
    pub sorry_server: Option<Ipv4Addr>,
    /// `client_monitor`.
    pub client_monitor: String,
    /// `start_cmd` (fos).
    pub start_cmd: Option<String>,
    /// `stop_cmd` (fos).
    pub stop_cmd: Option<String>,
    /// `check_tls` (Pulse): the check connection speaks TLS.
    pub check_tls: bool,
    /// `check_tls_verify` (Pulse): verify the server's certificate (chain, dates, name).
    pub check_tls_verify: bool,
    /// `check_tls_ca` (Pulse): PEM file of the trusted CAs; `None` = the system's roots.
    pub check_tls_ca: Option<String>,
    /// `check_tls_cert` (Pulse): PEM client certificate chain, with `check_tls_key`.
    pub check_tls_cert: Option<String>,
    /// `check_tls_key` (Pulse): PEM private key of `check_tls_cert`.
    pub check_tls_key: Option<String>,
    /// `check_tls_sni` (Pulse): the name sent (SNI) and verified; `None` = the VIP.
    pub check_tls_sni: Option<String>,
    /// `check_http` (Pulse): the check is an HTTP request (implied by any `check_http_*`).
    pub check_http: bool,
    /// `check_http_method` (Pulse).
    pub check_http_method: String,
    /// `check_http_path` (Pulse).
    pub check_http_path: String,
    /// `check_http_host` (Pulse): the `Host` header; `None` = the SNI name or the VIP.
    pub check_http_host: Option<String>,
    /// `check_http_status` (Pulse): accepted status codes.
    pub check_http_status: crate::http::StatusSet,
    /// `check_http_body` (Pulse): a substring the body must contain.
    pub check_http_body: Option<String>,
    /// `check_http_body_regex` (Pulse): a regular expression the body must match.
    pub check_http_body_regex: Option<String>,
    /// `check_http_digest` (Pulse): the body's MD5 (keepalived's) or SHA-256 digest.
    pub check_http_digest: Option<crate::http::BodyDigest>,
    /// `check_http_redirects` (Pulse): redirects followed (0 = none: a 3xx is judged as is).
    pub check_http_redirects: u8,
    /// `server NAME { ... }` blocks.
    pub servers: Vec<RealServer>,
}

impl VirtualService {
    /// Whether the check is an HTTP request: `check_http = 1` or any `check_http_*` keyword set
    /// away from its default.
    pub fn is_http_check(&self) -> bool {
        let d = Self::new("");
        self.check_http
            || self.check_http_method != d.check_http_method
            || self.check_http_path != d.check_http_path
            || self.check_http_host.is_some()
            || self.check_http_status != d.check_http_status
            || self.check_http_body.is_some()
            || self.check_http_body_regex.is_some()
            || self.check_http_digest.is_some()
            || self.check_http_redirects != 0
    }
}

impl VirtualService {
    /// What identifies the service in IPVS (and to piranha's lvsd on reload).
    pub fn identity(&self) -> ServiceIdentity {
        if self.fwmark != 0 {
            ServiceIdentity::Fwmark(self.fwmark)
        } else {
            ServiceIdentity::Address {
                protocol: self.protocol,
                addr: self.address.as_ref().map(|a| a.addr.clone()),
                port: self.port,
            }
        }
    }
}

/// An IPVS service key: `-f FWMARK`, or `-t|-u VIP:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServiceIdentity {
    /// Firewall-mark service.
    Fwmark(u32),
    /// Address service.
    Address {
        /// `tcp` or `udp`.
        protocol: Protocol,
        /// The VIP, if set.
        addr: Option<Host>,
        /// The port.
        port: u16,
    },
}

impl fmt::Display for ServiceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fwmark(m) => write!(f, "fwmark {m}"),
            Self::Address {
                protocol,
                addr: Some(a),
                port,
            } => write!(f, "{protocol} {a}:{port}"),
            Self::Address {
                protocol,
                addr: None,
                port,
            } => write!(f, "{protocol} (no address):{port}"),
        }
    }
}

/// A `server` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RealServer {
    /// The block's name.
    pub name: String,
    /// `address`.
    pub address: Option<Host>,
    /// `active`.
    pub active: bool,
    /// `weight` (piranha accepts any integer).
    pub weight: i32,
    /// `port`: defaults to the virtual's port as parsed *so far* (docs/reference/piranha.md §2.4).
    pub port: u16,
}

impl Default for LvsConfig {
    fn default() -> Self {
        Self {
            serial_no: 0,
            service: ServiceMode::Lvs,
            primary: None,
            primary_private: None,
            primary_shared: None,
            backup: None,
            backup_private: None,
            backup_shared: None,
            backup_active: false,
            heartbeat: false,
            heartbeat_port: 539,
            keepalive: Seconds::from_secs(2),
            deadtime: Seconds::from_secs(5),
            network: Network::Nat,
            nat_router: None,
            nat_nmask: None,
            rsh_command: "rsh".into(),
            debug_level: "NONE".into(),
            monitor_links: false,
            syncdaemon: false,
            syncd_iface: "eth0".into(),
            syncd_id: 0,
            tcp_timeout: 0,
            tcpfin_timeout: 0,
            udp_timeout: 0,
            hard_shutdown: true,
            active_cmd: None,
            inactive_cmd: None,
            reservation_conflict_action: None,
            ipvsadm: "/sbin/ipvsadm".into(),
            heartbeat_key: None,
            heartbeat_links: Vec::new(),
            garp_repeat: 5,
            garp_interval: Seconds::from_secs(1),
            warm_standby: true,
            metrics_port: 0,
            metrics_address: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            virtuals: Vec::new(),
            failovers: Vec::new(),
            fos_restarts: 2,
            fos_command_timeout: Seconds::from_secs(30),
            fos_ping_target: None,
            ecmp: false,
            ecmp_directors: Vec::new(),
            ecmp_table: 100,
            ecmp_min_servers: 1,
            ecmp_drain: Seconds::from_secs(5),
        }
    }
}

impl RealServer {
    /// A `server` block with nothing set in it, inside a virtual whose port is `port` so far.
    pub(crate) fn new(name: &str, port: u16) -> Self {
        Self {
            name: name.to_string(),
            address: None,
            active: false,
            weight: 1,
            port,
        }
    }
}

impl VirtualService {
    /// A block with nothing set in it: piranha's defaults.
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            active: false,
            address: None,
            vip_nmask: None,
            port: 80,
            fwmark: 0,
            protocol: Protocol::Tcp,
            scheduler: "wlc".into(),
            persistent: 0,
            pmask: None,
            send: None,
            expect: None,
            use_regex: false,
            send_program: None,
            load_monitor: None,
            timeout: 10,
            reentry: 180,
            quiesce_server: false,
            sorry_server: None,
            client_monitor: "/usr/sbin/nanny".into(),
            start_cmd: None,
            stop_cmd: None,
            check_tls: false,
            check_tls_verify: true,
            check_tls_ca: None,
            check_tls_cert: None,
            check_tls_key: None,
            check_tls_sni: None,
            check_http: false,
            check_http_method: "GET".into(),
            check_http_path: "/".into(),
            check_http_host: None,
            check_http_status: crate::http::StatusSet::default(),
            check_http_body: None,
            check_http_body_regex: None,
            check_http_digest: None,
            check_http_redirects: 0,
            servers: Vec::new(),
        }
    }
}

/// Build the model from a parsed document; push every finding to `diags`.
pub fn build(doc: &Document, diags: &mut Diagnostics) -> LvsConfig {
    let mut b = Builder {
        doc,
        diags,
        global_lines: HashMap::new(),
        rejected: Vec::new(),
        backup_private: None,
    };
    let mut cfg = LvsConfig::default();
    let mut seen = Seen::new();
    let mut top_blocks = Vec::new();
    let mut primary_private_set = false;
    let mut virtual_lines = Vec::new();
    for item in doc.items() {
        match item {
            Item::Line(i) => {
                let Some(st) = b.stmt(*i, Scope::Global, &mut seen) else {
                    continue;
                };
                if st.key == "primary_private" {
                    primary_private_set = true;
                }
                match st.kw.access {
                    Access::Global(set, _) => {
                        if !set(&mut b, &st, &mut cfg) {
                            b.rejected.push(st.key);
                        }
                    }
                    Access::Dropped(check, _) => {
                        check(&mut b, &st, &mut ());
                    }
                    Access::Virtual(..) | Access::Server(..) => {}
                }
            }
            Item::Block(blk) if blk.kind != BlockKind::Server => {
                top_blocks.push(&**blk);
                let vs = b.virtual_block(blk);
                let list = if blk.kind == BlockKind::Virtual {
                    &mut cfg.virtuals
                } else {
                    &mut cfg.failovers
                };
                if blk.kind == BlockKind::Virtual {
                    virtual_lines.push(blk.open);
                }
                list.push(vs);
            }
            // A `server` at top level: the syntax layer already reported it.
            Item::Block(_) => {}
        }
    }
    b.check_unique_names(top_blocks, None);
    let backup_private = b.backup_private.take();
    // docs/reference/piranha.md §2.1 post-processing: without primary_private both private addresses are the
    // public ones (a given backup_private is overwritten).
    if primary_private_set || cfg.primary.is_none() {
        cfg.backup_private = backup_private.or_else(|| cfg.backup.clone());
        if !primary_private_set {
            cfg.primary_private = cfg.primary.clone();
        }
    } else {
        if backup_private.is_some() && backup_private != cfg.backup {
            let sp = b
                .global_lines
                .get("backup_private")
                .map(|&l| doc.line_span(l));
            b.diags.push(
                Diagnostic::warning("backup-private-ignored", sp, "`backup_private` is ignored because `primary_private` is not set")
                    .with_help("piranha uses the public addresses for both links unless `primary_private` is set"),
            );
        }
        cfg.primary_private = cfg.primary.clone();
        cfg.backup_private = cfg.backup.clone();
    }
    b.cross_checks(&cfg, &virtual_lines);
    cfg
}

/// Which keywords a block has set so far, and on which line: indexed like [`keywords::KEYWORDS`].
/// A fixed array, because a fresh map per block was a quarter of the validation time.
struct Seen([u32; keywords::KEYWORDS.len()]);

impl Seen {
    fn new() -> Self {
        Self([0; keywords::KEYWORDS.len()])
    }

    /// Record keyword `idx` on 0-based `line`; the line it was set on before, if any.
    fn insert(&mut self, idx: usize, line: usize) -> Option<usize> {
        let prev = std::mem::replace(
            &mut self.0[idx],
            u32::try_from(line + 1).unwrap_or(u32::MAX),
        );
        (prev != 0).then(|| prev as usize - 1)
    }

    fn contains(&self, name: &str, scope: Scope) -> bool {
        keywords::lookup_index(name, scope).is_some_and(|i| self.0[i] != 0)
    }
}

/// One `key = values` statement being read.
pub(crate) struct Stmt<'a> {
    line: usize,
    key: &'static str,
    kw: &'static keywords::Keyword,
    text: &'a str,
    values: &'a [Token],
}

/// Reads statements into the model; the keyword table's setters call its readers.
pub(crate) struct Builder<'a> {
    doc: &'a Document,
    diags: &'a mut Diagnostics,
    /// Line of each global keyword, for cross-field diagnostics.
    global_lines: HashMap<&'static str, usize>,
    /// Global keywords whose value was rejected (already an error): cross-field checks leave
    /// them out rather than compare a default nobody wrote.
    rejected: Vec<&'static str>,
    /// `backup_private` as read; applied after the whole file (piranha overwrites it when
    /// `primary_private` is absent).
    pub(crate) backup_private: Option<Host>,
}

impl<'a> Builder<'a> {
    /// Read line `i` as a statement of `scope`: unknown keywords, duplicates and ignored
    /// keywords are reported here. `None` for anything that is not a usable statement.
    fn stmt(&mut self, i: usize, scope: Scope, seen: &mut Seen) -> Option<Stmt<'a>> {
        let doc = self.doc;
        let LineKind::Assign { key, values, .. } = &doc.lines()[i].kind else {
            return None;
        };
        let text = doc.line_text(i);
        let values = doc.tokens(values);
        let name = key.raw(text);
        let Some(idx) = keywords::lookup_index(name, scope) else {
            self.unknown_keyword(i, key, name, scope);
            return None;
        };
        let kw = &keywords::KEYWORDS[idx];
        if let Some(prev) = seen.insert(idx, i).filter(|_| !kw.repeatable) {
            self.diags.push(
                Diagnostic::warning(
                    "duplicate-keyword",
                    Some(doc.token_span(i, key)),
                    format!("`{name}` is set more than once; the last value wins"),
                )
                .with_help(format!(
                    "the value on line {} is ignored; remove one of them",
                    prev + 1
                )),
            );
        }
        if !kw.piranha {
            self.diags.push(
                Diagnostic::warning(
                    "pulse-keyword",
                    Some(doc.token_span(i, key)),
                    format!("`{name}` is a Pulse keyword"),
                )
                .with_help("piranha 0.8.6 rejects it (\"unknown command\")")
                .pulse_only(),
            );
        }
        if kw.ignored {
            self.diags.push(
                Diagnostic::warning(
                    "ignored-keyword",
                    Some(doc.token_span(i, key)),
                    format!("`{name}` is ignored"),
                )
                .with_help("piranha parses it but no program reads it; Pulse does the same"),
            );
        }
        if scope == Scope::Global {
            self.global_lines.insert(kw.name, i);
        }
        Some(Stmt {
            line: i,
            key: kw.name,
            kw,
            text,
            values,
        })
    }

    fn unknown_keyword(&mut self, i: usize, key: &Token, name: &str, scope: Scope) {
        let mut d = Diagnostic::error(
            "unknown-keyword",
            Some(self.doc.token_span(i, key)),
            format!("unknown keyword \"{name}\""),
        );
        let elsewhere = keywords::other_scopes(name, scope);
        if let Some(other) = elsewhere.first() {
            d = d.with_help(format!("`{name}` is {}, not valid here", other.describe()));
        } else if let Some(s) = keywords::suggest(name, scope) {
            d = d.with_help(format!("did you mean \"{s}\"?"));
        } else if name == "debug" {
            d = d.with_help("the keyword is `debug_level` (the man page's `debug` is not accepted by piranha either)");
        } else if BlockKind::from_keyword(name).is_some() {
            d = d.with_help(format!("a block is written `{name} NAME {{`"));
        }
        self.diags.push(d);
    }

    fn span(&self, st: &Stmt<'a>, t: &Token) -> Span {
        self.doc.token_span(st.line, t)
    }

    fn err(
        &mut self,
        st: &Stmt<'a>,
        t: &Token,
        code: &'static str,
        msg: String,
    ) -> &mut Diagnostic {
        let sp = self.span(st, t);
        self.diags.push(Diagnostic::error(code, Some(sp), msg));
        self.diags.0.last_mut().expect("just pushed")
    }

    /// Exactly `n` values, else "missing"/"unexpected" diagnostics.
    fn values(&mut self, st: &Stmt<'a>, n: usize) -> Option<&'a [Token]> {
        if st.values.len() == n {
            return Some(st.values);
        }
        let key_tok = match &self.doc.lines()[st.line].kind {
            LineKind::Assign { key, .. } => *key,
            _ => return None,
        };
        if st.values.len() < n {
            let what = if n == 2 {
                "an address and a device"
            } else {
                "a value"
            };
            let help = if n == 2 {
                format!(
                    "write `{} = ADDRESS DEVICE`, e.g. `{} = 192.0.2.100 eth0:1`",
                    st.key, st.key
                )
            } else {
                format!("write `{} = VALUE`", st.key)
            };
            self.err(
                st,
                &key_tok,
                "missing-value",
                format!("`{}` needs {what}", st.key),
            )
            .help = Some(help);
        } else {
            let extra = st.values[n];
            let last = st.values[st.values.len() - 1];
            let sp = Span {
                len: self.span(st, &last).col + self.span(st, &last).len
                    - self.span(st, &extra).col,
                ..self.span(st, &extra)
            };
            let help = if n == 1 {
                "quote a value that contains blanks: `key = \"a b\"`"
            } else {
                "remove the extra words"
            };
            self.diags.push(
                Diagnostic::error(
                    "unexpected-value",
                    Some(sp),
                    format!("too many values for `{}`", st.key),
                )
                .with_help(help),
            );
        }
        None
    }

    fn one(&mut self, st: &Stmt<'a>) -> Option<Token> {
        self.values(st, 1).map(|v| v[0])
    }

    pub(crate) fn int(&mut self, st: &Stmt<'a>) -> Option<i64> {
        let t = self.one(st)?;
        self.int_token(st, &t, i64::MIN, i64::MAX)
    }

    /// An integer; `lo..=hi` is the keyword's range, named when the number does not even fit in
    /// 64 bits (callers check the range itself).
    fn int_token(&mut self, st: &Stmt<'a>, t: &Token, lo: i64, hi: i64) -> Option<i64> {
        let raw = t.unquoted(st.text);
        match value::parse_c_int(raw) {
            Ok(c) => {
                if c.octal && c.value != 0 {
                    let sp = self.span(st, t);
                    self.diags.push(
                        Diagnostic::warning("octal-number", Some(sp), format!("`{raw}` is read as octal, i.e. {}", c.value))
                            .with_help(format!("piranha reads a leading zero as octal; write `{}` if that is what you mean", c.value)),
                    );
                }
                Some(c.value)
            }
            Err(IntError::BadOctal) => {
                let fixed = raw.trim_start_matches('0');
                self.err(
                    st,
                    t,
                    "bad-integer",
                    format!("`{raw}` is not a valid number"),
                )
                .help = Some(format!(
                    "a leading zero makes it octal, which has no 8 or 9; write `{fixed}`"
                ));
                None
            }
            Err(IntError::Overflow) => {
                self.err(
                    st,
                    t,
                    "out-of-range",
                    format!("`{}` must be between {lo} and {hi}, found {raw}", st.key),
                );
                None
            }
            Err(IntError::NotInteger) => {
                let help = if value::parse_decimal_millis(raw).is_some() {
                    format!("`{}` takes whole numbers", st.key)
                } else {
                    "write a number: decimal, 0x hex, or 0-prefixed octal".to_string()
                };
                self.err(
                    st,
                    t,
                    "bad-integer",
                    format!("integer expected, found `{raw}`"),
                )
                .help = Some(help);
                None
            }
        }
    }

    /// An integer in `lo..=hi`.
    pub(crate) fn ranged<T: TryFrom<i64>>(&mut self, st: &Stmt<'a>, lo: i64, hi: i64) -> Option<T> {
        let t = self.one(st)?;
        let v = self.int_token(st, &t, lo, hi)?;
        if v < lo || v > hi {
            self.err(
                st,
                &t,
                "out-of-range",
                format!("`{}` must be between {lo} and {hi}, found {v}", st.key),
            );
            return None;
        }
        T::try_from(v).ok()
    }

    pub(crate) fn bool(&mut self, st: &Stmt<'a>) -> Option<bool> {
        let t = self.one(st)?;
        let v = self.int_token(st, &t, 0, 1)?;
        match v {
            0 => Some(false),
            1 => Some(true),
            _ => {
                self.err(
                    st,
                    &t,
                    "bad-boolean",
                    format!("`{}` is 0 or 1, found {}", st.key, t.raw(st.text)),
                )
                .help = Some("boolean keywords take 0 (off) or 1 (on)".into());
                None
            }
        }
    }

    /// A string value as the daemons see it (docs/reference/piranha.md §2.1 quoting rules).
    pub(crate) fn string(&mut self, st: &Stmt<'a>) -> Option<String> {
        let t = self.one(st)?;
        let keeps_quotes = st.kw.form == keywords::Form::Quoted;
        if keeps_quotes && t.quote() == Some('\'') {
            let sp = self.span(st, &t);
            self.diags.push(
                Diagnostic::warning("single-quoted", Some(sp), format!("the single quotes are part of the `{}` value", st.key))
                    .with_help("piranha strips only double quotes from this keyword; use \"...\" unless the quotes are meant to be sent"),
            );
            return Some(t.raw(st.text).to_string());
        }
        Some(t.unquoted(st.text).to_string())
    }

    /// One value read by `parse` (e.g. [`crate::http::StatusSet::parse`]); its error text is
    /// the diagnostic's message.
    pub(crate) fn parsed<T>(
        &mut self,
        st: &Stmt<'a>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let t = self.one(st)?;
        match parse(t.unquoted(st.text)) {
            Ok(v) => Some(v),
            Err(msg) => {
                self.err(st, &t, "bad-value", format!("`{}`: {msg}", st.key));
                None
            }
        }
    }

    pub(crate) fn choice(
        &mut self,
        st: &Stmt<'a>,
        valid: &[&str],
        extension: &[&str],
    ) -> Option<String> {
        let t = self.one(st)?;
        let v = t.unquoted(st.text);
        if valid.contains(&v) {
            return Some(v.to_string());
        }
        if extension.contains(&v) {
            let sp = self.span(st, &t);
            self.diags.push(
                Diagnostic::warning(
                    "pulse-extension",
                    Some(sp),
                    format!("`{} = {v}` is a Pulse extension", st.key),
                )
                .with_help(format!("piranha 0.8.6 accepts only: {}", valid.join(", ")))
                .pulse_only(),
            );
            return Some(v.to_string());
        }
        let all: Vec<&str> = valid.iter().chain(extension).copied().collect();
        let help = match keywords::closest(v, all.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"? valid values: {}", all.join(", ")),
            None => format!("valid values: {}", all.join(", ")),
        };
        let what = st.key.replace('_', " ");
        self.err(st, &t, "bad-choice", format!("unknown {what} \"{v}\""))
            .help = Some(help);
        None
    }

    /// A host token: inet_aton form, IPv6 (extension) or a host name.
    fn host_token(&mut self, st: &Stmt<'a>, t: &Token, allow_zero: bool) -> Option<Host> {
        let raw = t.unquoted(st.text);
        // The common case first: a plain dotted quad needs no diagnostic (and no span).
        if let Ok(a) = raw.parse::<Ipv4Addr>()
            && (allow_zero || !a.is_unspecified())
        {
            return Some(Host::Ip(IpAddr::V4(a)));
        }
        let sp = self.span(st, t);
        if let Some(a) = value::inet_aton(raw) {
            if a.is_unspecified() && !allow_zero {
                self.diags.push(
                    Diagnostic::error(
                        "bad-address",
                        Some(sp),
                        format!("`{}` cannot be 0.0.0.0", st.key),
                    )
                    .with_help("piranha rejects 0.0.0.0 here: \"invalid host name or ip address\""),
                );
                return None;
            }
            if !value::is_dotted_quad(raw) {
                self.diags.push(
                    Diagnostic::warning(
                        "unusual-address",
                        Some(sp),
                        format!("`{raw}` is read as {a}"),
                    )
                    .with_help(format!(
                        "inet_aton accepts short and hex forms; write `{a}` to be clear"
                    )),
                );
            }
            return Some(Host::Ip(IpAddr::V4(a)));
        }
        if raw.contains(':')
            && let Ok(a) = raw.parse::<std::net::Ipv6Addr>()
        {
            self.diags.push(
                Diagnostic::warning(
                    "ipv6-address",
                    Some(sp),
                    "IPv6 addresses are a Pulse extension",
                )
                .with_help("piranha 0.8.6 is IPv4 only")
                .pulse_only(),
            );
            return Some(Host::Ip(IpAddr::V6(a)));
        }
        if value::is_host_name(raw) {
            self.diags.push(
                Diagnostic::warning(
                    "host-name",
                    Some(sp),
                    format!("`{raw}` is a host name; it is resolved when a daemon starts"),
                )
                .with_help("a failover should not depend on DNS: write the IP address"),
            );
            return Some(Host::Name(raw.to_string()));
        }
        self.diags.push(
            Diagnostic::error("bad-address", Some(sp), format!("invalid address `{raw}`"))
                .with_help("write an IPv4 address such as 192.0.2.10"),
        );
        None
    }

    pub(crate) fn host(&mut self, st: &Stmt<'a>, allow_zero: bool) -> Option<Host> {
        let t = self.one(st)?;
        self.host_token(st, &t, allow_zero)
    }

    /// `IP DEV`.
    pub(crate) fn address_on_device(&mut self, st: &Stmt<'a>) -> Option<AddressOnDevice> {
        let v = self.values(st, 2)?;
        let addr = self.host_token(st, &v[0], true)?;
        let dev = v[1].unquoted(st.text);
        let base = dev.split(':').next().unwrap_or(dev);
        // Linux interface names are at most 15 bytes (IFNAMSIZ - 1), with no '/' or blanks.
        if base.is_empty()
            || base.len() > 15
            || base.contains(['/', ' ', '\t'])
            || dev.matches(':').count() > 1
        {
            self.err(
                st,
                &v[1],
                "bad-device",
                format!("invalid interface name `{dev}`"),
            )
            .help = Some("write a device such as `eth0` or an alias such as `eth0:1`".into());
            return None;
        }
        Some(AddressOnDevice {
            addr,
            device: dev.to_string(),
        })
    }

    /// A netmask (`vip_nmask`, `nat_nmask`): dotted form only; `0.0.0.0` means none.
    pub(crate) fn mask(&mut self, st: &Stmt<'a>) -> Option<Option<Ipv4Addr>> {
        let t = self.one(st)?;
        let raw = t.unquoted(st.text);
        let Some(m) = value::inet_aton(raw) else {
            self.err(st, &t, "bad-netmask", format!("bad subnet mask `{raw}`"))
                .help = Some("write a mask such as 255.255.255.0".into());
            return None;
        };
        if !value::is_contiguous_mask(m) {
            self.err(
                st,
                &t,
                "bad-netmask",
                format!("netmask {m} is not contiguous"),
            )
            .help =
                Some("a netmask is a run of one-bits then zero-bits, such as 255.255.255.0".into());
            return None;
        }
        Some((!m.is_unspecified()).then_some(m))
    }

    /// A port: a number, or (if `names`) a service name such as `http`.
    pub(crate) fn port(&mut self, st: &Stmt<'a>, names: bool) -> Option<u16> {
        let t = self.one(st)?;
        let raw = t.unquoted(st.text);
        if names && !raw.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
            if let Some(p) = value::service_port(raw) {
                return Some(p);
            }
            self.err(st, &t, "bad-port", format!("unknown service name `{raw}`"))
                .help = Some("write the port number".into());
            return None;
        }
        if !names
            && raw.starts_with(|c: char| c.is_ascii_alphabetic())
            && value::service_port(raw).is_some()
        {
            self.err(st, &t, "bad-port", format!("integer expected, found `{raw}`")).help =
                Some("a real server's `port` takes a number only (piranha looks up service names for the virtual's `port`, not here)".into());
            return None;
        }
        let v = self.int_token(st, &t, 0, 65535)?;
        match u16::try_from(v) {
            Ok(p) => Some(p),
            Err(_) => {
                self.err(st, &t, "bad-port", format!("port {v} is out of range"))
                    .help = Some("ports are 0 to 65535".into());
                None
            }
        }
    }

    /// `keepalive`/`deadtime`: whole seconds, or decimal seconds as a Pulse extension.
    pub(crate) fn seconds(&mut self, st: &Stmt<'a>) -> Option<Seconds> {
        let t = self.one(st)?;
        let raw = t.unquoted(st.text);
        let secs = if raw.contains('.') {
            let Some(ms) = value::parse_decimal_millis(raw) else {
                self.err(st, &t, "bad-duration", format!("invalid duration `{raw}`"))
                    .help = Some("write seconds, e.g. `2` or `0.05` (at most 3 decimals)".into());
                return None;
            };
            let sp = self.span(st, &t);
            self.diags.push(
                Diagnostic::warning(
                    "decimal-seconds",
                    Some(sp),
                    format!("decimal seconds for `{}` are a Pulse extension", st.key),
                )
                .with_help("piranha 0.8.6 takes whole seconds only")
                .pulse_only(),
            );
            Seconds { millis: ms }
        } else {
            let v = self.int_token(st, &t, 0, 86_400)?;
            match u64::try_from(v) {
                Ok(s) if s <= 86_400 => Seconds::from_secs(s),
                _ => {
                    self.err(
                        st,
                        &t,
                        "out-of-range",
                        format!(
                            "`{}` must be between 0 and 86400 seconds, found {v}",
                            st.key
                        ),
                    );
                    return None;
                }
            }
        };
        if secs.millis == 0 {
            self.err(
                st,
                &t,
                "out-of-range",
                format!("`{}` must be greater than zero", st.key),
            );
            return None;
        }
        Some(secs)
    }

    pub(crate) fn service(&mut self, st: &Stmt<'a>) -> Option<ServiceMode> {
        let v = self.choice(st, &["lvs", "fos"], &[])?;
        Some(if v == "fos" {
            ServiceMode::Fos
        } else {
            ServiceMode::Lvs
        })
    }

    pub(crate) fn network(&mut self, st: &Stmt<'a>) -> Option<Network> {
        let v = self.choice(st, &["nat", "direct", "tunnel"], &[])?;
        Some(match v.as_str() {
            "direct" => Network::Direct,
            "tunnel" => Network::Tunnel,
            _ => Network::Nat,
        })
    }

    pub(crate) fn protocol(&mut self, st: &Stmt<'a>) -> Option<Protocol> {
        let v = self.choice(st, &["tcp", "udp"], &[])?;
        Some(if v == "udp" {
            Protocol::Udp
        } else {
            Protocol::Tcp
        })
    }

    pub(crate) fn conflict_action(&mut self, st: &Stmt<'a>) -> Option<ReservationConflictAction> {
        let v = self.choice(st, &["nothing", "preempt"], &[])?;
        Some(if v == "preempt" {
            ReservationConflictAction::Preempt
        } else {
            ReservationConflictAction::Nothing
        })
    }

    /// `heartbeat_link = PRIMARY_ADDR BACKUP_ADDR`.
    pub(crate) fn host_pair(&mut self, st: &Stmt<'a>) -> Option<(Host, Host)> {
        let v = self.values(st, 2)?;
        let (a, b) = (
            self.host_token(st, &v[0], false),
            self.host_token(st, &v[1], false),
        );
        Some((a?, b?))
    }

    /// `pmask`: docs/reference/piranha.md §2.1: an unparsable pmask is silently ignored (a warning here, and
    /// not a rejection); 255.255.255.255 means none.
    pub(crate) fn pmask(&mut self, st: &Stmt<'a>, vs: &mut VirtualService) -> bool {
        let Some(t) = self.one(st) else { return false };
        let raw = t.unquoted(st.text);
        match value::inet_aton(raw) {
            Some(m) => vs.pmask = (!m.is_unspecified() && m != Ipv4Addr::BROADCAST).then_some(m),
            None => {
                let sp = self.span(st, &t);
                self.diags.push(
                    Diagnostic::warning("pmask-ignored", Some(sp), format!("`pmask = {raw}` is not a netmask and is ignored"))
                        .with_help("piranha ignores it silently; write a mask such as 255.255.255.0 or remove the line"),
                );
            }
        }
        true
    }

    pub(crate) fn sorry_server(&mut self, st: &Stmt<'a>) -> Option<Ipv4Addr> {
        let t = self.one(st)?;
        let raw = t.unquoted(st.text);
        let a = value::inet_aton(raw);
        if a.is_none() {
            self.err(
                st,
                &t,
                "bad-address",
                format!("invalid sorry_server address `{raw}`"),
            )
            .help = Some("write an IPv4 address (host names are not accepted here)".into());
        }
        a
    }

    /// `dirs = [ a b ]`.
    pub(crate) fn list(&mut self, st: &Stmt<'a>) -> bool {
        let ok = st.values.len() >= 2
            && st.values[0].raw(st.text) == "["
            && st.values[st.values.len() - 1].raw(st.text) == "]";
        if !ok {
            let t = st
                .values
                .first()
                .copied()
                .unwrap_or(Token::new(0, st.text.len(), None));
            self.err(st, &t, "bad-list", "list expected".to_string())
                .help = Some("write `dirs = [ a b ]`".into());
        }
        ok
    }

    /// A server's `address`: `0.0.0.0` means none.
    pub(crate) fn server_address(&mut self, st: &Stmt<'a>, rs: &mut RealServer) -> bool {
        let Some(h) = self.host(st, true) else {
            return false;
        };
        rs.address = (!h.is_unspecified()).then_some(h);
        true
    }

    /// A server's `weight`: any integer, as piranha; negative ones get a warning.
    pub(crate) fn weight(&mut self, st: &Stmt<'a>) -> Option<i32> {
        let v = self.ranged::<i32>(st, i64::from(i32::MIN), i64::from(i32::MAX))?;
        if v < 0 {
            let sp = self.doc.line_span(st.line);
            self.diags.push(
                Diagnostic::warning("negative-weight", Some(sp), format!("negative weight {v}"))
                    .with_help("piranha accepts it, but IPVS weights are 0 or more; the server gets weight 0"),
            );
        }
        Some(v)
    }

    /// Report blocks whose kind and name repeat among `blocks` (siblings). Sorting instead of
    /// hashing: tens of thousands of server names go through here.
    fn check_unique_names(&mut self, mut blocks: Vec<&'a Block>, parent: Option<&str>) {
        blocks.sort_by(|a, b| (a.kind, &a.name, a.open).cmp(&(b.kind, &b.name, b.open)));
        let mut first = 0;
        for i in 1..blocks.len() {
            let dup = blocks[i];
            if (blocks[first].kind, &blocks[first].name) != (dup.kind, &dup.name) {
                first = i;
                continue;
            }
            let first = blocks[first];
            let sp = self.doc.line_span(dup.open);
            let place = parent.map(|p| format!(" in `{p}`")).unwrap_or_default();
            self.diags.push(
                Diagnostic::error(
                    "duplicate-block",
                    Some(sp),
                    format!(
                        "duplicate {} name \"{}\"{place}",
                        dup.kind.keyword(),
                        dup.name
                    ),
                )
                .with_help(format!(
                    "the first one is on line {}; names must be unique",
                    first.open + 1
                )),
            );
        }
    }

    fn virtual_block(&mut self, blk: &'a Block) -> VirtualService {
        let mut vs = VirtualService::new(&blk.name);
        let mut seen = Seen::new();
        let mut servers = Vec::new();
        // Servers without their own `port`, which took the virtual's port as parsed so far.
        let mut defaulted_ports: Vec<(usize, usize)> = Vec::new();
        for item in &blk.items {
            match item {
                Item::Line(i) => {
                    let Some(st) = self.stmt(*i, Scope::Virtual, &mut seen) else {
                        continue;
                    };
                    self.virtual_stmt(&st, &mut vs);
                    if st.key == "port" {
                        for &(idx, open) in &defaulted_ports {
                            let rs = &vs.servers[idx];
                            if rs.port != vs.port {
                                self.diags.push(
                                    Diagnostic::warning("server-port-before-virtual-port", Some(self.doc.line_span(open)), format!("`server {}` uses port {}, not the virtual's port {}", rs.name, rs.port, vs.port))
                                        .with_help(format!("piranha gives a server without `port` the virtual's port as read so far; the `port` line (line {}) comes after this server, so move it up or set the server's `port`", st.line + 1)),
                                );
                            }
                        }
                        defaulted_ports.clear();
                    }
                }
                Item::Block(sb) if sb.kind == BlockKind::Server => {
                    servers.push(&**sb);
                    let (rs, own_port) = self.server_block(sb, vs.port, &blk.name);
                    if !own_port {
                        defaulted_ports.push((vs.servers.len(), sb.open));
                    }
                    vs.servers.push(rs);
                }
                Item::Block(_) => {}
            }
        }
        self.check_unique_names(servers, Some(&blk.name));
        let kw = blk.kind.keyword();
        if !seen.contains("active", Scope::Virtual) {
            let sp = self.doc.line_span(blk.open);
            self.diags.push(
                Diagnostic::warning(
                    "inactive-by-default",
                    Some(sp),
                    format!(
                        "`{kw} {}` has no `active` line, so it is inactive",
                        blk.name
                    ),
                )
                .with_help("piranha's default is `active = 0`; add `active = 1` to use it"),
            );
        }
        if !seen.contains("address", Scope::Virtual) && (vs.active || !vs.servers.is_empty()) {
            let why = if vs.active {
                "is active"
            } else {
                "has servers"
            };
            self.diags.push(
                Diagnostic::error(
                    "missing-address",
                    Some(self.doc.line_span(blk.open)),
                    format!("`{kw} {}` {why} but has no `address`", blk.name),
                )
                .with_help("add `address = VIP DEVICE`, e.g. `address = 192.0.2.100 eth0:1`"),
            );
        }
        vs
    }

    fn virtual_stmt(&mut self, st: &Stmt<'a>, vs: &mut VirtualService) {
        match st.kw.access {
            Access::Virtual(set, _) => {
                set(self, st, vs);
            }
            Access::Dropped(check, _) => {
                check(self, st, &mut ());
            }
            Access::Global(..) | Access::Server(..) => {}
        }
    }

    /// Returns the server and whether it set its own `port`.
    fn server_block(
        &mut self,
        blk: &Block,
        port_so_far: u16,
        virtual_name: &str,
    ) -> (RealServer, bool) {
        let mut rs = RealServer::new(&blk.name, port_so_far);
        let mut seen = Seen::new();
        for item in &blk.items {
            let Item::Line(i) = item else { continue };
            let Some(st) = self.stmt(*i, Scope::Server, &mut seen) else {
                continue;
            };
            if let Access::Server(set, _) = st.kw.access {
                set(self, &st, &mut rs);
            }
        }
        if !seen.contains("active", Scope::Server) {
            self.diags.push(
                Diagnostic::warning(
                    "inactive-by-default",
                    Some(self.doc.line_span(blk.open)),
                    format!(
                        "`server {}` in `{virtual_name}` has no `active` line, so it is inactive",
                        blk.name
                    ),
                )
                .with_help("piranha's default is `active = 0`; add `active = 1` to use it"),
            );
        }
        if rs.active && !seen.contains("address", Scope::Server) {
            self.diags.push(
                Diagnostic::error(
                    "missing-address",
                    Some(self.doc.line_span(blk.open)),
                    format!(
                        "active `server {}` in `{virtual_name}` has no `address`",
                        blk.name
                    ),
                )
                .with_help("add `address = IP` inside the server block"),
            );
        }
        (rs, seen.contains("port", Scope::Server))
    }

    /// Checks that need the whole file.
    fn cross_checks(&mut self, c: &LvsConfig, virtual_lines: &[usize]) {
        let doc = self.doc;
        let gline = |k: &str| self.global_lines.get(k).copied();
        if let (Some(p), Some(b)) = (&c.primary, &c.backup)
            && p == b
        {
            let sp = gline("backup").map(|l| doc.line_span(l));
            self.diags.push(
                Diagnostic::error(
                    "primary-is-backup",
                    sp,
                    format!("`primary` and `backup` are both {p}"),
                )
                .with_help("each director needs its own address: `backup` is the other node"),
            );
        }
        let rejected = |k: &str| self.rejected.contains(&k);
        let timers_read = !rejected("deadtime") && !rejected("keepalive");
        if timers_read && c.deadtime <= c.keepalive {
            let l = gline("deadtime").or_else(|| gline("keepalive"));
            self.diags.push(
                Diagnostic::error("deadtime-not-above-keepalive", l.map(|l| doc.line_span(l)), format!("`deadtime` ({}s) must be greater than `keepalive` ({}s)", c.deadtime, c.keepalive))
                    .with_help("the partner would be declared dead between two heartbeats; a deadtime of 3 keepalives is usual"),
            );
        }
        if c.backup_active && c.backup.is_none() {
            let sp = gline("backup_active").map(|l| doc.line_span(l));
            self.diags.push(
                Diagnostic::warning("backup-active-without-backup", sp, "`backup_active = 1` but no `backup` is set")
                    .with_help("piranha logs \"Undefined backup node marked as active? -- clearing that!\" and runs without a partner"),
            );
        }
        let mut by_identity: HashMap<ServiceIdentity, usize> = HashMap::new();
        for (idx, vs) in c.virtuals.iter().enumerate() {
            if vs.address.is_none() && vs.fwmark == 0 {
                continue;
            }
            let id = vs.identity();
            match by_identity.get(&id) {
                Some(&first) => {
                    let other = &c.virtuals[first];
                    let both = other.active && vs.active;
                    let msg = format!(
                        "`virtual {}` and `virtual {}` are the same service ({id})",
                        other.name, vs.name
                    );
                    let sp = Some(doc.line_span(virtual_lines[idx]));
                    let d = if both {
                        Diagnostic::error("duplicate-service", sp, msg).with_help("two active virtual services cannot share an address, port and protocol (or fwmark)")
                    } else {
                        Diagnostic::warning("duplicate-service", sp, msg)
                            .with_help("only one of them may be active at a time")
                    };
                    self.diags.push(d);
                    if vs.active {
                        by_identity.insert(id, idx);
                    }
                }
                None => {
                    by_identity.insert(id, idx);
                }
            }
        }
        for m in crate::family::mixed_families(c, &mut crate::family::literal) {
            use crate::family::MixedFamily as M;
            let line = match &m {
                M::PrimaryBackup { .. } => gline("backup"),
                M::PrivateLink { .. } => {
                    gline("backup_private").or_else(|| gline("primary_private"))
                }
                M::HeartbeatLink { .. } => gline("heartbeat_link"),
                M::Server { virtual_name, .. } | M::SorryServer { virtual_name, .. } => c
                    .virtuals
                    .iter()
                    .position(|v| &v.name == virtual_name)
                    .map(|i| virtual_lines[i]),
            };
            self.diags.push(
                Diagnostic::error(
                    "mixed-families",
                    line.map(|l| doc.line_span(l)),
                    m.to_string(),
                )
                .with_help(m.help()),
            );
        }
        for (idx, vs) in c.virtuals.iter().enumerate() {
            self.check_https_keywords(vs, Some(doc.line_span(virtual_lines[idx])));
        }
        let (list, what) = match c.service {
            ServiceMode::Lvs => (&c.virtuals, "lvs"),
            ServiceMode::Fos => (&c.failovers, "fos"),
        };
        if !list.iter().any(|v| v.active) {
            self.diags.push(
                Diagnostic::warning(
                    "no-active-service",
                    None,
                    format!("no active {what} services are defined"),
                )
                .with_help("pulse refuses to start without one; set `active = 1` in a block"),
            );
        }
    }
}

impl Builder<'_> {
    /// The HTTP/TLS check keywords against the rest of the block: an HTTP check replaces
    /// piranha's `send`/`expect`/`send_program`, so having both is an error rather than a
    /// silent choice; a client certificate needs its key.
    fn check_https_keywords(&mut self, vs: &VirtualService, sp: Option<Span>) {
        let name = &vs.name;
        if vs.is_http_check() {
            let piranha: Vec<&str> = [
                ("send", vs.send.is_some()),
                ("expect", vs.expect.is_some()),
                ("send_program", vs.send_program.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if !piranha.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "check-conflict",
                        sp,
                        format!(
                            "`virtual {name}` has an HTTP check and `{}`",
                            piranha.join("`, `")
                        ),
                    )
                    .with_help("an HTTP check (`check_http*`) replaces piranha's send/expect check: keep one of them"),
                );
            }
        } else if vs.check_tls && vs.send_program.is_some() {
            self.diags.push(
                Diagnostic::error(
                    "check-conflict",
                    sp,
                    format!("`virtual {name}` has `check_tls` and `send_program`"),
                )
                .with_help(
                    "an external check program makes its own connection; remove `check_tls`",
                ),
            );
        }
        if vs.protocol == Protocol::Udp {
            // The TLS and HTTP probes are TCP connections and DTLS is not offered; a UDP service
            // keeps piranha's UDP send/expect check, so these keywords would do nothing (or
            // probe a TCP port the service does not serve): refused, not ignored.
            let set: Vec<&str> = [
                ("check_tls", vs.check_tls),
                ("check_tls_verify = 0", !vs.check_tls_verify),
                ("check_tls_ca", vs.check_tls_ca.is_some()),
                ("check_tls_cert", vs.check_tls_cert.is_some()),
                ("check_tls_key", vs.check_tls_key.is_some()),
                ("check_tls_sni", vs.check_tls_sni.is_some()),
                ("check_http*", vs.is_http_check()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if !set.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "check-conflict",
                        sp,
                        format!(
                            "`virtual {name}` has `protocol = udp` and `{}`",
                            set.join("`, `")
                        ),
                    )
                    .with_help("TLS and HTTP checks run over TCP: remove them (a UDP service is checked with `send`/`expect` over UDP) or set `protocol = tcp`"),
                );
                // The warnings below would only repeat the same keywords.
                return;
            }
        }
        if vs.check_tls_cert.is_some() != vs.check_tls_key.is_some() {
            self.diags.push(
                Diagnostic::error(
                    "check-conflict",
                    sp,
                    format!("`virtual {name}`: `check_tls_cert` and `check_tls_key` go together"),
                )
                .with_help("a client certificate needs its private key, and a key its certificate"),
            );
        }
        let tls_only = [
            vs.check_tls_ca.is_some(),
            vs.check_tls_cert.is_some(),
            vs.check_tls_sni.is_some(),
            !vs.check_tls_verify,
        ];
        if !vs.check_tls && tls_only.contains(&true) {
            self.diags.push(
                Diagnostic::warning(
                    "tls-keyword-without-tls",
                    sp,
                    format!("`virtual {name}` sets `check_tls_*` keywords but not `check_tls = 1`"),
                )
                .with_help("they have no effect on a plain TCP check"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    fn errors(src: &str) -> Vec<String> {
        crate::parse(src)
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect()
    }

    const BASE: &str =
        "primary = 192.0.2.1\nvirtual w {\n active = 1\n address = 192.0.2.9 eth0:1\n}\n";

    #[test]
    fn https_check_keywords_are_validated() {
        let with = |body: &str| {
            errors(&format!(
                "primary = 192.0.2.1\nvirtual w {{\n active = 1\n address = 192.0.2.9 eth0:1\n{body}\n}}\n"
            ))
        };
        assert!(with(" check_tls = 1\n check_http_status = 200,301-308").is_empty());
        assert_eq!(
            with(" check_http = 1\n expect = \"HTTP\""),
            ["check-conflict: `virtual w` has an HTTP check and `expect`"]
        );
        assert_eq!(
            with(" check_tls = 1\n check_tls_cert = \"/c.pem\""),
            ["check-conflict: `virtual w`: `check_tls_cert` and `check_tls_key` go together"]
        );
        // A UDP service has no TLS or HTTP check: refused, not silently ignored.
        assert_eq!(
            with(" protocol = udp\n check_tls = 1\n check_http_path = \"/h\""),
            ["check-conflict: `virtual w` has `protocol = udp` and `check_tls`, `check_http*`"]
        );
        assert_eq!(
            with(" protocol = udp\n check_tls_sni = dns.example"),
            ["check-conflict: `virtual w` has `protocol = udp` and `check_tls_sni`"]
        );
        assert!(with(" protocol = udp\n send = \"x\"\n expect = \"y\"").is_empty());
        assert_eq!(
            with(" check_http_status = 2xx"),
            ["bad-value: `check_http_status`: `2xx` is not an HTTP status code (100-599)"]
        );
        assert_eq!(
            with(" check_http_path = \"no-slash\""),
            [
                "bad-value: `check_http_path`: `no-slash` is not a request path: it starts with `/` and has no blanks or control characters"
            ]
        );
        // Pulse keywords: refused when piranha compatibility is asked for.
        let src = "primary = 192.0.2.1\nvirtual w {\n active = 1\n address = 192.0.2.9 eth0:1\n check_tls = 1\n}\n";
        let d = crate::parse(src).diagnostics;
        assert!(
            d.iter()
                .any(|d| d.code == "pulse-keyword" && d.compat == crate::Compat::PulseOnly)
        );
    }

    #[test]
    fn a_rejected_timer_is_not_compared_with_a_default() {
        assert_eq!(
            errors(&format!("keepalive = 0.2x\ndeadtime = 1\n{BASE}")),
            ["bad-duration: invalid duration `0.2x`"]
        );
        assert_eq!(
            errors(&format!("keepalive = 6\ndeadtime = zz\n{BASE}")),
            ["bad-integer: integer expected, found `zz`"]
        );
        // Both read: the check still runs.
        assert_eq!(
            errors(&format!("keepalive = 6\ndeadtime = 5\n{BASE}")),
            ["deadtime-not-above-keepalive: `deadtime` (5s) must be greater than `keepalive` (6s)"]
        );
    }

    #[test]
    fn numbers_beyond_64_bits_are_out_of_range_not_malformed() {
        let huge = "99999999999999999999";
        for (line, want) in [
            (
                format!("serial_no = {huge}"),
                format!(
                    "`serial_no` must be between {} and {}, found {huge}",
                    i64::MIN,
                    i64::MAX
                ),
            ),
            (
                format!("heartbeat_port = {huge}"),
                format!("`heartbeat_port` must be between 0 and 65535, found {huge}"),
            ),
            (
                format!("tcp_timeout = {huge}"),
                format!("`tcp_timeout` must be between 0 and 2147483647, found {huge}"),
            ),
            (
                format!("deadtime = {huge}"),
                format!("`deadtime` must be between 0 and 86400, found {huge}"),
            ),
            (
                format!("backup_active = {huge}"),
                format!("`backup_active` must be between 0 and 1, found {huge}"),
            ),
        ] {
            assert_eq!(
                errors(&format!("{line}\n{BASE}")),
                [format!("out-of-range: {want}")],
                "{line}"
            );
        }
        assert_eq!(
            crate::parse(&format!("serial_no = {}\n{BASE}", i64::MAX))
                .config
                .serial_no,
            i64::MAX
        );
    }
}
