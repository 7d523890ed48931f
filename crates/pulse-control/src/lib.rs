//! `pulse-control`: what `pulsectl` and `pulse` say to each other over the control socket.
//!
//! A Unix stream socket (default [`DEFAULT_SOCKET`], mode 0600: root only). The client writes one
//! JSON [`Request`] line; the daemon answers one JSON [`Response`] line and closes.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Where `pulse` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/pulse.sock";

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
    /// It was refused, and why.
    Error {
        /// Human-readable reason.
        message: String,
    },
}

/// One node's view of the pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// `primary` or `backup`.
    pub role: String,
    /// `active` or `inactive`.
    pub state: String,
    /// Since when (seconds since the Unix epoch).
    pub since_unix: f64,
    /// Our link carrying a heartbeat address is down (`monitor_links`).
    pub link_failed: bool,
    /// Our lvsd died.
    pub lvsd_failed: bool,
    /// `authenticated` or `piranha`.
    pub heartbeat_mode: String,
    /// What we know of the partner.
    pub partner: Partner,
    /// Each heartbeat link.
    pub links: Vec<LinkStatus>,
    /// Addresses this node holds now (`ADDR/PREFIX DEVICE`).
    pub vips_held: Vec<String>,
    /// Counters.
    pub counters: Counters,
    /// Our configuration.
    pub config: ConfigIdentity,
}

/// The partner as we see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    /// Whether it is configured at all.
    pub configured: bool,
    /// Heard within `deadtime`.
    pub alive: bool,
    /// `active`, `inactive`, or absent if never heard.
    pub state: Option<String>,
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

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Send one request to the pulse listening on `socket` and read its answer (blocking; waits at
/// most `timeout` for each of the write and the read).
pub fn call(
    socket: &std::path::Path,
    req: &Request,
    timeout: std::time::Duration,
) -> std::io::Result<Response> {
    use std::io::{BufRead, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let mut answer = String::new();
    std::io::BufReader::new(&stream).read_line(&mut answer)?;
    serde_json::from_str(&answer)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
