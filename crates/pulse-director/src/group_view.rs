//! `ecmp = 1`: the group view, sans-IO. Each director sends a group datagram
//! (`pulse_proto::group`) to every other `ecmp_director` every `keepalive`, saying which VIPs it
//! announces and which lvs.cf it runs; this core sends them, checks what arrives, and keeps,
//! per configured director, what it last said and when.
//!
//! Informational only: nothing here feeds [`crate::Group`], whose announce/withdraw decisions
//! depend on this director's own lvsd alone. A forged, lost or flooded datagram can make the
//! view wrong, never a route.
//!
//! Bounds: state is one entry per configured director (datagrams from any other address are
//! dropped before any work); each accepted or rejected datagram costs at most one HMAC over at
//! most `pulse_proto::group::MAX_LEN` bytes; rejections are counted by reason
//! ([`GroupRejection::REASONS`]).

use pulse_proto::HeartbeatKey;
use pulse_proto::group::{GroupDatagram, GroupDecodeError, GroupPath, MAX_VIPS, vip_set_digest};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A director not heard for this many `keepalive`s is shown as not heard.
pub const STALE_KEEPALIVES: u32 = 3;

/// Why a group datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupRejection {
    /// Its source is not one of the other `ecmp_director` addresses.
    NotADirector,
    /// Not a group datagram of this version (`pulse_proto::group`).
    Malformed,
    /// The MAC does not verify for this sender and receiver.
    BadMac,
    /// Unsigned while `heartbeat_key` is set.
    Unsigned,
    /// Its sequence is not above the last one accepted from that director.
    Replay,
    /// It carries this director's own boot id (our datagram sent back to us).
    Reflected,
    /// pulse's receive queue for that director was full (more arrived than pulse reads); the
    /// shell counts these, the core never sees them.
    QueueFull,
}

impl GroupRejection {
    /// Every [`Self::reason`], in a fixed order: the one list status and docs use.
    pub const REASONS: &'static [&'static str] = &[
        "not_a_director",
        "malformed",
        "bad_mac",
        "unsigned",
        "replay",
        "reflected",
        "queue_full",
    ];

    /// A short stable name, one of [`Self::REASONS`].
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotADirector => "not_a_director",
            Self::Malformed => "malformed",
            Self::BadMac => "bad_mac",
            Self::Unsigned => "unsigned",
            Self::Replay => "replay",
            Self::Reflected => "reflected",
            Self::QueueFull => "queue_full",
        }
    }
}

/// What the view needs to know at start.
#[derive(Clone, Debug)]
pub struct ViewConfig {
    /// This director's `ecmp_director` address (the one this host holds).
    pub me: IpAddr,
    /// Every `ecmp_director`, this one included, in file order.
    pub directors: Vec<IpAddr>,
    /// The heartbeat port (every director listens on it).
    pub port: u16,
    /// The group's VIPs (`GroupPlan::vips`).
    pub vips: Vec<IpAddr>,
    /// `keepalive`.
    pub keepalive: Duration,
    /// `heartbeat_key`: datagrams are signed and only signed ones accepted.
    pub key: Option<HeartbeatKey>,
    /// This director's `serial_no`.
    pub serial_no: i64,
    /// This director's group digest (lvs.cf without `primary`, docs/ecmp.md).
    pub digest: [u8; 8],
    /// Random per start.
    pub boot_id: u64,
    /// Microseconds of the wall clock at start: the first sequence number.
    pub wall_clock_us: u64,
}

/// What another director last said.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Heard {
    at: Instant,
    boot_id: u64,
    serial_no: i64,
    digest: [u8; 8],
    released: bool,
    /// Per VIP of ours (ascending address order), when the sender has the same VIPs.
    announced: Option<Vec<bool>>,
    announced_count: u32,
}

#[derive(Clone, Debug, Default)]
struct Peer {
    /// The highest sequence accepted from it (in memory: see docs/security.md).
    floor: u64,
    heard: Option<Heard>,
    received: u64,
}

/// One director as the view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectorView {
    /// Its `ecmp_director` address.
    pub addr: IpAddr,
    /// This director.
    pub this: bool,
    /// How long ago it was last heard (`None`: never; this director: `Some(0)`).
    pub heard_ago: Option<Duration>,
    /// Not heard for [`STALE_KEEPALIVES`] × `keepalive` (or never).
    pub stale: bool,
    /// Its `serial_no` and digest, as last heard.
    pub config: Option<(i64, [u8; 8])>,
    /// Its serial or digest differs from ours.
    pub config_differs: bool,
    /// It was released (`pulsectl release`).
    pub released: bool,
    /// Per VIP (ascending address order): announced. `None` when unknown (never heard, or it
    /// has other VIPs than ours).
    pub announced: Option<Vec<(IpAddr, bool)>>,
    /// How many VIPs it announces (known even when its VIPs differ from ours).
    pub announced_count: Option<u32>,
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewTransmit {
    /// Another director's address and the heartbeat port.
    pub dest: SocketAddr,
    /// The datagram.
    pub payload: Vec<u8>,
}

/// The group view of one director.
#[derive(Debug)]
pub struct GroupView {
    cfg: ViewConfig,
    started: Instant,
    /// Our VIPs in ascending address order: the bitmap's order.
    vips: Vec<IpAddr>,
    vip_set: [u8; 8],
    peers: BTreeMap<IpAddr, Peer>,
    /// Our own announcements, per VIP in `vips` order.
    announced: Vec<bool>,
    released: bool,
    last_seq: u64,
    next_send: Instant,
    out: Vec<ViewTransmit>,
    sent: u64,
    rejected: BTreeMap<&'static str, u64>,
}

impl GroupView {
    /// A view that starts at `now` and sends its first datagrams at once. `Err` when the group
    /// cannot have one (more VIPs than a datagram describes).
    pub fn new(now: Instant, cfg: ViewConfig) -> Result<Self, String> {
        let mut vips = cfg.vips.clone();
        vips.sort_unstable();
        vips.dedup();
        if vips.len() > MAX_VIPS {
            return Err(format!(
                "{} VIPs; a group view describes at most {MAX_VIPS}",
                vips.len()
            ));
        }
        let peers = cfg
            .directors
            .iter()
            .filter(|d| **d != cfg.me)
            .map(|d| (*d, Peer::default()))
            .collect();
        Ok(Self {
            vip_set: vip_set_digest(&vips),
            announced: vec![false; vips.len()],
            vips,
            peers,
            released: false,
            last_seq: 0,
            next_send: now,
            out: Vec::new(),
            sent: 0,
            rejected: BTreeMap::new(),
            started: now,
            cfg,
        })
    }

    /// This director's announcements (`announced(vip)`), changed or not: the call is cheap
    /// (no allocation), so the shell makes it after every event. A change is sent at once, so
    /// the others see a withdrawal without waiting for the next `keepalive`.
    pub fn set_local(&mut self, now: Instant, announced: impl Fn(IpAddr) -> bool, released: bool) {
        let changed = self
            .vips
            .iter()
            .zip(&self.announced)
            .any(|(v, was)| announced(*v) != *was);
        if changed || released != self.released {
            for (v, a) in self.vips.iter().zip(self.announced.iter_mut()) {
                *a = announced(*v);
            }
            self.released = released;
            self.send(now);
        }
    }

    /// This director's lvs.cf was reloaded.
    pub fn set_config(&mut self, serial_no: i64, digest: [u8; 8]) {
        self.cfg.serial_no = serial_no;
        self.cfg.digest = digest;
    }

    /// A datagram arrived from `from`. Addresses that are not another `ecmp_director` are
    /// dropped before the MAC is computed.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
    ) -> Result<(), GroupRejection> {
        let r = self.accept(now, from.ip(), payload);
        if let Err(e) = r {
            *self.rejected.entry(e.reason()).or_default() += 1;
        }
        r
    }

    fn accept(&mut self, now: Instant, from: IpAddr, payload: &[u8]) -> Result<(), GroupRejection> {
        if !self.peers.contains_key(&from) {
            return Err(GroupRejection::NotADirector);
        }
        let path = GroupPath {
            from,
            to: self.cfg.me,
        };
        let d =
            GroupDatagram::decode(payload, self.cfg.key.as_ref(), path).map_err(|e| match e {
                GroupDecodeError::Malformed => GroupRejection::Malformed,
                GroupDecodeError::Unsigned => GroupRejection::Unsigned,
                GroupDecodeError::BadMac => GroupRejection::BadMac,
            })?;
        if d.boot_id == self.cfg.boot_id {
            return Err(GroupRejection::Reflected);
        }
        let same_vips = d.vip_set == self.vip_set && usize::from(d.vip_count) == self.vips.len();
        let Some(peer) = self.peers.get_mut(&from) else {
            return Err(GroupRejection::NotADirector);
        };
        if d.seq <= peer.floor {
            return Err(GroupRejection::Replay);
        }
        peer.floor = d.seq;
        peer.received += 1;
        peer.heard = Some(Heard {
            at: now,
            boot_id: d.boot_id,
            serial_no: d.serial_no,
            digest: d.digest,
            released: d.released,
            announced: same_vips.then(|| (0..self.vips.len()).map(|i| d.announced(i)).collect()),
            announced_count: d.announced_count(),
        });
        Ok(())
    }

    /// Time passed: send when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_send {
            self.send(now);
        }
    }

    /// When [`Self::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.peers.is_empty()).then_some(self.next_send)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<ViewTransmit> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    fn send(&mut self, now: Instant) {
        self.next_send = now + self.cfg.keepalive;
        let since = u64::try_from(now.saturating_duration_since(self.started).as_micros())
            .unwrap_or(u64::MAX);
        let seq = self
            .cfg
            .wall_clock_us
            .saturating_add(since)
            .max(self.last_seq.saturating_add(1));
        self.last_seq = seq;
        let mut d = GroupDatagram {
            released: self.released,
            boot_id: self.cfg.boot_id,
            seq,
            serial_no: self.cfg.serial_no,
            digest: self.cfg.digest,
            vip_set: self.vip_set,
            vip_count: u16::try_from(self.vips.len()).unwrap_or(0),
            bitmap: [0; MAX_VIPS / 8],
        };
        for (i, a) in self.announced.iter().enumerate() {
            if *a {
                d.set_announced(i);
            }
        }
        // A send that found the previous one still queued replaces it: the queue holds at most
        // one datagram per director.
        self.out.clear();
        for peer in self.peers.keys() {
            let path = GroupPath {
                from: self.cfg.me,
                to: *peer,
            };
            self.out.push(ViewTransmit {
                dest: SocketAddr::new(*peer, self.cfg.port),
                payload: d.encode(self.cfg.key.as_ref(), path),
            });
            self.sent += 1;
        }
    }

    /// How long a director may stay silent before it is shown stale.
    pub fn stale_after(&self) -> Duration {
        self.cfg.keepalive * STALE_KEEPALIVES
    }

    /// Datagrams sent (one per other director per round).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Datagrams accepted, over every director.
    pub fn received(&self) -> u64 {
        self.peers.values().map(|p| p.received).sum()
    }

    /// Rejections by reason (only reasons that happened).
    pub fn rejected(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }

    /// Every configured director, in file order.
    pub fn status(&self, now: Instant) -> Vec<DirectorView> {
        let stale_after = self.stale_after();
        self.cfg
            .directors
            .iter()
            .map(|addr| {
                if *addr == self.cfg.me {
                    return DirectorView {
                        addr: *addr,
                        this: true,
                        heard_ago: Some(Duration::ZERO),
                        stale: false,
                        config: Some((self.cfg.serial_no, self.cfg.digest)),
                        config_differs: false,
                        released: self.released,
                        announced: Some(
                            self.vips
                                .iter()
                                .copied()
                                .zip(self.announced.clone())
                                .collect(),
                        ),
                        announced_count: Some(
                            u32::try_from(self.announced.iter().filter(|a| **a).count())
                                .unwrap_or(u32::MAX),
                        ),
                    };
                }
                let heard = self.peers.get(addr).and_then(|p| p.heard.as_ref());
                let ago = heard.map(|h| now.saturating_duration_since(h.at));
                DirectorView {
                    addr: *addr,
                    this: false,
                    heard_ago: ago,
                    stale: ago.is_none_or(|a| a > stale_after),
                    config: heard.map(|h| (h.serial_no, h.digest)),
                    config_differs: heard.is_some_and(|h| {
                        h.serial_no != self.cfg.serial_no || h.digest != self.cfg.digest
                    }),
                    released: heard.is_some_and(|h| h.released),
                    announced: heard.and_then(|h| {
                        h.announced
                            .as_ref()
                            .map(|a| self.vips.iter().copied().zip(a.iter().copied()).collect())
                    }),
                    announced_count: heard.map(|h| h.announced_count),
                }
            })
            .collect()
    }

    /// The boot id a director last used (for tests and logs).
    pub fn boot_id_of(&self, addr: IpAddr) -> Option<u64> {
        self.peers
            .get(&addr)
            .and_then(|p| p.heard.as_ref())
            .map(|h| h.boot_id)
    }
}
