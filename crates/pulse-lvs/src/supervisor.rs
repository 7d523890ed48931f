//! [`Supervisor`]: every decision lvsd makes, sans-IO, in the shape of `pulse_proto::Heartbeat`.
//!
//! ```text
//!   handle_result(now, check, result)   ──┐                  ┌──► poll_ops()            → the kernel
//!   handle_reload(now, plan, probes)    ──┤                  ├──► poll_check_changes()  → check tasks
//!   handle_handoff(now, partner)        ──┤
//!   handle_admin(now, virtual, server)  ──┼──► Supervisor ───┼──► poll_event()          → log lines
//!   handle_timeout(now)                 ──┤                  ├──► poll_connection_timeouts()
//!   handle_op_result / handle_table     ──┘                  └──► poll_timeout()        → one timer
//! ```
//!
//! It tracks the health of every (virtual service, real server) of the plan, carries it over a
//! reload, keeps the sorry servers and a draining release's handoff, and turns all of it into
//! the minimal [`IpvsOp`]s against the table it last saw (the kernel's, adopted at start and
//! kept current by the op results the caller reports). Ops are computed when polled, so every
//! input since the last poll goes out as one batch.
//!
//! It reads no clock (`now` is an input), touches no socket and runs no task: lvsd's daemon
//! loop feeds it and carries out what it returns.

use crate::health::{Health, RealServerHealth, Transition};
use crate::plan::{Admin, Plan, PlannedService};
use crate::table::{Table, reconcile, reconcile_service};
use pulse_ipvs::{Dest, DestKey, IpvsOp, ServiceKey, Timeouts};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A handover pulse does not end within this long ends by itself: pulse died mid-release (its
/// drain takes at most 3 s, its whole release at most `deadtime` + 10 s).
pub const HANDOFF_MAX: Duration = Duration::from_secs(60);

/// One distinct health check: the same probe of the same address and port with the same period
/// is run once, however many virtual services list that server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckKey {
    /// The caller's fingerprint of the probe (send, expect, protocol…): equal fingerprints are
    /// the same probe.
    pub probe: u64,
    /// The real server's address and port.
    pub target: SocketAddr,
    /// Time between checks, and each check's timeout (docs/reference/piranha.md §6.3: `timeout` is both).
    pub period: Duration,
}

/// A change of the set of checks to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckChange {
    /// Start this check (its first result decides the server's health).
    Start(CheckKey),
    /// Stop it: no planned server uses it any more.
    Stop(CheckKey),
}

/// Counters of one server's checks, for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CheckStats {
    /// Checks that passed.
    pub passed: u64,
    /// Checks that failed.
    pub failed: u64,
    /// Time all checks took together, seconds.
    pub seconds_total: f64,
    /// Time the last check took, seconds.
    pub last_seconds: Option<f64>,
}

/// Something an operator sees in the log. The daemon words each one (the texts are piranha's
/// where piranha had one, and stable: admins and tests grep for them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A server passed enough checks to come back (nanny's `[ active ] making RIP:PORT
    /// available`).
    ServerUp {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        server: DestKey,
    },
    /// A server failed a check (nanny's `[inactive] shutting down RIP:PORT due to connection
    /// failure`).
    ServerDown {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        server: DestKey,
        /// Why the check failed.
        error: String,
    },
    /// The sorry server went into the kernel's table (docs/reference/piranha.md §5.5).
    SorryIn {
        /// The `virtual` block's name.
        virtual_name: String,
        /// The sorry server's address.
        sorry: IpAddr,
    },
    /// The sorry server left the kernel's table: a real server is back.
    SorryOut {
        /// The `virtual` block's name.
        virtual_name: String,
        /// The sorry server's address.
        sorry: IpAddr,
        /// Real servers up now.
        up: usize,
    },
    /// New connections now go to the partner director.
    HandoffStarted {
        /// The partner director's address.
        partner: IpAddr,
    },
    /// Back to the configured table. Reported before the ops that remove the partner's
    /// destination, so the caller can still count the connections forwarded to it.
    HandoffEnded {
        /// The partner director's address.
        partner: IpAddr,
        /// pulse never ended it: [`HANDOFF_MAX`] passed.
        expired: bool,
    },
    /// An operator drained, disabled or enabled a real server at runtime.
    AdminChanged {
        /// The `virtual` block's name.
        virtual_name: String,
        /// The `server` block's name.
        server_name: String,
        /// The real server.
        server: DestKey,
        /// The new state.
        admin: Admin,
    },
    /// A managed service is removed at shutdown.
    ServiceRemoved {
        /// The `virtual` block's name.
        virtual_name: String,
        /// The service.
        service: ServiceKey,
    },
}

/// Why [`Supervisor::handle_admin`] refused: the names are not in the plan in force.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No active virtual service of that name.
    #[error("no active virtual service named {0:?} in the configuration lvsd runs")]
    NoVirtual(String),
    /// No active real server of that name in the service.
    #[error("virtual service {virtual_name:?} has no active real server named {server:?}")]
    NoServer {
        /// The `virtual` block's name.
        virtual_name: String,
        /// The name asked for.
        server: String,
    },
}

/// What to do when the kernel's table cannot be read back (IPVS gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// `hard_shutdown = 1`: exit with an error, so pulse fails over (docs/reference/piranha.md §5.4).
    Exit,
    /// `hard_shutdown = 0`: go on with the table as last known.
    GoOn,
}

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The new plan (and checks) equal the running ones: nothing was touched.
    pub same_plan: bool,
    /// The plan no longer in force, handed back so the caller can free it where freeing a
    /// large configuration delays nothing.
    pub retired: Plan,
}

/// One real server in a [`Supervisor::status`] snapshot.
#[derive(Clone, Debug)]
pub struct ServerSnapshot<'a> {
    /// The `server` block's name.
    pub name: &'a str,
    /// The configured destination (address, port, forwarding method, weight).
    pub dest: &'a Dest,
    /// Its weight in the kernel's table as last seen (`None`: not in the table).
    pub kernel_weight: Option<i32>,
    /// Its check state.
    pub health: &'a RealServerHealth,
    /// Its check counters.
    pub checks: CheckStats,
    /// The operator's runtime override.
    pub admin: Admin,
}

/// One virtual service in a [`Supervisor::status`] snapshot.
#[derive(Clone, Debug)]
pub struct ServiceSnapshot<'a> {
    /// The planned service.
    pub planned: &'a PlannedService,
    /// Its sorry server is in the table.
    pub sorry_active: bool,
    /// The service is in the kernel's table.
    pub in_kernel: bool,
    /// Its real servers, in file order.
    pub servers: Vec<ServerSnapshot<'a>>,
}

/// One (virtual service, real server) of the plan.
#[derive(Debug)]
struct Tracked {
    service: ServiceKey,
    dest: DestKey,
    health: RealServerHealth,
    checks: CheckStats,
    admin: Admin,
}

/// Which services the next [`Supervisor::poll_ops`] reconciles.
#[derive(Debug)]
enum Dirty {
    /// Those whose servers' health changed (one service's diff, not the whole table's).
    Services(BTreeSet<ServiceKey>),
    /// The whole table (start, reload, handoff).
    All,
}

/// lvsd's decisions. See the module documentation.
#[derive(Debug)]
pub struct Supervisor {
    plan: Plan,
    /// The probe fingerprint of each planned service (same order as `plan.services`).
    probes: Vec<u64>,
    /// The kernel's table as last read and kept current by accepted ops.
    observed: Table,
    /// Every (virtual service, real server) of the plan, in plan order.
    tracked: Vec<Tracked>,
    /// Index of each entry of `tracked`.
    index: HashMap<(ServiceKey, DestKey), usize>,
    /// Running checks and the entries of `tracked` each one decides.
    checks: HashMap<CheckKey, Vec<usize>>,
    dirty: Dirty,
    /// Ops decided outright (shutdown), sent before any reconcile.
    ops: Vec<IpvsOp>,
    check_changes: Vec<CheckChange>,
    events: VecDeque<Event>,
    connection_timeouts: Option<Timeouts>,
    /// A draining release in progress: the partner, and when it ends by itself.
    handoff: Option<(IpAddr, Instant)>,
    /// Services whose sorry server is in the table.
    sorry_active: BTreeSet<ServiceKey>,
    /// The table changed since the sorry servers were last looked at.
    sorry_stale: bool,
    /// An op was refused: the table should be read back.
    read_back: bool,
    /// Shut down: nothing more is decided.
    stopped: bool,
}

impl Supervisor {
    /// Starts supervising `plan` over `observed`, the kernel's table as found (adopted, not
    /// flushed: a server already there stays as it is until its first check). `probes` holds
    /// each planned service's probe fingerprint, in plan order. Every check is to start, and
    /// the whole table is to be reconciled.
    pub fn new(plan: Plan, probes: Vec<u64>, observed: Table) -> Self {
        debug_assert_eq!(plan.services.len(), probes.len());
        let t = plan.timeouts;
        let mut s = Self {
            plan,
            probes,
            observed,
            tracked: Vec::new(),
            index: HashMap::default(),
            checks: HashMap::default(),
            dirty: Dirty::All,
            ops: Vec::new(),
            check_changes: Vec::new(),
            events: VecDeque::new(),
            // piranha runs `ipvsadm --set` only when one is configured; 0 keeps the kernel's.
            connection_timeouts: (t != Timeouts::default()).then_some(t),
            handoff: None,
            sorry_active: BTreeSet::new(),
            // The adopted table may already hold a sorry server.
            sorry_stale: true,
            read_back: false,
            stopped: false,
        };
        s.carry_health();
        s.sync_checks();
        s
    }

    /// One check finished at `now` after `took`: counts it for every server it decides, and
    /// marks for reconcile the services whose server it moved in or out.
    pub fn handle_result(
        &mut self,
        now: Instant,
        check: &CheckKey,
        result: Result<(), &str>,
        took: Duration,
    ) {
        // A check stopped since it reported has no subscribers.
        let Some(subscribers) = self.checks.get(check) else {
            return;
        };
        for &i in subscribers {
            let t = &mut self.tracked[i];
            match result {
                Ok(()) => t.checks.passed += 1,
                Err(_) => t.checks.failed += 1,
            }
            t.checks.seconds_total += took.as_secs_f64();
            t.checks.last_seconds = Some(took.as_secs_f64());
            let (service, server) = (t.service, t.dest);
            let event = match t.health.record(now, result) {
                Some(Transition::Up) => Event::ServerUp { service, server },
                Some(Transition::Down) => Event::ServerDown {
                    service,
                    server,
                    error: result.err().unwrap_or_default().to_string(),
                },
                None => continue,
            };
            self.events.push_back(event);
            if let Dirty::Services(set) = &mut self.dirty {
                set.insert(service);
            }
        }
    }

    /// A new configuration (SIGHUP). Health carries over for every (service, server) that
    /// stays, with the possibly new timing; the table is reconciled against the new plan and
    /// only the checks that changed are stopped or started. A plan and probes equal to the
    /// running ones change nothing at all. (`now`, like every input's: nothing in a reload
    /// depends on the time today.)
    pub fn handle_reload(&mut self, _now: Instant, plan: Plan, probes: Vec<u64>) -> Reloaded {
        debug_assert_eq!(plan.services.len(), probes.len());
        if plan == self.plan && probes == self.probes {
            return Reloaded {
                same_plan: true,
                retired: plan,
            };
        }
        let t = plan.timeouts;
        if t != self.plan.timeouts && t != Timeouts::default() {
            self.connection_timeouts = Some(t);
        }
        let retired = std::mem::replace(&mut self.plan, plan);
        self.probes = probes;
        self.carry_health();
        self.sync_checks();
        self.dirty = Dirty::All;
        self.sorry_stale = true;
        Reloaded {
            same_plan: false,
            retired,
        }
    }

    /// pulse's draining release (`Request::Handoff`): with `Some(partner)`, every real server
    /// keeps its entry with weight 0 and the partner director takes new connections
    /// ([`crate::Desired::forward_new_to`]); with `None`, back to the configured table. A
    /// handoff pulse does not end ends by itself after [`HANDOFF_MAX`]. Asking for what is
    /// already in force changes nothing (and does not extend the deadline).
    pub fn handle_handoff(&mut self, now: Instant, to: Option<IpAddr>) {
        let current = self.handoff.map(|(p, _)| p);
        if to == current || self.stopped {
            return;
        }
        match (to, current) {
            (Some(partner), _) => self.events.push_back(Event::HandoffStarted { partner }),
            (None, Some(partner)) => self.events.push_back(Event::HandoffEnded {
                partner,
                expired: false,
            }),
            (None, None) => {}
        }
        self.handoff = to.map(|p| (p, now + HANDOFF_MAX));
        self.dirty = Dirty::All;
    }

    /// `pulsectl server drain|disable|enable --runtime`: override one real server until lvsd
    /// exits or the server leaves the configuration (a reload keeps the override of a server
    /// that stays). Setting the state in force changes nothing.
    pub fn handle_admin(
        &mut self,
        _now: Instant,
        virtual_name: &str,
        server_name: &str,
        admin: Admin,
    ) -> Result<(), AdminError> {
        let s = self
            .plan
            .services
            .iter()
            .find(|s| s.name == virtual_name)
            .ok_or_else(|| AdminError::NoVirtual(virtual_name.to_string()))?;
        let rs = s
            .servers
            .iter()
            .find(|r| r.name == server_name)
            .ok_or_else(|| AdminError::NoServer {
                virtual_name: virtual_name.to_string(),
                server: server_name.to_string(),
            })?;
        let (service, server) = (s.service.key, rs.dest.key);
        let Some(&i) = self.index.get(&(service, server)) else {
            return Err(AdminError::NoServer {
                virtual_name: virtual_name.to_string(),
                server: server_name.to_string(),
            });
        };
        if self.tracked[i].admin == admin || self.stopped {
            return Ok(());
        }
        self.tracked[i].admin = admin;
        self.events.push_back(Event::AdminChanged {
            virtual_name: virtual_name.to_string(),
            server_name: server_name.to_string(),
            server,
            admin,
        });
        if let Dirty::Services(set) = &mut self.dirty {
            set.insert(service);
        }
        Ok(())
    }

    /// The operator's override of `server` of `service` (enabled if it is not planned).
    pub fn admin_of(&self, service: &ServiceKey, server: &DestKey) -> Admin {
        self.index
            .get(&(*service, *server))
            .map_or(Admin::Enabled, |&i| self.tracked[i].admin)
    }

    /// Time passed: a handoff past its deadline ends.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((partner, deadline)) = self.handoff
            && now >= deadline
        {
            self.events.push_back(Event::HandoffEnded {
                partner,
                expired: true,
            });
            self.handoff = None;
            self.dirty = Dirty::All;
        }
    }

    /// The outcome of one op from [`Self::poll_ops`]. An accepted op is recorded in the table;
    /// a refused one (or one whose acknowledgement was lost) means the table is no longer
    /// known: [`Self::poll_read_back`] asks for it.
    pub fn handle_op_result(&mut self, op: &IpvsOp, accepted: bool) {
        if accepted {
            self.observed.apply(op);
        } else {
            self.read_back = true;
        }
        self.sorry_stale = true;
    }

    /// The kernel's table as read back: the next reconcile starts from the truth.
    pub fn handle_table(&mut self, table: Table) {
        self.observed = table;
        self.sorry_stale = true;
    }

    /// The table could not be read back: `hard_shutdown` decides.
    pub fn handle_table_unreadable(&self) -> Unreadable {
        if self.plan.hard_shutdown {
            Unreadable::Exit
        } else {
            Unreadable::GoOn
        }
    }

    /// SIGTERM/SIGINT: every managed service still in the table is removed (docs/reference/piranha.md §5.4),
    /// every check stops, and nothing more is decided.
    pub fn handle_shutdown(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.dirty = Dirty::Services(BTreeSet::new());
        self.ops.clear();
        for s in &self.plan.services {
            if self.observed.services.contains_key(&s.service.key) {
                self.events.push_back(Event::ServiceRemoved {
                    virtual_name: s.name.clone(),
                    service: s.service.key,
                });
                self.ops.push(IpvsOp::DeleteService(s.service.key));
            }
        }
        let mut stopped: Vec<CheckKey> = self.checks.drain().map(|(k, _)| k).collect();
        stopped.sort_unstable();
        self.check_changes = stopped.into_iter().map(CheckChange::Stop).collect();
    }

    /// The ops that bring the kernel's table in line with everything handled since the last
    /// call, in an order the kernel accepts; report each outcome with
    /// [`Self::handle_op_result`]. Empty when nothing changed.
    pub fn poll_ops(&mut self) -> Vec<IpvsOp> {
        let mut ops = std::mem::take(&mut self.ops);
        let dirty = std::mem::replace(&mut self.dirty, Dirty::Services(BTreeSet::new()));
        if self.stopped {
            return ops;
        }
        let health = |k: &ServiceKey, d: &DestKey| self.health_of(k, d);
        let admin = |k: &ServiceKey, d: &DestKey| self.admin_of(k, d);
        match dirty {
            Dirty::All => {
                let mut desired = self.plan.desired_with(&health, &admin);
                if let Some((partner, _)) = self.handoff {
                    desired.forward_new_to(partner);
                }
                ops.extend(reconcile(&desired, &self.observed));
            }
            Dirty::Services(set) if set.is_empty() => {}
            Dirty::Services(set) => {
                for s in self
                    .plan
                    .services
                    .iter()
                    .filter(|s| set.contains(&s.service.key))
                {
                    let mut want = s.desired_with(&health, &admin);
                    if let Some((partner, _)) = self.handoff {
                        want.forward_new_to(partner);
                    }
                    reconcile_service(&want, self.observed.services.get(&s.service.key), &mut ops);
                }
            }
        }
        ops
    }

    /// Checks to start or stop since the last call.
    pub fn poll_check_changes(&mut self) -> Vec<CheckChange> {
        std::mem::take(&mut self.check_changes)
    }

    /// The connection timeouts to set in the kernel (`ipvsadm --set`), when lvs.cf sets one
    /// and it changed.
    pub fn poll_connection_timeouts(&mut self) -> Option<Timeouts> {
        self.connection_timeouts.take()
    }

    /// An op was refused: read the kernel's table back and report it with
    /// [`Self::handle_table`] (or [`Self::handle_table_unreadable`]).
    pub fn poll_read_back(&mut self) -> bool {
        std::mem::take(&mut self.read_back)
    }

    /// The next thing to log. Sorry-server changes are read off the table as it stands, so
    /// drain events after reporting op results to see them.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.sorry_stale {
            self.sorry_stale = false;
            self.note_sorry_changes();
        }
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.handoff.map(|(_, deadline)| deadline)
    }

    /// The plan in force.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The partner director new connections go to, during a draining release.
    pub fn handoff(&self) -> Option<IpAddr> {
        self.handoff.map(|(p, _)| p)
    }

    /// The kernel's table as last seen.
    pub fn observed(&self) -> &Table {
        &self.observed
    }

    /// Number of distinct checks running.
    pub fn check_count(&self) -> usize {
        self.checks.len()
    }

    /// What the checks say about `server` of `service` (unknown if it is not planned).
    pub fn health_of(&self, service: &ServiceKey, server: &DestKey) -> Health {
        self.index
            .get(&(*service, *server))
            .map_or(Health::Unknown, |&i| self.tracked[i].health.health())
    }

    /// Every planned service and server as the supervisor sees it, in file order.
    pub fn status(&self) -> Vec<ServiceSnapshot<'_>> {
        self.plan
            .services
            .iter()
            .map(|s| {
                let observed = self.observed.services.get(&s.service.key);
                let servers = s
                    .servers
                    .iter()
                    .filter_map(|rs| {
                        let t = &self.tracked[*self.index.get(&(s.service.key, rs.dest.key))?];
                        Some(ServerSnapshot {
                            name: &rs.name,
                            dest: &rs.dest,
                            kernel_weight: observed
                                .and_then(|o| o.dests.get(&rs.dest.key))
                                .map(|d| d.weight),
                            health: &t.health,
                            checks: t.checks,
                            admin: t.admin,
                        })
                    })
                    .collect();
                ServiceSnapshot {
                    planned: s,
                    sorry_active: self.sorry_active.contains(&s.service.key),
                    in_kernel: observed.is_some(),
                    servers,
                }
            })
            .collect()
    }

    /// One entry per planned (service, server); an entry that stays keeps its health and
    /// counters (a reload does not forget a failed server), with the possibly new timing.
    fn carry_health(&mut self) {
        let mut old: Vec<Option<Tracked>> = std::mem::take(&mut self.tracked)
            .into_iter()
            .map(Some)
            .collect();
        let old_index = std::mem::take(&mut self.index);
        self.tracked.reserve(self.plan.server_count());
        for s in &self.plan.services {
            for rs in &s.servers {
                let key = (s.service.key, rs.dest.key);
                let (health, checks, admin) = match old_index.get(&key).and_then(|&i| old[i].take())
                {
                    Some(mut t) => {
                        t.health.retime(s.timeout, s.reentry);
                        (t.health, t.checks, t.admin)
                    }
                    None => (
                        RealServerHealth::new(s.timeout, s.reentry),
                        CheckStats::default(),
                        Admin::Enabled,
                    ),
                };
                self.index.insert(key, self.tracked.len());
                self.tracked.push(Tracked {
                    service: key.0,
                    dest: key.1,
                    health,
                    checks,
                    admin,
                });
            }
        }
    }

    /// Makes the wanted checks those of the plan, and queues the difference.
    fn sync_checks(&mut self) {
        let mut wanted: HashMap<CheckKey, Vec<usize>> =
            HashMap::with_capacity_and_hasher(self.checks.len(), Default::default());
        // `tracked` holds the plan's servers in plan order (carry_health): the n-th server is
        // entry n.
        let mut n = 0;
        for (s, &probe) in self.plan.services.iter().zip(&self.probes) {
            let period = Duration::from_secs(u64::from(s.timeout.max(1)));
            for rs in &s.servers {
                let key = CheckKey {
                    probe,
                    target: SocketAddr::new(rs.dest.key.addr, rs.dest.key.port),
                    period,
                };
                wanted.entry(key).or_default().push(n);
                n += 1;
            }
        }
        let mut stopped: Vec<CheckKey> = self
            .checks
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        let mut started: Vec<CheckKey> = wanted
            .keys()
            .filter(|k| !self.checks.contains_key(k))
            .copied()
            .collect();
        // Sorted: the same configuration gives the same sequence of changes.
        stopped.sort_unstable();
        started.sort_unstable();
        self.check_changes.extend(
            stopped
                .into_iter()
                .map(CheckChange::Stop)
                .chain(started.into_iter().map(CheckChange::Start)),
        );
        self.checks = wanted;
    }

    /// Compares each service's sorry server in the table with what was last reported.
    fn note_sorry_changes(&mut self) {
        for s in &self.plan.services {
            let Some(sorry) = s.sorry else { continue };
            // A sorry server that is also one of the real servers is not standing in.
            let present = self
                .observed
                .services
                .get(&s.service.key)
                .is_some_and(|o| o.dests.contains_key(&sorry.key))
                && !s.servers.iter().any(|r| r.dest.key == sorry.key);
            let was = self.sorry_active.contains(&s.service.key);
            if present && !was {
                self.sorry_active.insert(s.service.key);
                self.events.push_back(Event::SorryIn {
                    virtual_name: s.name.clone(),
                    sorry: sorry.key.addr,
                });
            } else if !present && was {
                self.sorry_active.remove(&s.service.key);
                let up = s
                    .servers
                    .iter()
                    .filter(|r| self.health_of(&s.service.key, &r.dest.key) == Health::Up)
                    .count();
                self.events.push_back(Event::SorryOut {
                    virtual_name: s.name.clone(),
                    sorry: sorry.key.addr,
                    up,
                });
            }
        }
        // A service no longer planned has no sorry server to report.
        let planned: BTreeSet<ServiceKey> =
            self.plan.services.iter().map(|s| s.service.key).collect();
        self.sorry_active.retain(|k| planned.contains(k));
    }
}
