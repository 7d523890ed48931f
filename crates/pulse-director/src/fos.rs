//! Failover services (`service = fos`, docs/reference/piranha.md §4.11 and §7), sans-IO.
//!
//! [`Failover`] decides what piranha's `fos` and the FOS half of its pulse decided, for every
//! `failover` block at once:
//!
//! * active: each service's `stop_cmd` then `start_cmd` (piranha's `fos --active`, "Stopping
//!   local services (if any)"), started once the VIPs are held; then a check every `timeout`.
//!   A failed check is piranha's "restart condition": `stop_cmd`, `start_cmd` again, at most
//!   `fos_restarts` times in a row; one more failure and the node gives up
//!   ([`Signal::GiveUp`]) so the partner takes over. piranha restarted without bound.
//! * inactive, with the partner active: each service checked through its VIP every `timeout`
//!   (piranha's `fos --monitor` nannies). When one fails long enough that the partner's own
//!   restarts did not help, this node checks its own connectivity (piranha pings the default
//!   gateway) and, if that works, takes over and tells the partner to stop
//!   ([`Signal::TakeOver`]); if not, it says why and does nothing.
//! * becoming inactive: every `stop_cmd` (piranha's fos on SIGTERM).
//!
//! Driven by `handle_*(now, …)`, drained with [`Failover::poll_action`],
//! [`Failover::poll_signal`] and [`Failover::poll_timeout`]; the [`crate::Director`] owns it
//! and the daemon carries out its actions (commands with a time limit, probes, the ping).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// A service that has passed its checks this long since its last restart starts again with
/// its full budget of restarts (so a service that flaps slowly is restarted forever, one that
/// flaps fast gives up).
pub const RESTART_RESET: Duration = Duration::from_secs(60);

/// One `failover` block, as the core needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FosService {
    /// The block's name.
    pub name: String,
    /// Its VIP (checked there by both nodes).
    pub vip: IpAddr,
    /// `port`.
    pub port: u16,
    /// `timeout`: the check period and each check's time limit.
    pub timeout: Duration,
    /// `start_cmd`.
    pub start_cmd: String,
    /// `stop_cmd`.
    pub stop_cmd: String,
}

/// Everything about `service = fos` that is not a heartbeat setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FosPlan {
    /// The active `failover` blocks, in file order.
    pub services: Vec<FosService>,
    /// `fos_restarts`: restarts of a failing local service before the node gives up.
    pub restarts: u32,
    /// `fos_command_timeout`: a `start_cmd`/`stop_cmd` still running after this is killed and
    /// counts as failed.
    pub command_timeout: Duration,
    /// `fos_ping_target`: the address pinged to tell "the partner's service is down" from "we
    /// are cut off"; `None`: the default gateway, as piranha.
    pub ping_target: Option<IpAddr>,
}

impl FosPlan {
    /// Consecutive failed checks of the partner's service before this node looks at its own
    /// network and takes over: one more than the partner needs to give up on its own, so its
    /// restarts get their chance (piranha took over on the first failure, racing them).
    pub fn remote_fall(&self) -> u32 {
        self.restarts + 2
    }
}

/// `start_cmd` or `stop_cmd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `start_cmd`.
    Start,
    /// `stop_cmd`.
    Stop,
}

impl Which {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Start => "start_cmd",
            Self::Stop => "stop_cmd",
        }
    }
}

/// Something for the daemon to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FosAction {
    /// Run a command of a service with [`FosPlan::command_timeout`] (killed after it); report
    /// with [`Failover::handle_command_done`].
    Run {
        /// Index into [`FosPlan::services`].
        service: usize,
        /// Which command.
        which: Which,
        /// The command line.
        line: String,
    },
    /// Check a service at its VIP and port (locally when active, through the network when
    /// not), within its `timeout`; report with [`Failover::handle_check`] and the same `id`.
    Check {
        /// Index into [`FosPlan::services`].
        service: usize,
        /// Identifies this check (results of checks made before a role change are dropped).
        id: u64,
    },
    /// Check our own connectivity (ping [`FosPlan::ping_target`] or the default gateway);
    /// report with [`Failover::handle_connectivity`].
    CheckConnectivity,
}

/// What the [`crate::Director`] must do with the heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A local service cannot be kept up: give up the service (the partner takes over).
    GiveUp,
    /// A service of the partner failed and our network is fine: take over, tell it to stop.
    TakeOver,
}

/// Where a service stands, for status and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FosState {
    /// Inactive and not watching (the partner is not active).
    Idle,
    /// Running `stop_cmd`.
    Stopping,
    /// Waiting for the VIPs before `start_cmd`.
    WaitingForVips,
    /// Running `start_cmd`.
    Starting,
    /// Running here, passing its checks.
    Running,
    /// Running here, failed its last check (about to restart).
    Failed,
    /// Given up here after its restarts.
    GaveUp,
    /// Inactive: the partner's copy is watched through the VIP and answers.
    PartnerUp,
    /// Inactive: the partner's copy does not answer.
    PartnerDown,
}

impl FosState {
    /// The name in `pulsectl status` and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Stopping => "stopping",
            Self::WaitingForVips => "waiting_for_vips",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::GaveUp => "gave_up",
            Self::PartnerUp => "partner_up",
            Self::PartnerDown => "partner_down",
        }
    }

    /// Every state, in the order of the metrics' labels.
    pub const ALL: [Self; 9] = [
        Self::Idle,
        Self::Stopping,
        Self::WaitingForVips,
        Self::Starting,
        Self::Running,
        Self::Failed,
        Self::GaveUp,
        Self::PartnerUp,
        Self::PartnerDown,
    ];
}

/// One service's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FosServiceStatus {
    /// The block's name.
    pub name: String,
    /// Its VIP and port.
    pub vip: IpAddr,
    /// Its port.
    pub port: u16,
    /// Where it stands.
    pub state: FosState,
    /// Restarts since it last ran [`RESTART_RESET`] without failing.
    pub restarts: u32,
    /// Restarts since pulse started.
    pub restarts_total: u64,
    /// The last failure (a check or a command), for status and logs.
    pub last_error: Option<String>,
}

/// What the node does with its services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Inactive.
    Standby,
    /// Active: the services run here.
    Active,
    /// Shut down: services stopped, nothing more.
    Off,
}

/// Where one service's commands stand on the active node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing run (inactive), or stopped.
    Stopped,
    /// `stop_cmd` must run, then `start_cmd`.
    NeedStop,
    /// `start_cmd` must run (once the VIPs are held).
    NeedStart,
    /// Started: checked every `timeout`.
    Up,
    /// Given up.
    GaveUp,
}

#[derive(Debug)]
struct Svc {
    phase: Phase,
    /// A command of it runs now.
    running: Option<Which>,
    /// `stop_cmd` must run once the running command is done (we became inactive meanwhile).
    stop_after: bool,
    next_check: Option<Instant>,
    check_in_flight: Option<u64>,
    /// When the check in flight was asked for: the next one is due `timeout` after it, so a
    /// check that times out does not stretch the period (nanny's fixed cadence).
    check_started: Option<Instant>,
    last_ok: Option<bool>,
    restarts: u32,
    restarts_total: u64,
    last_restart: Option<Instant>,
    /// Inactive side: consecutive failed checks of the partner's copy, and whether it was
    /// seen up since the partner became active.
    remote_fails: u32,
    remote_seen_up: bool,
    last_error: Option<String>,
}

impl Svc {
    fn new() -> Self {
        Self {
            phase: Phase::Stopped,
            running: None,
            stop_after: false,
            next_check: None,
            check_in_flight: None,
            check_started: None,
            last_ok: None,
            restarts: 0,
            restarts_total: 0,
            last_restart: None,
            remote_fails: 0,
            remote_seen_up: false,
            last_error: None,
        }
    }
}

/// The failover services of one node. See the module documentation.
#[derive(Debug)]
pub struct Failover {
    plan: FosPlan,
    svcs: Vec<Svc>,
    mode: Mode,
    /// The partner is alive and says it is active (the inactive side watches it then).
    partner_serving: bool,
    /// All VIPs are held (the active side starts services then).
    vips_ready: bool,
    next_check_id: u64,
    connectivity_in_flight: bool,
    /// Our last connectivity check failed (logged once per episode).
    network_fault: bool,
    gave_up: bool,
    actions: VecDeque<FosAction>,
    signals: VecDeque<Signal>,
}

impl Failover {
    /// A node starting inactive; nothing runs until it becomes active or watches a partner.
    pub fn new(plan: FosPlan) -> Self {
        Self {
            svcs: plan.services.iter().map(|_| Svc::new()).collect(),
            plan,
            mode: Mode::Standby,
            partner_serving: false,
            vips_ready: false,
            next_check_id: 0,
            connectivity_in_flight: false,
            network_fault: false,
            gave_up: false,
            actions: VecDeque::new(),
            signals: VecDeque::new(),
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> &FosPlan {
        &self.plan
    }

    /// The next thing to carry out.
    pub fn poll_action(&mut self) -> Option<FosAction> {
        self.actions.pop_front()
    }

    /// The next thing the director must tell the heartbeat.
    pub fn poll_signal(&mut self) -> Option<Signal> {
        self.signals.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.svcs
            .iter()
            .filter(|s| s.check_in_flight.is_none() && s.running.is_none())
            .filter_map(|s| s.next_check)
            .min()
    }

    /// Commands are still running (a shutdown waits for them).
    pub fn busy(&self) -> bool {
        self.svcs
            .iter()
            .any(|s| s.running.is_some() || s.stop_after)
    }

    /// Each service's state.
    pub fn status(&self) -> Vec<FosServiceStatus> {
        self.plan
            .services
            .iter()
            .zip(&self.svcs)
            .map(|(p, s)| FosServiceStatus {
                name: p.name.clone(),
                vip: p.vip,
                port: p.port,
                state: self.state_of(s),
                restarts: s.restarts,
                restarts_total: s.restarts_total,
                last_error: s.last_error.clone(),
            })
            .collect()
    }

    fn state_of(&self, s: &Svc) -> FosState {
        match s.running {
            Some(Which::Stop) => return FosState::Stopping,
            Some(Which::Start) => return FosState::Starting,
            None => {}
        }
        match (self.mode, s.phase) {
            (Mode::Active, Phase::GaveUp) => FosState::GaveUp,
            (_, Phase::GaveUp) if self.gave_up => FosState::GaveUp,
            (Mode::Active, Phase::NeedStop) => FosState::Stopping,
            (Mode::Active, Phase::NeedStart) => FosState::WaitingForVips,
            (Mode::Active, Phase::Up) if s.last_ok == Some(false) => FosState::Failed,
            (Mode::Active, _) => FosState::Running,
            (Mode::Standby, _) if self.partner_serving && s.last_ok == Some(false) => {
                FosState::PartnerDown
            }
            (Mode::Standby, _) if self.partner_serving && s.last_ok == Some(true) => {
                FosState::PartnerUp
            }
            _ => FosState::Idle,
        }
    }

    /// At start, inactive: every `stop_cmd` once, so a service left running by a pulse that was
    /// killed does not serve beside the partner's (as stale VIPs are removed at start).
    pub fn stop_stale(&mut self, now: Instant) {
        if self.mode != Mode::Standby {
            return;
        }
        info!("stopping failover services left by a previous run (if any)");
        for s in &mut self.svcs {
            s.stop_after = true;
        }
        self.converge(now);
    }

    /// This node became active: stop then start every service (the starts wait for
    /// [`Self::set_vips_ready`]).
    pub fn activate(&mut self, now: Instant) {
        if self.mode == Mode::Off {
            return;
        }
        info!("Starting failover services");
        self.mode = Mode::Active;
        self.gave_up = false;
        self.network_fault = false;
        for s in &mut self.svcs {
            s.phase = Phase::NeedStop;
            s.stop_after = false;
            s.next_check = None;
            s.check_in_flight = None;
            s.last_ok = None;
            s.restarts = 0;
            s.last_restart = None;
            s.remote_fails = 0;
            s.remote_seen_up = false;
        }
        self.converge(now);
    }

    /// This node became inactive: every service's `stop_cmd` (after a command still running).
    pub fn deactivate(&mut self, now: Instant) {
        if self.mode != Mode::Active {
            return;
        }
        info!("Stopping failover services");
        self.mode = Mode::Standby;
        for s in &mut self.svcs {
            s.next_check = None;
            s.check_in_flight = None;
            s.last_ok = None;
            if s.phase != Phase::Stopped {
                s.stop_after = true;
            }
            s.phase = if self.gave_up && s.phase == Phase::GaveUp {
                Phase::GaveUp
            } else {
                Phase::Stopped
            };
        }
        self.converge(now);
    }

    /// SIGTERM: stop everything (after the deactivation's `stop_cmd`s), watch nothing.
    pub fn shutdown(&mut self, now: Instant) {
        self.deactivate(now);
        self.mode = Mode::Off;
        for s in &mut self.svcs {
            s.next_check = None;
            s.check_in_flight = None;
        }
    }

    /// Whether the partner is alive and active (from the heartbeat): the inactive side watches
    /// its services only then.
    pub fn set_partner_serving(&mut self, now: Instant, serving: bool) {
        if serving == self.partner_serving {
            return;
        }
        self.partner_serving = serving;
        for s in &mut self.svcs {
            s.remote_fails = 0;
            s.remote_seen_up = false;
            if self.mode == Mode::Standby {
                s.last_ok = None;
                s.check_in_flight = None;
                s.next_check = None;
            }
        }
        self.converge(now);
    }

    /// Whether every VIP is held (the active side starts its services only then).
    pub fn set_vips_ready(&mut self, now: Instant, ready: bool) {
        if ready != self.vips_ready {
            self.vips_ready = ready;
            self.converge(now);
        }
    }

    /// Timers: checks due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.converge(now);
    }

    /// The outcome of an [`FosAction::Run`] (`Err`: a non-zero exit, a signal, a timeout, or
    /// it could not be run; the daemon logs the output).
    pub fn handle_command_done(
        &mut self,
        now: Instant,
        service: usize,
        which: Which,
        result: Result<(), String>,
    ) {
        let timeout = self.plan.services.get(service).map(|p| p.timeout);
        let restarts = self.plan.restarts;
        let mode = self.mode;
        let Some((s, p)) = self
            .svcs
            .get_mut(service)
            .zip(self.plan.services.get(service))
        else {
            return;
        };
        if s.running != Some(which) {
            return;
        }
        s.running = None;
        if let Err(e) = &result {
            error!(service = %p.name, command = which.keyword(), error = %e, "failover service command failed");
            s.last_error = Some(format!("{}: {e}", which.keyword()));
        }
        if std::mem::take(&mut s.stop_after) && which == Which::Start {
            // Became inactive while starting: stop it again.
            s.stop_after = true;
        } else if mode == Mode::Active {
            match (which, result) {
                (Which::Stop, _) => {
                    // piranha went on with start_cmd whatever stop_cmd returned (there may have
                    // been nothing to stop).
                    if s.phase == Phase::NeedStop {
                        s.phase = Phase::NeedStart;
                    }
                }
                (Which::Start, Ok(())) => {
                    info!(service = %p.name, "failover service started");
                    s.phase = Phase::Up;
                    s.last_ok = None;
                    s.next_check = timeout.map(|t| now + t);
                }
                (Which::Start, Err(_)) => {
                    error!(service = %p.name, "Failed to start service {}:{}!", p.vip, p.port);
                    s.phase = Phase::Up;
                    s.last_ok = Some(false);
                    Self::local_failure(s, p, now, restarts, &mut self.gave_up, &mut self.signals);
                }
            }
        }
        self.converge(now);
    }

    /// The outcome of an [`FosAction::Check`].
    pub fn handle_check(
        &mut self,
        now: Instant,
        service: usize,
        id: u64,
        result: Result<(), String>,
    ) {
        let restarts = self.plan.restarts;
        let remote_fall = self.plan.remote_fall();
        let mode = self.mode;
        let partner_serving = self.partner_serving;
        let Some((s, p)) = self
            .svcs
            .get_mut(service)
            .zip(self.plan.services.get(service))
        else {
            return;
        };
        if s.check_in_flight != Some(id) {
            return;
        }
        s.check_in_flight = None;
        let due = s
            .check_started
            .take()
            .map_or(now + p.timeout, |t| (t + p.timeout).max(now));
        let ok = result.is_ok();
        let was = s.last_ok.replace(ok);
        match mode {
            Mode::Active if s.phase == Phase::Up && s.running.is_none() => {
                s.next_check = Some(due);
                match result {
                    Ok(()) => {
                        if was == Some(false) {
                            info!(service = %p.name, "failover service answers again");
                        }
                        if s.last_restart.is_some_and(|t| now >= t + RESTART_RESET) {
                            s.restarts = 0;
                            s.last_restart = None;
                        }
                    }
                    Err(e) => {
                        warn!(service = %p.name, vip = %p.vip, port = p.port, error = %e,
                            "Service {} {}:{} died. This is a restart condition!", p.name, p.vip, p.port);
                        s.last_error = Some(e);
                        Self::local_failure(
                            s,
                            p,
                            now,
                            restarts,
                            &mut self.gave_up,
                            &mut self.signals,
                        );
                    }
                }
            }
            Mode::Standby if partner_serving => {
                s.next_check = Some(due);
                match result {
                    Ok(()) => {
                        if was == Some(false) {
                            info!(service = %p.name, "partner's failover service answers again");
                        }
                        s.remote_fails = 0;
                        s.remote_seen_up = true;
                        if self.network_fault {
                            info!("Network fault seems to be fixed");
                            self.network_fault = false;
                        }
                    }
                    Err(e) => {
                        s.remote_fails += 1;
                        // piranha's FOS nanny: a service never seen up fails after two checks.
                        let fall = if s.remote_seen_up {
                            remote_fall
                        } else {
                            remote_fall.max(2)
                        };
                        if s.remote_fails == 1 || s.remote_fails >= fall {
                            warn!(service = %p.name, vip = %p.vip, port = p.port, fails = s.remote_fails, error = %e,
                                "partner's failover service does not answer");
                        }
                        s.last_error = Some(e);
                        if s.remote_fails >= fall && !self.connectivity_in_flight {
                            info!(service = %p.name, "Monitor for service {} {}:{} failed. This is a failover condition! checking network connectivity", p.name, p.vip, p.port);
                            self.connectivity_in_flight = true;
                            self.actions.push_back(FosAction::CheckConnectivity);
                        }
                    }
                }
            }
            _ => {}
        }
        self.converge(now);
    }

    /// The outcome of an [`FosAction::CheckConnectivity`]: `Ok` with what answered, `Err` with
    /// why not.
    pub fn handle_connectivity(&mut self, now: Instant, result: Result<String, String>) {
        if !std::mem::take(&mut self.connectivity_in_flight) {
            return;
        }
        // Only if a service still fails (it may have answered again meanwhile).
        let failing = self.svcs.iter().any(|s| s.last_ok == Some(false));
        if self.mode != Mode::Standby || !self.partner_serving || !failing {
            return;
        }
        match result {
            Ok(target) => {
                if std::mem::take(&mut self.network_fault) {
                    info!("Network fault seems to be fixed");
                }
                info!(target = %target, "remote service unavailable but we can see the gateway; seems like a remote network fault; performing service failover");
                self.signals.push_back(Signal::TakeOver);
            }
            Err(e) => {
                if !std::mem::replace(&mut self.network_fault, true) {
                    error!(error = %e, "remote service unavailable; gateway unavailable: I SEEM TO HAVE A NETWORK FAULT! not taking over");
                }
                // Count afresh: the next connectivity check comes after as many failed checks.
                for s in &mut self.svcs {
                    s.remote_fails = 0;
                }
            }
        }
        self.converge(now);
    }

    /// A local service failed (a check or its `start_cmd`): restart it, or give up.
    fn local_failure(
        s: &mut Svc,
        p: &FosService,
        now: Instant,
        restarts: u32,
        gave_up: &mut bool,
        signals: &mut VecDeque<Signal>,
    ) {
        s.next_check = None;
        if s.restarts < restarts {
            s.restarts += 1;
            s.restarts_total += 1;
            s.last_restart = Some(now);
            info!(service = %p.name, attempt = s.restarts, of = restarts, "restarting failover service");
            s.phase = Phase::NeedStop;
        } else {
            error!(service = %p.name, restarts, "failover service could not be kept up: giving up so the partner takes over");
            s.phase = Phase::GaveUp;
            if !std::mem::replace(gave_up, true) {
                signals.push_back(Signal::GiveUp);
            }
        }
    }

    /// Issue what is due: commands, then checks.
    fn converge(&mut self, now: Instant) {
        for (i, (s, p)) in self.svcs.iter_mut().zip(&self.plan.services).enumerate() {
            if s.running.is_some() {
                continue;
            }
            if std::mem::take(&mut s.stop_after) {
                info!(service = %p.name, "Shutting down local service {}:{}", p.vip, p.port);
                s.running = Some(Which::Stop);
                self.actions.push_back(FosAction::Run {
                    service: i,
                    which: Which::Stop,
                    line: p.stop_cmd.clone(),
                });
                continue;
            }
            match self.mode {
                Mode::Active => match s.phase {
                    Phase::NeedStop => {
                        info!(service = %p.name, "Stopping local services (if any) {}:{}", p.vip, p.port);
                        s.running = Some(Which::Stop);
                        self.actions.push_back(FosAction::Run {
                            service: i,
                            which: Which::Stop,
                            line: p.stop_cmd.clone(),
                        });
                    }
                    Phase::NeedStart if self.vips_ready => {
                        info!(service = %p.name, "Starting local service {}:{} ...", p.vip, p.port);
                        s.running = Some(Which::Start);
                        self.actions.push_back(FosAction::Run {
                            service: i,
                            which: Which::Start,
                            line: p.start_cmd.clone(),
                        });
                    }
                    Phase::Up => {
                        Self::check_if_due(s, i, now, &mut self.next_check_id, &mut self.actions)
                    }
                    _ => {}
                },
                Mode::Standby if self.partner_serving => {
                    if s.next_check.is_none() && s.check_in_flight.is_none() {
                        // The partner just became active: give its services one period.
                        s.next_check = Some(now + p.timeout);
                    }
                    Self::check_if_due(s, i, now, &mut self.next_check_id, &mut self.actions);
                }
                _ => {}
            }
        }
    }

    fn check_if_due(
        s: &mut Svc,
        i: usize,
        now: Instant,
        next_id: &mut u64,
        actions: &mut VecDeque<FosAction>,
    ) {
        if s.check_in_flight.is_none() && s.next_check.is_some_and(|t| now >= t) {
            *next_id += 1;
            s.check_in_flight = Some(*next_id);
            s.check_started = Some(now);
            s.next_check = None;
            actions.push_back(FosAction::Check {
                service: i,
                id: *next_id,
            });
        }
    }
}
