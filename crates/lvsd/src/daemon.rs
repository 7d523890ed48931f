//! The daemon loop: load, adopt the kernel's table, run checks, apply health transitions and
//! reloads as minimal IPVS changes, answer status, clean up on SIGTERM.

use crate::Options;
use crate::checks::{CheckKey, CheckResult, Checks, Wanted};
use crate::kernel::Kernel;
use anyhow::{Context, Result, bail};
use pulse_check::CheckSpec;
use pulse_control::{
    CheckCounters, LvsStatus, Request, Response, ServerStatus, Traffic, VirtualStatus,
};
use pulse_ipvs::{DestCounters, DestKey, IpvsOp, ServiceKey, ServiceStats};
use pulse_lvs::table::reconcile_service;
use pulse_lvs::{Health, Plan, RealServerHealth, Table, Transition, reconcile};
use pulse_lvscf::LvsConfig;
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// A handover pulse does not end within this long ends by itself (pulse's drain takes at most
/// 3 s, its whole release at most `deadtime` + 10 s).
const HANDOFF_MAX: Duration = Duration::from_secs(60);

/// A configuration read, validated and planned: what a start or a reload works from.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The file as read: a reload of identical bytes has nothing to do.
    source: String,
    cfg: LvsConfig,
    plan: Plan,
    /// The check of each planned service (same order as `plan.services`).
    specs: Vec<Arc<CheckSpec>>,
    /// A fingerprint of each spec: what makes two services' checks the same check.
    spec_ids: Vec<u64>,
    /// What lvsd leaves out or ignores, logged when this configuration takes effect (the first
    /// read happens before logging is set up).
    warnings: Vec<String>,
}

impl Loaded {
    /// Reads and validates `path`. Every error is in the message; nothing is applied.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        Self::parse(path, Self::read_source(path)?)
    }

    /// The text of `path`.
    fn read_source(path: &Path) -> Result<String> {
        std::fs::read_to_string(path).with_context(|| format!("failed to open {}", path.display()))
    }

    /// Validates and plans `src`, the text of `path`.
    fn parse(path: &Path, src: String) -> Result<Self> {
        let mut parsed = pulse_lvscf::parse(&src);
        if !parsed.is_valid() {
            parsed.diagnostics.sort();
            let name = path.display().to_string();
            let mut text = String::new();
            let mut first_line = 0;
            for d in parsed.diagnostics.iter().filter(|d| d.is_error()) {
                if first_line == 0 {
                    first_line = d.span.map_or(0, |sp| sp.line);
                }
                text.push_str(&d.render(&name, &src));
            }
            bail!("error parsing {name} on line {first_line}.\n{text}");
        }
        let cfg = parsed.config;
        // The lossless tree is not needed any more: free its 200,000 allocations off this thread.
        dispose(parsed.doc);
        if cfg.service != pulse_lvscf::model::ServiceMode::Lvs {
            bail!("{}: service = fos is not lvsd's (use fos)", path.display());
        }
        let (plan, problems) = Plan::new(&cfg, &mut resolve);
        let mut warnings: Vec<String> = problems.iter().map(|p| format!("left out: {p}")).collect();
        let mut specs = Vec::with_capacity(plan.services.len());
        for s in &plan.services {
            let vs = &cfg.virtuals[s.index];
            specs.push(Arc::new(CheckSpec::from_virtual(vs).with_context(
                || format!("{}: virtual {}", path.display(), vs.name),
            )?));
            if let Some(lm) = vs.load_monitor.as_deref().filter(|m| *m != "none") {
                warnings.push(format!(
                    "virtual {}: load_monitor = {lm} is not supported; weights stay as configured",
                    vs.name
                ));
            }
        }
        // Fixed keys (not `RandomState`): the same spec must get the same id at every reload,
        // or every check would restart.
        use std::hash::BuildHasher;
        let ids = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
        let spec_ids = specs
            .iter()
            .map(|s| ids.hash_one(format!("{s:?}")))
            .collect();
        Ok(Self {
            source: src,
            cfg,
            plan,
            specs,
            spec_ids,
            warnings,
        })
    }

    fn log_warnings(&self) {
        for w in &self.warnings {
            warn!("{w}");
        }
    }
}

/// Drops `x` on a thread of its own: freeing a large configuration (hundreds of thousands of
/// allocations) must not delay a reload.
fn dispose<T: Send + 'static>(x: T) {
    let _ = std::thread::Builder::new()
        .name("lvsd-drop".into())
        .spawn(move || drop(x));
}

/// Host names are resolved once per load, like piranha's `gethostbyname`.
fn resolve(name: &str) -> Option<IpAddr> {
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(IpAddr::is_ipv4)
}

#[derive(Debug)]
struct Tracked {
    service: ServiceKey,
    dest: DestKey,
    health: RealServerHealth,
    checks: CheckCounters,
}

struct Lvsd {
    opts: Options,
    loaded: Loaded,
    kernel: Kernel,
    observed: Table,
    /// Every (virtual service, real server) of the plan with its health; check tasks refer to
    /// entries by index.
    tracked: Vec<Tracked>,
    /// Index of each entry of `tracked`.
    index: HashMap<(ServiceKey, DestKey), usize>,
    /// A draining release in progress: new connections go to this partner director.
    handoff: Option<IpAddr>,
    /// When it ends by itself if pulse never says (pulse died mid-release).
    handoff_expires: Option<Instant>,
    checks: Checks,
    /// Services whose sorry server is in the desired table.
    sorry_active: BTreeSet<ServiceKey>,
    loaded_at: SystemTime,
    reloads: u64,
    reloads_refused: u64,
    last_reload_error: Option<String>,
}

pub(crate) async fn run(opts: Options, loaded: Loaded) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    // Blocked since `main` (see there); from now on a SIGHUP is a reload.
    let _ = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGHUP).thread_unblock();
    let mut kernel = if opts.test_start {
        info!("test mode: the kernel's IPVS table is not touched");
        Kernel::Test(Table::default())
    } else {
        Kernel::Ipvs(pulse_sys::ipvs::Ipvs::connect()?)
    };
    let t = loaded.plan.timeouts;
    if (t.tcp, t.tcp_fin, t.udp) != (0, 0, 0)
        && let Err(e) = kernel.set_timeouts(t)
    {
        error!(tcp = t.tcp, tcpfin = t.tcp_fin, udp = t.udp, error = %e, "ipvsadm failed to set timeouts");
    }
    let observed = kernel.read().context("cannot read the IPVS table")?;
    if !observed.services.is_empty() {
        info!(
            services = observed.services.len(),
            real_servers = observed.dest_count(),
            "adopting the IPVS table already in the kernel"
        );
    }
    let (tx, mut results) = mpsc::channel::<CheckResult>(4096);
    let mut d = Lvsd {
        opts,
        loaded,
        kernel,
        observed,
        tracked: Vec::new(),
        index: HashMap::default(),
        checks: Checks::new(tx),
        sorry_active: BTreeSet::new(),
        loaded_at: SystemTime::now(),
        reloads: 0,
        reloads_refused: 0,
        last_reload_error: None,
        handoff: None,
        handoff_expires: None,
    };
    d.loaded.log_warnings();
    d.carry_health();
    for s in &d.loaded.plan.services {
        info!(
            virtual_service = %s.name,
            service = %s.service.key,
            real_servers = s.servers.len(),
            "starting virtual service"
        );
    }
    d.reconcile_all()?;
    d.sync_checks();

    let mut ctl = pulse_control::server::listen(&d.opts.control)?;
    let signo = loop {
        let handoff_expiry = d.handoff_expires.map(tokio::time::Instant::from_std);
        let handoff_expired = async {
            match handoff_expiry {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = handoff_expired => {
                warn!("handover not ended by pulse within {HANDOFF_MAX:?}: back to the configured table");
                let _ = d.handoff(None);
            }
            Some(r) = results.recv() => {
                let mut dirty = BTreeSet::new();
                d.on_result(r, &mut dirty);
                // Take everything already queued, then apply the changes in one batch.
                while let Ok(r) = results.try_recv() {
                    d.on_result(r, &mut dirty);
                }
                d.reconcile_services(&dirty)?;
            }
            _ = hup.recv() => d.reload()?,
            Some((req, answer)) = ctl.recv() => {
                let _ = answer.send(d.control(req));
            }
            _ = term.recv() => break 15,
            _ = int.recv() => break 2,
        }
    };
    d.shutdown(signo);
    Ok(())
}

impl Lvsd {
    fn health_of(&self, k: &ServiceKey, d: &DestKey) -> Health {
        self.index
            .get(&(*k, *d))
            .map_or(Health::Unknown, |&i| self.tracked[i].health.health())
    }

    /// One health entry per planned (service, server); existing entries keep their state (a
    /// reload does not forget a failed server), with the possibly new timing.
    fn carry_health(&mut self) {
        let mut old: Vec<Option<Tracked>> = std::mem::take(&mut self.tracked)
            .into_iter()
            .map(Some)
            .collect();
        let old_index = std::mem::take(&mut self.index);
        self.tracked.reserve(self.loaded.plan.server_count());
        for s in &self.loaded.plan.services {
            for rs in &s.servers {
                let key = (s.service.key, rs.dest.key);
                let (health, checks) = match old_index.get(&key).and_then(|&i| old[i].take()) {
                    Some(mut t) => {
                        t.health.retime(s.timeout, s.reentry);
                        (t.health, t.checks)
                    }
                    None => (
                        RealServerHealth::new(s.timeout, s.reentry),
                        CheckCounters::default(),
                    ),
                };
                self.index.insert(key, self.tracked.len());
                self.tracked.push(Tracked {
                    service: key.0,
                    dest: key.1,
                    health,
                    checks,
                });
            }
        }
        dispose((old, old_index));
    }

    fn sync_checks(&mut self) {
        let l = &self.loaded;
        let mut wanted: HashMap<CheckKey, Wanted> =
            HashMap::with_capacity_and_hasher(self.tracked.len(), Default::default());
        // `tracked` holds the plan's servers in plan order (carry_health), so the n-th server
        // is entry n.
        let mut n = 0;
        for ((s, spec), &id) in l.plan.services.iter().zip(&l.specs).zip(&l.spec_ids) {
            let period = Duration::from_secs(u64::from(s.timeout.max(1)));
            for rs in &s.servers {
                let key = CheckKey {
                    spec: id,
                    target: SocketAddr::new(rs.dest.key.addr, rs.dest.key.port),
                    period,
                };
                wanted
                    .entry(key)
                    .or_insert_with(|| Wanted {
                        key,
                        spec: spec.clone(),
                        subscribers: Vec::new(),
                    })
                    .subscribers
                    .push(n);
                n += 1;
            }
        }
        let (started, stopped) = self.checks.sync(wanted.into_values().collect());
        info!(
            checks = self.checks.len(),
            started, stopped, "health checks running"
        );
    }

    fn on_result(&mut self, r: CheckResult, dirty: &mut BTreeSet<ServiceKey>) {
        let now = Instant::now();
        let result = r.result.as_ref().map(|_| ()).map_err(String::as_str);
        for &i in self.checks.subscribers(r.id) {
            let Some(t) = self.tracked.get_mut(i) else {
                continue;
            };
            let (sk, dk) = (t.service, t.dest);
            let took = r.took.as_secs_f64();
            if result.is_ok() {
                t.checks.passed += 1;
            } else {
                t.checks.failed += 1;
            }
            t.checks.seconds_total += took;
            t.checks.last_seconds = Some(took);
            match t.health.record(now, result) {
                Some(Transition::Up) => {
                    // nanny's wording, which admins grep for (piranha.md §6.5).
                    info!(service = %sk, "[ active ] making {dk} available");
                    dirty.insert(sk);
                }
                Some(Transition::Down) => {
                    let why = result.err().unwrap_or("");
                    info!(service = %sk, error = why, "[inactive] shutting down {dk} due to connection failure");
                    dirty.insert(sk);
                }
                None => {}
            }
        }
    }

    /// Brings the services in `dirty` in line with their servers' health.
    fn reconcile_services(&mut self, dirty: &BTreeSet<ServiceKey>) -> Result<()> {
        if dirty.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::new();
        for s in self
            .loaded
            .plan
            .services
            .iter()
            .filter(|s| dirty.contains(&s.service.key))
        {
            let mut want = s.desired(&|k, d| self.health_of(k, d));
            if let Some(partner) = self.handoff {
                want.forward_new_to(partner);
            }
            reconcile_service(&want, self.observed.services.get(&s.service.key), &mut ops);
        }
        self.execute(&ops)
    }

    /// Brings the whole table in line with the plan and the health.
    fn reconcile_all(&mut self) -> Result<()> {
        let mut desired = self.loaded.plan.desired(&|k, d| self.health_of(k, d));
        if let Some(partner) = self.handoff {
            desired.forward_new_to(partner);
        }
        let ops = reconcile(&desired, &self.observed);
        self.execute(&ops)
    }

    /// Sends `ops` to the kernel and records what it accepted. A refused op is logged and the
    /// table re-read, so the next reconcile starts from the truth; a broken netlink socket ends
    /// lvsd when `hard_shutdown` is set (pulse then fails over, piranha.md §5.4).
    fn execute(&mut self, ops: &[IpvsOp]) -> Result<()> {
        if ops.is_empty() {
            self.log_sorry_changes();
            return Ok(());
        }
        let started = Instant::now();
        let results = self.kernel.apply(ops);
        let mut failed = 0;
        for (op, r) in ops.iter().zip(results) {
            match r {
                Ok(()) => {
                    debug!(op = %op, "applied");
                    self.observed.apply(op);
                }
                Err(e) => {
                    failed += 1;
                    error!(op = %op, error = %e, "ipvs change failed");
                }
            }
        }
        info!(
            changes = ops.len(),
            failed,
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
            "ipvs table updated"
        );
        if failed > 0 {
            // Refused, or its acknowledgement lost: read back what the kernel really has.
            match self.kernel.read() {
                Ok(t) => self.observed = t,
                Err(e) if self.loaded.cfg.hard_shutdown => {
                    bail!("IPVS is unreachable ({e}); hard_shutdown = 1: shutting down lvs")
                }
                Err(e) => {
                    error!(error = %e, "cannot re-read the IPVS table; hard_shutdown = 0: going on")
                }
            }
        }
        self.log_sorry_changes();
        Ok(())
    }

    /// piranha.md §5.5's lines when a sorry server goes in or out.
    fn log_sorry_changes(&mut self) {
        for s in &self.loaded.plan.services {
            let Some(sorry) = s.sorry else { continue };
            let present = self
                .observed
                .services
                .get(&s.service.key)
                .is_some_and(|o| o.dests.contains_key(&sorry.key))
                && !s.servers.iter().any(|r| r.dest.key == sorry.key);
            let was = self.sorry_active.contains(&s.service.key);
            if present && !was {
                info!(
                    "Virtual Server {}: No real servers; activate sorry_server {}",
                    s.name, sorry.key.addr
                );
                self.sorry_active.insert(s.service.key);
            } else if !present && was {
                let up = s
                    .servers
                    .iter()
                    .filter(|r| self.health_of(&s.service.key, &r.dest.key) == Health::Up)
                    .count();
                info!(
                    "Virtual Server {}: {up} real servers; deactivate sorry_server {}",
                    s.name, sorry.key.addr
                );
                self.sorry_active.remove(&s.service.key);
            }
        }
    }

    /// SIGHUP: a valid file is reconciled with health carried over; an invalid one changes
    /// nothing (piranha.md §5.6 step 1). Unlike piranha, every change is applied (weights,
    /// schedulers, persistence, checks) and only what changed is touched (§5.6 steps 5–7).
    fn reload(&mut self) -> Result<()> {
        let started = Instant::now();
        info!(path = %self.opts.config.display(), "rereading configuration file");
        // The file is read once: compared with the running text, and parsed only if it differs.
        let next = Loaded::read_source(&self.opts.config).and_then(|src| {
            if src == self.loaded.source {
                Ok(None)
            } else {
                Loaded::parse(&self.opts.config, src).map(Some)
            }
        });
        let next = match next {
            Ok(None) => {
                self.reloads += 1;
                self.last_reload_error = None;
                info!(
                    serial_no = self.loaded.cfg.serial_no,
                    unchanged = true,
                    ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
                    "configuration reloaded"
                );
                return Ok(());
            }
            Ok(Some(l)) => l,
            Err(e) => {
                self.reloads_refused += 1;
                let first = format!("{e:#}");
                for line in first.lines() {
                    error!("{line}");
                }
                error!(
                    ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
                    "reload refused: the running configuration stays in force; nothing changed"
                );
                self.last_reload_error = first.lines().next().map(str::to_string);
                return Ok(());
            }
        };
        let read_ms = started.elapsed().as_secs_f64() * 1e3;
        // Same services, servers, weights, timeouts and checks (a comment or `serial_no` edit):
        // the table, the health entries and the check tasks stay exactly as they are.
        let same_plan = next.plan == self.loaded.plan && next.spec_ids == self.loaded.spec_ids;
        let old_timeouts = self.loaded.plan.timeouts;
        dispose(std::mem::replace(&mut self.loaded, next));
        self.loaded.log_warnings();
        if !same_plan {
            let t = self.loaded.plan.timeouts;
            if t != old_timeouts
                && (t.tcp, t.tcp_fin, t.udp) != (0, 0, 0)
                && let Err(e) = self.kernel.set_timeouts(t)
            {
                error!(error = %e, "ipvsadm failed to set timeouts");
            }
            self.carry_health();
            self.reconcile_all()?;
            self.sync_checks();
        }
        self.reloads += 1;
        self.last_reload_error = None;
        self.loaded_at = SystemTime::now();
        info!(
            serial_no = self.loaded.cfg.serial_no,
            services = self.loaded.plan.services.len(),
            real_servers = self.loaded.plan.server_count(),
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
            read_ms = format_args!("{read_ms:.1}"),
            same_plan,
            "configuration reloaded"
        );
        Ok(())
    }

    fn control(&mut self, req: Request) -> Response {
        match req {
            Request::Lvs => Response::Lvs {
                lvs: Box::new(self.status()),
            },
            Request::Handoff { to } => self.handoff(to.as_deref()),
            _ => Response::Error {
                message: "this is lvsd; takeover and release are pulse's".into(),
            },
        }
    }

    /// pulse's draining release (`Request::Handoff`): new connections to the partner director
    /// while the real servers' own finish, or back to the configured table. Answers with the
    /// active connections left on the real servers.
    fn handoff(&mut self, to: Option<&str>) -> Response {
        let to = match to.map(str::parse::<IpAddr>).transpose() {
            Ok(to) => to,
            Err(e) => {
                return Response::Error {
                    message: format!("bad partner address: {e}"),
                };
            }
        };
        if to != self.handoff {
            match (to, self.handoff) {
                (Some(p), _) => {
                    info!(partner = %p, "handing over: new connections go to the partner")
                }
                (None, Some(p)) => info!(
                    partner = %p,
                    forwarded_connections = self.connections_to(p),
                    "handover done: back to the configured table"
                ),
                (None, None) => {}
            }
            self.handoff = to;
            self.handoff_expires = to.map(|_| Instant::now() + HANDOFF_MAX);
            if let Err(e) = self.reconcile_all() {
                return Response::Error {
                    message: format!("{e:#}"),
                };
            }
        }
        let active_conns = self
            .planned_dest_counters()
            .filter(|(k, _)| Some(k.addr) != to)
            .map(|(_, c)| u64::from(c.active_conns))
            .sum();
        Response::Handoff { active_conns }
    }

    /// Connections to `addr` in the kernel's table now, active and inactive (the `conns`
    /// statistic would lag: the kernel sums it every 2 s).
    fn connections_to(&mut self, addr: IpAddr) -> u64 {
        self.planned_dest_counters()
            .filter(|(k, _)| k.addr == addr)
            .map(|(_, c)| u64::from(c.active_conns) + u64::from(c.inactive_conns))
            .sum()
    }

    /// The kernel's counters of every destination of the planned services (a service the
    /// kernel cannot dump counts as empty).
    fn planned_dest_counters(&mut self) -> impl Iterator<Item = (DestKey, DestCounters)> {
        let mut all = Vec::new();
        for s in &self.loaded.plan.services {
            if let Ok(c) = self.kernel.counters(&s.service.key) {
                all.extend(c);
            }
        }
        all.into_iter()
    }

    fn status(&mut self) -> LvsStatus {
        let wall_now = SystemTime::now();
        let now = Instant::now();
        let unix = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        let service_stats = self.kernel.service_stats().unwrap_or_default();
        let mut services = Vec::new();
        for (s, spec) in self.loaded.plan.services.iter().zip(&self.loaded.specs) {
            let counters = self
                .kernel
                .counters(&s.service.key)
                .unwrap_or_else(|_| BTreeMap::new());
            let observed = self.observed.services.get(&s.service.key);
            let servers = s
                .servers
                .iter()
                .map(|rs| {
                    let tracked = self
                        .index
                        .get(&(s.service.key, rs.dest.key))
                        .map(|&i| &self.tracked[i]);
                    let h = tracked.map(|t| &t.health);
                    let c = counters.get(&rs.dest.key).copied().unwrap_or_default();
                    ServerStatus {
                        name: rs.name.clone(),
                        address: rs.dest.key.to_string(),
                        health: match h.map_or(Health::Unknown, RealServerHealth::health) {
                            Health::Up => "up",
                            Health::Down => "down",
                            Health::Unknown => "unknown",
                        }
                        .into(),
                        since_unix: h
                            .and_then(RealServerHealth::since)
                            .map(|t| unix(wall_now - now.saturating_duration_since(t))),
                        weight: rs.dest.weight,
                        kernel_weight: observed
                            .and_then(|o| o.dests.get(&rs.dest.key))
                            .map(|d| d.weight),
                        active_conns: c.active_conns,
                        inactive_conns: c.inactive_conns,
                        last_check_ms_ago: h
                            .and_then(RealServerHealth::last_check)
                            .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                        last_error: h.and_then(|h| h.last_error().map(str::to_string)),
                        traffic: traffic(&c.stats),
                        checks: tracked.map(|t| t.checks).unwrap_or_default(),
                    }
                })
                .collect();
            services.push(VirtualStatus {
                name: s.name.clone(),
                key: s.service.key.to_string(),
                scheduler: s.service.scheduler.clone(),
                check: spec.describe(),
                sorry_active: self.sorry_active.contains(&s.service.key),
                in_kernel: observed.is_some(),
                servers,
                traffic: service_stats
                    .get(&s.service.key)
                    .map(traffic)
                    .unwrap_or_default(),
            });
        }
        LvsStatus {
            config_path: self.opts.config.display().to_string(),
            serial_no: self.loaded.cfg.serial_no,
            loaded_unix: unix(self.loaded_at),
            mode: self.kernel.mode().into(),
            reloads: self.reloads,
            reloads_refused: self.reloads_refused,
            last_reload_error: self.last_reload_error.clone(),
            services,
        }
    }

    /// SIGTERM/SIGINT: stop checking and remove the services lvsd owns (piranha.md §5.4).
    fn shutdown(&mut self, signo: i32) {
        info!("shutting down due to signal {signo}");
        self.checks.stop_all();
        let mut ops = Vec::new();
        for s in &self.loaded.plan.services {
            if self.observed.services.contains_key(&s.service.key) {
                info!(service = %s.service.key, "shutting down virtual service {}", s.name);
                ops.push(IpvsOp::DeleteService(s.service.key));
            }
        }
        for (op, r) in ops.iter().zip(self.kernel.apply(&ops)) {
            if let Err(e) = r {
                error!(op = %op, error = %e, "ipvs change failed");
            }
        }
    }
}

/// The kernel's counters as `pulsectl status` and the metrics show them.
fn traffic(s: &ServiceStats) -> Traffic {
    Traffic {
        conns: s.conns,
        in_packets: s.inpkts,
        out_packets: s.outpkts,
        in_bytes: s.inbytes,
        out_bytes: s.outbytes,
    }
}
