//! `ecmp = 1`: one director of an active/active group, sans-IO. Every director serves every VIP
//! behind a router's equal-cost multipath; this core decides, per VIP, whether this director
//! announces it — a host route `VIP/32 dev lo` in the dedicated kernel table (`ecmp_table`)
//! that the operator's routing daemon exports. Pulse never talks to the routing daemon.
//!
//! ```text
//!   handle_routes(now, present)      ──┐ (the table as read at start: adopted)
//!   handle_lvsd_started / _exited    ──┤
//!   handle_lvsd_view(now, view)      ──┼──► Group ──► poll_action() → Announce / Withdraw / StopServing
//!   handle_route_result(now, …)      ──┤              poll_timeout() → one timer
//!   handle_release / handle_quiet    ──┤
//!   handle_timeout(now)              ──┘
//! ```
//!
//! A VIP is announced only while this director can serve it: lvsd runs, its table is
//! programmed, and every virtual service on the VIP has at least `ecmp_min_servers` real
//! servers that passed their checks. The faults it answers (docs/ecmp.md):
//! - lvsd exits: every VIP is withdrawn at once (the router's next hop would black-hole).
//! - every real server of a VIP fails (fewer than `ecmp_min_servers` up): that VIP is withdrawn.
//! - IPVS cannot be programmed: nothing is announced.
//! - pulse restarts over an intact table: the routes it finds are adopted and kept while lvsd
//!   comes back (for [`START_GRACE`]) and while servers are still unchecked (unknown counts as
//!   alive for keeping, not for announcing, as lvsd's sorry-server rule), so no withdrawal flaps.
//! - `pulsectl release` drains: withdraw every VIP, keep serving until the router has moved the
//!   flows away (observed: the VIPs' IPVS counters stand still for [`DRAIN_QUIET`] once every
//!   withdrawal is done) or `ecmp_drain` has passed, then stop lvsd until a rejoin.

use pulse_lvscf::LvsConfig;
use pulse_lvscf::model::Host;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::info;

/// How long adopted routes are kept after pulse starts while lvsd has not reported yet.
pub const START_GRACE: Duration = Duration::from_secs(10);

/// The pause before a route change the kernel refused is tried again.
pub const ROUTE_RETRY: Duration = Duration::from_secs(1);

/// A drain ends early once no new connection and no incoming packet reached the VIPs' virtual
/// services for this long after every withdrawal was done: the router has converged and sends
/// this director nothing (after the withdrawal the router has no path here at all, so the
/// established flows move too and `sloppy_tcp` carries them on elsewhere). The route reaches
/// BIRD's router in about 40 ms (tests/tests/ecmp_bird.rs), so one second is over twenty times
/// that; it is also two of the shell's 500 ms reads of lvsd, so one read that misses a packet
/// cannot end the drain alone. A flow that sends nothing for a whole second proves nothing
/// either way; the next packet it sends goes where the router now points. `ecmp_drain` bounds
/// the drain when traffic never stops (or lvsd cannot be read).
pub const DRAIN_QUIET: Duration = Duration::from_secs(1);

/// One VIP of the group and the virtual services on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVip {
    /// The address announced as a host route.
    pub addr: IpAddr,
    /// The `virtual` blocks on it (all must be servable).
    pub services: Vec<String>,
}

/// The group's settings from lvs.cf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlan {
    /// The VIPs, in file order, each once.
    pub vips: Vec<GroupVip>,
    /// The directors of the group (`ecmp_director`), this one included.
    pub directors: Vec<IpAddr>,
    /// `ecmp_table`.
    pub table: u32,
    /// `ecmp_min_servers`.
    pub min_servers: u32,
    /// `ecmp_drain`.
    pub drain: Duration,
}

impl GroupPlan {
    /// The group of `cfg` (`None` without `ecmp = 1`); `resolve` turns hosts into addresses.
    pub fn new(
        cfg: &LvsConfig,
        resolve: impl Fn(&Host) -> Option<IpAddr>,
    ) -> anyhow::Result<Option<Self>> {
        if !cfg.ecmp {
            return Ok(None);
        }
        let mut vips: Vec<GroupVip> = Vec::new();
        for vs in cfg.virtuals.iter().filter(|v| v.active) {
            let Some(a) = &vs.address else { continue };
            let addr = resolve(&a.addr).ok_or_else(|| {
                anyhow::anyhow!(
                    "virtual {}: cannot resolve {} to an address",
                    vs.name,
                    a.addr
                )
            })?;
            match vips.iter_mut().find(|v| v.addr == addr) {
                Some(v) => v.services.push(vs.name.clone()),
                None => vips.push(GroupVip {
                    addr,
                    services: vec![vs.name.clone()],
                }),
            }
        }
        let directors = cfg
            .ecmp_directors
            .iter()
            .map(|h| resolve(h).ok_or_else(|| anyhow::anyhow!("cannot resolve ecmp_director {h}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Self {
            vips,
            directors,
            table: cfg.ecmp_table,
            min_servers: cfg.ecmp_min_servers,
            drain: Duration::from_millis(cfg.ecmp_drain.millis),
        }))
    }
}

/// A virtual service's real servers as lvsd reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounts {
    /// Passed their checks.
    pub up: u32,
    /// Not checked yet (lvsd just started and adopted the table) and served by the inherited
    /// table (weight above 0): these keep an adopted route, never announce one.
    pub unknown: u32,
}

/// A virtual service's IPVS counters (`ipvsadm -Ln --stats`): they only grow while the
/// service stays in the kernel, and start again from zero when it is added anew.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceTraffic {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in (from clients).
    pub in_packets: u64,
}

/// What lvsd reports: whether its table is programmed, and each virtual service's servers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LvsdView {
    /// Every op of the plan was accepted by the kernel (false: IPVS refused or is unreadable).
    pub programmed: bool,
    /// By `virtual` block name.
    pub services: BTreeMap<String, ServerCounts>,
    /// The kernel's counters by `virtual` block name (absent: not in the kernel, or test mode).
    pub traffic: BTreeMap<String, ServiceTraffic>,
}

/// What the shell carries out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupAction {
    /// `ip route replace VIP/32 dev lo table T`.
    Announce(IpAddr),
    /// `ip route del VIP/32 table T`.
    Withdraw(IpAddr),
    /// The drain is over: stop lvsd (its table goes; not a failure) until a rejoin.
    StopServing,
}

/// Why a VIP is or is not announced (for `pulsectl status` and the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Announced: this director serves it.
    Serving,
    /// lvsd is not running.
    LvsdDown,
    /// lvsd runs but has not reported its table yet.
    LvsdStarting,
    /// lvsd could not program IPVS.
    NotProgrammed,
    /// A virtual service on the VIP has too few real servers up.
    TooFewServers {
        /// The `virtual` block.
        service: String,
        /// Servers up.
        up: u32,
        /// `ecmp_min_servers`.
        need: u32,
    },
    /// Released, draining: withdrawn, lvsd still serves what the router sends here.
    Draining,
    /// Released and drained: lvsd stopped until `pulsectl takeover` rejoins.
    Released,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lvsd {
    /// Pulse just started: lvsd's state not known yet.
    Unknown,
    Running,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Absent,
    Present,
    /// A change was sent; `to` is what it makes.
    Pending {
        to: bool,
    },
    /// A change was refused; `to` is tried again at `at`.
    Retry {
        to: bool,
        at: Instant,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Release {
    None,
    Draining { since: Instant, until: Instant },
    Done,
}

/// The VIPs' counters as last seen during a drain, and since when they stand still.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Quiet {
    counters: Vec<ServiceTraffic>,
    since: Instant,
}

/// The decisions of one director of the group.
#[derive(Debug)]
pub struct Group {
    plan: GroupPlan,
    started: Instant,
    lvsd: Lvsd,
    view: Option<LvsdView>,
    routes: BTreeMap<IpAddr, Route>,
    release: Release,
    /// During a drain, once every withdrawal is done: the counters watched for quiet.
    quiet: Option<Quiet>,
    /// The routes were read (or the read failed): until then nothing is changed.
    routes_known: bool,
    /// [`START_GRACE`] has passed.
    grace_over: bool,
    actions: Vec<GroupAction>,
}

impl Group {
    /// A director that starts at `now`. Nothing changes until [`Self::handle_routes`] says
    /// what the table holds.
    pub fn new(now: Instant, plan: GroupPlan) -> Self {
        let routes = plan.vips.iter().map(|v| (v.addr, Route::Absent)).collect();
        Self {
            plan,
            started: now,
            lvsd: Lvsd::Unknown,
            view: None,
            routes,
            release: Release::None,
            quiet: None,
            routes_known: false,
            grace_over: false,
            actions: Vec::new(),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &GroupPlan {
        &self.plan
    }

    /// The VIP routes found in the table at start (a restarted pulse adopts them).
    pub fn handle_routes(&mut self, now: Instant, present: &BTreeSet<IpAddr>) {
        for (addr, r) in &mut self.routes {
            *r = if present.contains(addr) {
                Route::Present
            } else {
                Route::Absent
            };
        }
        self.routes_known = true;
        self.decide(now);
    }

    /// lvsd was started.
    pub fn handle_lvsd_started(&mut self, now: Instant) {
        self.lvsd = Lvsd::Running;
        self.view = None;
        // A new lvsd's counters start again: the quiet window starts again with them.
        self.quiet = None;
        self.decide(now);
    }

    /// lvsd exited (or was found gone): withdraw at once.
    pub fn handle_lvsd_exited(&mut self, now: Instant) {
        self.lvsd = Lvsd::Down;
        self.view = None;
        self.quiet = None;
        self.decide(now);
    }

    /// lvsd's latest report. During a drain its counters tell when the router has moved the
    /// flows away ([`DRAIN_QUIET`]).
    pub fn handle_lvsd_view(&mut self, now: Instant, view: LvsdView) {
        if self.lvsd == Lvsd::Down {
            return;
        }
        self.lvsd = Lvsd::Running;
        self.view = Some(view);
        self.watch_quiet(now);
        self.decide(now);
    }

    /// A route change finished (`ok`) or was refused.
    pub fn handle_route_result(&mut self, now: Instant, vip: IpAddr, announce: bool, ok: bool) {
        let Some(r) = self.routes.get_mut(&vip) else {
            return;
        };
        if *r != (Route::Pending { to: announce }) {
            return;
        }
        *r = match (ok, announce) {
            (true, true) => Route::Present,
            (true, false) => Route::Absent,
            (false, to) => Route::Retry {
                to,
                at: now + ROUTE_RETRY,
            },
        };
        self.decide(now);
    }

    /// `pulsectl release`: withdraw every VIP, keep serving until the counters stand still
    /// for [`DRAIN_QUIET`] after the withdrawals (or [`Self::handle_quiet`]) or for at most
    /// `ecmp_drain`, then [`GroupAction::StopServing`]. Repeating it changes nothing: neither
    /// the bound nor the quiet window starts again.
    pub fn handle_release(&mut self, now: Instant) {
        if self.release == Release::None {
            self.release = Release::Draining {
                since: now,
                until: now + self.plan.drain,
            };
            self.quiet = None;
        }
        self.decide(now);
    }

    /// The director rejoins after a release (the shell starts lvsd again if it was stopped):
    /// VIPs are announced again once lvsd reports them servable. During the drain lvsd still
    /// runs and its reports count at once.
    pub fn handle_rejoin(&mut self, now: Instant) {
        self.release = Release::None;
        self.quiet = None;
        self.decide(now);
    }

    /// The shell observed that no new connection reached this director's VIPs since the
    /// withdrawal (the router has moved new flows away): a drain ends now, once every
    /// withdrawal is done.
    pub fn handle_quiet(&mut self, now: Instant) {
        if let Release::Draining { .. } = self.release
            && self.all_absent()
        {
            self.finish_drain(now, "quiet");
        }
        self.decide(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.started + START_GRACE {
            self.grace_over = true;
        }
        if let Release::Draining { until, .. } = self.release
            && now >= until
        {
            self.finish_drain(now, "ecmp_drain passed");
        }
        self.decide(now);
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<GroupAction> {
        (!self.actions.is_empty()).then(|| self.actions.remove(0))
    }

    /// When [`Self::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |i: Instant| t = Some(t.map_or(i, |t| t.min(i)));
        if let Release::Draining { until, .. } = self.release {
            at(until);
        }
        if !self.grace_over && self.view.is_none() && self.lvsd != Lvsd::Down {
            at(self.started + START_GRACE);
        }
        for r in self.routes.values() {
            if let Route::Retry { at: i, .. } = r {
                at(*i);
            }
        }
        t
    }

    /// Whether `vip`'s route is in the table (as last confirmed).
    pub fn announced(&self, vip: IpAddr) -> bool {
        matches!(
            self.routes.get(&vip),
            Some(Route::Present | Route::Pending { to: false } | Route::Retry { to: false, .. })
        )
    }

    /// Each VIP, whether it is announced, and why (for `pulsectl status`).
    pub fn status(&self, now: Instant) -> Vec<(IpAddr, bool, Why)> {
        self.plan
            .vips
            .iter()
            .map(|v| (v.addr, self.announced(v.addr), self.why(now, v, true)))
            .collect()
    }

    fn all_absent(&self) -> bool {
        self.routes.values().all(|r| *r == Route::Absent)
    }

    fn finish_drain(&mut self, now: Instant, why: &'static str) {
        if let Release::Draining { since, .. } = self.release {
            let ms = u64::try_from(now.saturating_duration_since(since).as_millis()).unwrap_or(0);
            info!(ms, why, "ecmp: drain over; stopping lvsd");
        }
        self.release = Release::Done;
        self.quiet = None;
        // lvsd is being stopped: its reports (late ones too) count again only once it is
        // started anew, so a rejoin waits for the new lvsd instead of trusting the old one.
        self.lvsd = Lvsd::Down;
        self.view = None;
        self.actions.push(GroupAction::StopServing);
    }

    /// During a drain with every withdrawal done: the VIPs' counters unchanged for
    /// [`DRAIN_QUIET`] end it. Any change starts the window again from this report: more
    /// traffic, and also counters that went down (a service added anew, lvsd restarted), which
    /// are a new starting point, neither traffic nor quiet.
    fn watch_quiet(&mut self, now: Instant) {
        let (Release::Draining { .. }, Some(view), true) =
            (self.release, &self.view, self.all_absent())
        else {
            self.quiet = None;
            return;
        };
        let counters: Vec<ServiceTraffic> = self
            .plan
            .vips
            .iter()
            .flat_map(|v| &v.services)
            .map(|s| view.traffic.get(s).copied().unwrap_or_default())
            .collect();
        match &self.quiet {
            Some(q) if q.counters == counters => {
                if now.saturating_duration_since(q.since) >= DRAIN_QUIET {
                    self.finish_drain(now, "no traffic since the withdrawal");
                }
            }
            _ => {
                self.quiet = Some(Quiet {
                    counters,
                    since: now,
                })
            }
        }
    }

    /// Whether `vip` may be announced; `keep`: it is announced already (unknown servers count
    /// as alive, and adopted routes survive lvsd's restart within the grace).
    fn why(&self, now: Instant, vip: &GroupVip, keep: bool) -> Why {
        match self.release {
            Release::None => {}
            Release::Draining { .. } => return Why::Draining,
            Release::Done => return Why::Released,
        }
        match self.lvsd {
            Lvsd::Down => return Why::LvsdDown,
            Lvsd::Unknown | Lvsd::Running if self.view.is_none() => {
                return if keep && now < self.started + START_GRACE {
                    Why::Serving
                } else {
                    Why::LvsdStarting
                };
            }
            _ => {}
        }
        let Some(view) = &self.view else {
            return Why::LvsdStarting;
        };
        if !view.programmed {
            return Why::NotProgrammed;
        }
        for s in &vip.services {
            let c = view.services.get(s).copied().unwrap_or_default();
            let alive = if keep { c.up + c.unknown } else { c.up };
            if alive < self.plan.min_servers {
                return Why::TooFewServers {
                    service: s.clone(),
                    up: c.up,
                    need: self.plan.min_servers,
                };
            }
        }
        Why::Serving
    }

    fn decide(&mut self, now: Instant) {
        if !self.routes_known {
            return;
        }
        let vips = self.plan.vips.clone();
        for v in &vips {
            let r = self.routes[&v.addr];
            let have = match r {
                Route::Present => true,
                Route::Absent => false,
                Route::Pending { .. } => continue,
                Route::Retry { to, at } if now < at => {
                    // A refused change waits for its retry unless the wish turned around.
                    let want = self.why(now, v, !to) == Why::Serving;
                    if want != to {
                        self.routes.insert(v.addr, route_of(!to));
                    }
                    continue;
                }
                Route::Retry { to, .. } => !to,
            };
            let want = self.why(now, v, have) == Why::Serving;
            if want != have || matches!(r, Route::Retry { .. }) {
                if want == have {
                    self.routes.insert(v.addr, route_of(have));
                    continue;
                }
                self.routes.insert(v.addr, Route::Pending { to: want });
                self.actions.push(if want {
                    GroupAction::Announce(v.addr)
                } else {
                    GroupAction::Withdraw(v.addr)
                });
            }
        }
    }
}

fn route_of(present: bool) -> Route {
    if present {
        Route::Present
    } else {
        Route::Absent
    }
}
