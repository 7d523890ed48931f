//! `pulse-control`: what `pulsectl` and `pulse` say to each other over the control socket.
//!
//! A Unix stream socket (default [`DEFAULT_SOCKET`], mode 0600: root only). The client writes one
//! JSON [`Request`] line; the daemon answers one JSON [`Response`] line and closes.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "server")]
pub mod server;

/// Where `pulse` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/pulse.sock";

/// Where `lvsd` listens unless told otherwise.
pub const DEFAULT_LVSD_SOCKET: &str = "/var/run/lvsd.sock";

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Report the node's state.
    Status,
    /// Become active now (planned switchover).
    Takeover,
    /// Hand the service to the partner.
    Release,
    /// Ask `lvsd` for its virtual services and real servers.
    Lvs,
    /// lvsd: drain, disable or enable one real server until lvsd exits (`pulsectl server …
    /// --runtime`); answered with lvsd's status.
    Server {
        /// The `virtual` block's name.
        #[serde(rename = "virtual")]
        virtual_name: String,
        /// The `server` block's name.
        server: String,
        /// The state to put it in.
        admin: Admin,
    },
    /// Re-read lvs.cf, as on SIGHUP (`pulsectl config push|receive` after writing the file).
    /// pulse answers with its status before the new file is in use: a caller that waits for
    /// the file watches `config.serial_no`/`digest` in later statuses.
    Reload,
    /// pulse to its `lvsd` during a draining release: send new connections to the partner
    /// director at `to` (direct routing) while the real servers' own connections finish, or,
    /// with `None`, go back to the configured table. Idempotent: pulse repeats it to poll.
    Handoff {
        /// The partner director's address, or `None` to stop.
        to: Option<String>,
    },
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Response {
    /// The request was carried out; a status request gets the status.
    Ok {
        /// The node's state after the request.
        status: Box<Status>,
    },
    /// `lvsd`'s answer to [`Request::Lvs`].
    Lvs {
        /// Its table and checks.
        lvs: Box<LvsStatus>,
    },
    /// `lvsd`'s answer to [`Request::Handoff`].
    Handoff {
        /// Active connections still on the real servers (not counting the partner's).
        active_conns: u64,
    },
    /// It was refused, and why.
    Error {
        /// Human-readable reason.
        message: String,
    },
}

/// One node's view of the pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Primary or backup (lvs.cf's `primary`/`backup`).
    pub role: Role,
    /// Whether this node serves now.
    pub state: NodeState,
    /// Since when (seconds since the Unix epoch).
    pub since_unix: f64,
    /// Our link carrying a heartbeat address is down (`monitor_links`).
    pub link_failed: bool,
    /// Our lvsd died.
    pub lvsd_failed: bool,
    /// Which heartbeat wire format the pair speaks.
    pub heartbeat_mode: HeartbeatMode,
    /// What we know of the partner.
    pub partner: Partner,
    /// Each heartbeat link.
    pub links: Vec<LinkStatus>,
    /// Addresses this node holds now (`ADDR/PREFIX DEVICE`).
    pub vips_held: Vec<String>,
    /// Addresses this node should hold but could not claim yet, with the last error
    /// (`ADDR/PREFIX DEVICE: ERROR (N attempts)`); retried until they are held.
    #[serde(default)]
    pub vips_unclaimed: Vec<String>,
    /// VIP claims that failed since start.
    #[serde(default)]
    pub vip_claim_failures: u64,
    /// Counters.
    pub counters: Counters,
    /// Heartbeats dropped, by reason: the names of `pulse_proto::Rejection::REASONS`
    /// (`not_from_partner`, `bad_mac`, `malformed`, `incompatible`, `replay`, `reflected`).
    #[serde(default)]
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// An lvsd started by this pulse is running.
    #[serde(default)]
    pub lvsd_running: bool,
    /// A release is under way: still active until the partner says it serves.
    #[serde(default)]
    pub releasing: bool,
    /// Our configuration.
    pub config: ConfigIdentity,
    /// `service = fos`: each failover service (absent in LVS mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<FailoverStatus>,
    /// The last changes of `state`, oldest first (pulse keeps the newest 20): the timeline of
    /// the web console's Pair page, read where the journal is not (containers, test beds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// `ecmp = 1`: whether this director announces each VIP, and why (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecmp: Vec<EcmpVipStatus>,
    /// `ecmp = 1`: the group as this director hears it from the group datagrams of the other
    /// `ecmp_director`s (informational; absent outside `ecmp = 1` or without a view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecmp_group: Option<EcmpGroupStatus>,
}

/// `ecmp = 1`: every configured director and what it announces, as this director last heard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcmpGroupStatus {
    /// Every `ecmp_director`, in lvs.cf order, this one included.
    pub directors: Vec<EcmpDirectorStatus>,
    /// A director not heard for this long is stale (3 × `keepalive`).
    pub stale_after_ms: u64,
    /// Group datagrams sent.
    pub sent: u64,
    /// Group datagrams accepted.
    pub received: u64,
    /// Group datagrams dropped, by reason: `not_a_director`, `malformed`, `bad_mac`,
    /// `unsigned`, `replay`, `reflected`, and `queue_full` (more arrived than pulse reads).
    #[serde(default)]
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// One director of the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcmpDirectorStatus {
    /// Its `ecmp_director` address.
    pub address: String,
    /// It is the director answering.
    pub this: bool,
    /// How long ago its last datagram was accepted (`null`: never; 0 for this director).
    pub last_heard_ms_ago: Option<u64>,
    /// Not heard within `stale_after_ms` (or never).
    pub stale: bool,
    /// Its `serial_no` and group digest (lvs.cf without `primary`), as last heard.
    pub config: Option<ConfigIdentity>,
    /// Its serial or digest differs from this director's.
    pub config_mismatch: bool,
    /// It was released (`pulsectl release`).
    pub released: bool,
    /// The VIPs it announces, in ascending address order (`null` when unknown: never heard, or
    /// it has other VIPs than this director).
    pub announced: Option<Vec<String>>,
    /// The VIPs it withdrew (ours that are not in `announced`; `null` when that is unknown).
    pub withdrawn: Option<Vec<String>>,
    /// How many VIPs it announces (known even when its VIPs differ).
    pub announced_count: Option<u32>,
}

/// One change of a node's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When (seconds since the Unix epoch).
    pub at_unix: f64,
    /// The state it went to.
    pub state: NodeState,
    /// Why, in words ("partner silent for deadtime", "pulsectl release (the partner serves)").
    pub reason: String,
}

/// One VIP of an `ecmp = 1` group, as this director sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcmpVipStatus {
    /// The VIP.
    pub vip: String,
    /// Its route is in the announcement table (the router sends flows here).
    pub announced: bool,
    /// `serving`, `lvsd down`, `lvsd starting`, `ipvs not programmed`,
    /// `too few servers (web: 0 of 1)`, `released, draining`, `released, drained`.
    pub reason: String,
}

/// One failover service (`service = fos`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverStatus {
    /// The `failover` block's name.
    pub name: String,
    /// Its VIP and port (`ADDR:PORT`).
    pub address: String,
    /// `idle`, `stopping`, `waiting_for_vips`, `starting`, `running`, `failed`, `gave_up`
    /// (this node runs it, or did), `partner_up`, `partner_down` (the inactive node's view of
    /// the partner's copy).
    pub state: String,
    /// Restarts in the current run of failures (bounded by `fos_restarts`).
    pub restarts: u32,
    /// Restarts since pulse started.
    pub restarts_total: u64,
    /// The last failure of a check or a command.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl FailoverStatus {
    /// Every state, in the metrics' order (`pulse_director::FosState::ALL`'s names; a test of
    /// pulse's status translation keeps the two equal).
    pub const STATES: [&'static str; 9] = [
        "idle",
        "stopping",
        "waiting_for_vips",
        "starting",
        "running",
        "failed",
        "gave_up",
        "partner_up",
        "partner_down",
    ];
}

/// The partner as we see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    /// Whether it is configured at all.
    pub configured: bool,
    /// Heard within `deadtime`.
    pub alive: bool,
    /// What it last said, or absent if never heard.
    pub state: Option<NodeState>,
    /// Its configuration, if it told us (authenticated mode).
    pub config: Option<ConfigIdentity>,
    /// Its configuration differs from ours.
    pub config_mismatch: bool,
}

/// One heartbeat link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// Our address.
    pub local: String,
    /// The partner's.
    pub peer: String,
    /// Milliseconds since a valid heartbeat came in on it.
    pub last_heard_ms_ago: Option<u64>,
    /// Heartbeats sent on it.
    #[serde(default)]
    pub heartbeats_sent: u64,
    /// Heartbeats accepted from it.
    #[serde(default)]
    pub heartbeats_received: u64,
    /// Datagrams dropped on it.
    #[serde(default)]
    pub heartbeats_rejected: u64,
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats accepted.
    pub heartbeats_received: u64,
    /// Datagrams dropped (forged, replayed, malformed, foreign).
    pub heartbeats_rejected: u64,
    /// Times this node became active.
    pub takeovers: u64,
    /// Times it became inactive.
    pub releases: u64,
    /// Gratuitous ARP frames sent.
    pub arps_sent: u64,
}

/// Which configuration a node runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIdentity {
    /// lvs.cf `serial_no`.
    pub serial_no: i64,
    /// Digest of the configuration, hex.
    pub digest: String,
}

/// What `lvsd` manages, as `pulsectl status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LvsStatus {
    /// The lvs.cf it runs.
    pub config_path: String,
    /// Its `serial_no`.
    pub serial_no: i64,
    /// When it was (re)loaded, seconds since the Unix epoch.
    pub loaded_unix: f64,
    /// Whether it programs the kernel or only runs its checks (`-t`).
    pub mode: LvsdMode,
    /// Reloads applied and refused since start.
    pub reloads: u64,
    /// Reloads refused because the file was invalid.
    pub reloads_refused: u64,
    /// The last refused reload's first error, if the last reload was refused.
    pub last_reload_error: Option<String>,
    /// Every active virtual service, in file order.
    pub services: Vec<VirtualStatus>,
}

/// One virtual service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VirtualStatus {
    /// The `virtual` block's name.
    pub name: String,
    /// `TCP 192.0.2.10:80`, `FWM 7`.
    pub key: String,
    /// Scheduler.
    pub scheduler: String,
    /// What its checks do, in one line.
    pub check: String,
    /// The sorry server is in the table now.
    pub sorry_active: bool,
    /// Present in the kernel table.
    pub in_kernel: bool,
    /// Each active real server.
    pub servers: Vec<ServerStatus>,
    /// The kernel's counters of the service (zero when it is not in the kernel).
    #[serde(default)]
    pub traffic: Traffic,
}

/// The kernel's traffic counters of a virtual service or a real server (`ipvsadm -Ln --stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub in_packets: u64,
    /// Packets out.
    pub out_packets: u64,
    /// Bytes in.
    pub in_bytes: u64,
    /// Bytes out.
    pub out_bytes: u64,
}

/// What a real server's check has done since lvsd started (carried over reloads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckCounters {
    /// Checks that passed.
    pub passed: u64,
    /// Checks that failed.
    pub failed: u64,
    /// Time all checks took together, seconds.
    pub seconds_total: f64,
    /// Time the last check took, seconds.
    pub last_seconds: Option<f64>,
}

/// One real server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The `server` block's name.
    pub name: String,
    /// `10.0.0.2:80`.
    pub address: String,
    /// What its checks say.
    pub health: Health,
    /// Since when (seconds since the Unix epoch), if known.
    pub since_unix: Option<f64>,
    /// Configured weight.
    pub weight: i32,
    /// Weight in the kernel, or `None` if it has no entry.
    pub kernel_weight: Option<i32>,
    /// Active connections (kernel).
    pub active_conns: u32,
    /// Inactive connections (kernel).
    pub inactive_conns: u32,
    /// Milliseconds since the last check finished.
    pub last_check_ms_ago: Option<u64>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The kernel's counters of this server in this service.
    #[serde(default)]
    pub traffic: Traffic,
    /// Its checks.
    #[serde(default)]
    pub checks: CheckCounters,
    /// The operator's runtime override (`pulsectl server drain|disable|enable --runtime`).
    /// Left out of the JSON while enabled, so the wire is byte-identical to before it existed.
    #[serde(default, skip_serializing_if = "Admin::is_enabled")]
    pub admin: Admin,
}

/// Defines a field's closed set of values, each with its name on the wire. The JSON is the name
/// as a plain string, byte-identical to what the fields carried when they were `String`s
/// (pinned by the tests below), so old and new `pulsectl`s read each other's daemons.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name on the wire (and in `pulsectl status` and metric labels).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, not `write_str`: tables align these with `{:<7}`.
                f.pad(self.as_str())
            }
        }

        /// Compares with the wire name, as scripts and tests that read the JSON do.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        /// Compares with the wire name, as scripts and tests that read the JSON do.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_enum! {
    /// An operator's runtime override of a real server.
    Admin {
        /// As its checks decide.
        Enabled => "enabled",
        /// Weight 0: no new connections; the open ones finish.
        Draining => "draining",
        /// Out of the table.
        Disabled => "disabled",
    }
}

impl Admin {
    /// No override.
    pub fn is_enabled(&self) -> bool {
        *self == Self::Enabled
    }
}

// Not derivable: the variants come from `wire_enum!`.
#[allow(clippy::derivable_impls)]
impl Default for Admin {
    fn default() -> Self {
        Self::Enabled
    }
}

wire_enum! {
    /// A director's configured role (lvs.cf: the host named by `primary` or `backup`).
    Role {
        /// The `primary` host.
        Primary => "primary",
        /// The `backup` host.
        Backup => "backup",
    }
}

wire_enum! {
    /// Whether a director serves (holds the VIPs) now.
    NodeState {
        /// It holds the VIPs.
        Active => "active",
        /// It does not.
        Inactive => "inactive",
    }
}

impl NodeState {
    /// `Active` when `active`.
    pub const fn from_active(active: bool) -> Self {
        if active { Self::Active } else { Self::Inactive }
    }
}

wire_enum! {
    /// The heartbeat wire format.
    HeartbeatMode {
        /// Pulse's signed 80-byte heartbeat (`heartbeat_key` set).
        Authenticated => "authenticated",
        /// piranha's 4-byte magics.
        Piranha => "piranha",
    }
}

wire_enum! {
    /// A real server's health as its checks see it.
    Health {
        /// Its checks pass.
        Up => "up",
        /// Its checks fail.
        Down => "down",
        /// Not checked yet.
        Unknown => "unknown",
    }
}

wire_enum! {
    /// What lvsd does with its table.
    LvsdMode {
        /// It programs the kernel's IPVS table.
        Kernel => "kernel",
        /// `-t`: checks run, the kernel is not touched.
        Test => "test",
    }
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest answer a client reads: an lvsd with thousands of real servers answers in a few MiB;
/// anything far beyond that is not a daemon speaking this protocol.
pub const MAX_RESPONSE: u64 = 64 << 20;

/// Send one request to the daemon listening on `socket` and read its answer (blocking; waits at
/// most `timeout` for each of the write and the read).
pub fn call(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> std::io::Result<Response> {
    use std::io::{BufRead, Read, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    (&stream).write_all(&request_line(req)?)?;
    let mut answer = Vec::new();
    std::io::BufReader::new((&stream).take(MAX_RESPONSE)).read_until(b'\n', &mut answer)?;
    parse_answer(&answer)
}

/// Like [`call`], but the answer line as the daemon wrote it (checked to be one whole JSON
/// line, not parsed): `pulsectl status --format json-compact` passes lvsd's table of thousands
/// of servers on without building it up and writing it out again.
pub fn call_raw(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::{BufRead, Read, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    (&stream).write_all(&request_line(req)?)?;
    let mut answer = Vec::new();
    std::io::BufReader::new((&stream).take(MAX_RESPONSE)).read_until(b'\n', &mut answer)?;
    check_answer(&answer)?;
    Ok(answer)
}

/// Like [`call`], on tokio: the whole exchange (connect, request, answer) takes at most
/// `timeout`, and the calling task yields while it waits, so a daemon can ask another without a
/// blocking thread.
#[cfg(feature = "async-client")]
pub async fn call_async(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> std::io::Result<Response> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let line = request_line(req)?;
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream.write_all(&line).await?;
        let mut answer = Vec::new();
        tokio::io::BufReader::new(stream.take(MAX_RESPONSE))
            .read_until(b'\n', &mut answer)
            .await?;
        parse_answer(&answer)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from {} within {timeout:?}", socket.display()),
            ))
        })
}

/// A request as it goes on the wire: JSON, one line.
fn request_line(req: &Request) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    Ok(line)
}

/// The daemon's answer line; it closes after answering, so a missing newline only means the
/// line was cut by [`MAX_RESPONSE`] or by the daemon going away.
fn parse_answer(answer: &[u8]) -> std::io::Result<Response> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    check_answer(answer)?;
    serde_json::from_slice(answer).map_err(|e| invalid(format!("bad answer: {e}")))
}

/// An answer line that is there and whole.
fn check_answer(answer: &[u8]) -> std::io::Result<()> {
    if answer.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the daemon closed the connection without answering",
        ));
    }
    if !answer.ends_with(b"\n") && answer.len() as u64 >= MAX_RESPONSE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("answer longer than {MAX_RESPONSE} bytes"),
        ));
    }
    Ok(())
}
