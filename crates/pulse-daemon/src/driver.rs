//! The async shell around `pulse_director::Director`: sockets, timers, signals, and workers
//! that carry the director's actions out. It decides nothing.
//!
//! Nothing that can block runs on the heartbeat path: VIP claims and gratuitous ARPs go to the
//! VIP worker thread (`vips.rs`), reloads are read, parsed and resolved on a blocking thread,
//! lvsd is started, stopped and waited for by a task of its own, the drain polls lvsd from a
//! task, the sync daemon switches on its own thread, the replay floor is written on a blocking
//! thread. Each reports back to the loop as an [`Ev`], which becomes a `handle_*` call.

use crate::Options;
use crate::notify::Notifier;
use crate::vips::{VipWorker, VipsIn};
use crate::{lvsd, setup};
use anyhow::Result;
use pulse_control::{Request, Response};
use pulse_director::{Action, Director, Reload};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, info};

/// At most this many queued datagrams per socket are drained before a timer is judged.
const DRAIN_MAX: usize = 256;

/// What the workers report to the loop.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A claim's outcome.
    Claimed(pulse_director::VipClaim, Result<(), String>),
    /// The VIP releases queued before an `EndHandoff` are done: lvsd may take back its table.
    HandoffOver,
    /// lvsd started (its pid) or could not.
    LvsdStarted(Result<u32, String>),
    /// lvsd ended.
    LvsdExited(String),
    /// A reload was read and planned, or failed.
    Reloaded(Box<Result<Reload, String>>),
    /// lvsd's answer during a drain: connections left, or why it cannot drain.
    DrainProgress(Result<u64, String>),
    /// `service = fos`: a command of a failover service ended.
    FosDone(usize, pulse_director::Which, Result<(), String>),
    /// `service = fos`: a check of a failover service (service, check id, outcome).
    FosCheck(usize, u64, Result<(), String>),
    /// `service = fos`: the connectivity check (what answered, or why nothing did).
    FosPing(Result<String, String>),
    /// `ecmp = 1`: the VIP routes found in the announcement table at start.
    GroupRoutes(std::collections::BTreeSet<std::net::IpAddr>),
    /// `ecmp = 1`: a route change (VIP, announce, succeeded).
    GroupRouteDone(std::net::IpAddr, bool, bool),
    /// `ecmp = 1`: lvsd's latest table and health.
    LvsdView(pulse_director::LvsdView),
    /// `ecmp = 1`: lvs.cf was reloaded: its serial and group digest, for the group view.
    GroupConfig(i64, [u8; 8]),
}

struct Driver {
    opts: Options,
    director: Director,
    sockets: Vec<Arc<UdpSocket>>,
    /// Non-blocking duplicates of `sockets`, read directly by `drain_datagrams`.
    drain: Vec<std::net::UdpSocket>,
    vips: VipWorker,
    lvsd: Option<lvsd::Handle>,
    events: mpsc::UnboundedSender<Ev>,
    sync_roles: Option<crate::syncd::SyncWorker>,
    notify: Notifier,
    ready: bool,
    heartbeat_sent: bool,
    /// A SIGHUP's read runs on a blocking thread.
    reloading: bool,
    /// Another SIGHUP came meanwhile.
    reload_again: bool,
    /// The next lvsd start first stops stray lvsds (`Action::ReapStrayLvsd`).
    reap_strays: bool,
    was_active: bool,
    /// `service = fos`: the failover services' I/O.
    fos: Option<crate::fos::FosShell>,
    /// `ecmp = 1`: the group's announce/withdraw core and its I/O (docs/ecmp.md).
    group: Option<crate::group::GroupShell>,
    /// `ecmp = 1`: the group view (informational: never read by `group`).
    view: Option<crate::group_view::ViewShell>,
    /// `ecmp = 1`: `pulsectl release` withdrew everything (told to the other directors).
    released: bool,
    /// SIGTERM: every VIP withdrawn outside the group core (told to the other directors).
    stopping: bool,
}

pub(crate) async fn run(opts: Options, prepared: setup::Prepared) -> Result<()> {
    let setup::Prepared {
        cfg,
        plan,
        sockets,
        key,
    } = prepared;
    // Plain duplicates of the sockets for draining: tokio's `try_recv_from` trusts its cached
    // readiness, which is stale right after a stall, exactly when draining matters.
    let drain = sockets
        .iter()
        .map(std::net::UdpSocket::try_clone)
        .collect::<std::io::Result<Vec<_>>>()?;
    let sockets: Vec<Arc<UdpSocket>> = sockets
        .into_iter()
        .map(|s| UdpSocket::from_std(s).map(Arc::new))
        .collect::<std::io::Result<_>>()?;
    let (events, mut events_rx) = mpsc::unbounded_channel();
    let vips = VipWorker::start(events.clone())?;
    info!(
        "STARTING PULSE AS {}",
        if plan.primary { "MASTER" } else { "BACKUP" }
    );
    let mode = if key.is_some() {
        "authenticated"
    } else {
        "piranha (unauthenticated)"
    };
    info!(links = plan.links.len(), mode, "heartbeat");
    let view_key = key.clone();
    let hb_cfg = setup::heartbeat_config(&cfg, &plan, key, &opts);
    let settings = setup::settings(&cfg, &opts);
    let monitored = setup::monitored_interfaces(&plan);
    let fos = plan
        .fos
        .as_ref()
        .map(|f| crate::fos::FosShell::new(&cfg, f));
    let group = match pulse_director::GroupPlan::new(&cfg, pulse_sys::resolve::resolve)? {
        Some(g) => Some(crate::group::GroupShell::start(
            g,
            opts.lvsd_socket.clone(),
            events.clone(),
        )?),
        None => None,
    };
    let view = group.as_ref().and_then(|g| {
        let local = pulse_sys::resolve::local_addresses();
        crate::group_view::ViewShell::start(&cfg, g.core.plan(), view_key, &local)
    });
    let view_inbox = view.as_ref().map(|v| v.inbox.clone());
    let director = Director::new(hb_cfg, plan, settings, Instant::now());
    let mut d = Driver {
        director,
        sockets,
        drain,
        vips,
        lvsd: None,
        events,
        sync_roles: None,
        notify: Notifier::from_env(),
        ready: false,
        heartbeat_sent: false,
        reloading: false,
        reload_again: false,
        reap_strays: false,
        was_active: false,
        fos,
        group,
        view,
        released: false,
        stopping: false,
        opts,
    };
    let mut links = d.watch_links(monitored)?;
    let (tx, mut rx) = mpsc::channel::<(usize, SocketAddr, Vec<u8>)>(256);
    for (link, sock) in d.sockets.iter().enumerate() {
        tokio::spawn(recv_loop(link, sock.clone(), tx.clone()));
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut ctl = pulse_control::server::listen(&d.opts.control)?;
    let (metrics_tx, mut metrics) = mpsc::channel::<crate::metrics::StatusRequest>(16);
    setup::start_metrics(&cfg, d.opts.lvsd_socket.clone(), metrics_tx).await;
    drop(cfg);
    loop {
        d.flush();
        let group_due = d.group.as_ref().and_then(|g| g.core.poll_timeout());
        let view_due = d.view.as_ref().and_then(|v| v.core.poll_timeout());
        let deadline = [d.director.poll_timeout(), group_due, view_due]
            .into_iter()
            .flatten()
            .min()
            .map(tokio::time::Instant::from_std);
        let view_wake = async {
            match &view_inbox {
                Some(i) => i.wake.notified().await,
                None => std::future::pending().await,
            }
        };
        let timer = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        // No `biased`: a flood of datagrams must not starve the timer (our own heartbeats).
        // Stalls are handled by draining before the timer is judged.
        tokio::select! {
            Some((link, from, data)) = rx.recv() => d.director.handle_datagram(Instant::now(), link, from, &data),
            () = timer => {
                d.drain_datagrams(&mut rx);
                let now = Instant::now();
                d.director.handle_timeout(now);
                if let Some(g) = &mut d.group
                    && g.core.poll_timeout().is_some_and(|t| t <= now)
                {
                    g.core.handle_timeout(now);
                }
                if let Some(v) = &mut d.view {
                    // Whatever waits in the inbox first (after a stall, as for heartbeats).
                    v.receive();
                    v.core.handle_timeout(now);
                }
            }
            () = view_wake => {
                if let Some(v) = &mut d.view {
                    v.receive();
                }
            }
            Some(ev) = events_rx.recv() => d.on_event(ev),
            _ = term.recv() => return d.shutdown(15, &mut events_rx).await,
            _ = int.recv() => return d.shutdown(2, &mut events_rx).await,
            _ = hup.recv() => d.reload(),
            Some(ev) = links.recv() => d.director.handle_link(Instant::now(), ev.ifindex, ev.running),
            Some((req, reply)) = ctl.recv() => {
                let answer = d.control(req);
                let _ = reply.send(answer);
            }
            Some(reply) = metrics.recv() => {
                d.receive_view();
                let _ = reply.send(d.status());
            }
        }
    }
}

/// One link's socket: every datagram goes to the loop.
async fn recv_loop(
    link: usize,
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<(usize, SocketAddr, Vec<u8>)>,
) {
    let mut buf = [0u8; 512];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => {
                if tx.send((link, from, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
            // ICMP errors from a partner that is down surface here; keep listening.
            Err(e) => debug!(link, error = %e, "recvfrom() failed"),
        }
    }
}

impl Driver {
    fn on_event(&mut self, ev: Ev) {
        let now = Instant::now();
        match ev {
            Ev::Claimed(vip, result) => self.director.handle_claim_result(now, &vip, result),
            Ev::HandoffOver => {
                lvsd::end_handoff(self.opts.lvsd_socket.clone(), !self.opts.test_start);
            }
            Ev::LvsdStarted(result) => {
                if let Some(g) = &mut self.group {
                    if result.is_ok() {
                        g.core.handle_lvsd_started(now);
                    } else {
                        g.core.handle_lvsd_exited(now);
                    }
                }
                self.director.handle_lvsd_started(now, result.map(|_| ()));
            }
            Ev::LvsdExited(how) => {
                self.lvsd = None;
                // Withdraw before anything else: the router must stop sending here at once.
                if let Some(g) = &mut self.group {
                    g.core.handle_lvsd_exited(now);
                    g.flush();
                }
                self.director.handle_lvsd_exited(now, &how);
            }
            Ev::GroupRoutes(present) => {
                if let Some(g) = &mut self.group {
                    g.core.handle_routes(now, &present);
                }
            }
            Ev::GroupRouteDone(vip, announce, ok) => {
                if let Some(g) = &mut self.group {
                    g.core.handle_route_result(now, vip, announce, ok);
                }
            }
            Ev::LvsdView(view) => {
                if let Some(g) = &mut self.group
                    && self.lvsd.is_some()
                {
                    // IPVS serves a VIP only where it is a local address (LOCAL_IN): until
                    // the director is active (the VIPs claimed on `lo`), nothing is servable.
                    let view = if self.director.is_active() {
                        view
                    } else {
                        pulse_director::LvsdView::default()
                    };
                    g.core.handle_lvsd_view(now, view);
                }
            }
            Ev::Reloaded(result) => {
                self.reloading = false;
                self.director.handle_reload(now, *result);
                self.notify.send(&format!(
                    "READY=1\nSTATUS={}",
                    crate::status::role_line(&self.director)
                ));
                if std::mem::take(&mut self.reload_again) {
                    self.reload();
                }
            }
            Ev::DrainProgress(answer) => self.director.handle_drain_progress(now, answer),
            Ev::FosDone(service, which, result) => {
                self.director
                    .handle_fos_command_done(now, service, which, result);
            }
            Ev::FosCheck(service, id, result) => {
                self.director.handle_fos_check(now, service, id, result);
            }
            Ev::FosPing(result) => self.director.handle_fos_connectivity(now, result),
            Ev::GroupConfig(serial_no, digest) => {
                if let Some(v) = &mut self.view {
                    v.core.set_config(serial_no, digest);
                }
            }
        }
    }

    /// `monitor_links` (docs/reference/piranha.md §4.9): kernel link notifications for the interfaces that
    /// carry our heartbeat addresses.
    fn watch_links(
        &mut self,
        monitored: Vec<(u32, String, bool)>,
    ) -> Result<mpsc::UnboundedReceiver<pulse_sys::LinkEvent>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.director.settings().monitor_links || self.director.plan().links.is_empty() {
            return Ok(rx);
        }
        pulse_sys::watch_links(move |e| tx.send(e).is_ok())?;
        self.director.watch_links(Instant::now(), monitored);
        Ok(rx)
    }

    /// The status for the control socket and the metrics endpoint.
    fn status(&self) -> pulse_control::Status {
        let mut st = crate::status::render(&self.director.status(), self.vips.arps_sent());
        if let Some(g) = &self.group {
            st.ecmp = g.status();
        }
        st.ecmp_group = self.view.as_ref().map(crate::group_view::ViewShell::status);
        st
    }

    /// `ecmp = 1`: feeds the group view what waits in its inbox, so a status never shows a
    /// director stale whose datagram is already here.
    fn receive_view(&mut self) {
        if let Some(v) = &mut self.view {
            v.receive();
        }
    }

    /// A control-socket request.
    fn control(&mut self, req: Request) -> Response {
        self.receive_view();
        let cmd = match req {
            Request::Status => None,
            Request::Reload => {
                info!("reload asked on the control socket");
                self.reload();
                None
            }
            // `ecmp = 1`: every director is active; release drains by withdrawal and takeover
            // rejoins the group.
            Request::Release if self.group.is_some() => {
                if let Some(g) = &mut self.group {
                    info!("ecmp: release: withdrawing every VIP, then draining");
                    g.core.handle_release(Instant::now());
                }
                self.released = true;
                None
            }
            Request::Takeover if self.group.is_some() => {
                if let Some(g) = &mut self.group {
                    info!("ecmp: rejoining the group");
                    g.core.handle_rejoin(Instant::now());
                    // lvsd starts again if a drain stopped it; the VIPs follow its reports.
                    self.director.set_lvsd_wanted(Instant::now(), true);
                    self.flush();
                }
                self.released = false;
                None
            }
            Request::Takeover => Some(pulse_director::HeartbeatCommand::Takeover),
            Request::Release => Some(pulse_director::HeartbeatCommand::Release),
            Request::Lvs | Request::Handoff { .. } | Request::Server { .. } => {
                return Response::Error {
                    message: "this is pulse; the LVS table is lvsd's (ask its socket)".into(),
                };
            }
        };
        if let Some(cmd) = cmd {
            if let Err(e) = self.director.handle_command(Instant::now(), cmd) {
                return Response::Error {
                    message: e.to_string(),
                };
            }
            self.flush();
        }
        Response::Ok {
            status: Box::new(self.status()),
        }
    }

    /// SIGHUP: re-read lvs.cf on a blocking thread (a 40 MB file takes most of a second to
    /// parse; name resolution can take longer); the result comes back as [`Ev::Reloaded`]. A
    /// bad file changes nothing. Unlike piranha, never signals process 0 when no lvsd runs
    /// (docs/reference/piranha.md §10 item 11).
    fn reload(&mut self) {
        if self.reloading {
            // The file may have changed after the running read began: read it again then.
            info!("a reload is under way; reading the file again after it");
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        info!("rereading configuration file");
        self.notify.send("RELOADING=1\nSTATUS=reloading lvs.cf");
        let (opts, events) = (self.opts.clone(), self.events.clone());
        tokio::task::spawn_blocking(move || {
            let result = setup::reload(&opts).map_err(|e| format!("{e:#}"));
            if let Ok((r, Some(digest))) = &result {
                let _ = events.send(Ev::GroupConfig(r.settings.serial_no, *digest));
            }
            let _ = events.send(Ev::Reloaded(Box::new(result.map(|r| r.0))));
        });
    }

    /// Feed every heartbeat already received to the director: those the receive tasks
    /// forwarded and those still in the sockets. If this process was stalled (a busy host, a
    /// descheduled vCPU), the partner's heartbeats wait here, and without this the dead timer
    /// would fire first and cause a false failover.
    fn drain_datagrams(&mut self, rx: &mut mpsc::Receiver<(usize, SocketAddr, Vec<u8>)>) {
        // Bounded, so a flood of junk cannot keep us here.
        for _ in 0..DRAIN_MAX {
            let Ok((link, from, data)) = rx.try_recv() else {
                break;
            };
            self.director
                .handle_datagram(Instant::now(), link, from, &data);
        }
        let mut buf = [0u8; 512];
        for link in 0..self.drain.len() {
            for _ in 0..DRAIN_MAX {
                let Ok((n, from)) = self.drain[link].recv_from(&mut buf) else {
                    break;
                };
                self.director
                    .handle_datagram(Instant::now(), link, from, &buf[..n]);
            }
        }
    }

    async fn shutdown(
        &mut self,
        signo: i32,
        events_rx: &mut mpsc::UnboundedReceiver<Ev>,
    ) -> Result<()> {
        info!("Terminating due to signal {signo}");
        self.notify.send("STOPPING=1\nSTATUS=stopping");
        if let Some(g) = &self.group {
            g.withdraw_all();
        }
        // The other directors see the withdrawal now rather than a silence in 3 keepalives.
        self.stopping = true;
        self.flush_view();
        self.director.handle_shutdown(Instant::now());
        self.flush();
        // `service = fos`: the stop_cmds run (each bounded by fos_command_timeout) before the
        // VIPs go, as piranha stopped fos before `ifconfig down`.
        if let Some(limit) = self
            .director
            .plan()
            .fos
            .as_ref()
            .map(|f| f.command_timeout * 2 + Duration::from_secs(1))
        {
            let deadline = tokio::time::Instant::now() + limit;
            while self.director.fos_busy() {
                match tokio::time::timeout_at(deadline, events_rx.recv()).await {
                    Ok(Some(ev)) => self.on_event(ev),
                    _ => break,
                }
                self.flush();
            }
        }
        if let Some(l) = self.lvsd.take() {
            l.wait_stopped().await;
        }
        self.vips.finish(Duration::from_secs(5)).await;
        if let Some(s) = self.sync_roles.take() {
            s.finish(Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// `ecmp = 1`: tells the group view what this director announces (sent at once if it
    /// changed) and sends what it queued.
    fn flush_view(&mut self) {
        if let (Some(g), Some(v)) = (&self.group, &mut self.view) {
            let stopping = self.stopping;
            v.core.set_local(
                Instant::now(),
                |vip| !stopping && g.core.announced(vip),
                self.released || stopping,
            );
            v.flush();
        }
    }

    /// Carry out everything the director asked for, then send its heartbeats. Actions are
    /// handed to workers (none blocks), so the heartbeats go out at once.
    fn flush(&mut self) {
        while let Some(a) = self.director.poll_action() {
            self.act(a);
        }
        if let Some(g) = &mut self.group {
            g.flush();
            if std::mem::take(&mut g.stop_lvsd) {
                self.director.set_lvsd_wanted(Instant::now(), false);
                while let Some(a) = self.director.poll_action() {
                    self.act(a);
                }
            }
        }
        self.flush_view();
        while let Some(t) = self.director.poll_transmit() {
            self.heartbeat_sent = true;
            // UDP to a configured address: the socket buffer takes it or the send fails at
            // once; it never waits.
            if let Err(e) = self.sockets[t.link].try_send_to(t.payload(), t.dest) {
                debug!(dest = %t.dest, error = %e, "heartbeat send failed");
            }
        }
        // READY=1 (systemd's Type=notify) after the first heartbeat round: sockets bound,
        // stale VIPs asked to go, the first heartbeats sent (one keepalive after start) or,
        // sooner, the VIPs claimed (--forceactive) or no partner to heartbeat with.
        let active = self.director.is_active();
        if !self.ready && (self.heartbeat_sent || active || self.director.plan().links.is_empty()) {
            self.ready = true;
            self.notify.send(&format!(
                "READY=1\nSTATUS={}",
                crate::status::role_line(&self.director)
            ));
        } else if self.ready && active != self.was_active {
            self.notify.send(&format!(
                "STATUS={}",
                crate::status::role_line(&self.director)
            ));
        }
        self.was_active = active;
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::ClaimVip(v) => self.vips.send(VipsIn::Claim(v)),
            Action::ReleaseVip { vip, stale } => self.vips.send(VipsIn::Release(vip, stale)),
            // `ecmp = 1`: the VIP lives on `lo` and is reached through the router's routes;
            // no gratuitous ARP.
            Action::Announce(_) if self.group.is_some() => {}
            Action::Announce(v) => self.vips.send(VipsIn::Announce(v)),
            Action::RunCommand { what, line } => crate::setup::run_command(what, &line),
            Action::ReapStrayLvsd => self.reap_strays = true,
            Action::StartLvsd { standby } => {
                let reap = std::mem::take(&mut self.reap_strays);
                self.lvsd = Some(lvsd::start(&self.opts, standby, reap, self.events.clone()));
            }
            Action::StopLvsd => {
                if let Some(l) = &mut self.lvsd {
                    l.stop();
                }
            }
            Action::ReloadLvsd => {
                if let Some(l) = &self.lvsd {
                    l.reload();
                }
            }
            Action::SetSyncRole {
                role,
                interface,
                sync_id,
            } => self
                .sync_roles
                .get_or_insert_with(crate::syncd::SyncWorker::start)
                .switch(role, interface, sync_id),
            Action::Drain { partner } => {
                tokio::spawn(lvsd::drain(
                    self.opts.lvsd_socket.clone(),
                    partner,
                    self.events.clone(),
                ));
            }
            // Only once the VIPs are released (the VIP worker's queue is in order): until then
            // a new connection can still reach this director, and it must go on to the
            // partner, which the clients reach next. Taking the table back first let this
            // director schedule such a connection itself, and its next packets, sent to the
            // partner once the client's ARP moved, met a director that did not know it (two
            // requests lost in the pair VM's planned release, between "deactivating" and
            // "released VIP").
            Action::EndHandoff => self.vips.send(VipsIn::Then(Ev::HandoffOver)),
            Action::Fos(a) => {
                let Some(fos) = &self.fos else { return };
                match a {
                    pulse_director::FosAction::Run {
                        service,
                        which,
                        line,
                    } => fos.run(service, which, line, self.events.clone()),
                    pulse_director::FosAction::Check { service, id } => {
                        fos.check(service, id, self.events.clone());
                    }
                    pulse_director::FosAction::CheckConnectivity => {
                        fos.connectivity(self.events.clone());
                    }
                }
            }
            Action::PersistReplayFloor(seq) => {
                let path = self.opts.state_dir.join("heartbeat-seq");
                tokio::task::spawn_blocking(move || setup::persist_floor(&path, seq));
            }
        }
    }
}
