//! Every keyword lvs.cf knows, where it may appear, how it is read and its default
//! (docs/reference/piranha.md §2.2–2.4): the one table the parser, the model, the editor, the digest and the man
//! page test work from.

use crate::model::{AddressOnDevice, Builder, LvsConfig, RealServer, Stmt, VirtualService};

/// Where a keyword may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Outside any block.
    Global,
    /// Directly inside `virtual NAME {` or `failover NAME {`.
    Virtual,
    /// Inside `server NAME {`.
    Server,
}

impl Scope {
    /// How the scope is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Global => "a global keyword",
            Self::Virtual => "a `virtual` block keyword",
            Self::Server => "a `server` block keyword",
        }
    }
}

/// How a value is written back by the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// One word; quoted only if it has blanks.
    Word,
    /// Always double-quoted, as piranha's GUI writes `send`, `expect`, `send_program`,
    /// `start_cmd` and `stop_cmd` (lvsd strips the quotes again, docs/reference/piranha.md §2.1).
    Quoted,
    /// Two words: `address = IP DEV`, `nat_router = IP DEV`.
    TwoWords,
    /// `dirs = [ a b ]`.
    List,
}

/// One keyword: the single description of it. The model reads a value with [`Keyword`]'s setter,
/// shows its effective value with its getter, and takes its default from the model's own
/// defaults (`LvsConfig::default()`, a new block) through that getter, so a keyword's default is
/// written once, as a typed value.
#[derive(Clone, Copy, Debug)]
pub struct Keyword {
    /// As written in the file.
    pub name: &'static str,
    /// Where it may appear.
    pub scope: Scope,
    /// How values are written.
    pub form: Form,
    /// Known to piranha 0.8.6 (false: a Pulse extension).
    pub piranha: bool,
    /// Parsed but used by nobody (docs/reference/piranha.md §2.2, §10 item 3).
    pub ignored: bool,
    /// Each occurrence adds a value (instead of the last one winning).
    pub repeatable: bool,
    /// One line saying what it does, for `pulsectl config keywords` and the web console's forms
    /// (lvs.cf(5) has the whole story).
    pub help: &'static str,
    /// A default that is not a value of its own ("(= primary)"), shown as is.
    prose_default: Option<&'static str>,
    /// How the model reads and shows it.
    pub(crate) access: Access,
}

/// A setter: reads the statement's value into the model (diagnostics on the way); false when
/// the value was rejected.
pub(crate) type Set<T> = for<'a, 'b> fn(&'b mut Builder<'a>, &'b Stmt<'a>, &'b mut T) -> bool;

/// The keyword's effective value in canonical text, `None` when unset.
pub(crate) type Get<T> = fn(&T) -> Option<String>;

/// Where a keyword's value goes in the model.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// A field of [`LvsConfig`].
    Global(Set<LvsConfig>, Get<LvsConfig>),
    /// A field of [`VirtualService`].
    Virtual(Set<VirtualService>, Get<VirtualService>),
    /// A field of [`RealServer`].
    Server(Set<RealServer>, Get<RealServer>),
    /// Checked, then dropped: piranha parses it and nobody reads it (`sync`, `master`, `dirs`).
    Dropped(Set<()>, &'static str),
}

impl Keyword {
    /// The value used when the keyword is absent, as text (for `pulsectl config get` and the
    /// man page): the model's default shown by the keyword's getter, `""` for none.
    pub fn default(&self) -> std::borrow::Cow<'static, str> {
        if let Some(p) = self.prose_default {
            return p.into();
        }
        let v = match self.access {
            Access::Global(_, get) => get(&LvsConfig::default()),
            Access::Virtual(_, get) => get(&VirtualService::new("")),
            Access::Server(_, get) => get(&RealServer::new("", 0)),
            Access::Dropped(_, d) => return d.into(),
        };
        v.unwrap_or_default().into()
    }
}

const fn kw(name: &'static str, scope: Scope, help: &'static str, access: Access) -> Keyword {
    Keyword {
        name,
        scope,
        help,
        form: Form::Word,
        piranha: true,
        ignored: false,
        repeatable: false,
        prose_default: None,
        access,
    }
}

const fn g(
    name: &'static str,
    help: &'static str,
    set: Set<LvsConfig>,
    get: Get<LvsConfig>,
) -> Keyword {
    kw(name, Scope::Global, help, Access::Global(set, get))
}

const fn v(
    name: &'static str,
    help: &'static str,
    set: Set<VirtualService>,
    get: Get<VirtualService>,
) -> Keyword {
    kw(name, Scope::Virtual, help, Access::Virtual(set, get))
}

const fn s(
    name: &'static str,
    help: &'static str,
    set: Set<RealServer>,
    get: Get<RealServer>,
) -> Keyword {
    kw(name, Scope::Server, help, Access::Server(set, get))
}

/// A keyword Pulse adds; piranha 0.8.6 rejects it ("unknown command").
const fn pulse(k: Keyword) -> Keyword {
    Keyword {
        piranha: false,
        ..k
    }
}

const fn quoted(k: Keyword) -> Keyword {
    Keyword {
        form: Form::Quoted,
        ..k
    }
}

const fn two(k: Keyword) -> Keyword {
    Keyword {
        form: Form::TwoWords,
        ..k
    }
}

const fn ignored(k: Keyword) -> Keyword {
    Keyword { ignored: true, ..k }
}

const fn prose(default: &'static str, k: Keyword) -> Keyword {
    Keyword {
        prose_default: Some(default),
        ..k
    }
}

/// Store a value that was read; false if it was rejected.
fn put<T>(field: &mut T, v: Option<T>) -> bool {
    match v {
        Some(v) => {
            *field = v;
            true
        }
        None => false,
    }
}

fn text(v: impl std::fmt::Display) -> Option<String> {
    Some(v.to_string())
}

fn flag(v: bool) -> Option<String> {
    Some(if v { "1" } else { "0" }.into())
}

fn opt(v: &Option<impl std::fmt::Display>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

fn or(v: &Option<impl std::fmt::Display>, none: &str) -> Option<String> {
    Some(opt(v).unwrap_or_else(|| none.to_string()))
}

fn on_device(v: &Option<AddressOnDevice>) -> Option<String> {
    v.as_ref().map(|a| format!("{} {}", a.addr, a.device))
}

/// The keyword table: every keyword, in the order the digest and the documentation use.
pub const KEYWORDS: &[Keyword] = &[
    g(
        "serial_no",
        "Revision of this file; every edit raises it, a pair compares it",
        |b, st, c| put(&mut c.serial_no, b.int(st)),
        |c| text(c.serial_no),
    ),
    g(
        "service",
        "What pulse runs: lvs (virtual servers, lvsd) or fos (failover services)",
        |b, st, c| put(&mut c.service, b.service(st)),
        |c| text(c.service),
    ),
    g(
        "primary",
        "Public address of the primary director",
        |b, st, c| put(&mut c.primary, b.host(st, false).map(Some)),
        |c| or(&c.primary, "0.0.0.0"),
    ),
    prose(
        "(= primary)",
        g(
            "primary_private",
            "Primary's address on the private heartbeat network",
            |b, st, c| put(&mut c.primary_private, b.host(st, false).map(Some)),
            |c| opt(&c.primary_private),
        ),
    ),
    g(
        "primary_shared",
        "Primary's shared-disk (SCSI reservation) key, for fos",
        |b, st, c| put(&mut c.primary_shared, b.string(st).map(Some)),
        |c| opt(&c.primary_shared),
    ),
    g(
        "backup",
        "Public address of the backup director (0.0.0.0: no backup)",
        |b, st, c| {
            put(
                &mut c.backup,
                b.host(st, true).map(|h| (!h.is_unspecified()).then_some(h)),
            )
        },
        |c| or(&c.backup, "0.0.0.0"),
    ),
    // Applied after the whole file is read: piranha overwrites it when primary_private is absent.
    prose(
        "(= backup)",
        g(
            "backup_private",
            "Backup's address on the private heartbeat network",
            |b, st, _| {
                b.backup_private = b.host(st, false);
                b.backup_private.is_some()
            },
            |c| opt(&c.backup_private),
        ),
    ),
    g(
        "backup_shared",
        "Backup's shared-disk (SCSI reservation) key, for fos",
        |b, st, c| put(&mut c.backup_shared, b.string(st).map(Some)),
        |c| opt(&c.backup_shared),
    ),
    g(
        "backup_active",
        "1 if this pair has a backup director that runs pulse",
        |b, st, c| put(&mut c.backup_active, b.bool(st)),
        |c| flag(c.backup_active),
    ),
    ignored(g(
        "heartbeat",
        "Heartbeats on or off (piranha parses it, nothing reads it)",
        |b, st, c| put(&mut c.heartbeat, b.bool(st)),
        |c| flag(c.heartbeat),
    )),
    g(
        "heartbeat_port",
        "UDP port of the heartbeats",
        |b, st, c| put(&mut c.heartbeat_port, b.port(st, true)),
        |c| text(c.heartbeat_port),
    ),
    g(
        "keepalive",
        "Seconds between heartbeats",
        |b, st, c| put(&mut c.keepalive, b.seconds(st)),
        |c| text(c.keepalive),
    ),
    g(
        "deadtime",
        "Seconds without heartbeat before the partner is declared dead",
        |b, st, c| put(&mut c.deadtime, b.seconds(st)),
        |c| text(c.deadtime),
    ),
    g(
        "network",
        "How IPVS forwards: nat, direct (routing) or tunnel",
        |b, st, c| put(&mut c.network, b.network(st)),
        |c| text(c.network),
    ),
    two(g(
        "nat_router",
        "Real servers' gateway address and its device (NAT), moved with the VIPs",
        |b, st, c| put(&mut c.nat_router, b.address_on_device(st).map(Some)),
        |c| on_device(&c.nat_router),
    )),
    g(
        "nat_nmask",
        "Netmask of nat_router",
        |b, st, c| put(&mut c.nat_nmask, b.mask(st)),
        |c| or(&c.nat_nmask, "0.0.0.0"),
    ),
    g(
        "rsh_command",
        "Command to reach the partner (ssh or rsh), used by config push",
        |b, st, c| put(&mut c.rsh_command, b.string(st)),
        |c| text(&c.rsh_command),
    ),
    ignored(g(
        "debug_level",
        "piranha's log verbosity (read by nobody; Pulse logs with tracing)",
        |b, st, c| put(&mut c.debug_level, b.string(st)),
        |c| text(&c.debug_level),
    )),
    g(
        "monitor_links",
        "1: watch the heartbeat links' carrier and fail over when down",
        |b, st, c| put(&mut c.monitor_links, b.int(st).map(|v| v != 0)),
        |c| flag(c.monitor_links),
    ),
    g(
        "syncdaemon",
        "1: run the IPVS connection sync daemon (master/backup)",
        |b, st, c| put(&mut c.syncdaemon, b.bool(st)),
        |c| flag(c.syncdaemon),
    ),
    g(
        "syncd_iface",
        "Interface of the IPVS connection sync daemon",
        |b, st, c| put(&mut c.syncd_iface, b.string(st)),
        |c| text(&c.syncd_iface),
    ),
    g(
        "syncd_id",
        "IPVS sync daemon id (0-255), the same on both directors",
        |b, st, c| put(&mut c.syncd_id, b.int(st).map(|v| (v & 0xff) as u8)),
        |c| text(c.syncd_id),
    ),
    g(
        "tcp_timeout",
        "IPVS TCP session timeout in seconds (0: kernel's)",
        |b, st, c| put(&mut c.tcp_timeout, b.ranged(st, 0, i64::from(i32::MAX))),
        |c| text(c.tcp_timeout),
    ),
    g(
        "tcpfin_timeout",
        "IPVS TCP timeout after FIN in seconds (0: kernel's)",
        |b, st, c| put(&mut c.tcpfin_timeout, b.ranged(st, 0, i64::from(i32::MAX))),
        |c| text(c.tcpfin_timeout),
    ),
    g(
        "udp_timeout",
        "IPVS UDP timeout in seconds (0: kernel's)",
        |b, st, c| put(&mut c.udp_timeout, b.ranged(st, 0, i64::from(i32::MAX))),
        |c| text(c.udp_timeout),
    ),
    g(
        "hard_shutdown",
        "1: fos powers off instead of stopping services cleanly",
        |b, st, c| put(&mut c.hard_shutdown, b.bool(st)),
        |c| flag(c.hard_shutdown),
    ),
    g(
        "active_cmd",
        "Command run when this director becomes active",
        |b, st, c| put(&mut c.active_cmd, b.string(st).map(Some)),
        |c| opt(&c.active_cmd),
    ),
    g(
        "inactive_cmd",
        "Command run when this director becomes inactive",
        |b, st, c| put(&mut c.inactive_cmd, b.string(st).map(Some)),
        |c| opt(&c.inactive_cmd),
    ),
    g(
        "reservation_conflict_action",
        "What to do on a SCSI reservation conflict (fos)",
        |b, st, c| {
            put(
                &mut c.reservation_conflict_action,
                b.conflict_action(st).map(Some),
            )
        },
        |c| opt(&c.reservation_conflict_action),
    ),
    g(
        "ipvsadm",
        "Path of ipvsadm (piranha's; Pulse programs IPVS over netlink)",
        |b, st, c| put(&mut c.ipvsadm, b.string(st)),
        |c| text(&c.ipvsadm),
    ),
    ignored(kw(
        "sync",
        Scope::Global,
        "Parsed by piranha, read by nobody",
        Access::Dropped(|b, st, _| b.bool(st).is_some(), "0"),
    )),
    pulse(g(
        "heartbeat_key",
        "Shared secret authenticating heartbeats (HMAC); same on both",
        |b, st, c| put(&mut c.heartbeat_key, b.string(st).map(Some)),
        |c| opt(&c.heartbeat_key),
    )),
    pulse(Keyword {
        repeatable: true,
        ..two(g(
            "heartbeat_link",
            "Extra heartbeat link: local and peer address (repeatable)",
            |b, st, c| match b.host_pair(st) {
                Some(link) => {
                    c.heartbeat_links.push(link);
                    true
                }
                None => false,
            },
            |c| {
                let links: Vec<String> = c
                    .heartbeat_links
                    .iter()
                    .map(|(a, b)| format!("{a} {b}"))
                    .collect();
                (!links.is_empty()).then(|| links.join(", "))
            },
        ))
    }),
    pulse(g(
        "garp_repeat",
        "Gratuitous ARPs sent per VIP on takeover",
        |b, st, c| put(&mut c.garp_repeat, b.ranged(st, 1, 100)),
        |c| text(c.garp_repeat),
    )),
    pulse(g(
        "garp_interval",
        "Seconds between those gratuitous ARPs",
        |b, st, c| put(&mut c.garp_interval, b.seconds(st)),
        |c| text(c.garp_interval),
    )),
    pulse(g(
        "warm_standby",
        "1: the standby keeps the IPVS table loaded (faster takeover)",
        |b, st, c| put(&mut c.warm_standby, b.bool(st)),
        |c| flag(c.warm_standby),
    )),
    pulse(g(
        "metrics_port",
        "Port of the Prometheus metrics endpoint (0: off)",
        |b, st, c| put(&mut c.metrics_port, b.ranged(st, 0, 65535)),
        |c| text(c.metrics_port),
    )),
    pulse(g(
        "metrics_address",
        "Address the metrics endpoint listens on",
        |b, st, c| put(&mut c.metrics_address, b.host(st, true)),
        |c| text(&c.metrics_address),
    )),
    pulse(g(
        "fos_restarts",
        "Service restarts fos tries before handing over to the partner",
        |b, st, c| put(&mut c.fos_restarts, b.ranged(st, 0, 100)),
        |c| text(c.fos_restarts),
    )),
    pulse(g(
        "fos_command_timeout",
        "Seconds a fos start/stop command may take",
        |b, st, c| put(&mut c.fos_command_timeout, b.seconds(st)),
        |c| text(c.fos_command_timeout),
    )),
    prose(
        "the default gateway",
        pulse(g(
            "fos_ping_target",
            "Address fos pings to tell a dead network from a dead service",
            |b, st, c| put(&mut c.fos_ping_target, b.host(st, false).map(Some)),
            |c| opt(&c.fos_ping_target),
        )),
    ),
    pulse(g(
        "ecmp",
        "1: all directors of the group active behind ECMP (VIP on lo, mh, announced routes)",
        |b, st, c| put(&mut c.ecmp, b.bool(st)),
        |c| flag(c.ecmp),
    )),
    pulse(Keyword {
        repeatable: true,
        ..g(
            "ecmp_director",
            "A director of the ECMP group (one line each)",
            |b, st, c| match b.host(st, false) {
                Some(h) => {
                    c.ecmp_directors.push(h);
                    true
                }
                None => false,
            },
            |c| {
                let all: Vec<String> = c.ecmp_directors.iter().map(ToString::to_string).collect();
                (!all.is_empty()).then(|| all.join(", "))
            },
        )
    }),
    // 253-255 are the kernel's default, main and local tables (rtnetlink.h RT_TABLE_*); 0 is
    // "unspecified".
    pulse(g(
        "ecmp_table",
        "Kernel routing table holding the VIP host routes the routing daemon announces",
        |b, st, c| put(&mut c.ecmp_table, b.ranged(st, 1, 252)),
        |c| text(c.ecmp_table),
    )),
    pulse(g(
        "ecmp_min_servers",
        "Healthy real servers a VIP needs before this director announces it",
        |b, st, c| put(&mut c.ecmp_min_servers, b.ranged(st, 1, 65535)),
        |c| text(c.ecmp_min_servers),
    )),
    pulse(g(
        "ecmp_drain",
        "Most seconds a released director keeps serving; it stops sooner once no traffic arrives",
        |b, st, c| put(&mut c.ecmp_drain, b.seconds(st)),
        |c| text(c.ecmp_drain),
    )),
    v(
        "active",
        "1: the service is served; 0: defined but not in the table",
        |b, st, vs| put(&mut vs.active, b.bool(st)),
        |vs| flag(vs.active),
    ),
    two(v(
        "address",
        "Virtual IP and the device it is put on (e.g. eth0:1)",
        |b, st, vs| put(&mut vs.address, b.address_on_device(st).map(Some)),
        |vs| Some(on_device(&vs.address).unwrap_or_else(|| "0.0.0.0".into())),
    )),
    v(
        "vip_nmask",
        "Netmask of the virtual IP on its device",
        |b, st, vs| put(&mut vs.vip_nmask, b.mask(st)),
        |vs| or(&vs.vip_nmask, "0.0.0.0"),
    ),
    v(
        "port",
        "Service port (a number or a name such as http)",
        |b, st, vs| put(&mut vs.port, b.port(st, true)),
        |vs| text(vs.port),
    ),
    v(
        "fwmark",
        "Firewall mark grouping ports into one service (0: none)",
        |b, st, vs| put(&mut vs.fwmark, b.ranged(st, 0, i64::from(u32::MAX))),
        |vs| text(vs.fwmark),
    ),
    v(
        "protocol",
        "tcp or udp",
        |b, st, vs| put(&mut vs.protocol, b.protocol(st)),
        |vs| text(vs.protocol),
    ),
    v(
        "scheduler",
        "IPVS scheduler: wlc, lc, rr, wrr, lblc, lblcr, dh, sh, ...",
        |b, st, vs| {
            put(
                &mut vs.scheduler,
                b.choice(st, PIRANHA_SCHEDULERS, PULSE_SCHEDULERS),
            )
        },
        |vs| text(&vs.scheduler),
    ),
    v(
        "persistent",
        "Seconds a client sticks to its real server (0: no persistence)",
        |b, st, vs| put(&mut vs.persistent, b.ranged(st, 0, i64::from(i32::MAX))),
        |vs| text(vs.persistent),
    ),
    v(
        "pmask",
        "Netmask grouping clients for persistence",
        |b, st, vs| b.pmask(st, vs),
        |vs| or(&vs.pmask, "0.0.0.0"),
    ),
    quoted(v(
        "send",
        "String the check sends to each real server",
        |b, st, vs| put(&mut vs.send, b.string(st).map(Some)),
        |vs| opt(&vs.send),
    )),
    quoted(v(
        "expect",
        "Reply the check expects (* matches anything)",
        |b, st, vs| put(&mut vs.expect, b.string(st).map(Some)),
        |vs| opt(&vs.expect),
    )),
    v(
        "use_regex",
        "1: expect is a regular expression",
        |b, st, vs| put(&mut vs.use_regex, b.bool(st)),
        |vs| flag(vs.use_regex),
    ),
    quoted(v(
        "send_program",
        "Program that checks a real server (%h = its address)",
        |b, st, vs| put(&mut vs.send_program, b.string(st).map(Some)),
        |vs| opt(&vs.send_program),
    )),
    v(
        "load_monitor",
        "Load probe for weights: none, uptime, rup",
        |b, st, vs| {
            put(
                &mut vs.load_monitor,
                b.string(st).map(|s| (s != "none").then_some(s)),
            )
        },
        |vs| or(&vs.load_monitor, "none"),
    ),
    v(
        "timeout",
        "Seconds without a good check before a server is taken out",
        |b, st, vs| put(&mut vs.timeout, b.ranged(st, 1, 86_400)),
        |vs| text(vs.timeout),
    ),
    v(
        "reentry",
        "Seconds of good checks before a server comes back",
        |b, st, vs| put(&mut vs.reentry, b.ranged(st, 0, i64::from(i32::MAX))),
        |vs| text(vs.reentry),
    ),
    v(
        "quiesce_server",
        "1: a server coming back resets all weights (no flood of one)",
        |b, st, vs| put(&mut vs.quiesce_server, b.bool(st)),
        |vs| flag(vs.quiesce_server),
    ),
    v(
        "sorry_server",
        "Server used when every real server is down",
        |b, st, vs| put(&mut vs.sorry_server, b.sorry_server(st).map(Some)),
        |vs| opt(&vs.sorry_server),
    ),
    v(
        "client_monitor",
        "Checker program (piranha's nanny; Pulse checks itself)",
        |b, st, vs| put(&mut vs.client_monitor, b.string(st)),
        |vs| text(&vs.client_monitor),
    ),
    quoted(v(
        "start_cmd",
        "fos: command starting the failover service",
        |b, st, vs| put(&mut vs.start_cmd, b.string(st).map(Some)),
        |vs| opt(&vs.start_cmd),
    )),
    quoted(v(
        "stop_cmd",
        "fos: command stopping the failover service",
        |b, st, vs| put(&mut vs.stop_cmd, b.string(st).map(Some)),
        |vs| opt(&vs.stop_cmd),
    )),
    pulse(v(
        "check_tls",
        "1: the check speaks TLS to the real servers",
        |b, st, vs| put(&mut vs.check_tls, b.bool(st)),
        |vs| flag(vs.check_tls),
    )),
    pulse(v(
        "check_tls_verify",
        "1: verify the server's certificate",
        |b, st, vs| put(&mut vs.check_tls_verify, b.bool(st)),
        |vs| flag(vs.check_tls_verify),
    )),
    prose(
        "(the system's roots)",
        pulse(quoted(v(
            "check_tls_ca",
            "CA file to verify against",
            |b, st, vs| put(&mut vs.check_tls_ca, b.string(st).map(Some)),
            |vs| opt(&vs.check_tls_ca),
        ))),
    ),
    pulse(quoted(v(
        "check_tls_cert",
        "Client certificate file for the check",
        |b, st, vs| put(&mut vs.check_tls_cert, b.string(st).map(Some)),
        |vs| opt(&vs.check_tls_cert),
    ))),
    pulse(quoted(v(
        "check_tls_key",
        "Private key file of that certificate",
        |b, st, vs| put(&mut vs.check_tls_key, b.string(st).map(Some)),
        |vs| opt(&vs.check_tls_key),
    ))),
    prose(
        "(the VIP)",
        pulse(v(
            "check_tls_sni",
            "Server name sent in the TLS handshake",
            |b, st, vs| {
                put(
                    &mut vs.check_tls_sni,
                    b.parsed(st, crate::http::parse_host_name).map(Some),
                )
            },
            |vs| opt(&vs.check_tls_sni),
        )),
    ),
    pulse(v(
        "check_http",
        "1: an HTTP check (request, status, body) instead of send/expect",
        |b, st, vs| put(&mut vs.check_http, b.bool(st)),
        |vs| flag(vs.check_http),
    )),
    pulse(v(
        "check_http_method",
        "HTTP method of the check",
        |b, st, vs| {
            put(
                &mut vs.check_http_method,
                b.parsed(st, crate::http::parse_method),
            )
        },
        |vs| text(&vs.check_http_method),
    )),
    pulse(quoted(v(
        "check_http_path",
        "Path requested by the check",
        |b, st, vs| {
            put(
                &mut vs.check_http_path,
                b.parsed(st, crate::http::parse_path),
            )
        },
        |vs| text(&vs.check_http_path),
    ))),
    prose(
        "(check_tls_sni, else the VIP)",
        pulse(v(
            "check_http_host",
            "Host header of the check",
            |b, st, vs| {
                put(
                    &mut vs.check_http_host,
                    b.parsed(st, crate::http::parse_host_name).map(Some),
                )
            },
            |vs| opt(&vs.check_http_host),
        )),
    ),
    pulse(v(
        "check_http_status",
        "Statuses that pass (e.g. 200-299)",
        |b, st, vs| {
            put(
                &mut vs.check_http_status,
                b.parsed(st, crate::http::StatusSet::parse),
            )
        },
        |vs| text(&vs.check_http_status),
    )),
    pulse(quoted(v(
        "check_http_body",
        "Text the body must contain",
        |b, st, vs| put(&mut vs.check_http_body, b.string(st).map(Some)),
        |vs| opt(&vs.check_http_body),
    ))),
    pulse(quoted(v(
        "check_http_body_regex",
        "Regular expression the body must match",
        |b, st, vs| put(&mut vs.check_http_body_regex, b.string(st).map(Some)),
        |vs| opt(&vs.check_http_body_regex),
    ))),
    pulse(v(
        "check_http_digest",
        "Digest the body must have (e.g. sha256:HEX)",
        |b, st, vs| {
            put(
                &mut vs.check_http_digest,
                b.parsed(st, crate::http::BodyDigest::parse).map(Some),
            )
        },
        |vs| opt(&vs.check_http_digest),
    )),
    pulse(v(
        "check_http_redirects",
        "Redirects the check follows",
        |b, st, vs| put(&mut vs.check_http_redirects, b.ranged(st, 0, 10)),
        |vs| text(vs.check_http_redirects),
    )),
    ignored(kw(
        "master",
        Scope::Virtual,
        "Parsed by piranha, read by nobody",
        Access::Dropped(|b, st, _| b.host(st, true).is_some(), ""),
    )),
    ignored(Keyword {
        form: Form::List,
        ..kw(
            "dirs",
            Scope::Virtual,
            "Parsed by piranha, read by nobody",
            Access::Dropped(|b, st, _| b.list(st), ""),
        )
    }),
    s(
        "address",
        "Real server's address",
        |b, st, rs| b.server_address(st, rs),
        |rs| or(&rs.address, "0.0.0.0"),
    ),
    s(
        "active",
        "1: in the table; 0: disabled (pulsectl server disable)",
        |b, st, rs| put(&mut rs.active, b.bool(st)),
        |rs| flag(rs.active),
    ),
    s(
        "weight",
        "Share of new connections (0: drained, takes none)",
        |b, st, rs| put(&mut rs.weight, b.weight(st)),
        |rs| text(rs.weight),
    ),
    // Real-server ports are numbers only (docs/reference/piranha.md §2.1).
    prose(
        "(the virtual's port)",
        s(
            "port",
            "Real server's port if it differs from the virtual's",
            |b, st, rs| put(&mut rs.port, b.port(st, false)),
            |rs| text(rs.port),
        ),
    ),
];

/// Look up a keyword in a scope.
pub fn lookup(name: &str, scope: Scope) -> Option<&'static Keyword> {
    lookup_index(name, scope).map(|i| &KEYWORDS[i])
}

/// The index in [`KEYWORDS`] of a keyword in a scope. Runs once per statement of every file, so
/// it looks only at keywords of the same length (a table built on first use).
pub fn lookup_index(name: &str, scope: Scope) -> Option<usize> {
    static BY_LEN: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    let table = BY_LEN.get_or_init(|| {
        let longest = KEYWORDS.iter().map(|k| k.name.len()).max().unwrap_or(0);
        let mut t = vec![Vec::new(); longest + 1];
        for (i, k) in KEYWORDS.iter().enumerate() {
            t[k.name.len()].push(i);
        }
        t
    });
    table
        .get(name.len())?
        .iter()
        .copied()
        .find(|&i| KEYWORDS[i].scope == scope && KEYWORDS[i].name == name)
}

/// Keywords valid in `scope`, and other scopes where `name` is valid.
pub fn other_scopes(name: &str, scope: Scope) -> Vec<Scope> {
    KEYWORDS
        .iter()
        .filter(|k| k.name == name && k.scope != scope)
        .map(|k| k.scope)
        .collect()
}

/// The closest keyword of `scope` to a misspelt `name`, if any is close.
pub fn suggest(name: &str, scope: Scope) -> Option<&'static str> {
    closest(
        name,
        KEYWORDS.iter().filter(|k| k.scope == scope).map(|k| k.name),
    )
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).clamp(1, 3);
    candidates
        // Lengths further apart than the limit cannot be within it; skipping them keeps a
        // hostile 100 KB "keyword" from costing a quadratic edit-distance matrix.
        .filter(|c| c.len().abs_diff(word.len()) <= limit)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Schedulers piranha 0.8.6 accepts (`ipvsadm -s` names, docs/reference/piranha.md §2.3).
pub const PIRANHA_SCHEDULERS: &[&str] = &["lc", "rr", "wlc", "wrr", "lblc", "lblcr", "dh", "sh"];

/// Further IPVS schedulers of current kernels that Pulse accepts as an extension.
pub const PULSE_SCHEDULERS: &[&str] = &["sed", "nq", "mh", "fo", "ovf", "twos"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords_only() {
        assert_eq!(suggest("schedular", Scope::Virtual), Some("scheduler"));
        assert_eq!(suggest("keepalve", Scope::Global), Some("keepalive"));
        assert_eq!(suggest("zzzzzz", Scope::Global), None);
    }

    /// The web console shows the help next to each field: every keyword has one line of it.
    #[test]
    fn every_keyword_has_a_one_line_help() {
        for k in KEYWORDS {
            assert!(
                k.help.len() >= 10 && k.help.len() <= 90 && !k.help.contains('\n'),
                "{} ({:?}): help {:?}",
                k.name,
                k.scope,
                k.help
            );
        }
    }
}
