//! The daemon loop: signals, the control socket, the check tasks and the kernel around
//! `pulse_lvs::Supervisor`, which decides everything. Each input is handed to the supervisor
//! with `now`; then what it asks for is carried out ([`Lvsd::carry_out`]) and what it reports is
//! logged in the operator-visible wording.

use crate::Options;
use crate::checks::{CheckResult, Checks};
use crate::kernel::Kernel;
use crate::load::{Loaded, dispose};
use crate::status::{Reloads, lvs_status};
use crate::supervised::ParentWatch;
use anyhow::{Context, Result, bail};
use nix::unistd::Pid;
use pulse_control::{Request, Response};
use pulse_lvs::{CheckChange, Supervisor, Unreadable};
use std::net::IpAddr;
use std::time::Instant;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

struct Lvsd {
    opts: Options,
    /// The configuration in force (its plan is the supervisor's).
    loaded: Loaded,
    kernel: Kernel,
    sup: Supervisor,
    checks: Checks,
    reloads: Reloads,
    /// `net.ipv4.vs.sloppy_tcp` was set (ecmp mode), once per run.
    sloppy_tcp: bool,
}

/// How the loop ended.
enum End {
    /// SIGTERM or SIGINT: the services are removed.
    Signal(i32),
    /// `--supervised` and pulse is gone: the table stays for the next lvsd.
    Orphaned(Pid),
}

/// Runs lvsd until a signal (or, with `parent`, until that parent is gone).
pub(crate) async fn run(opts: Options, loaded: Loaded, parent: Option<Pid>) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    // Blocked since `main` (see there); from now on a SIGHUP is a reload.
    let _ = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGHUP).thread_unblock();
    let mut parent_watch = parent.map(ParentWatch::new);
    let kernel = if opts.test_start {
        info!("test mode: the kernel's IPVS table is not touched");
        Kernel::Test(pulse_lvs::Table::default())
    } else {
        Kernel::Ipvs(pulse_sys::ipvs::Ipvs::connect()?)
    };
    let (tx, mut results) = mpsc::channel::<CheckResult>(4096);
    let mut d = Lvsd::start(opts, loaded, kernel, tx)?;
    let mut ctl = pulse_control::server::listen(&d.opts.control)?;
    let end = loop {
        let wake = d.sup.poll_timeout().map(tokio::time::Instant::from_std);
        let timer = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = timer => d.sup.handle_timeout(Instant::now()),
            Some(r) = results.recv() => {
                d.on_result(r);
                // Take everything already queued: its changes go out in one batch.
                while let Ok(r) = results.try_recv() {
                    d.on_result(r);
                }
            }
            _ = hup.recv() => d.reload()?,
            Some((req, answer)) = ctl.recv() => {
                let (response, fatal) = d.control(req);
                let _ = answer.send(response);
                if let Some(e) = fatal {
                    return Err(e);
                }
            }
            pid = ParentWatch::gone(&mut parent_watch) => break End::Orphaned(pid),
            _ = term.recv() => break End::Signal(15),
            _ = int.recv() => break End::Signal(2),
        }
        d.carry_out()?;
    };
    match end {
        End::Signal(signo) => d.shutdown(signo),
        End::Orphaned(pid) => {
            warn!(
                parent = pid.as_raw(),
                "pulse (pid {pid}) is gone; exiting and leaving the IPVS table as it is"
            );
            d.checks.stop_all();
        }
    }
    Ok(())
}

impl Lvsd {
    /// Adopts the kernel's table and applies `loaded` to it; check results are to come
    /// through `results`.
    fn start(
        opts: Options,
        mut loaded: Loaded,
        mut kernel: Kernel,
        results: mpsc::Sender<CheckResult>,
    ) -> Result<Self> {
        let observed = kernel.read().context("cannot read the IPVS table")?;
        if !observed.services.is_empty() {
            info!(
                services = observed.services.len(),
                real_servers = observed.dest_count(),
                "adopting the IPVS table already in the kernel"
            );
        }
        loaded.log_warnings();
        for s in &loaded.plan.services {
            info!(
                virtual_service = %s.name,
                service = %s.service.key,
                real_servers = s.servers.len(),
                "starting virtual service"
            );
        }
        let plan = std::mem::take(&mut loaded.plan);
        let sup = Supervisor::new(plan, loaded.spec_ids.clone(), observed);
        let mut d = Self {
            opts,
            loaded,
            kernel,
            sup,
            checks: Checks::new(results),
            reloads: Reloads::new(),
            sloppy_tcp: false,
        };
        d.carry_out()?;
        Ok(d)
    }

    fn on_result(&mut self, r: CheckResult) {
        let result = r.result.as_ref().map(|_| ()).map_err(String::as_str);
        self.sup
            .handle_result(Instant::now(), &r.key, result, r.took);
    }

    /// Does what the supervisor asks: connection timeouts, checks, table changes (and a read
    /// back after a refused one), logging what it reports before and after the changes. Fails
    /// only when IPVS is gone and `hard_shutdown` says to exit.
    fn carry_out(&mut self) -> Result<()> {
        if self.sup.plan().ecmp && !self.sloppy_tcp {
            self.sloppy_tcp = true;
            if let Err(e) = self.kernel.set_sloppy_tcp() {
                error!(error = %e, "ecmp: cannot set net.ipv4.vs.sloppy_tcp; flows moved between directors will be reset");
            }
        }
        if let Some(t) = self.sup.poll_connection_timeouts()
            && let Err(e) = self.kernel.set_timeouts(t)
        {
            error!(tcp = t.tcp, tcpfin = t.tcp_fin, udp = t.udp, error = %e, "ipvsadm failed to set timeouts");
        }
        // Before the changes: a handoff's end is logged with the connections its partner got,
        // which the changes remove.
        crate::events::log(&mut self.sup, &mut self.kernel);
        self.sync_checks();
        let ops = self.sup.poll_ops();
        if !ops.is_empty() {
            self.execute(&ops)?;
        }
        crate::events::log(&mut self.sup, &mut self.kernel);
        Ok(())
    }

    fn sync_checks(&mut self) {
        let changes = self.sup.poll_check_changes();
        if changes.is_empty() {
            return;
        }
        let (mut started, mut stopped) = (0, 0);
        for c in changes {
            match c {
                CheckChange::Start(key) => match self.loaded.spec(key.probe) {
                    Some(spec) => {
                        self.checks.start(key, spec.clone());
                        started += 1;
                    }
                    None => error!(target = %key.target, "no probe for a check; not started"),
                },
                CheckChange::Stop(key) => {
                    self.checks.stop(&key);
                    stopped += 1;
                }
            }
        }
        info!(
            checks = self.checks.len(),
            started, stopped, "health checks running"
        );
    }

    /// Sends `ops` to the kernel and reports each outcome. A refused op is logged and the
    /// table read back; a broken netlink socket ends lvsd when `hard_shutdown` is set (pulse
    /// then fails over, docs/reference/piranha.md §5.4).
    fn execute(&mut self, ops: &[pulse_ipvs::IpvsOp]) -> Result<()> {
        let started = Instant::now();
        let results = self.kernel.apply(ops);
        let mut failed = 0;
        for (op, r) in ops.iter().zip(results) {
            match &r {
                Ok(()) => debug!(op = %op, "applied"),
                Err(e) => {
                    failed += 1;
                    error!(op = %op, error = %e, "ipvs change failed");
                }
            }
            self.sup.handle_op_result(op, r.is_ok());
        }
        info!(
            changes = ops.len(),
            failed,
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
            "ipvs table updated"
        );
        if self.sup.poll_read_back() {
            match self.kernel.read() {
                Ok(t) => self.sup.handle_table(t),
                Err(e) => match self.sup.handle_table_unreadable() {
                    Unreadable::Exit => {
                        bail!("IPVS is unreachable ({e}); hard_shutdown = 1: shutting down lvs")
                    }
                    Unreadable::GoOn => error!(
                        error = %e,
                        "cannot re-read the IPVS table; hard_shutdown = 0: going on"
                    ),
                },
            }
        }
        Ok(())
    }

    /// SIGHUP: a valid file goes to the supervisor (health carried over, only what changed
    /// touched); an invalid one changes nothing (docs/reference/piranha.md §5.6 step 1). The reload's time
    /// includes applying its changes.
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
        let ms = |since: Instant| format!("{:.1}", since.elapsed().as_secs_f64() * 1e3);
        let mut next = match next {
            Ok(None) => {
                self.reloads.done += 1;
                self.reloads.last_error = None;
                info!(
                    serial_no = self.loaded.cfg.serial_no,
                    unchanged = true,
                    ms = %ms(started),
                    "configuration reloaded"
                );
                return Ok(());
            }
            Ok(Some(l)) => l,
            Err(e) => {
                self.reloads.refused += 1;
                let text = format!("{e:#}");
                for line in text.lines() {
                    error!("{line}");
                }
                error!(
                    ms = %ms(started),
                    "reload refused: the running configuration stays in force; nothing changed"
                );
                self.reloads.last_error = text.lines().next().map(str::to_string);
                return Ok(());
            }
        };
        let read_ms = ms(started);
        let plan = std::mem::take(&mut next.plan);
        let reloaded = self
            .sup
            .handle_reload(Instant::now(), plan, next.spec_ids.clone());
        dispose((reloaded.retired, std::mem::replace(&mut self.loaded, next)));
        self.loaded.log_warnings();
        self.carry_out()?;
        self.reloads.done += 1;
        self.reloads.last_error = None;
        self.reloads.loaded_at = std::time::SystemTime::now();
        info!(
            serial_no = self.loaded.cfg.serial_no,
            services = self.sup.plan().services.len(),
            real_servers = self.sup.plan().server_count(),
            ms = %ms(started),
            read_ms = %read_ms,
            same_plan = reloaded.same_plan,
            "configuration reloaded"
        );
        Ok(())
    }

    /// A control request, answered; and the error that must end lvsd, if carrying out a
    /// handoff met one.
    fn control(&mut self, req: Request) -> (Response, Option<anyhow::Error>) {
        match req {
            Request::Lvs => {
                let lvs = lvs_status(
                    &self.sup,
                    &self.loaded,
                    &mut self.kernel,
                    self.opts.config.display().to_string(),
                    &self.reloads,
                );
                (Response::Lvs { lvs: Box::new(lvs) }, None)
            }
            Request::Handoff { to } => match to.as_deref().map(str::parse::<IpAddr>).transpose() {
                Err(e) => (
                    Response::Error {
                        message: format!("bad partner address: {e}"),
                    },
                    None,
                ),
                Ok(to) => {
                    self.sup.handle_handoff(Instant::now(), to);
                    // Applied before answering: the count is of the table pulse asked for.
                    if let Err(e) = self.carry_out() {
                        let message = format!("{e:#}");
                        return (Response::Error { message }, Some(e));
                    }
                    let active_conns = self.kernel.active_conns_except(self.sup.plan(), to);
                    (Response::Handoff { active_conns }, None)
                }
            },
            Request::Server {
                virtual_name,
                server,
                admin,
            } => {
                let admin = match admin {
                    pulse_control::Admin::Enabled => pulse_lvs::Admin::Enabled,
                    pulse_control::Admin::Draining => pulse_lvs::Admin::Draining,
                    pulse_control::Admin::Disabled => pulse_lvs::Admin::Disabled,
                };
                if let Err(e) = self
                    .sup
                    .handle_admin(Instant::now(), &virtual_name, &server, admin)
                {
                    return (
                        Response::Error {
                            message: e.to_string(),
                        },
                        None,
                    );
                }
                // Applied before answering: the status shows the table as changed.
                if let Err(e) = self.carry_out() {
                    let message = format!("{e:#}");
                    return (Response::Error { message }, Some(e));
                }
                let lvs = lvs_status(
                    &self.sup,
                    &self.loaded,
                    &mut self.kernel,
                    self.opts.config.display().to_string(),
                    &self.reloads,
                );
                (Response::Lvs { lvs: Box::new(lvs) }, None)
            }
            Request::Reload => match self.reload() {
                Ok(()) => {
                    let lvs = lvs_status(
                        &self.sup,
                        &self.loaded,
                        &mut self.kernel,
                        self.opts.config.display().to_string(),
                        &self.reloads,
                    );
                    (Response::Lvs { lvs: Box::new(lvs) }, None)
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    (Response::Error { message }, Some(e))
                }
            },
            _ => (
                Response::Error {
                    message: "this is lvsd; takeover and release are pulse's".into(),
                },
                None,
            ),
        }
    }

    /// SIGTERM/SIGINT: stop checking and remove the services lvsd owns (docs/reference/piranha.md §5.4).
    fn shutdown(&mut self, signo: i32) {
        info!("shutting down due to signal {signo}");
        self.checks.stop_all();
        self.sup.handle_shutdown();
        let _ = self.sup.poll_check_changes();
        crate::events::log(&mut self.sup, &mut self.kernel);
        let ops = self.sup.poll_ops();
        for (op, r) in ops.iter().zip(self.kernel.apply(&ops)) {
            if let Err(e) = r {
                error!(op = %op, error = %e, "ipvs change failed");
            }
        }
    }
}

#[cfg(test)]
#[path = "daemon_tests.rs"]
mod tests;
