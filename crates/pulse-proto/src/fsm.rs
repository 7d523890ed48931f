//! The failover state machine of one director (docs/reference/piranha.md §4.4–4.5), sans-IO.
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

use crate::wire::{
    AUTH_LEN, AuthHeartbeat, DecodeError, Direction, HeartbeatKey, LegacyMagic, LinkPath,
};
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
    /// the base of our sequence numbers, which therefore keep increasing across restarts (as
    /// long as the wall clock does; a partner behind its floor is challenged, see
    /// [`Heartbeat::outstanding_challenge`]).
    pub wall_clock_us: u64,
    /// Authenticated packets with a sequence number at or below this are replays unless they
    /// prove freshness (see [`Heartbeat::highest_seq_seen`]); the daemon persists the highest
    /// sequence accepted so the floor survives its own restarts.
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
    /// `service = fos`: a service of the active partner failed as seen through its VIP while
    /// the partner still heartbeats: take over and tell the partner to stop (piranha's
    /// FAILPARTNER flag: FOS_HEARTBEAT_STOPME on the wire, docs/reference/piranha.md §4.3,
    /// §4.11). The partner yields on hearing it whatever its role.
    FailPartner,
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
    /// `service = fos`: a service of the partner failed and our own network is fine
    /// ([`Command::FailPartner`]).
    FailPartner,
}

impl ActivateReason {
    /// How the timeline of `pulsectl status` and the web console says it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PartnerDead => "partner silent for deadtime",
            Self::PartnerInactive => "partner said it is inactive",
            Self::Forced => "--forceactive",
            Self::Takeover => "pulsectl takeover",
            Self::Handover => "partner handed over (pulsectl release there)",
            Self::Retry => "retry after lvsd failed, nobody serving",
            Self::FailPartner => "a failover service of the partner failed",
        }
    }
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
    /// `service = fos`: the partner took over and told us to stop (STOPME).
    PartnerTookOver,
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
    /// An authenticated packet from the partner that is not new: its sequence number is not
    /// above what was accepted and it does not echo our outstanding challenge, or it was signed
    /// for another link (captured there).
    Replay,
    /// An authenticated packet signed with our own direction's key, or carrying our own role or
    /// boot id: our own heartbeat sent back to us (or a partner configured with our role).
    Reflected,
}

impl Rejection {
    /// Every [`Self::reason`], in a fixed order: the one list counters, metrics labels and
    /// documentation use.
    pub const REASONS: &'static [&'static str] = &[
        "not_from_partner",
        "bad_mac",
        "malformed",
        "incompatible",
        "replay",
        "reflected",
    ];

    /// A short stable name of the reason, for counters and metrics labels; one of
    /// [`Self::REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFromPartner => "not_from_partner",
            Self::Decode(DecodeError::BadMac) => "bad_mac",
            Self::Decode(_) => "malformed",
            Self::Incompatible => "incompatible",
            Self::Replay => "replay",
            Self::Reflected => "reflected",
        }
    }
}

/// Replay protection of authenticated heartbeats: one state for all links.
///
/// A packet is new if (a) its sequence is above every sequence accepted so far (`floor`, which
/// the daemon persists), (b) it comes from the partner run (boot id) we last accepted and its
/// sequence is above that run's last one, or is that last one arriving on a link that has not
/// carried it yet (the sender puts one sequence on every link), or (c) it echoes our
/// outstanding challenge. (b) keeps a partner whose clock is behind `floor` working once (c)
/// has let it in, without lowering `floor`: packets of its earlier runs, captured with
/// sequences between its clock and `floor`, stay replays (lowering the floor to the new run's
/// sequence would accept them). Sequences increase within a run whatever the wall clock does
/// (the sender adds monotonic time to its wall clock at start), so only the partner's restart
/// or a floor from elsewhere can put a live partner behind `floor`.
#[derive(Debug)]
struct Freshness {
    /// The highest sequence accepted, ever (from [`Config::replay_floor`] on).
    floor: u64,
    /// The partner run last accepted.
    run: Option<PartnerRun>,
    /// Our outstanding challenge: a packet that echoes it was made after we made it.
    challenge: Option<u64>,
    /// Challenges made so far (the input that makes each one different).
    challenges_made: u64,
    /// When the last one was made: at most one per keepalive, so that replays (each consumed
    /// challenge lets the next replay make another) cannot make the partner answer faster.
    challenged_at: Option<Instant>,
    /// Some packet was accepted since `challenge` was made.
    accepted_since_challenge: bool,
    /// The partner's latest challenge, echoed in our packets; 0 for none.
    echo: u64,
    /// When we last sent a round early for a challenge or an echo (at most one per keepalive,
    /// so replays cannot make us flood).
    early_round_at: Option<Instant>,
}

#[derive(Debug)]
struct PartnerRun {
    boot_id: u64,
    /// The highest sequence accepted from this run.
    last: u64,
    /// Per link, the highest sequence of this run accepted on it.
    per_link: Vec<u64>,
}

impl Freshness {
    fn new(floor: u64) -> Self {
        Self {
            floor,
            run: None,
            challenge: None,
            challenges_made: 0,
            challenged_at: None,
            accepted_since_challenge: false,
            echo: 0,
            early_round_at: None,
        }
    }

    /// Is `p` (authentic, for `link`) new? If so, record it.
    fn admit(&mut self, link: usize, links: usize, p: &AuthHeartbeat) -> bool {
        let echoes = self.challenge.is_some_and(|c| c == p.echo);
        let newer_in_run = self.run.as_ref().is_some_and(|r| {
            r.boot_id == p.boot_id
                && (p.seq > r.last
                    || (p.seq == r.last && r.per_link.get(link).is_some_and(|l| *l < p.seq)))
        });
        if !(p.seq > self.floor || newer_in_run || echoes) {
            return false;
        }
        if echoes {
            // Consumed: a later replay of this packet (or of any other echoing it) is stale.
            self.challenge = None;
        }
        self.accepted_since_challenge = true;
        self.floor = self.floor.max(p.seq);
        match &mut self.run {
            Some(r) if r.boot_id == p.boot_id => {
                r.last = r.last.max(p.seq);
                if let Some(l) = r.per_link.get_mut(link) {
                    *l = (*l).max(p.seq);
                }
            }
            _ => {
                let mut per_link = vec![0; links];
                if let Some(l) = per_link.get_mut(link) {
                    *l = p.seq;
                }
                self.run = Some(PartnerRun {
                    boot_id: p.boot_id,
                    last: p.seq,
                    per_link,
                });
            }
        }
        true
    }

    fn early_round_allowed(&self, now: Instant, keepalive: Duration) -> bool {
        self.early_round_at.is_none_or(|t| now >= t + keepalive)
    }

    fn may_challenge(&self, now: Instant, keepalive: Duration) -> bool {
        self.challenge.is_none() && self.challenged_at.is_none_or(|t| now >= t + keepalive)
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

impl DeactivateReason {
    /// How the timeline of `pulsectl status` and the web console says it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PartnerActive => "the primary partner is active",
            Self::LinkFailure => "our link went down",
            Self::ChildFailed => "lvsd died",
            Self::Shutdown => "shutting down",
            Self::Release => "pulsectl release (the partner serves)",
            Self::PartnerTookOver => "the partner took over",
        }
    }
}

/// One change of `active`, as kept for the status' timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When.
    pub at: Instant,
    /// Active after it.
    pub active: bool,
    /// Why ([`ActivateReason::describe`], [`DeactivateReason::describe`]).
    pub reason: &'static str,
}

/// Transitions a node keeps for its status (the newest; a flapping pair cannot grow it).
pub const TRANSITIONS_KEPT: usize = 20;

/// A snapshot for `pulsectl status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node is the primary.
    pub primary: bool,
    /// This node holds the VIPs.
    pub active: bool,
    /// Since when `active` has its value.
    pub since: Instant,
    /// The last changes of `active`, oldest first (at most [`TRANSITIONS_KEPT`]).
    pub transitions: Vec<Transition>,
    /// Our link is down.
    pub link_failed: bool,
    /// Our lvsd died.
    pub child_failed: bool,
    /// A make-before-break release waits for the partner.
    pub releasing: bool,
    /// We took over with [`Command::FailPartner`] and tell the partner to stop.
    pub failing_partner: bool,
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
    transitions: VecDeque<Transition>,
    link_failed: bool,
    child_failed: bool,
    shut_down: bool,
    partner: Option<PartnerView>,
    partner_alive: bool,
    last_heard: Vec<Option<Instant>>,
    link_counters: Vec<LinkCounters>,
    /// Replay protection (authenticated mode).
    fresh: Freshness,
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
    /// [`Command::FailPartner`]: until then (or until the partner says it is inactive) our
    /// heartbeats tell the partner to stop, and its RUNNING does not make us yield.
    fail_partner_until: Option<Instant>,
    /// `None`: `ready` is said as soon as we are prepared (a driver that reports no
    /// addresses). `Some(held)`: the driver reports whether the VIPs are held
    /// ([`Heartbeat::set_vips_held`]), and `ready` waits for them: the partner forwards new
    /// connections to us when it hears `ready`, and one that arrives before the VIP is on our
    /// interface is not ours to take (it is dropped or routed away).
    vips_held: Option<bool>,
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
    /// `keepalive` and the partner is dead after `deadtime` of silence (docs/reference/piranha.md §4.2 step 10).
    pub fn new(cfg: Config, now: Instant) -> Self {
        let n = cfg.links.len();
        let mut hb = Self {
            start: now,
            active: false,
            since: now,
            transitions: VecDeque::new(),
            link_failed: false,
            child_failed: false,
            shut_down: false,
            partner: None,
            partner_alive: false,
            last_heard: vec![None; n],
            link_counters: vec![LinkCounters::default(); n],
            fresh: Freshness::new(cfg.replay_floor),
            our_seq: 0,
            send_at: (n > 0).then(|| now + cfg.keepalive),
            dead_at: now + cfg.deadtime,
            holdoff_until: None,
            releasing: None,
            prepared: false,
            fail_partner_until: None,
            vips_held: None,
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
            self.fail_partner_until,
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

    /// The driver holds every VIP (`true`) or not. Once called, `ready` in a draining release
    /// waits for `true`; a change to ready sends a heartbeat at once.
    pub fn set_vips_held(&mut self, now: Instant, held: bool) {
        let was = self.is_ready();
        self.vips_held = Some(held);
        if !was && self.is_ready() {
            self.send_heartbeats(now);
        }
    }

    /// Prepared for a draining partner, with the VIPs held if the driver reports them.
    fn is_ready(&self) -> bool {
        self.prepared && self.vips_held.unwrap_or(true)
    }

    /// A snapshot for status reporting.
    pub fn status(&self) -> Status {
        Status {
            primary: self.cfg.primary,
            active: self.active,
            since: self.since,
            transitions: self.transitions.iter().copied().collect(),
            link_failed: self.link_failed,
            child_failed: self.child_failed,
            releasing: self.releasing.is_some(),
            failing_partner: self.fail_partner_until.is_some(),
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

    /// The replay floor: the highest authenticated sequence number accepted on any link, or
    /// the configured `replay_floor` if higher (for the daemon to persist as the next start's
    /// `replay_floor`). It never decreases: a partner whose clock is behind it is let in by a
    /// challenge instead.
    pub fn highest_seq_seen(&self) -> u64 {
        self.fresh.floor
    }

    /// Our challenge to the partner, if one is outstanding (authenticated mode): sent in every
    /// heartbeat until a packet of the partner echoes it.
    pub fn outstanding_challenge(&self) -> Option<u64> {
        self.fresh.challenge
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
        if self.fail_partner_until.is_some_and(|t| now >= t) {
            // The partner neither yielded nor went silent within `deadtime` (a piranha backup
            // ignores STOPME when it is not the master): piranha's rules decide again.
            self.fail_partner_until = None;
        }
        if self.releasing.is_some_and(|r| now >= r.until) {
            self.releasing = None;
            self.events.push_back(Event::ReleaseFailed);
            self.send_heartbeats(now);
        }
        if now >= self.dead_at {
            // docs/reference/piranha.md §4.4: partner silent for `deadtime` ⇒ activate if able.
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
        // docs/reference/piranha.md §4.3: only the partner's configured addresses count.
        if from.ip() != l.peer.ip() {
            return self.reject(link, from, Rejection::NotFromPartner);
        }
        let sent_before = self.counters.sent;
        let mut answer = false;
        let (active, handover, prepare, ready, stop_me) = match &self.cfg.mode {
            WireMode::Legacy { fos } => match LegacyMagic::decode(data) {
                Ok(LegacyMagic::Running) if !fos => (true, false, false, false, false),
                Ok(LegacyMagic::Stopped) if !fos => (false, false, false, false, false),
                Ok(LegacyMagic::FosRunning) if *fos => (true, false, false, false, false),
                Ok(LegacyMagic::FosStopMe) if *fos => (true, false, false, false, true),
                Ok(LegacyMagic::FosStopped) if *fos => (false, false, false, false, false),
                // piranha accepts HOLD/HELD and does nothing with them.
                Ok(LegacyMagic::Hold | LegacyMagic::Held) => {
                    self.heard(now, link);
                    return;
                }
                Ok(_) => return self.reject(link, from, Rejection::Incompatible),
                // A partner with a `heartbeat_key` while we have none.
                Err(_) if data.starts_with(b"PLS") => {
                    return self.reject(link, from, Rejection::Incompatible);
                }
                Err(e) => return self.reject(link, from, Rejection::Decode(e)),
            },
            WireMode::Authenticated(key) => {
                if data.len() == 4 {
                    return self.reject(link, from, Rejection::Incompatible);
                }
                let p = match self.authenticate(key, l, data) {
                    Ok(p) => p,
                    Err(why) => return self.reject(link, from, why),
                };
                let links = self.cfg.links.len();
                if !self.fresh.admit(link, links, &p) {
                    self.stale(now, &p);
                    return self.reject(link, from, Rejection::Replay);
                }
                // The partner asks for proof that we are live: echo its challenge from now on,
                // and at once, but only when the value changes (its challenges are rate-limited
                // on its side, and only accepted packets get here).
                if p.challenge != 0 && p.challenge != self.fresh.echo {
                    self.fresh.echo = p.challenge;
                    answer = true;
                }
                self.note_partner_identity(&p);
                (p.active, p.handover, p.prepare, p.ready, p.stop_me)
            }
        };
        self.heard(now, link);
        if self.fail_partner_until.is_some() && !active {
            // The partner stopped, as told: plain RUNNING from now on.
            self.fail_partner_until = None;
        }
        if active && stop_me && self.active {
            // docs/reference/piranha.md §4.5 "recv STOPME": piranha's master logs this and goes
            // to FOS monitor mode; Pulse yields whatever its role (a piranha backup yields on
            // the STOPME-as-RUNNING anyway).
            if let Some(view) = &mut self.partner {
                view.active = true;
            }
            self.fail_partner_until = None;
            self.deactivate(now, DeactivateReason::PartnerTookOver);
            self.holdoff_until = Some(now + self.cfg.deadtime);
            self.send_heartbeats(now);
            return;
        }
        if active && self.active && self.fail_partner_until.is_some() {
            // We told the partner to stop; its RUNNING crossed our STOPME.
            if let Some(view) = &mut self.partner {
                view.active = true;
            }
            return;
        }
        self.partner_said(now, active, handover, prepare, ready);
        // Unless handling the packet sent a round already (which carries the echo).
        if answer && self.counters.sent == sent_before {
            self.send_heartbeats(now);
        }
    }

    /// Verify an authenticated datagram for `link`, or say why it is dropped.
    ///
    /// Our own packets are signed with our sending direction's key ([`Direction::sent_by`]), and
    /// we verify with the other one, so nothing we send verifies here, on any link; the packet
    /// is also checked against our sending key on every link, to count reflections as such.
    /// The MAC covers the link ([`LinkPath`]): a partner packet that verifies for another link
    /// was captured there.
    fn authenticate(
        &self,
        key: &HeartbeatKey,
        link: Link,
        data: &[u8],
    ) -> Result<AuthHeartbeat, Rejection> {
        let me = self.cfg.primary;
        let path = |l: &Link| LinkPath::between(me, l.local.ip(), l.peer.ip());
        let theirs = Direction::received_by(me);
        match AuthHeartbeat::decode(data, key, theirs, path(&link)) {
            // Signed with the partner's key, yet claiming our role or our boot id: only a key
            // holder could make it, and it is not the partner speaking for itself.
            Ok(p) if p.primary == me || p.boot_id == self.cfg.boot_id => Err(Rejection::Reflected),
            Ok(p) => Ok(p),
            Err(DecodeError::BadMac) => {
                let signed_for = |d: Direction| {
                    self.cfg
                        .links
                        .iter()
                        .any(|l| AuthHeartbeat::decode(data, key, d, path(l)).is_ok())
                };
                if signed_for(theirs.reverse()) {
                    Err(Rejection::Reflected)
                } else if signed_for(theirs) {
                    Err(Rejection::Replay)
                } else {
                    Err(Rejection::Decode(DecodeError::BadMac))
                }
            }
            // Another Pulse release's format: say "incompatible", as for piranha's magics.
            Err(DecodeError::Version) => Err(Rejection::Incompatible),
            Err(e) => Err(Rejection::Decode(e)),
        }
    }

    /// An authentic partner packet for this link that is not new: a replay, or a live partner
    /// behind our floor (it restarted with its clock behind, or our floor came from elsewhere).
    /// Challenge it: a packet echoing the challenge is accepted whatever its sequence, so a live
    /// partner is back within a round trip (a keepalive plus one if a challenge was made in the
    /// last keepalive).
    fn stale(&mut self, now: Instant, p: &AuthHeartbeat) {
        let mut early = false;
        if self.fresh.may_challenge(now, self.cfg.keepalive) {
            let counter = self.fresh.challenges_made;
            self.fresh.challenges_made += 1;
            self.fresh.challenged_at = Some(now);
            if let WireMode::Authenticated(key) = &self.cfg.mode {
                self.fresh.challenge =
                    Some(key.challenge(self.cfg.primary, self.cfg.boot_id, counter));
            }
            self.fresh.accepted_since_challenge = false;
            early = true;
        }
        // While nothing of the partner is accepted, its challenge is echoed from stale packets
        // too: if our floor is ahead of its clock and its floor ahead of ours, each waits for
        // the other's echo, and neither would ever accept a packet to learn the challenge
        // from. Echoing is always safe (a partner accepts an echo only of its own outstanding
        // challenge, which no packet made before it can carry); limiting it to this case keeps a
        // replayed old challenge from displacing a live one at a node that accepts the partner.
        if !self.fresh.accepted_since_challenge
            && p.challenge != 0
            && p.challenge != self.fresh.echo
        {
            self.fresh.echo = p.challenge;
            early = true;
        }
        if early && self.fresh.early_round_allowed(now, self.cfg.keepalive) {
            self.fresh.early_round_at = Some(now);
            self.send_heartbeats(now);
        }
    }

    /// What the partner said, accepted: docs/reference/piranha.md §4.5's reactions, and the release handshake.
    fn partner_said(
        &mut self,
        now: Instant,
        active: bool,
        handover: bool,
        prepare: bool,
        ready: bool,
    ) {
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
            Command::FailPartner => {
                if self.active {
                    return Ok(());
                }
                if self.link_failed {
                    return Err(CommandError::Unfit("its link is down"));
                }
                self.child_failed = false;
                self.holdoff_until = None;
                self.fail_partner_until = Some(now + self.cfg.deadtime);
                self.activate(now, ActivateReason::FailPartner);
                self.send_heartbeats(now);
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

    /// docs/reference/piranha.md §4.5, "recv RUNNING".
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
        self.record(now, reason.describe());
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
        self.fail_partner_until = None;
        self.releasing = None;
        self.since = now;
        self.record(now, reason.describe());
        self.counters.releases += 1;
        self.events.push_back(Event::Deactivate(reason));
    }

    /// Keeps the transition just made (`active` already has its new value).
    fn record(&mut self, now: Instant, reason: &'static str) {
        if self.transitions.len() == TRANSITIONS_KEPT {
            self.transitions.pop_front();
        }
        self.transitions.push_back(Transition {
            at: now,
            active: self.active,
            reason,
        });
    }

    fn reject(&mut self, link: usize, from: SocketAddr, why: Rejection) {
        self.counters.rejected += 1;
        if let Some(c) = self.link_counters.get_mut(link) {
            c.rejected += 1;
        }
        self.events.push_back(Event::Rejected { link, from, why });
    }

    /// One heartbeat on every link (docs/reference/piranha.md §4.3: public and private).
    fn send_heartbeats(&mut self, now: Instant) {
        let phase = self.releasing.map(|r| r.phase);
        let handover = phase == Some(ReleasePhase::Handover);
        let prepare = matches!(phase, Some(ReleasePhase::Prepare | ReleasePhase::Drain));
        let mut payload = [0u8; AUTH_LEN];
        let len;
        let mut signed = None;
        match &self.cfg.mode {
            WireMode::Legacy { fos } => {
                // A releasing node says STOPPED while it still serves (see `Command::Release`).
                let serving = self.active && self.releasing.is_none();
                let magic = match (fos, serving) {
                    (false, true) => LegacyMagic::Running,
                    (false, false) => LegacyMagic::Stopped,
                    (true, true) if self.fail_partner_until.is_some() => LegacyMagic::FosStopMe,
                    (true, true) => LegacyMagic::FosRunning,
                    (true, false) => LegacyMagic::FosStopped,
                };
                payload[..4].copy_from_slice(&magic.encode());
                len = 4;
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
                    ready: self.is_ready(),
                    stop_me: self.active && self.fail_partner_until.is_some(),
                    link_failed: self.link_failed,
                    child_failed: self.child_failed,
                    boot_id: self.cfg.boot_id,
                    seq: self.our_seq,
                    serial_no: self.cfg.serial_no,
                    digest: self.cfg.digest,
                    keepalive_ms: u32::try_from(self.cfg.keepalive.as_millis()).unwrap_or(u32::MAX),
                    deadtime_ms: u32::try_from(self.cfg.deadtime.as_millis()).unwrap_or(u32::MAX),
                    challenge: self.fresh.challenge.unwrap_or(0),
                    echo: self.fresh.echo,
                };
                signed = Some((p, key));
                len = AUTH_LEN;
            }
        }
        for (i, l) in self.cfg.links.iter().enumerate() {
            // One sequence for the round, signed per link: the MAC binds the link's addresses.
            if let Some((p, key)) = signed {
                payload = p.encode(key, LinkPath::between(p.primary, l.local.ip(), l.peer.ip()));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `Rejection::REASONS` is the list metrics and status use: every reason a rejection can
    /// have is in it, once, and nothing else is.
    #[test]
    fn every_reason_is_listed_once() {
        // A new variant fails to compile here until it is classified.
        let classified = |r: Rejection| match r {
            Rejection::NotFromPartner
            | Rejection::Decode(_)
            | Rejection::Incompatible
            | Rejection::Replay
            | Rejection::Reflected => r.reason(),
        };
        let produced: BTreeSet<&str> = [
            Rejection::NotFromPartner,
            Rejection::Decode(DecodeError::BadMac),
            Rejection::Decode(DecodeError::Length(0)),
            Rejection::Decode(DecodeError::UnknownMagic(0)),
            Rejection::Decode(DecodeError::Version),
            Rejection::Incompatible,
            Rejection::Replay,
            Rejection::Reflected,
        ]
        .into_iter()
        .map(classified)
        .collect();
        let listed: BTreeSet<&str> = Rejection::REASONS.iter().copied().collect();
        assert_eq!(
            listed.len(),
            Rejection::REASONS.len(),
            "a reason is listed twice"
        );
        assert_eq!(produced, listed);
        // The metrics labels of earlier releases keep their names and order.
        assert_eq!(
            Rejection::REASONS[..5],
            [
                "not_from_partner",
                "bad_mac",
                "malformed",
                "incompatible",
                "replay"
            ]
        );
    }
}
