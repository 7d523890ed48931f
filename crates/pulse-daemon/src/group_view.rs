//! `ecmp = 1`'s group view I/O around `pulse_director::GroupView`: one UDP socket on this
//! director's `ecmp_director` address and the heartbeat port, a thread of its own that reads it
//! into an [`Inbox`] (one small queue per other director; everything else is dropped there, counted,
//! without a MAC computed; a full queue drops, the loop never waits on it), and the datagrams
//! the core asks to send (`try_send_to`: never blocks). It decides nothing, and nothing it
//! hears changes a route (docs/ecmp.md, "The group view").

use pulse_director::{GroupPlan, GroupRejection, GroupView, ViewConfig};
use pulse_lvscf::LvsConfig;
use pulse_proto::HeartbeatKey;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// Datagrams from one director waiting for the loop; more are dropped (counted as
/// `queue_full`). Per director, so a flood under one director's (spoofed) address cannot
/// crowd out another's datagrams; the loop computes at most this many MACs per director
/// per wake-up.
pub(crate) const QUEUE_PER_DIRECTOR: usize = 16;

/// What the receive thread hands to the loop.
#[derive(Debug)]
pub(crate) struct Inbox {
    queues: Mutex<BTreeMap<IpAddr, VecDeque<Vec<u8>>>>,
    /// The port the datagrams came from, per director (only for the core's `SocketAddr`).
    port: u16,
    /// Signalled after a push (a permit is stored when the loop is busy: no lost wake-up).
    pub(crate) wake: Notify,
    strangers: AtomicU64,
    full: AtomicU64,
}

impl Inbox {
    fn new(peers: impl Iterator<Item = IpAddr>, port: u16) -> Self {
        Self {
            queues: Mutex::new(peers.map(|p| (p, VecDeque::new())).collect()),
            port,
            wake: Notify::new(),
            strangers: AtomicU64::new(0),
            full: AtomicU64::new(0),
        }
    }

    fn push(&self, from: SocketAddr, data: &[u8]) {
        let Ok(mut q) = self.queues.lock() else {
            return;
        };
        match q.get_mut(&from.ip()) {
            None => {
                self.strangers.fetch_add(1, Ordering::Relaxed);
            }
            Some(d) if d.len() >= QUEUE_PER_DIRECTOR => {
                self.full.fetch_add(1, Ordering::Relaxed);
            }
            Some(d) => {
                d.push_back(data.to_vec());
                drop(q);
                self.wake.notify_one();
            }
        }
    }

    /// Everything queued, one director's datagram after another's (round robin).
    pub(crate) fn take(&self) -> Vec<Received> {
        let Ok(mut q) = self.queues.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            let before = out.len();
            for (ip, d) in q.iter_mut() {
                if let Some(data) = d.pop_front() {
                    out.push((SocketAddr::new(*ip, self.port), data));
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }
}

/// The digest the group compares: lvs.cf's without `primary`. One file can serve the whole
/// group (each director finds itself among the `ecmp_director`s), but files that each name
/// their own director as `primary` (as before `ecmp_director` identified it) differ in that line
/// only and are not flagged for it (nor for `primary_private` when the parser copied `primary`
/// into it, as piranha does).
pub(crate) fn group_digest(cfg: &LvsConfig) -> [u8; 8] {
    let mut c = cfg.clone();
    if c.primary_private == c.primary {
        c.primary_private = None;
    }
    c.primary = None;
    c.digest()
}

/// A datagram from the socket.
pub(crate) type Received = (SocketAddr, Vec<u8>);

/// The group socket's receive buffer asked for (the kernel doubles it; `SO_RCVBUFFORCE`, as
/// root, passes `net.core.rmem_max`): room for a burst while the reader is descheduled, about
/// 100 ms of a 20,000 datagrams/s flood, a bounded amount of kernel memory.
const RECV_BUFFER: usize = 1 << 20;

/// The view's core, its socket, and what the receive thread queued.
#[derive(Debug)]
pub(crate) struct ViewShell {
    pub(crate) core: GroupView,
    /// Blocking (the receive thread waits on it); sends use `MSG_DONTWAIT`.
    socket: std::net::UdpSocket,
    pub(crate) inbox: Arc<Inbox>,
}

impl ViewShell {
    /// Binds the socket and starts the receive thread. `None` (logged) when there is nothing to
    /// view (fewer than two directors) or it cannot run: no `ecmp_director` address on this
    /// host, the port taken, more VIPs than a datagram holds. The view is informational: the
    /// director serves without it.
    pub(crate) fn start(
        cfg: &LvsConfig,
        plan: &GroupPlan,
        key: Option<HeartbeatKey>,
        local: &[IpAddr],
    ) -> Option<Self> {
        if plan.directors.len() < 2 {
            return None;
        }
        let Some(me) = plan.directors.iter().find(|d| local.contains(d)).copied() else {
            warn!(
                directors = ?plan.directors,
                "ecmp: this host holds none of the ecmp_director addresses; no group view"
            );
            return None;
        };
        let wall_clock_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let mut boot = [0u8; 8];
        if getrandom::fill(&mut boot).is_err() {
            boot = wall_clock_us.to_ne_bytes();
        }
        let signed = key.is_some();
        let view_cfg = ViewConfig {
            me,
            directors: plan.directors.clone(),
            port: cfg.heartbeat_port,
            vips: plan.vips.iter().map(|v| v.addr).collect(),
            keepalive: cfg.keepalive.duration().max(Duration::from_millis(10)),
            key,
            serial_no: cfg.serial_no,
            digest: group_digest(cfg),
            boot_id: u64::from_ne_bytes(boot),
            wall_clock_us,
        };
        let core = match GroupView::new(Instant::now(), view_cfg) {
            Ok(c) => c,
            Err(e) => {
                warn!("ecmp: no group view: {e}");
                return None;
            }
        };
        let addr = SocketAddr::new(me, cfg.heartbeat_port);
        let socket = match std::net::UdpSocket::bind(addr) {
            Ok(s) => s,
            Err(e) => {
                warn!(%addr, error = %e, "ecmp: cannot bind the group view socket; no group view");
                return None;
            }
        };
        info!(
            %addr,
            directors = plan.directors.len(),
            mode = if signed { "authenticated" } else { "unauthenticated" },
            "ecmp: group view"
        );
        {
            use nix::sys::socket::{setsockopt, sockopt};
            if setsockopt(&socket, sockopt::RcvBufForce, &RECV_BUFFER).is_err() {
                let _ = setsockopt(&socket, sockopt::RcvBuf, &RECV_BUFFER);
            }
        }
        let peers = plan.directors.iter().copied().filter(|d| *d != me);
        let inbox = Arc::new(Inbox::new(peers, cfg.heartbeat_port));
        let reader = match socket.try_clone() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "ecmp: cannot share the group view socket; no group view");
                return None;
            }
        };
        let weak = Arc::downgrade(&inbox);
        // A thread, not a task of the (single-threaded) runtime: the socket is read while the
        // loop computes MACs or waits on anything else.
        if let Err(e) = std::thread::Builder::new()
            .name("ecmp-view".into())
            .spawn(move || recv_loop(&reader, &weak))
        {
            warn!(error = %e, "ecmp: cannot start the group view reader; no group view");
            return None;
        }
        Some(Self {
            core,
            socket,
            inbox,
        })
    }

    /// Feeds the core what the receive thread queued.
    pub(crate) fn receive(&mut self) {
        for (from, data) in self.inbox.take() {
            let _ = self.core.handle_datagram(Instant::now(), from, &data);
        }
    }

    /// Sends what the core queued. UDP to a configured address with `MSG_DONTWAIT`: the
    /// socket buffer takes it or the send fails at once.
    pub(crate) fn flush(&mut self) {
        use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};
        use std::os::fd::AsRawFd;
        while let Some(t) = self.core.poll_transmit() {
            let to = SockaddrStorage::from(t.dest);
            let sent = sendto(
                self.socket.as_raw_fd(),
                &t.payload,
                &to,
                MsgFlags::MSG_DONTWAIT,
            );
            if let Err(e) = sent {
                debug!(dest = %t.dest, error = %e, "ecmp: group datagram not sent");
            }
        }
    }

    /// The view for `pulsectl status`.
    pub(crate) fn status(&self) -> pulse_control::EcmpGroupStatus {
        let now = Instant::now();
        let mut rejected: std::collections::BTreeMap<String, u64> = self
            .core
            .rejected()
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect();
        // Strangers are dropped by the receive thread before the core sees them.
        let strangers = self.inbox.strangers.load(Ordering::Relaxed);
        if strangers > 0 {
            *rejected
                .entry(GroupRejection::NotADirector.reason().into())
                .or_default() += strangers;
        }
        let full = self.inbox.full.load(Ordering::Relaxed);
        if full > 0 {
            rejected.insert(GroupRejection::QueueFull.reason().into(), full);
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        pulse_control::EcmpGroupStatus {
            directors: self
                .core
                .status(now)
                .into_iter()
                .map(|d| {
                    let pick = |on: bool| {
                        d.announced.as_ref().map(|a| {
                            a.iter()
                                .filter(|(_, x)| *x == on)
                                .map(|(v, _)| v.to_string())
                                .collect()
                        })
                    };
                    pulse_control::EcmpDirectorStatus {
                        address: d.addr.to_string(),
                        this: d.this,
                        last_heard_ms_ago: d.heard_ago.map(ms),
                        stale: d.stale,
                        config: d
                            .config
                            .map(|(serial_no, digest)| pulse_control::ConfigIdentity {
                                serial_no,
                                digest: pulse_control::hex(&digest),
                            }),
                        config_mismatch: d.config_differs,
                        released: d.released,
                        announced: pick(true),
                        withdrawn: pick(false),
                        announced_count: d.announced_count,
                    }
                })
                .collect(),
            stale_after_ms: ms(self.core.stale_after()),
            sent: self.core.sent(),
            received: self.core.received(),
            rejected_by_reason: rejected,
        }
    }
}

/// Reads the socket into the [`Inbox`]: no MAC here, only the source address looked up, so it
/// keeps up with a flood and the socket's buffer does not overflow with junk. Ends with pulse
/// (the inbox gone).
fn recv_loop(sock: &std::net::UdpSocket, inbox: &std::sync::Weak<Inbox>) {
    // One byte more than the longest datagram: a longer one arrives truncated and is refused
    // for its length.
    let mut buf = [0u8; pulse_proto::group::MAX_LEN + 1];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => match inbox.upgrade() {
                Some(i) => i.push(from, &buf[..n]),
                None => return,
            },
            // ICMP errors from a director that is down surface here; keep listening.
            Err(e) => debug!(error = %e, "ecmp: group view recvfrom() failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(primary: &str, serial: u32) -> LvsConfig {
        let text = format!(
            "serial_no = {serial}\nprimary = {primary}\nnetwork = direct\necmp = 1\n\
             ecmp_director = 10.1.0.11\necmp_director = 10.1.0.12\n\
             virtual web {{\n    active = 1\n    address = 10.0.0.100 lo\n    port = 80\n    \
             server rs1 {{\n        address = 10.9.0.1\n        active = 1\n    }}\n}}\n"
        );
        pulse_lvscf::parse(&text).config
    }

    #[test]
    fn a_flood_under_one_directors_address_leaves_room_for_the_others() {
        let (d2, d3): (IpAddr, IpAddr) =
            ("10.1.0.12".parse().unwrap(), "10.1.0.13".parse().unwrap());
        let inbox = Inbox::new([d2, d3].into_iter(), 539);
        for _ in 0..1000 {
            inbox.push(SocketAddr::new(d3, 539), b"junk");
            inbox.push("10.1.0.66:539".parse().unwrap(), b"junk");
        }
        inbox.push(SocketAddr::new(d2, 539), b"real");
        let got = inbox.take();
        assert_eq!(got.len(), QUEUE_PER_DIRECTOR + 1);
        // d2 has its own queue: its datagram got in, taken in turn with d3's.
        assert_eq!(got[0], (SocketAddr::new(d2, 539), b"real".to_vec()));
        assert_eq!(
            inbox.full.load(Ordering::Relaxed),
            1000 - QUEUE_PER_DIRECTOR as u64
        );
        assert_eq!(inbox.strangers.load(Ordering::Relaxed), 1000);
        assert!(inbox.take().is_empty());
    }

    #[test]
    fn the_group_digest_leaves_out_primary_only() {
        let (a, b) = (cfg("10.1.0.11", 1), cfg("10.1.0.12", 1));
        assert_ne!(a.digest(), b.digest());
        assert_eq!(group_digest(&a), group_digest(&b));
        let mut c = cfg("10.1.0.11", 1);
        c.ecmp_min_servers = 2;
        assert_ne!(group_digest(&a), group_digest(&c));
        // A `primary_private` of its own still counts.
        let mut d = cfg("10.1.0.11", 1);
        d.primary_private = Some(pulse_lvscf::model::Host::Ip(
            "192.0.2.1".parse().expect("ip"),
        ));
        assert_ne!(group_digest(&a), group_digest(&d));
    }
}
