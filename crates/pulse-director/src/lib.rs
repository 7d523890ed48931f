//! pulse's decisions, sans-IO: everything one director decides, around the heartbeat state
//! machine (`pulse_proto::Heartbeat`).
//!
//! [`Director`] owns the role and service state, the VIP claims and their retries, the
//! gratuitous-ARP schedule, `active_cmd`/`inactive_cmd`, lvsd supervision and its restart
//! backoff, release/drain/handoff, link state (`monitor_links`), the replay floor's persistence
//! schedule and the reload comparison. It is driven by `handle_*(now, …)` calls — datagrams,
//! timeouts, claim results, lvsd starts and exits, link events, reload results, operator
//! commands — and drained with [`Director::poll_action`], [`Director::poll_transmit`] and
//! [`Director::poll_timeout`]. It does no I/O and reads no clock: the daemon (`pulse`'s driver)
//! carries every [`Action`] out, off the heartbeat path where it can block, and reports back.
//!
//! Operator-visible log lines are written here, with `tracing`, so that the simulated-clock
//! tests see the same decisions an operator reads in the log.

pub mod fos;
pub mod group;
pub mod group_view;
pub mod plan;

pub use fos::{Failover, FosAction, FosPlan, FosService, FosServiceStatus, FosState, Which};
pub use group::{
    Group, GroupAction, GroupPlan, GroupVip, LvsdView, ServerCounts, ServiceTraffic, Why,
};
pub use group_view::{
    DirectorView, GroupRejection, GroupView, STALE_KEEPALIVES, ViewConfig, ViewTransmit,
};
pub use plan::{Plan, VipClaim, plan};
pub use pulse_proto::fsm::{Command as HeartbeatCommand, CommandError, Rejection, Transmit};

use pulse_proto::fsm::{ActivateReason, Command, DeactivateReason, Event, Heartbeat};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// A standby lvsd that died is restarted after this pause, doubled while it keeps dying soon
/// after starting, up to [`LVSD_RESTART_MAX`].
pub const LVSD_RESTART_MIN: Duration = Duration::from_secs(1);
/// The longest pause before restarting a standby lvsd; an lvsd that ran this long resets it.
pub const LVSD_RESTART_MAX: Duration = Duration::from_secs(60);
/// A failed VIP claim is retried after this pause, doubled up to [`CLAIM_RETRY_MAX`]. Short:
/// an interface being recreated (a bond, a VLAN) comes back within a second, and every retry
/// is one rtnetlink request.
pub const CLAIM_RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest pause between claim retries: an interface that appears is used within this.
pub const CLAIM_RETRY_MAX: Duration = Duration::from_millis(400);
/// A claim that keeps failing is logged again at most this often (with the attempts since).
pub const CLAIM_LOG_EVERY: Duration = Duration::from_secs(5);
/// At most one log line per rejection reason in this period (with how many were dropped).
pub const REJECT_LOG_EVERY: Duration = Duration::from_secs(10);
/// A draining release waits at most this long for the real servers' connections to finish
/// (long-lived ones are then left to the sync daemon, which flushes every 2 s).
pub const DRAIN_MAX: Duration = Duration::from_secs(3);
/// How often lvsd is asked how many connections are left during a drain.
pub const DRAIN_POLL: Duration = Duration::from_millis(10);
/// The replay floor is persisted when it moved this far (µs of the partner's clock: 1 s), so
/// the daemon writes its state file at most about once a second.
const PERSIST_STEP_US: u64 = 1_000_000;

/// What the director needs from lvs.cf and the command line besides the [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `warm_standby`: lvsd runs on the inactive director too.
    pub warm_standby: bool,
    /// `syncdaemon`: the IPVS sync daemon follows the role.
    pub syncdaemon: bool,
    /// `syncd_iface`: the interface the sync daemon sends and listens on.
    pub syncd_iface: String,
    /// `syncd_id`: the sync daemon's id.
    pub syncd_id: u8,
    /// `active_cmd`.
    pub active_cmd: Option<String>,
    /// `inactive_cmd`.
    pub inactive_cmd: Option<String>,
    /// pulse starts and supervises lvsd, and runs the commands (false with `--test-start`).
    pub run_lvsd: bool,
    /// `monitor_links` (only with a partner).
    pub monitor_links: bool,
    /// `serial_no`, for the status line and logs.
    pub serial_no: i64,
    /// The configuration digest exchanged with the partner.
    pub digest: [u8; 8],
    /// Settings a reload cannot change (they need a restart), as text: compared, not used
    /// (today the metrics endpoint's address and port).
    pub restart_only: String,
}

/// A successfully read and planned configuration (the daemon reads and resolves it off the
/// heartbeat thread).
#[derive(Clone, Debug)]
pub struct Reload {
    /// The new plan.
    pub plan: Plan,
    /// The new settings.
    pub settings: Settings,
}

/// The IPVS sync daemon's role (`syncdaemon`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncRole {
    /// Sends connection state: while active.
    Master,
    /// Receives it: while inactive.
    Backup,
}

/// Something for the daemon to carry out. None of these may be done on the heartbeat path if
/// it can block; each that has an outcome is reported back with the matching `handle_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Add the address (report with [`Director::handle_claim_result`]). The daemon carries
    /// claims and releases out in the order asked and reports claim results in that order:
    /// the director relies on it to tell a stale result (of a claim that a release followed)
    /// from the current one.
    ClaimVip(VipClaim),
    /// Remove the address if present. `stale`: at start, left from a previous run.
    ReleaseVip {
        /// The address.
        vip: VipClaim,
        /// Left from a previous run (logged as such when it was there).
        stale: bool,
    },
    /// One gratuitous ARP for each of these held addresses.
    Announce(Vec<VipClaim>),
    /// Run `active_cmd` or `inactive_cmd` (docs/reference/piranha.md §4.10: split on spaces, no shell, not
    /// waited for).
    RunCommand {
        /// `active_cmd` or `inactive_cmd`.
        what: &'static str,
        /// The command line.
        line: String,
    },
    /// Before the first lvsd start: stop any lvsd still running for this director's control
    /// socket (left by a pulse that was SIGKILLed), so exactly one runs. It is killed, not
    /// terminated, so the IPVS table stays as it is for the new lvsd to adopt.
    ReapStrayLvsd,
    /// Start lvsd (report with [`Director::handle_lvsd_started`] and, when it ends,
    /// [`Director::handle_lvsd_exited`]).
    StartLvsd {
        /// This director is inactive (warm standby).
        standby: bool,
    },
    /// Stop lvsd (SIGTERM, then SIGKILL after a grace period); its exit is reported.
    StopLvsd,
    /// Tell lvsd to reread lvs.cf (SIGHUP).
    ReloadLvsd,
    /// Switch the IPVS sync daemon.
    SetSyncRole {
        /// Master or backup.
        role: SyncRole,
        /// `syncd_iface`.
        interface: String,
        /// `syncd_id`.
        sync_id: u8,
    },
    /// A draining release: lvsd forwards new connections to `partner` while the real servers'
    /// own finish (`Request::Handoff`, idempotent: repeated to poll); report how many of their
    /// connections are left with [`Director::handle_drain_progress`].
    Drain {
        /// The partner director's address.
        partner: IpAddr,
    },
    /// lvsd goes back to the configured table after a draining release. On a deactivation it
    /// comes after the VIP releases, and the shell carries it out only once they are done:
    /// until the VIPs are gone a new connection can still arrive here, and it must go on to
    /// the partner, which knows every connection the clients will send it.
    EndHandoff,
    /// Save the replay floor (the highest authenticated sequence accepted) for the next start.
    PersistReplayFloor(u64),
    /// `service = fos`: run a command, check a service or our connectivity (see
    /// [`FosAction`]; report with [`Director::handle_fos_command_done`],
    /// [`Director::handle_fos_check`], [`Director::handle_fos_connectivity`]).
    Fos(FosAction),
}

/// One VIP's claim.
#[derive(Clone, Debug)]
struct VipState {
    claim: VipClaim,
    /// The address is ours (the last claim succeeded and no release followed).
    held: bool,
    /// A claim was asked for and its result has not come back.
    in_flight: bool,
    /// Results still to come of claims that a release followed: they say nothing about now.
    stale_results: u32,
    /// When the next claim may be tried after a failure.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Since when claims of it fail while it is wanted.
    failing_since: Option<Instant>,
    /// The last failure, for status and logs.
    last_error: Option<String>,
    /// Failed attempts since it last succeeded.
    attempts: u64,
    /// When a still-failing claim is logged again.
    log_at: Option<Instant>,
}

impl VipState {
    fn new(claim: VipClaim) -> Self {
        Self {
            claim,
            held: false,
            in_flight: false,
            stale_results: 0,
            retry_at: None,
            backoff: CLAIM_RETRY_MIN,
            failing_since: None,
            last_error: None,
            attempts: 0,
            log_at: None,
        }
    }

    fn forget_failure(&mut self) {
        self.retry_at = None;
        self.backoff = CLAIM_RETRY_MIN;
        self.failing_since = None;
        self.last_error = None;
        self.attempts = 0;
        self.log_at = None;
    }
}

/// A draining release on our side (see [`Action::Drain`]).
#[derive(Clone, Copy, Debug)]
struct Drain {
    partner: IpAddr,
    started: Instant,
    /// When to ask lvsd again (`None` while an answer is awaited).
    poll_at: Option<Instant>,
}

/// Where pulse's lvsd stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lvsd {
    /// Not running, nothing planned.
    Stopped,
    /// Asked to start; the result has not come back.
    Starting,
    /// Running since then.
    Running(Instant),
    /// Asked to stop; its exit has not come back.
    Stopping,
    /// A standby lvsd died: start it again then.
    RestartAt(Instant),
}

/// A status snapshot: the heartbeat's, plus what the director tracks.
#[derive(Clone, Debug)]
pub struct DirectorStatus {
    /// The heartbeat state machine's snapshot.
    pub heartbeat: pulse_proto::fsm::Status,
    /// The VIPs held now.
    pub vips_held: Vec<VipClaim>,
    /// The VIPs wanted but not held, with the last error and failed attempts.
    pub vips_unclaimed: Vec<(VipClaim, String, u64)>,
    /// Failed claims since start.
    pub claim_failures: u64,
    /// lvsd runs (or is starting).
    pub lvsd_running: bool,
    /// Datagrams dropped, by [`Rejection::reason`].
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// The current settings (serial_no, digest).
    pub settings: Settings,
    /// Heartbeats are authenticated (`heartbeat_key`).
    pub authenticated: bool,
    /// `service = fos`: each failover service (empty in LVS mode).
    pub failover: Vec<FosServiceStatus>,
}

/// One director's decisions. See the crate documentation.
#[derive(Debug)]
pub struct Director {
    hb: Heartbeat,
    plan: Plan,
    settings: Settings,
    authenticated: bool,
    vips: Vec<VipState>,
    /// We hold the VIPs unannounced for a partner that drains towards us.
    prepared: bool,
    /// The gratuitous-ARP schedule: the next round and how many are left.
    garp: Option<(Instant, u32)>,
    last_reannounce: Option<Instant>,
    lvsd: Lvsd,
    lvsd_restart_pause: Duration,
    /// `ecmp = 1`: a release drained, lvsd stays stopped until a rejoin.
    lvsd_parked: bool,
    stray_reaped: bool,
    /// lvsd forwards new connections to the partner (a draining release).
    handing_off: bool,
    /// A deactivation ends the handoff after its VIP releases are queued.
    end_handoff_after_release: bool,
    /// A drain under way: the partner, when it began, when lvsd is asked again.
    drain: Option<Drain>,
    /// The last `ChildExited` given to the heartbeat was a VIP that could not be held.
    vip_gave_up: bool,
    claim_failures: u64,
    monitored: BTreeMap<u32, (String, bool)>,
    rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Per reason: when it was last logged and how many were not logged since.
    reject_log: BTreeMap<&'static str, (Instant, u64)>,
    persisted_floor: u64,
    sync_role: Option<SyncRole>,
    shut_down: bool,
    actions: VecDeque<Action>,
    /// `service = fos`: the failover services.
    fos: Option<Failover>,
    /// The last `ChildExited` given to the heartbeat was a failover service given up.
    fos_gave_up: bool,
}

impl Director {
    /// A director starting now: releases VIPs left by a previous run, runs `inactive_cmd`,
    /// puts the sync daemon in backup, and starts lvsd if it stands by warm.
    pub fn new(hb_cfg: pulse_proto::Config, plan: Plan, settings: Settings, now: Instant) -> Self {
        let authenticated = matches!(hb_cfg.mode, pulse_proto::WireMode::Authenticated(_));
        let persisted_floor = hb_cfg.replay_floor;
        let fos = plan.fos.clone().map(Failover::new);
        let mut hb = Heartbeat::new(hb_cfg, now);
        // `ready` waits for our claims (see `process`).
        hb.set_vips_held(now, false);
        let mut d = Self {
            fos,
            fos_gave_up: false,
            hb,
            vips: plan.vips.iter().cloned().map(VipState::new).collect(),
            plan,
            settings,
            authenticated,
            prepared: false,
            garp: None,
            last_reannounce: None,
            lvsd: Lvsd::Stopped,
            lvsd_restart_pause: LVSD_RESTART_MIN,
            lvsd_parked: false,
            stray_reaped: false,
            handing_off: false,
            end_handoff_after_release: false,
            drain: None,
            vip_gave_up: false,
            claim_failures: 0,
            monitored: BTreeMap::new(),
            rejected_by_reason: BTreeMap::new(),
            reject_log: BTreeMap::new(),
            persisted_floor,
            sync_role: None,
            shut_down: false,
            actions: VecDeque::new(),
        };
        // At startup an inactive node must not hold a VIP (left behind by a crash). With
        // `--forceactive` the heartbeat is active already and the claims follow below.
        if !d.hb.is_active() {
            for v in &d.plan.vips {
                d.actions.push_back(Action::ReleaseVip {
                    vip: v.clone(),
                    stale: true,
                });
            }
            d.run_cmd("inactive_cmd");
            d.set_sync_role(SyncRole::Backup);
            if let Some(f) = &mut d.fos {
                f.stop_stale(now);
            }
        }
        d.ensure_lvsd(now);
        d.process(now);
        d
    }

    /// The next thing to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next heartbeat to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.hb.poll_transmit()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shut_down {
            return None;
        }
        let lvsd = match self.lvsd {
            Lvsd::RestartAt(t) => Some(t),
            _ => None,
        };
        let claims = self
            .vips
            .iter()
            .filter(|v| self.wants_vips() && !v.held && !v.in_flight)
            .filter_map(|v| v.retry_at);
        let gave_up_at = self
            .wants_announced_vips()
            .then(|| self.vips.iter().filter_map(|v| v.failing_since).min())
            .flatten()
            .map(|t| t + self.plan.deadtime);
        [
            self.hb.poll_timeout(),
            self.fos.as_ref().and_then(Failover::poll_timeout),
            self.garp.map(|(t, _)| t),
            self.drain.and_then(|d| d.poll_at),
            lvsd,
            gave_up_at,
        ]
        .into_iter()
        .flatten()
        .chain(claims)
        .min()
    }

    /// This director holds (or should hold) the service.
    pub fn is_active(&self) -> bool {
        self.hb.is_active()
    }

    /// This node is the primary.
    pub fn is_primary(&self) -> bool {
        self.plan.primary
    }

    /// The plan in force.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A snapshot for `pulsectl status` and the metrics.
    pub fn status(&self) -> DirectorStatus {
        DirectorStatus {
            heartbeat: self.hb.status(),
            vips_held: self
                .vips
                .iter()
                .filter(|v| v.held)
                .map(|v| v.claim.clone())
                .collect(),
            vips_unclaimed: self
                .vips
                .iter()
                .filter(|v| !v.held && v.failing_since.is_some())
                .map(|v| {
                    (
                        v.claim.clone(),
                        v.last_error.clone().unwrap_or_default(),
                        v.attempts,
                    )
                })
                .collect(),
            claim_failures: self.claim_failures,
            lvsd_running: matches!(self.lvsd, Lvsd::Running(_) | Lvsd::Starting),
            rejected_by_reason: self.rejected_by_reason.clone(),
            settings: self.settings.clone(),
            authenticated: self.authenticated,
            failover: self.fos.as_ref().map(Failover::status).unwrap_or_default(),
        }
    }

    /// `service = fos`: commands of the failover services are still running (a shutdown
    /// waits for the `stop_cmd`s, each bounded by `fos_command_timeout`).
    pub fn fos_busy(&self) -> bool {
        self.fos.as_ref().is_some_and(Failover::busy)
    }

    /// The outcome of an [`FosAction::Run`].
    pub fn handle_fos_command_done(
        &mut self,
        now: Instant,
        service: usize,
        which: Which,
        result: Result<(), String>,
    ) {
        if let Some(f) = &mut self.fos {
            f.handle_command_done(now, service, which, result);
        }
        self.process(now);
    }

    /// The outcome of an [`FosAction::Check`].
    pub fn handle_fos_check(
        &mut self,
        now: Instant,
        service: usize,
        id: u64,
        result: Result<(), String>,
    ) {
        if let Some(f) = &mut self.fos {
            f.handle_check(now, service, id, result);
        }
        self.process(now);
    }

    /// The outcome of an [`FosAction::CheckConnectivity`].
    pub fn handle_fos_connectivity(&mut self, now: Instant, result: Result<String, String>) {
        if let Some(f) = &mut self.fos {
            f.handle_connectivity(now, result);
        }
        self.process(now);
    }

    /// A heartbeat datagram arrived on `link`.
    pub fn handle_datagram(&mut self, now: Instant, link: usize, from: SocketAddr, data: &[u8]) {
        self.hb.handle_datagram(now, link, from, data);
        self.process(now);
    }

    /// Timers: heartbeats, the partner's deadtime, claim retries, the ARP schedule, lvsd
    /// restarts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        self.hb.handle_timeout(now);
        if let Some(f) = &mut self.fos {
            f.handle_timeout(now);
        }
        if let Some((t, left)) = self.garp
            && now >= t
        {
            self.announce_held();
            if left <= 1 {
                self.garp = None;
                info!("gratuitous lvs arps finished");
            } else {
                self.garp = Some((t + self.plan.garp.1, left - 1));
            }
        }
        if let Some(d) = &mut self.drain
            && d.poll_at.is_some_and(|t| now >= t)
        {
            d.poll_at = None;
            let partner = d.partner;
            self.actions.push_back(Action::Drain { partner });
        }
        if let Lvsd::RestartAt(t) = self.lvsd
            && now >= t
        {
            self.lvsd = Lvsd::Stopped;
            self.ensure_lvsd(now);
        }
        self.process(now);
    }

    /// `pulsectl takeover` or `pulsectl release`.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<(), CommandError> {
        info!(command = ?cmd, "requested over the control socket");
        let result = self.hb.handle_command(now, cmd);
        self.process(now);
        result
    }

    /// The outcome of an [`Action::ClaimVip`].
    pub fn handle_claim_result(
        &mut self,
        now: Instant,
        vip: &VipClaim,
        result: Result<(), String>,
    ) {
        let wanted = self.wants_vips();
        let announce = self.wants_announced_vips();
        let Some(v) = self.vips.iter_mut().find(|v| v.claim == *vip) else {
            return;
        };
        if v.stale_results > 0 {
            v.stale_results -= 1;
            return;
        }
        v.in_flight = false;
        match result {
            Ok(()) if !wanted => {
                // Deactivated while the claim was under way.
                self.actions.push_back(Action::ReleaseVip {
                    vip: v.claim.clone(),
                    stale: false,
                });
            }
            Ok(()) => {
                if v.failing_since.is_some() {
                    info!(vip = %v.claim.addr, device = %v.claim.device, attempts = v.attempts, "VIP claimed after failed attempts");
                }
                v.held = true;
                v.forget_failure();
                if announce {
                    let vip = v.claim.clone();
                    self.actions.push_back(Action::Announce(vec![vip]));
                }
            }
            Err(e) => {
                self.claim_failures += 1;
                v.attempts += 1;
                v.failing_since.get_or_insert(now);
                v.retry_at = Some(now + v.backoff);
                v.backoff = (v.backoff * 2).min(CLAIM_RETRY_MAX);
                if v.log_at.is_none_or(|t| now >= t) {
                    error!(vip = %v.claim.addr, device = %v.claim.device, attempts = v.attempts, error = %e, "VIP not claimed; retrying");
                    v.log_at = Some(now + CLAIM_LOG_EVERY);
                }
                v.last_error = Some(e);
            }
        }
        self.process(now);
    }

    /// The outcome of an [`Action::StartLvsd`].
    pub fn handle_lvsd_started(&mut self, now: Instant, result: Result<(), String>) {
        match result {
            Ok(()) => self.lvsd = Lvsd::Running(now),
            Err(e) => {
                error!(error = %e, "cannot start lvsd");
                self.lvsd = Lvsd::Stopped;
                self.lvsd_failed(now);
            }
        }
        self.process(now);
    }

    /// `ecmp = 1`: a release's drain is over (`false`: lvsd is stopped, its exit is no failure,
    /// and it is not started again) or the director rejoins its group (`true`: lvsd starts
    /// again, at once or as soon as a stop under way has finished).
    pub fn set_lvsd_wanted(&mut self, now: Instant, wanted: bool) {
        self.lvsd_parked = !wanted;
        if wanted {
            self.ensure_lvsd(now);
        } else {
            info!("stopping lvsd until the director rejoins");
            self.stop_lvsd();
        }
        self.process(now);
    }

    /// lvsd ended (`how`: its exit status, for the log).
    pub fn handle_lvsd_exited(&mut self, now: Instant, how: &str) {
        match self.lvsd {
            Lvsd::Stopping => {
                info!("lvsd stopped");
                self.lvsd = Lvsd::Stopped;
                // Wanted again while it was stopping (a rejoin right after a drain, an
                // activation right after a deactivation): start it now.
                self.ensure_lvsd(now);
            }
            _ => {
                warn!(status = %how, "lvsd exited");
                self.lvsd_failed(now);
            }
        }
        self.process(now);
    }

    /// `monitor_links`: the interfaces carrying our heartbeat addresses (index, name, running),
    /// as found at start. Ignored without a partner or with `monitor_links` off.
    pub fn watch_links(&mut self, now: Instant, interfaces: Vec<(u32, String, bool)>) {
        if !self.settings.monitor_links || self.plan.links.is_empty() {
            return;
        }
        self.monitored = interfaces
            .into_iter()
            .map(|(index, name, running)| (index, (name, running)))
            .collect();
        info!(interfaces = ?self.monitored.values().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), "monitoring links");
        self.apply_link_state(now);
        self.process(now);
    }

    /// A kernel link notification.
    pub fn handle_link(&mut self, now: Instant, ifindex: u32, running: bool) {
        let Some((name, was)) = self.monitored.get_mut(&ifindex) else {
            return;
        };
        if *was != running {
            *was = running;
            if running {
                info!(ifname = %name, "link up");
            } else {
                warn!(ifname = %name, "NIC: link down");
            }
        }
        self.apply_link_state(now);
        self.process(now);
    }

    /// lvsd's answer to an [`Action::Drain`]: how many connections its real servers still
    /// have, or why it cannot drain. The release hands over when none are left, after
    /// [`DRAIN_MAX`], or at once when lvsd cannot drain (a failure to drain only shortens the
    /// wait).
    pub fn handle_drain_progress(&mut self, now: Instant, answer: Result<u64, String>) {
        let Some(d) = &mut self.drain else {
            return;
        };
        let waited = now.saturating_duration_since(d.started);
        let done = match answer {
            Ok(0) => {
                info!(ms = waited.as_millis() as u64, "release: drained");
                true
            }
            Ok(active_conns) if waited < DRAIN_MAX => {
                d.poll_at = Some(now + DRAIN_POLL);
                debug!(active_conns, "release: draining");
                false
            }
            Ok(active_conns) => {
                warn!(
                    active_conns,
                    "release: connections still open after {DRAIN_MAX:?}; handing over"
                );
                true
            }
            Err(e) => {
                warn!(answer = %e, "release: lvsd cannot drain; handing over without it");
                true
            }
        };
        if done {
            self.drain = None;
            let _ = self.hb.handle_command(now, Command::DrainDone);
        }
        self.process(now);
    }

    /// A reload was read and planned, or failed (the message says why): a bad file changes
    /// nothing.
    pub fn handle_reload(&mut self, now: Instant, result: Result<Reload, String>) {
        let Reload { mut plan, settings } = match result {
            Ok(r) => r,
            Err(e) => {
                error!("reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        if plan.fos != self.plan.fos {
            // The running services, their VIPs and the mode stay; the rest applies.
            warn!("failover services or service mode changed; restart pulse to apply them");
            plan.fos = self.plan.fos.clone();
            plan.vips = self.plan.vips.clone();
        }
        if plan.links != self.plan.links || plan.primary != self.plan.primary {
            warn!("heartbeat addresses or role changed; restart pulse to apply them");
        }
        if settings.restart_only != self.settings.restart_only {
            warn!("metrics_port or metrics_address changed; restart pulse to apply them");
        }
        let _ = self.hb.handle_command(
            now,
            Command::Reconfigure {
                keepalive: plan.keepalive,
                deadtime: plan.deadtime,
                serial_no: settings.serial_no,
                digest: settings.digest,
            },
        );
        // VIPs that go are released (if held); new ones are claimed by `converge` and
        // announced when the claim succeeds; the others keep their state.
        let mut old: Vec<VipState> = std::mem::take(&mut self.vips);
        for c in &plan.vips {
            match old.iter().position(|v| v.claim == *c) {
                Some(i) => self.vips.push(old.swap_remove(i)),
                None => self.vips.push(VipState::new(c.clone())),
            }
        }
        for v in old.into_iter().filter(|v| v.held || v.in_flight) {
            self.actions.push_back(Action::ReleaseVip {
                vip: v.claim,
                stale: false,
            });
        }
        self.plan.vips = plan.vips;
        self.plan.keepalive = plan.keepalive;
        self.plan.deadtime = plan.deadtime;
        self.plan.garp = plan.garp;
        let was_warm = self.settings.warm_standby;
        // Links and role need a restart: the running ones stay.
        self.settings = Settings {
            run_lvsd: self.settings.run_lvsd,
            ..settings
        };
        match self.lvsd {
            Lvsd::Running(_) | Lvsd::Starting => {
                if !self.settings.warm_standby && !self.is_active() {
                    // `warm_standby` turned off on the inactive director: its lvsd goes (and
                    // its exit is then not restarted).
                    info!("warm_standby is off: stopping the standby lvsd");
                    self.stop_lvsd();
                } else {
                    self.actions.push_back(Action::ReloadLvsd);
                }
            }
            Lvsd::RestartAt(_) if !self.settings.warm_standby && was_warm => {
                self.lvsd = Lvsd::Stopped;
            }
            _ => self.ensure_lvsd(now),
        }
        info!(
            serial_no = self.settings.serial_no,
            "configuration reloaded"
        );
        self.process(now);
    }

    /// SIGTERM/SIGINT: give up the VIPs, tell the partner, stop lvsd, save the floor.
    pub fn handle_shutdown(&mut self, now: Instant) {
        let _ = self.hb.handle_command(now, Command::Shutdown);
        self.process(now);
        if let Some(f) = &mut self.fos {
            f.shutdown(now);
            while let Some(a) = f.poll_action() {
                self.actions.push_back(Action::Fos(a));
            }
        }
        self.persist_floor(true);
        // A standby lvsd (`warm_standby`) was not stopped by the deactivation.
        self.stop_lvsd();
        self.garp = None;
        self.shut_down = true;
    }

    fn wants_vips(&self) -> bool {
        !self.shut_down && (self.hb.is_active() || self.prepared)
    }

    fn wants_announced_vips(&self) -> bool {
        !self.shut_down && self.hb.is_active()
    }

    /// Act on the heartbeat's events, then bring the claims, lvsd and the floor in line.
    fn process(&mut self, now: Instant) {
        let mut reannounced = false;
        while let Some(e) = self.hb.poll_event() {
            // Heartbeats queued during a stall come in a burst, each asking for a
            // re-announcement: one per burst is enough.
            if e == Event::Reannounce && std::mem::replace(&mut reannounced, true) {
                continue;
            }
            self.on_event(now, e);
        }
        self.converge(now);
        if std::mem::take(&mut self.end_handoff_after_release) {
            self.end_handoff();
        }
        self.sync_fos(now);
        // A partner draining towards us forwards new connections once we say `ready`: say it
        // only when every VIP is on our interface (a claim takes a worker round trip).
        let held = !self.vips.is_empty() && self.vips.iter().all(|v| v.held);
        self.hb.set_vips_held(now, held);
        self.persist_floor(false);
    }

    /// `service = fos`: tell the failover services what the heartbeat and the claims say, and
    /// the heartbeat what they decided (give up, take over), until nothing changes.
    fn sync_fos(&mut self, now: Instant) {
        for _ in 0..4 {
            let Some(f) = &mut self.fos else { return };
            let st = self.hb.status();
            let partner_serving =
                !st.active && st.partner_alive && st.partner.is_some_and(|p| p.active);
            f.set_partner_serving(now, partner_serving && !self.shut_down);
            let ready = self.hb.is_active() && self.vips.iter().all(|v| v.held);
            f.set_vips_ready(now, ready);
            while let Some(a) = f.poll_action() {
                self.actions.push_back(Action::Fos(a));
            }
            let mut signalled = false;
            while let Some(sig) = f.poll_signal() {
                signalled = true;
                match sig {
                    fos::Signal::GiveUp => {
                        self.fos_gave_up = true;
                        let _ = self.hb.handle_command(now, Command::ChildExited);
                    }
                    fos::Signal::TakeOver => {
                        if let Err(e) = self.hb.handle_command(now, Command::FailPartner) {
                            warn!(error = %e, "not taking over the failed service");
                        }
                    }
                }
            }
            if !signalled {
                return;
            }
            while let Some(e) = self.hb.poll_event() {
                self.on_event(now, e);
            }
            self.converge(now);
        }
    }

    /// Claims: ask for each wanted VIP not held (after its retry pause), release the unwanted;
    /// give up the service if a VIP could not be held for `deadtime`.
    fn converge(&mut self, now: Instant) {
        let wanted = self.wants_vips();
        for v in &mut self.vips {
            if wanted {
                if !v.held && !v.in_flight && v.retry_at.is_none_or(|t| now >= t) {
                    v.in_flight = true;
                    self.actions.push_back(Action::ClaimVip(v.claim.clone()));
                }
            } else {
                if v.in_flight {
                    v.stale_results += 1;
                }
                if v.held || v.in_flight {
                    self.actions.push_back(Action::ReleaseVip {
                        vip: v.claim.clone(),
                        stale: false,
                    });
                }
                v.held = false;
                v.in_flight = false;
                v.forget_failure();
            }
        }
        // piranha's CHILDFAIL in spirit: a director that cannot hold its VIPs must not keep
        // the service, or nobody serves; the partner takes it (it hears our failure), and the
        // heartbeat's retry brings us back when nobody serves.
        if self.wants_announced_vips()
            && let Some(v) = self.vips.iter().find(|v| {
                v.failing_since
                    .is_some_and(|t| now >= t + self.plan.deadtime)
            })
        {
            error!(
                vip = %v.claim.addr,
                device = %v.claim.device,
                deadtime = ?self.plan.deadtime,
                error = v.last_error.as_deref().unwrap_or(""),
                "VIP could not be held for deadtime: giving up the service so the partner can take it"
            );
            self.vip_gave_up = true;
            let _ = self.hb.handle_command(now, Command::ChildExited);
            while let Some(e) = self.hb.poll_event() {
                self.on_event(now, e);
            }
            self.converge(now);
        }
    }

    fn on_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::Activate(reason) => {
                let line = match reason {
                    ActivateReason::PartnerDead => "partner dead: activating",
                    ActivateReason::PartnerInactive if self.plan.primary => {
                        "backup inactive: activating"
                    }
                    ActivateReason::PartnerInactive => "primary inactive: activating",
                    ActivateReason::Forced => "Forced active on startup: activating",
                    ActivateReason::Takeover => "takeover requested: activating",
                    ActivateReason::Handover => "partner handed over: activating",
                    ActivateReason::Retry if self.fos.is_some() => {
                        "failover services failed earlier and nobody serves: activating"
                    }
                    ActivateReason::Retry => "lvsd failed earlier and nobody serves: activating",
                    ActivateReason::FailPartner => {
                        "Notifying partner WE are taking control!: activating"
                    }
                };
                // piranha's words: "activating lvs" / "activating failover services".
                let what = if self.fos.is_some() {
                    "failover services"
                } else {
                    "lvs"
                };
                info!("{line} {what}");
                self.fos_gave_up = false;
                if let Some(f) = &mut self.fos {
                    f.activate(now);
                }
                self.prepared = false;
                self.vip_gave_up = false;
                // Held VIPs (prepared ones) are announced now; the others when claimed.
                self.announce_held();
                self.garp =
                    (self.plan.garp.0 > 1).then(|| (now + self.plan.garp.1, self.plan.garp.0 - 1));
                self.run_cmd("active_cmd");
                self.set_sync_role(SyncRole::Master);
                // With `warm_standby` lvsd already runs and the table is programmed: the VIPs
                // moving is the whole takeover.
                self.ensure_lvsd(now);
            }
            Event::Deactivate(reason) => {
                let line = match reason {
                    DeactivateReason::PartnerActive => "partner active: deactivating LVS",
                    DeactivateReason::LinkFailure => "local link failure: deactivating LVS",
                    DeactivateReason::ChildFailed if self.vip_gave_up => {
                        "VIP claim failed: deactivating LVS"
                    }
                    DeactivateReason::ChildFailed if self.fos_gave_up => {
                        "failover service failed: deactivating failover services"
                    }
                    DeactivateReason::PartnerTookOver => {
                        "PARTNER HAS TOLD US TO GO INACTIVE!: deactivating failover services"
                    }
                    DeactivateReason::ChildFailed => "lvsd failed: deactivating LVS",
                    DeactivateReason::Shutdown => "shutting down: deactivating LVS",
                    DeactivateReason::Release => "release requested: deactivating LVS",
                };
                info!("{line}");
                if let Some(f) = &mut self.fos {
                    f.deactivate(now);
                }
                self.garp = None;
                self.prepared = false;
                // `converge` releases the VIPs.
                self.set_sync_role(SyncRole::Backup);
                if !self.settings.warm_standby {
                    self.stop_lvsd();
                }
                // After `converge` has queued the VIP releases (see `process`): the shell ends
                // the handoff only once they are done.
                self.end_handoff_after_release = true;
                self.run_cmd("inactive_cmd");
            }
            Event::Reannounce => {
                if self
                    .last_reannounce
                    .is_some_and(|t| now.saturating_duration_since(t) < self.plan.keepalive / 2)
                {
                    return;
                }
                self.last_reannounce = Some(now);
                info!("partner active: resending arps");
                self.run_cmd("active_cmd");
                self.announce_held();
                self.garp =
                    (self.plan.garp.0 > 1).then(|| (now + self.plan.garp.1, self.plan.garp.0 - 1));
            }
            Event::PartnerUp => info!("partner heartbeat heard"),
            Event::PartnerDead => {
                info!(deadtime = ?self.plan.deadtime, "partner silent for deadtime")
            }
            Event::PartnerRestarted => info!("partner restarted"),
            Event::ConfigMismatch { serial_no, .. } => warn!(
                partner_serial_no = serial_no,
                our_serial_no = self.settings.serial_no,
                "lvs.cf differs between the directors; copy the newer one to both"
            ),
            Event::ConfigMatch => info!(
                serial_no = self.settings.serial_no,
                "lvs.cf matches the partner's again"
            ),
            Event::Rejected { link, from, why } => self.log_rejection(now, link, from, why),
            Event::ReleaseFailed => {
                warn!(
                    deadtime = ?self.plan.deadtime,
                    "release: the partner did not take over; keeping the service"
                );
                self.end_handoff();
            }
            Event::Drain => match self.plan.links.first().map(|l| l.peer.ip()) {
                Some(partner) => {
                    info!(partner = %partner, "release: draining (new connections go to the partner)");
                    self.handing_off = true;
                    self.drain = Some(Drain {
                        partner,
                        started: now,
                        poll_at: None,
                    });
                    self.actions.push_back(Action::Drain { partner });
                }
                None => {
                    let _ = self.hb.handle_command(now, Command::DrainDone);
                }
            },
            Event::Prepare => {
                // Not announced: clients keep the partner's MAC until it hands over; only
                // what it forwards arrives here.
                info!("partner is handing over: claiming the VIPs, not announcing them yet");
                self.prepared = true;
            }
            Event::Unprepare => {
                info!("partner kept the service: releasing the unannounced VIPs");
                self.prepared = false;
            }
        }
    }

    /// Counts every rejection; logs at most one line per reason per [`REJECT_LOG_EVERY`]. The
    /// limiter is keyed by the reason (a fixed, small set), never by the packet's content, so a
    /// flood of distinct junk costs neither log lines nor memory.
    fn log_rejection(&mut self, now: Instant, link: usize, from: SocketAddr, why: Rejection) {
        let reason = why.reason();
        *self.rejected_by_reason.entry(reason).or_default() += 1;
        let entry = self.reject_log.entry(reason).or_insert((now, 0));
        let first = entry.1 == 0 && entry.0 == now;
        entry.1 += 1;
        if first || now.saturating_duration_since(entry.0) >= REJECT_LOG_EVERY {
            let text = match why {
                Rejection::NotFromPartner => "Unexpected heartbeat".to_string(),
                Rejection::Incompatible => {
                    "Incompatible heartbeat received -- other system not using identical services"
                        .to_string()
                }
                Rejection::Replay => "replayed heartbeat".to_string(),
                Rejection::Reflected => {
                    "reflected heartbeat (our own, sent back to us)".to_string()
                }
                Rejection::Decode(e) => format!("bad heartbeat packet: {e}"),
            };
            warn!(link, %from, reason, dropped = entry.1, "{text}");
            *entry = (now, 0);
        }
    }

    fn apply_link_state(&mut self, now: Instant) {
        let down = self.monitored.values().any(|(_, running)| !running);
        let failed = self.hb.status().link_failed;
        if down && !failed {
            warn!("Local NIC link failure: Pulse disabled");
            let _ = self.hb.handle_command(now, Command::LinkDown);
        } else if !down && failed {
            info!("Local NIC link(s) restored: Pulse enabled");
            let _ = self.hb.handle_command(now, Command::LinkUp);
        }
    }

    fn announce_held(&mut self) {
        let held: Vec<VipClaim> = self
            .vips
            .iter()
            .filter(|v| v.held)
            .map(|v| v.claim.clone())
            .collect();
        if !held.is_empty() {
            self.actions.push_back(Action::Announce(held));
        }
    }

    fn run_cmd(&mut self, what: &'static str) {
        if !self.settings.run_lvsd {
            return;
        }
        let line = match what {
            "active_cmd" => &self.settings.active_cmd,
            _ => &self.settings.inactive_cmd,
        };
        if let Some(line) = line.as_ref().filter(|l| !l.trim().is_empty()) {
            self.actions.push_back(Action::RunCommand {
                what,
                line: line.clone(),
            });
        }
    }

    fn set_sync_role(&mut self, role: SyncRole) {
        if self.settings.syncdaemon && self.sync_role != Some(role) {
            self.sync_role = Some(role);
            self.actions.push_back(Action::SetSyncRole {
                role,
                interface: self.settings.syncd_iface.clone(),
                sync_id: self.settings.syncd_id,
            });
        }
    }

    fn end_handoff(&mut self) {
        self.drain = None;
        if std::mem::take(&mut self.handing_off) {
            self.actions.push_back(Action::EndHandoff);
        }
    }

    /// lvsd should run: on the active director, and on the standby with `warm_standby`.
    fn ensure_lvsd(&mut self, now: Instant) {
        if self.fos.is_some() {
            // `service = fos` runs no lvsd (piranha ran fos instead).
            return;
        }
        if !self.settings.run_lvsd
            || self.lvsd_parked
            || self.shut_down
            || !(self.settings.warm_standby || self.hb.is_active())
        {
            return;
        }
        match self.lvsd {
            Lvsd::Stopped => {}
            // The active director does not wait out a standby's restart pause.
            Lvsd::RestartAt(_) if self.hb.is_active() => {}
            _ => return,
        }
        if !std::mem::replace(&mut self.stray_reaped, true) {
            self.actions.push_back(Action::ReapStrayLvsd);
        }
        let _ = now;
        self.lvsd = Lvsd::Starting;
        self.actions.push_back(Action::StartLvsd {
            standby: !self.hb.is_active(),
        });
    }

    fn stop_lvsd(&mut self) {
        match self.lvsd {
            Lvsd::Running(_) | Lvsd::Starting => {
                self.lvsd = Lvsd::Stopping;
                self.actions.push_back(Action::StopLvsd);
            }
            Lvsd::RestartAt(_) => self.lvsd = Lvsd::Stopped,
            Lvsd::Stopped | Lvsd::Stopping => {}
        }
    }

    /// lvsd died or could not start. Serving: the partner must take over (docs/reference/piranha.md §4.5).
    /// Standing by: only this director's readiness suffers; start it again after a pause that
    /// doubles while it keeps dying within a minute of starting.
    fn lvsd_failed(&mut self, now: Instant) {
        let lasted = match self.lvsd {
            Lvsd::Running(since) => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        self.lvsd = Lvsd::Stopped;
        if self.hb.is_active() {
            self.vip_gave_up = false;
            let _ = self.hb.handle_command(now, Command::ChildExited);
        }
        if !self.settings.warm_standby || !self.settings.run_lvsd || self.shut_down {
            return;
        }
        if lasted >= LVSD_RESTART_MAX {
            self.lvsd_restart_pause = LVSD_RESTART_MIN;
        }
        let pause = self.lvsd_restart_pause;
        info!(pause = ?pause, "restarting lvsd (standby) after a pause");
        self.lvsd = Lvsd::RestartAt(now + pause);
        self.lvsd_restart_pause = (pause * 2).min(LVSD_RESTART_MAX);
    }

    /// Keep the replay floor across our own restarts: a heartbeat recorded before a restart
    /// must not be accepted after it. Saved when it moved by a second of the partner's clock,
    /// and at shutdown.
    fn persist_floor(&mut self, any_change: bool) {
        if !self.authenticated {
            return;
        }
        let seen = self.hb.highest_seq_seen();
        let step = if any_change { 1 } else { PERSIST_STEP_US };
        if seen >= self.persisted_floor.saturating_add(step) {
            self.persisted_floor = seen;
            self.actions.push_back(Action::PersistReplayFloor(seen));
        }
    }
}
