//! The failover state machine of one director (piranha.md §4.4–4.5), sans-IO.
//!
//! Inputs are datagrams, timeouts and commands, each with the current time; outputs are
//! datagrams to send ([`Transmit`]), things to do or log ([`Event`]) and the next time to be
//! called ([`Heartbeat::poll_timeout`]). The daemon owns sockets, clocks and side effects.
//!
//! piranha's rules, kept: the primary wins a tie (an active backup yields on the first RUNNING
//! heartbeat from the primary, which re-announces its VIPs); there is no automatic failback; an
//! inactive node that hears STOPPED activates; `deadtime` of silence activates; lvsd's death
//! deactivates so the partner takes over; a local link failure deactivates; `--forceactive`.
//! piranha's bugs, fixed: a node whose lvsd died retries (with a doubling pause) when nobody else
//! serves, instead of staying down until restarted (§4.5 "CHILDFAIL is cleared only by receiving
//! RUNNING", which never comes without a partner or when both lvsd died); a node that goes
//! inactive tells its partner at once instead of at the next keepalive.

use crate::wire::{AUTH_LEN, AuthHeartbeat, DecodeError, HeartbeatKey, LegacyMagic};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// lvsd that ran this long before dying resets the retry backoff.
const RETRY_RESET: Duration = Duration::from_secs(60);
/// How long a draining release may wait for the daemon's [`Command::DrainDone`] before it is
/// abandoned (the daemon's own limit is shorter).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Where a make-before-break release stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReleasePhase {
    /// Asking the partner to hold the VIPs unannounced (`drain_on_release`).
    Prepare,
    /// The partner is ready: new connections go to it while ours finish.
    Drain,
    /// Asking the partner to take over; we let go when it says it serves.
    Handover,
}

#[derive(Clone, Copy, Debug)]
struct Releasing {
    /// Abandoned (this node keeps the service) if not done by then.
    until: Instant,
    phase: ReleasePhase,
}

/// One heartbeat path: our bound address and the partner's address on it (piranha's public and
/// private links, plus any `heartbeat_link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Where our socket for this link is bound.
    pub local: SocketAddr,
    /// Where the partner listens on this link; heartbeats from any other IP are dropped.
    pub peer: SocketAddr,
}

/// How heartbeats look on the wire.
#[derive(Clone, Debug)]
pub enum WireMode {
    /// piranha 0.8.6's 4-byte magics: interoperates with piranha, unauthenticated.
    Legacy {
        /// `service = fos`: use the FOS magic set.
        fos: bool,
    },
    /// Pulse's signed packets (lvs.cf `heartbeat_key`).
    Authenticated(HeartbeatKey),
}

/// Everything the machine needs to know, from lvs.cf and the daemon.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node owns the `primary` address.
    pub primary: bool,
    /// Heartbeat paths to the partner; empty when there is none (`backup_active = 0` or no
    /// `backup`): the primary then goes active after `deadtime`, as piranha does.
    pub links: Vec<Link>,
    /// Interval between heartbeats.
    pub keepalive: Duration,
    /// Silence on every link after which the partner is dead.
    pub deadtime: Duration,
    /// Wire format.
    pub mode: WireMode,
    /// `--forceactive`: activate at once on start.
    pub force_active: bool,
    /// Our lvs.cf `serial_no` (authenticated mode carries it).
    pub serial_no: i64,
    /// Digest of our configuration (authenticated mode carries it).
    pub digest: [u8; 8],
    /// Random per start of the daemon.
    pub boot_id: u64,
    /// Our wall clock at `now` of [`Heartbeat::new`], in microseconds since the Unix epoch:
    /// the base of our sequence numbers, which therefore keep increasing across restarts.
    pub wall_clock_us: u64,
    /// Authenticated packets with a sequence number at or below this are replays; the daemon
    /// persists the highest sequence it accepted so the floor survives its own restarts.
    pub replay_floor: u64,
    /// A release drains first (authenticated mode; the daemon sets it where forwarding new
    /// connections to the partner works: direct routing or tunnelling, with a warm standby):
    /// the partner holds the VIPs unannounced, new connections are forwarded to it while ours
    /// finish, and only then does it announce the VIPs ([`Event::Drain`]).
    pub drain_on_release: bool,
}

/// Something the operator or the daemon tells the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `monitor_links`: our link carrying a heartbeat address went down.
    LinkDown,
    /// The link is back.
    LinkUp,
    /// lvsd (or fos) exited.
    ChildExited,
    /// SIGTERM/SIGINT: give up the VIPs and say so to the partner at once.
    Shutdown,
    /// `pulsectl release`: hand the service to the partner.
    Release,
    /// `pulsectl takeover`: take the service now.
    Takeover,
    /// The daemon finished draining (see [`Event::Drain`]): hand over now.
    DrainDone,
    /// A reload changed timers or the configuration identity.
    Reconfigure {
        /// New `keepalive`.
        keepalive: Duration,
        /// New `deadtime`.
        deadtime: Duration,
        /// New `serial_no`.
        serial_no: i64,
        /// New digest.
        digest: [u8; 8],
    },
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `release` without a partner would leave the VIPs with nobody.
    #[error("no partner to hand over to")]
    NoPartner,
    /// `release` on a node that is not active.
    #[error("this node is not active")]
    NotActive,
    /// `takeover` on the backup while the primary is active: the primary would not yield
    /// (piranha's rule), so both would hold the VIPs. Release on the primary instead.
    #[error("the primary is active and does not yield to the backup; run `pulsectl release` on it")]
    PrimaryActive,
    /// `takeover` while our link is down or lvsd failed.
    #[error("this node cannot take over: {0}")]
    Unfit(&'static str),
    /// The machine was shut down.
    #[error("shutting down")]
    ShuttingDown,
}

/// Why we became active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivateReason {
    /// Nothing heard on any link for `deadtime`.
    PartnerDead,
    /// The partner said it is inactive.
    PartnerInactive,
    /// `--forceactive`.
    Forced,
    /// `pulsectl takeover`.
    Takeover,
    /// The partner handed over (`pulsectl release` on it).
    Handover,
    /// lvsd died a while ago and nobody serves: try again.
    Retry,
}

/// Why we became inactive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeactivateReason {
    /// We are the backup and the (primary) partner is active.
    PartnerActive,
    /// Our link went down.
    LinkFailure,
    /// lvsd died.
    ChildFailed,
    /// We are shutting down.
    Shutdown,
    /// `pulsectl release`.
    Release,
}

/// Something for the daemon to do or log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Claim the VIPs, announce them, run `active_cmd`, start lvsd.
    Activate(ActivateReason),
    /// Stop lvsd, release the VIPs, run `inactive_cmd`.
    Deactivate(DeactivateReason),
    /// The partner is active too and we are the primary: announce the VIPs again and run
    /// `active_cmd` (piranha's "partner active: resending arps").
    Reannounce,
    /// A heartbeat arrived after the partner had been silent (or for the first time).
    PartnerUp,
    /// No heartbeat on any link for `deadtime`.
    PartnerDead,
    /// The partner restarted (new boot id; authenticated mode).
    PartnerRestarted,
    /// The partner's `serial_no` or configuration digest differs from ours (authenticated mode).
    ConfigMismatch {
        /// The partner's `serial_no`.
        serial_no: i64,
        /// The partner's digest.
        digest: [u8; 8],
    },
    /// The partner's configuration matches ours again.
    ConfigMatch,
    /// A release ended without the partner taking over within `deadtime`: this node keeps the
    /// service.
    ReleaseFailed,
    /// A draining release: the partner holds the VIPs unannounced; forward new connections to
    /// it, wait for ours to finish, then send [`Command::DrainDone`].
    Drain,
    /// The partner is about to hand over: claim the VIPs without announcing them, so that
    /// connections it forwards are accepted.
    Prepare,
    /// The prepared handover was abandoned: release the unannounced VIPs.
    Unprepare,
    /// A datagram was dropped; it changed nothing.
    Rejected {
        /// The link index it came in on.
        link: usize,
        /// Who sent it.
        from: SocketAddr,
        /// Why it was dropped.
        why: Rejection,
    },
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not from the partner's address on that link.
    NotFromPartner,
    /// Malformed, unknown, forged, or signed with another key.
    Decode(DecodeError),
    /// A piranha (unauthenticated) packet while a key is configured, or a magic of the other
    /// service mode (`lvs` vs `fos`).
    Incompatible,
    /// An authenticated packet whose sequence number is not above the last one accepted.
    Replay,
}

impl Rejection {
    /// A short stable name of the reason, for counters and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFromPartner => "not_from_partner",
            Self::Decode(DecodeError::BadMac) => "bad_mac",
            Self::Decode(_) => "malformed",
            Self::Incompatible => "incompatible",
            Self::Replay => "replay",
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Which link's socket sends it.
    pub link: usize,
    /// To the partner's address on that link.
    pub dest: SocketAddr,
    payload: [u8; AUTH_LEN],
    len: usize,
}

impl Transmit {
    /// The bytes to send.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..self.len]
    }
}

/// Counters for `pulsectl status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Heartbeats sent (one per link per round).
    pub sent: u64,
    /// Heartbeats accepted.
    pub received: u64,
    /// Datagrams dropped.
    pub rejected: u64,
    /// Times this node became active.
    pub takeovers: u64,
    /// Times this node became inactive.
    pub releases: u64,
}

/// What the partner last told us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartnerView {
    /// It said it is active.
    pub active: bool,
    /// Its `serial_no` and digest (authenticated mode only).
    pub config: Option<(i64, [u8; 8])>,
    /// Its boot id (authenticated mode only).
    pub boot_id: Option<u64>,
}

/// Per link: when we last heard the partner on it, and what went over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// The link.
    pub link: Link,
    /// When a valid heartbeat last arrived on it.
    pub last_heard: Option<Instant>,
    /// Heartbeats sent, accepted and dropped on this link.
    pub counters: LinkCounters,
}

/// Heartbeats of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Sent on it.
    pub sent: u64,
    /// Accepted from it.
    pub received: u64,
    /// Dropped (see [`Rejection`]).
    pub rejected: u64,
}

/// A snapshot for `pulsectl status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node is the primary.
    pub primary: bool,
    /// This node holds the VIPs.
    pub active: bool,
    /// Since when `active` has its value.
    pub since: Instant,
    /// Our link is down.
    pub link_failed: bool,
    /// Our lvsd died.
    pub child_failed: bool,
    /// A make-before-break release waits for the partner.
    pub releasing: bool,
    /// What the partner last said, if it said anything.
    pub partner: Option<PartnerView>,
    /// The partner counts as alive (heard within `deadtime`).
    pub partner_alive: bool,
    /// Each link.
    pub links: Vec<LinkStatus>,
    /// Counters.
    pub counters: Counters,
}

/// The failover state machine of one director.
#[derive(Debug)]
pub struct Heartbeat {
    cfg: Config,
    start: Instant,
    active: bool,
    since: Instant,
    link_failed: bool,
    child_failed: bool,
    shut_down: bool,
    partner: Option<PartnerView>,
    partner_alive: bool,
    last_heard: Vec<Option<Instant>>,
    link_counters: Vec<LinkCounters>,
    /// Highest authenticated sequence accepted, per link.
    last_seq: Vec<u64>,
    /// Our last sequence number sent.
    our_seq: u64,
    send_at: Option<Instant>,
    dead_at: Instant,
    /// After `release`, partner STOPPED heartbeats do not reactivate us until then.
    holdoff_until: Option<Instant>,
    /// A make-before-break release under way: we stay active until the partner says it is.
    releasing: Option<Releasing>,
    /// We hold the VIPs unannounced for a partner that is draining towards us.
    prepared: bool,
    /// lvsd died and nobody may be serving: try again then.
    retry_at: Option<Instant>,
    /// How often lvsd died soon after starting, for the retry backoff.
    retries: u32,
    /// When we last became active.
    active_since_start: Option<Instant>,
    mismatch: bool,
    counters: Counters,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Heartbeat {
    /// Start inactive (or active with `force_active`); the first heartbeat goes out after one
    /// `keepalive` and the partner is dead after `deadtime` of silence (piranha.md §4.2 step 10).
    pub fn new(cfg: Config, now: Instant) -> Self {
        let n = cfg.links.len();
        let mut hb = Self {
            start: now,
            active: false,
            since: now,
            link_failed: false,
            child_failed: false,
            shut_down: false,
            partner: None,
            partner_alive: false,
            last_heard: vec![None; n],
            link_counters: vec![LinkCounters::default(); n],
            last_seq: vec![cfg.replay_floor; n],
            our_seq: 0,
            send_at: (n > 0).then(|| now + cfg.keepalive),
            dead_at: now + cfg.deadtime,
            holdoff_until: None,
            releasing: None,
            prepared: false,
            retry_at: None,
            retries: 0,
            active_since_start: None,
            mismatch: false,
            counters: Counters::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            cfg,
        };
        if hb.cfg.force_active {
            hb.activate(now, ActivateReason::Forced);
        }
        hb
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next thing to do or log.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next; `None` after shutdown.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shut_down {
            return None;
        }
        [
            self.send_at,
            Some(self.dead_at),
            self.holdoff_until,
            self.retry_at,
            self.releasing.map(|r| r.until),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Is this node active?
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// A snapshot for status reporting.
    pub fn status(&self) -> Status {
        Status {
            primary: self.cfg.primary,
            active: self.active,
            since: self.since,
            link_failed: self.link_failed,
            child_failed: self.child_failed,
            releasing: self.releasing.is_some(),
            partner: self.partner,
            partner_alive: self.partner_alive,
            links: self
                .cfg
                .links
                .iter()
                .zip(&self.last_heard)
                .zip(&self.link_counters)
                .map(|((l, h), c)| LinkStatus {
                    link: *l,
                    last_heard: *h,
                    counters: *c,
                })
                .collect(),
            counters: self.counters,
        }
    }

    /// The highest authenticated sequence number accepted on any link (for the daemon to
    /// persist as the next start's `replay_floor`).
    pub fn highest_seq_seen(&self) -> u64 {
        self.last_seq
            .iter()
            .copied()
            .max()
            .unwrap_or(self.cfg.replay_floor)
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        if let Some(t) = self.send_at
            && now >= t
        {
            self.send_heartbeats(now);
            // Fixed cadence: a late wakeup does not shift every later heartbeat.
            let mut next = t + self.cfg.keepalive;
            if next <= now {
                next = now + self.cfg.keepalive;
            }
            self.send_at = Some(next);
        }
        if self.holdoff_until.is_some_and(|t| now >= t) {
            self.holdoff_until = None;
        }
        if self.releasing.is_some_and(|r| now >= r.until) {
            self.releasing = None;
            self.events.push_back(Event::ReleaseFailed);
            self.send_heartbeats(now);
        }
        if now >= self.dead_at {
            // piranha.md §4.4: partner silent for `deadtime` ⇒ activate if able.
            if self.partner_alive {
                self.partner_alive = false;
                self.events.push_back(Event::PartnerDead);
            }
            if self.may_activate() {
                self.activate(now, ActivateReason::PartnerDead);
            }
            self.dead_at = now + self.cfg.deadtime;
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            // Only if nobody serves: an active partner keeps the service (and its RUNNING
            // clears our failure anyway).
            let partner_serves = self.partner_alive && self.partner.is_some_and(|p| p.active);
            if !partner_serves {
                self.child_failed = false;
                if self.may_activate() {
                    self.activate(now, ActivateReason::Retry);
                }
            }
        }
    }

    /// A datagram arrived on `link` from `from`.
    pub fn handle_datagram(&mut self, now: Instant, link: usize, from: SocketAddr, data: &[u8]) {
        if self.shut_down {
            return;
        }
        let Some(l) = self.cfg.links.get(link).copied() else {
            return;
        };
        // piranha.md §4.3: only the partner's configured addresses count.
        if from.ip() != l.peer.ip() {
            return self.reject(link, from, Rejection::NotFromPartner);
        }
        let (active, handover, prepare, ready) = match &self.cfg.mode {
            WireMode::Legacy { fos } => match LegacyMagic::decode(data) {
                Ok(LegacyMagic::Running) if !fos => (true, false, false, false),
                Ok(LegacyMagic::Stopped) if !fos => (false, false, false, false),
                Ok(LegacyMagic::FosRunning | LegacyMagic::FosStopMe) if *fos => {
                    (true, false, false, false)
                }
                Ok(LegacyMagic::FosStopped) if *fos => (false, false, false, false),
                // piranha accepts HOLD/HELD and does nothing with them.
                Ok(LegacyMagic::Hold | LegacyMagic::Held) => {
                    self.heard(now, link);
                    return;
                }
                Ok(_) => return self.reject(link, from, Rejection::Incompatible),
                Err(e) => return self.reject(link, from, Rejection::Decode(e)),
            },
            WireMode::Authenticated(key) => {
                if data.len() == 4 {
                    return self.reject(link, from, Rejection::Incompatible);
                }
                let p = match AuthHeartbeat::decode(data, key) {
                    Ok(p) => p,
                    Err(e) => return self.reject(link, from, Rejection::Decode(e)),
                };
                if p.seq <= self.last_seq[link] {
                    return self.reject(link, from, Rejection::Replay);
                }
                self.last_seq[link] = p.seq;
                self.note_partner_identity(&p);
                (p.active, p.handover, p.prepare, p.ready)
            }
        };
        self.heard(now, link);
        if let Some(view) = &mut self.partner {
            view.active = active;
        } else {
            self.partner = Some(PartnerView {
                active,
                config: None,
                boot_id: None,
            });
        }
        // A draining release, on our side: the partner holds the VIPs unannounced now.
        if ready
            && let Some(r) = &mut self.releasing
            && r.phase == ReleasePhase::Prepare
        {
            r.phase = ReleasePhase::Drain;
            r.until = now + self.cfg.deadtime + DRAIN_LIMIT;
            self.events.push_back(Event::Drain);
        }
        // …and on the partner's: it is about to hand over; get ready to receive.
        if active && prepare && !handover {
            if !self.active && !self.prepared && self.may_activate() {
                self.prepared = true;
                self.events.push_back(Event::Prepare);
                self.send_heartbeats(now);
            }
            return;
        }
        if self.prepared && !(active && handover) {
            self.unprepare();
        }
        if active && handover {
            // The partner is handing the service over while still serving (make-before-break
            // release): take it now and say so at once; it lets go when it hears us.
            if self.may_activate() {
                self.activate(now, ActivateReason::Handover);
                self.send_heartbeats(now);
            }
        } else if active {
            self.partner_active(now);
        } else if self.may_activate() {
            let reason = if handover {
                ActivateReason::Handover
            } else {
                ActivateReason::PartnerInactive
            };
            self.activate(now, reason);
            // Say so at once: a releasing partner holds the VIPs until it hears us.
            self.send_heartbeats(now);
        }
    }

    /// An operator or daemon command.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        if self.shut_down {
            return Err(CommandError::ShuttingDown);
        }
        match cmd {
            Command::LinkDown => {
                if self.prepared {
                    self.unprepare();
                }
                if !self.link_failed {
                    self.link_failed = true;
                    if self.active {
                        self.deactivate(now, DeactivateReason::LinkFailure);
                        self.send_heartbeats(now);
                    }
                }
            }
            Command::LinkUp => self.link_failed = false,
            Command::ChildExited => {
                self.child_failed = true;
                if self.active {
                    self.deactivate(now, DeactivateReason::ChildFailed);
                    // Tell the partner now rather than at the next keepalive.
                    self.send_heartbeats(now);
                }
                // piranha stays down until the partner's RUNNING clears the failure, so with no
                // partner (or a partner whose lvsd failed too) the service stayed down for good.
                // Retry after a pause that doubles while lvsd keeps dying soon after starting.
                let quick = self
                    .active_since_start
                    .is_some_and(|t| now.saturating_duration_since(t) < RETRY_RESET);
                if !quick {
                    self.retries = 0;
                }
                self.retry_at = Some(now + self.cfg.deadtime * (1 << self.retries));
                if quick {
                    self.retries = (self.retries + 1).min(6);
                }
            }
            Command::Shutdown => {
                if self.active {
                    self.deactivate(now, DeactivateReason::Shutdown);
                }
                // A final STOPPED (piranha bz #134007), so the partner takes over at once.
                self.send_heartbeats(now);
                self.shut_down = true;
            }
            Command::Release => {
                if !self.active {
                    return Err(CommandError::NotActive);
                }
                if self.cfg.links.is_empty() {
                    return Err(CommandError::NoPartner);
                }
                // Make before break: keep the VIPs and keep serving, but tell the partner to
                // take over (authenticated: "active, handover"; piranha's wire: STOPPED, which
                // any piranha partner answers by activating), and let go only when the partner
                // says it serves. No request meets a pair where nobody holds the VIP. piranha
                // dropped the VIPs first.
                if self.releasing.is_none() {
                    let drain = self.cfg.drain_on_release
                        && matches!(self.cfg.mode, WireMode::Authenticated(_));
                    self.releasing = Some(Releasing {
                        until: now + self.cfg.deadtime,
                        phase: if drain {
                            ReleasePhase::Prepare
                        } else {
                            ReleasePhase::Handover
                        },
                    });
                    self.send_heartbeats(now);
                }
            }
            Command::DrainDone => {
                if let Some(r) = &mut self.releasing
                    && r.phase == ReleasePhase::Drain
                {
                    r.phase = ReleasePhase::Handover;
                    r.until = now + self.cfg.deadtime;
                    self.send_heartbeats(now);
                }
            }
            Command::Takeover => {
                if self.active {
                    return Ok(());
                }
                if self.link_failed {
                    return Err(CommandError::Unfit("its link is down"));
                }
                if !self.cfg.primary && self.partner_alive && self.partner.is_some_and(|p| p.active)
                {
                    return Err(CommandError::PrimaryActive);
                }
                self.child_failed = false;
                self.holdoff_until = None;
                self.activate(now, ActivateReason::Takeover);
                // As the primary, our RUNNING makes an active backup yield.
                self.send_heartbeats(now);
            }
            Command::Reconfigure {
                keepalive,
                deadtime,
                serial_no,
                digest,
            } => {
                self.cfg.keepalive = keepalive;
                self.cfg.deadtime = deadtime;
                self.cfg.serial_no = serial_no;
                self.cfg.digest = digest;
                if self.send_at.is_some() {
                    self.send_at = Some(now + keepalive);
                }
                self.dead_at = self.dead_at.min(now + deadtime);
            }
        }
        Ok(())
    }

    fn may_activate(&self) -> bool {
        !self.active && !self.link_failed && !self.child_failed && self.holdoff_until.is_none()
    }

    fn heard(&mut self, now: Instant, link: usize) {
        self.counters.received += 1;
        self.link_counters[link].received += 1;
        self.last_heard[link] = Some(now);
        // Any link keeps the partner alive: it is dead only when all are silent.
        self.dead_at = now + self.cfg.deadtime;
        if !self.partner_alive {
            self.partner_alive = true;
            self.events.push_back(Event::PartnerUp);
        }
    }

    fn note_partner_identity(&mut self, p: &AuthHeartbeat) {
        let view = self.partner.get_or_insert(PartnerView {
            active: p.active,
            config: None,
            boot_id: None,
        });
        if view.boot_id.is_some_and(|b| b != p.boot_id) {
            self.events.push_back(Event::PartnerRestarted);
        }
        view.boot_id = Some(p.boot_id);
        view.config = Some((p.serial_no, p.digest));
        let differs = p.serial_no != self.cfg.serial_no || p.digest != self.cfg.digest;
        if differs && (!self.mismatch || view.config != Some((p.serial_no, p.digest))) {
            self.events.push_back(Event::ConfigMismatch {
                serial_no: p.serial_no,
                digest: p.digest,
            });
        } else if !differs && self.mismatch {
            self.events.push_back(Event::ConfigMatch);
        }
        self.mismatch = differs;
    }

    /// piranha.md §4.5, "recv RUNNING".
    fn partner_active(&mut self, now: Instant) {
        self.child_failed = false;
        self.retry_at = None;
        if !self.active {
            // No preemption, no failback.
            return;
        }
        if self.releasing.take().is_some() {
            // The partner took over what we were handing it: now we let go.
            self.deactivate(now, DeactivateReason::Release);
            self.holdoff_until = Some(now + self.cfg.deadtime);
            self.send_heartbeats(now);
            return;
        }
        if self.cfg.primary {
            self.events.push_back(Event::Reannounce);
        } else {
            // One more RUNNING first, so the primary re-announces over our announcements.
            self.send_heartbeats(now);
            self.deactivate(now, DeactivateReason::PartnerActive);
        }
    }

    fn activate(&mut self, now: Instant, reason: ActivateReason) {
        self.active = true;
        self.prepared = false;
        self.active_since_start = Some(now);
        self.since = now;
        self.counters.takeovers += 1;
        self.events.push_back(Event::Activate(reason));
    }

    /// The VIPs held unannounced for a draining partner go again.
    fn unprepare(&mut self) {
        self.prepared = false;
        self.events.push_back(Event::Unprepare);
    }

    fn deactivate(&mut self, now: Instant, reason: DeactivateReason) {
        self.active = false;
        self.releasing = None;
        self.since = now;
        self.counters.releases += 1;
        self.events.push_back(Event::Deactivate(reason));
    }

    fn reject(&mut self, link: usize, from: SocketAddr, why: Rejection) {
        self.counters.rejected += 1;
        if let Some(c) = self.link_counters.get_mut(link) {
            c.rejected += 1;
        }
        self.events.push_back(Event::Rejected { link, from, why });
    }

    /// One heartbeat on every link (piranha.md §4.3: public and private).
    fn send_heartbeats(&mut self, now: Instant) {
        let phase = self.releasing.map(|r| r.phase);
        let handover = phase == Some(ReleasePhase::Handover);
        let prepare = matches!(phase, Some(ReleasePhase::Prepare | ReleasePhase::Drain));
        let mut payload = [0u8; AUTH_LEN];
        let len = match &self.cfg.mode {
            WireMode::Legacy { fos } => {
                // A releasing node says STOPPED while it still serves (see `Command::Release`).
                let serving = self.active && self.releasing.is_none();
                let magic = match (fos, serving) {
                    (false, true) => LegacyMagic::Running,
                    (false, false) => LegacyMagic::Stopped,
                    (true, true) => LegacyMagic::FosRunning,
                    (true, false) => LegacyMagic::FosStopped,
                };
                payload[..4].copy_from_slice(&magic.encode());
                4
            }
            WireMode::Authenticated(key) => {
                let wall = self.cfg.wall_clock_us.saturating_add(
                    u64::try_from(now.saturating_duration_since(self.start).as_micros())
                        .unwrap_or(u64::MAX),
                );
                self.our_seq = wall.max(self.our_seq.saturating_add(1));
                let p = AuthHeartbeat {
                    primary: self.cfg.primary,
                    active: self.active,
                    handover,
                    prepare,
                    ready: self.prepared,
                    link_failed: self.link_failed,
                    child_failed: self.child_failed,
                    boot_id: self.cfg.boot_id,
                    seq: self.our_seq,
                    serial_no: self.cfg.serial_no,
                    digest: self.cfg.digest,
                    keepalive_ms: u32::try_from(self.cfg.keepalive.as_millis()).unwrap_or(u32::MAX),
                    deadtime_ms: u32::try_from(self.cfg.deadtime.as_millis()).unwrap_or(u32::MAX),
                };
                payload = p.encode(key);
                AUTH_LEN
            }
        };
        for (i, l) in self.cfg.links.iter().enumerate() {
            self.counters.sent += 1;
            self.link_counters[i].sent += 1;
            self.transmits.push_back(Transmit {
                link: i,
                dest: l.peer,
                payload,
                len,
            });
        }
    }
}
