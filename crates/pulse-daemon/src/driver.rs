//! The async shell around `pulse_proto::Heartbeat`: sockets, timers, signals and side effects.

use crate::Options;
use crate::notify::Notifier;
use crate::plan::{Plan, VipClaim, plan};
use anyhow::{Context, Result, bail};
use pulse_control::{ConfigIdentity, Counters, LinkStatus, Partner, Request, Response, Status};
use pulse_ipvs::{SyncDaemon, SyncRole};
use pulse_lvscf::LvsConfig;
use pulse_lvscf::model::Host;
use pulse_proto::HeartbeatKey;
use pulse_proto::fsm::{
    ActivateReason, Command, DeactivateReason, Event, Heartbeat, Rejection, WireMode,
};
use pulse_sys::{ArpSender, Rtnl};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// How long lvsd gets to exit after SIGTERM before it is killed.
const LVSD_STOP_GRACE: Duration = Duration::from_secs(10);
/// A standby lvsd that died is restarted after this pause, doubled while it keeps dying soon
/// after starting, up to `LVSD_RESTART_MAX`.
const LVSD_RESTART_MIN: Duration = Duration::from_secs(1);
const LVSD_RESTART_MAX: Duration = Duration::from_secs(60);
/// A draining release waits at most this long for the real servers' connections to finish
/// (long-lived ones are then left to the sync daemon, which flushes every 2 s).
const RELEASE_DRAIN_MAX: Duration = Duration::from_secs(3);
/// At most this many queued datagrams per socket are drained before a timer is judged.
const DRAIN_MAX: usize = 256;
/// At most one log line per rejection reason in this period.
const REJECT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Everything checked and bound before daemonizing.
pub(crate) struct Prepared {
    cfg: LvsConfig,
    plan: Plan,
    sockets: Vec<std::net::UdpSocket>,
    key: Option<HeartbeatKey>,
}

/// The replay floor saved by a previous run (0 if there is none).
fn read_seq(path: &std::path::Path) -> u64 {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            warn!(path = %path.display(), "unreadable heartbeat replay floor; starting from 0");
            0
        }),
        Err(_) => 0,
    }
}

/// Read the `heartbeat_key` file: at least 32 bytes (trailing whitespace is not part of the
/// key), readable by its owner only.
fn load_key(path: &std::path::Path) -> Result<HeartbeatKey> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read heartbeat key {}", path.display()))?;
    if meta.mode() & 0o077 != 0 {
        bail!(
            "heartbeat key {} is readable by others; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read heartbeat key {}", path.display()))?;
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    HeartbeatKey::new(&bytes[..end]).with_context(|| {
        format!(
            "heartbeat key {} is shorter than {} bytes; make one with `pulsectl key generate`",
            path.display(),
            HeartbeatKey::MIN_LEN
        )
    })
}

fn resolve(h: &Host) -> Option<Ipv4Addr> {
    match h {
        Host::Ip(std::net::IpAddr::V4(a)) => Some(*a),
        Host::Ip(std::net::IpAddr::V6(_)) => None,
        Host::Name(n) => (n.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .find_map(|a| match a {
                SocketAddr::V4(v4) => Some(*v4.ip()),
                SocketAddr::V6(_) => None,
            }),
    }
}

/// A host of lvs.cf as an address of either family.
fn resolve_ip(h: &Host) -> Option<std::net::IpAddr> {
    match h {
        Host::Ip(a) => Some(*a),
        Host::Name(n) => (n.as_str(), 0)
            .to_socket_addrs()
            .ok()?
            .next()
            .map(|a| a.ip()),
    }
}

fn load(path: &std::path::Path) -> Result<LvsConfig> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    let parsed = pulse_lvscf::parse(&src);
    if !parsed.is_valid() {
        let errors: String = parsed
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render(&path.display().to_string(), &src))
            .collect();
        bail!("error parsing {}:\n{errors}", path.display());
    }
    Ok(parsed.config)
}

fn local_addresses() -> Vec<Ipv4Addr> {
    pulse_sys::interfaces()
        .into_iter()
        .flat_map(|i| i.ipv4)
        .collect()
}

/// Read the configuration, decide the role, bind the heartbeat sockets.
pub(crate) fn prepare(opts: &Options) -> Result<Prepared> {
    let cfg = load(&opts.config)?;
    let plan = plan(&cfg, &local_addresses(), resolve)
        .with_context(|| format!("in {}", opts.config.display()))?;
    let key = cfg
        .heartbeat_key
        .as_deref()
        .map(|p| load_key(std::path::Path::new(p)))
        .transpose()?;
    let mut sockets = Vec::new();
    for l in &plan.links {
        let s = std::net::UdpSocket::bind(l.local).with_context(|| {
            format!(
                "cannot create heartbeat socket on {}. running as root?",
                l.local
            )
        })?;
        s.set_nonblocking(true)?;
        sockets.push(s);
    }
    Ok(Prepared {
        cfg,
        plan,
        sockets,
        key,
    })
}

fn heartbeat_config(
    cfg: &LvsConfig,
    plan: &Plan,
    key: Option<HeartbeatKey>,
    force_active: bool,
) -> pulse_proto::Config {
    let canonical = serde_json::to_vec(cfg).unwrap_or_default();
    let mut boot = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut boot));
    pulse_proto::Config {
        primary: plan.primary,
        links: plan.links.clone(),
        keepalive: plan.keepalive,
        deadtime: plan.deadtime,
        mode: key.map_or(WireMode::Legacy { fos: false }, WireMode::Authenticated),
        force_active,
        serial_no: cfg.serial_no,
        digest: pulse_proto::wire::config_digest(&canonical),
        boot_id: u64::from_ne_bytes(boot),
        wall_clock_us: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        replay_floor: 0,
        // Forwarding new connections to the partner while ours finish needs its lvsd running
        // (warm standby) and a forwarding method that passes the VIP through untouched; with
        // NAT the real servers answer through our nat_router.
        drain_on_release: cfg.warm_standby && cfg.network != pulse_lvscf::model::Network::Nat,
    }
}

/// Work that must wait until the heartbeat saying "inactive" has gone out.
enum Later {
    StopLvsd,
    InactiveCmd,
}

struct Driver {
    opts: Options,
    cfg: LvsConfig,
    plan: Plan,
    hb: Heartbeat,
    sockets: Vec<Arc<UdpSocket>>,
    /// Non-blocking duplicates of `sockets`, read directly by `drain_datagrams`.
    drain: Vec<std::net::UdpSocket>,
    rtnl: Rtnl,
    arp: Arc<Mutex<HashMap<String, ArpSender>>>,
    arp_task: Option<tokio::task::JoinHandle<()>>,
    lvsd: Option<Child>,
    /// When the running lvsd was started.
    lvsd_started: Option<Instant>,
    /// When to restart a standby lvsd that died (`warm_standby`), and the pause after that.
    lvsd_restart_at: Option<Instant>,
    lvsd_restart_pause: Duration,
    pending: Vec<Command>,
    /// Commands from tasks (a finished drain), fed to the state machine by the main loop.
    commands: mpsc::UnboundedSender<Command>,
    commands_rx: Option<mpsc::UnboundedReceiver<Command>>,
    /// lvsd forwards new connections to the partner (a draining release).
    handing_off: bool,
    last_reject_log: HashMap<String, (Instant, u64)>,
    rejected_by_reason: BTreeMap<&'static str, u64>,
    arps_sent: Arc<AtomicU64>,
    authenticated: bool,
    digest: [u8; 8],
    /// `monitor_links`: the interfaces carrying our heartbeat addresses, and whether each runs.
    monitored: HashMap<u32, (String, bool)>,
    /// Where the highest authenticated sequence accepted is kept across restarts.
    seq_file: PathBuf,
    /// The value last written there.
    persisted_seq: u64,
    /// The sync-daemon thread's queue (started at the first role change).
    sync_roles: Option<(
        std::sync::mpsc::Sender<SyncDaemon>,
        std::thread::JoinHandle<()>,
    )>,
    /// systemd's `$NOTIFY_SOCKET` (`Type=notify`), if set.
    notify: Notifier,
    /// Whether `READY=1` went out (after the first heartbeat round).
    ready: bool,
    /// Whether a heartbeat went out yet.
    heartbeat_sent: bool,
}

pub(crate) async fn run(opts: Options, prepared: Prepared) -> Result<()> {
    let Prepared {
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
    let rtnl = Rtnl::connect()?;
    let mut arp = HashMap::new();
    for v in &plan.vips {
        if !arp.contains_key(&v.base) {
            arp.insert(v.base.clone(), ArpSender::open(&v.base)?);
        }
    }
    let role = if plan.primary { "MASTER" } else { "BACKUP" };
    info!("STARTING PULSE AS {role}");
    let mode = if key.is_some() {
        "authenticated"
    } else {
        "piranha (unauthenticated)"
    };
    info!(links = plan.links.len(), mode, "heartbeat");
    let authenticated = key.is_some();
    let mut hb_cfg = heartbeat_config(&cfg, &plan, key, opts.forceactive);
    let seq_file = opts.state_dir.join("heartbeat-seq");
    if authenticated {
        hb_cfg.replay_floor = read_seq(&seq_file);
    }
    let persisted_seq = hb_cfg.replay_floor;
    let digest = hb_cfg.digest;
    let hb = Heartbeat::new(hb_cfg, Instant::now());
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let mut d = Driver {
        opts,
        cfg,
        plan,
        hb,
        sockets,
        drain,
        rtnl,
        arp: Arc::new(Mutex::new(arp)),
        arp_task: None,
        lvsd: None,
        lvsd_started: None,
        lvsd_restart_at: None,
        lvsd_restart_pause: LVSD_RESTART_MIN,
        pending: Vec::new(),
        commands,
        commands_rx: Some(commands_rx),
        handing_off: false,
        last_reject_log: HashMap::new(),
        rejected_by_reason: BTreeMap::new(),
        arps_sent: Arc::new(AtomicU64::new(0)),
        authenticated,
        digest,
        monitored: HashMap::new(),
        seq_file,
        sync_roles: None,
        persisted_seq,
        notify: Notifier::from_env(),
        ready: false,
        heartbeat_sent: false,
    };
    d.remove_stale_vips();
    d.run_cmd(d.cfg.inactive_cmd.clone(), "inactive_cmd");
    d.sync_daemon(SyncRole::Backup);
    d.start_standby_lvsd();
    let result = d.main_loop().await;
    d.finish_sync_daemon().await;
    result
}

impl Driver {
    async fn main_loop(&mut self) -> Result<()> {
        let (tx, mut rx) = mpsc::channel::<(usize, SocketAddr, Vec<u8>)>(256);
        for (link, sock) in self.sockets.iter().enumerate() {
            let (sock, tx) = (sock.clone(), tx.clone());
            tokio::spawn(async move {
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
            });
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut ctl = pulse_control::server::listen(&self.opts.control)?;
        let mut links = self.watch_links()?;
        let (metrics_tx, mut metrics) = mpsc::channel::<crate::metrics::StatusRequest>(16);
        let mut commands = self.commands_rx.take().context("the main loop runs once")?;
        self.start_metrics(metrics_tx).await;
        loop {
            self.flush().await;
            // READY=1 (systemd's Type=notify) after the first heartbeat round: sockets bound,
            // stale VIPs gone, the first heartbeats sent (one keepalive after start) or, sooner,
            // the VIPs claimed (--forceactive) or no partner to heartbeat with.
            if !self.ready
                && (self.heartbeat_sent || self.hb.is_active() || self.plan.links.is_empty())
            {
                self.ready = true;
                let status = self.role_status();
                self.notify.send(&format!("READY=1\nSTATUS={status}"));
            }
            let deadline = self.hb.poll_timeout().map(tokio::time::Instant::from_std);
            let timer = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let restart_at = self.lvsd_restart_at.map(tokio::time::Instant::from_std);
            let restart = async {
                match restart_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let child = async {
                match self.lvsd.as_mut() {
                    Some(c) => c.wait().await,
                    None => std::future::pending().await,
                }
            };
            // No `biased`: a flood of datagrams must not starve the timer (our own heartbeats).
            // Stalls are handled by draining before the timer is judged.
            tokio::select! {
                Some((link, from, data)) = rx.recv() => self.hb.handle_datagram(Instant::now(), link, from, &data),
                () = timer => {
                    self.drain_datagrams(&mut rx);
                    self.hb.handle_timeout(Instant::now());
                }
                status = child => {
                    self.lvsd = None;
                    match status {
                        Ok(s) => warn!(status = %s, "lvsd exited"),
                        Err(e) => warn!(error = %e, "lvsd could not be waited for"),
                    }
                    // Serving: the partner must take over (piranha.md §4.5). Standing by: only
                    // this director's readiness suffers; start it again after a pause.
                    if self.hb.is_active() {
                        self.pending.push(Command::ChildExited);
                    }
                    self.schedule_lvsd_restart();
                }
                () = restart => {
                    self.lvsd_restart_at = None;
                    self.start_standby_lvsd();
                }
                _ = term.recv() => return self.shutdown(15).await,
                _ = int.recv() => return self.shutdown(2).await,
                _ = hup.recv() => self.reload(),
                Some(ev) = links.recv() => self.on_link(ev),
                Some((req, reply)) = ctl.recv() => {
                    let answer = self.control(req).await;
                    let _ = reply.send(answer);
                }
                Some(cmd) = commands.recv() => self.pending.push(cmd),
                Some(reply) = metrics.recv() => {
                    let _ = reply.send(self.status());
                }
            }
        }
    }

    /// The metrics endpoint, if lvs.cf asks for one. A failure to listen is logged and pulse
    /// runs on: a taken port must not cost the director pair its failover.
    async fn start_metrics(&self, tx: mpsc::Sender<crate::metrics::StatusRequest>) {
        if self.cfg.metrics_port == 0 {
            return;
        }
        let Some(ip) = resolve_ip(&self.cfg.metrics_address) else {
            error!(address = %self.cfg.metrics_address, "cannot resolve metrics_address; no metrics endpoint");
            return;
        };
        let addr = SocketAddr::new(ip, self.cfg.metrics_port);
        if let Err(e) = crate::metrics::serve(addr, self.opts.lvsd_socket.clone(), tx).await {
            error!("{e}; no metrics endpoint");
        }
    }

    /// `monitor_links` (piranha.md §4.9; only with a partner): watch the interfaces that carry
    /// our heartbeat addresses through kernel link notifications.
    fn watch_links(&mut self) -> Result<mpsc::UnboundedReceiver<pulse_sys::LinkEvent>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.cfg.monitor_links || self.plan.links.is_empty() {
            return Ok(rx);
        }
        for iface in pulse_sys::interfaces() {
            let carries = self.plan.links.iter().any(|l| match l.local.ip() {
                std::net::IpAddr::V4(a) => iface.ipv4.contains(&a),
                std::net::IpAddr::V6(_) => false,
            });
            if carries {
                self.monitored
                    .insert(iface.index, (iface.name.clone(), iface.running));
            }
        }
        info!(interfaces = ?self.monitored.values().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), "monitoring links");
        pulse_sys::watch_links(move |e| tx.send(e).is_ok())?;
        self.apply_link_state();
        Ok(rx)
    }

    fn on_link(&mut self, ev: pulse_sys::LinkEvent) {
        if let Some((name, running)) = self.monitored.get_mut(&ev.ifindex) {
            if *running != ev.running {
                *running = ev.running;
                if ev.running {
                    info!(ifname = %name, "link up");
                } else {
                    warn!(ifname = %name, "NIC: link down");
                }
            }
            self.apply_link_state();
        }
    }

    fn apply_link_state(&mut self) {
        let down = self.monitored.values().any(|(_, running)| !running);
        let failed = self.hb.status().link_failed;
        if down && !failed {
            warn!("Local NIC link failure: Pulse disabled");
            self.pending.push(Command::LinkDown);
        } else if !down && failed {
            info!("Local NIC link(s) restored: Pulse enabled");
            self.pending.push(Command::LinkUp);
        }
    }

    /// A control-socket request.
    async fn control(&mut self, req: Request) -> Response {
        let cmd = match req {
            Request::Status => None,
            Request::Takeover => Some(Command::Takeover),
            Request::Release => Some(Command::Release),
            Request::Lvs | Request::Handoff { .. } => {
                return Response::Error {
                    message: "this is pulse; the LVS table is lvsd's (ask its socket)".into(),
                };
            }
        };
        if let Some(cmd) = cmd {
            info!(command = ?cmd, "requested over the control socket");
            if let Err(e) = self.hb.handle_command(Instant::now(), cmd) {
                return Response::Error {
                    message: e.to_string(),
                };
            }
            self.flush().await;
        }
        Response::Ok {
            status: Box::new(self.status()),
        }
    }

    fn status(&self) -> Status {
        let st = self.hb.status();
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let held: Vec<String> = match self.rtnl.addresses() {
            Ok(addrs) => self
                .plan
                .vips
                .iter()
                .filter(|v| addrs.iter().any(|a| a.addr == v.addr))
                .map(|v| format!("{}/{} {}", v.addr, v.prefix, v.device))
                .collect(),
            Err(_) => Vec::new(),
        };
        let ours = ConfigIdentity {
            serial_no: self.cfg.serial_no,
            digest: pulse_control::hex(&self.digest),
        };
        let partner_config =
            st.partner
                .and_then(|p| p.config)
                .map(|(serial_no, d)| ConfigIdentity {
                    serial_no,
                    digest: pulse_control::hex(&d),
                });
        Status {
            role: if st.primary { "primary" } else { "backup" }.into(),
            state: if st.active { "active" } else { "inactive" }.into(),
            since_unix: wall - now.duration_since(st.since).as_secs_f64(),
            link_failed: st.link_failed,
            lvsd_failed: st.child_failed,
            heartbeat_mode: if self.authenticated {
                "authenticated"
            } else {
                "piranha"
            }
            .into(),
            partner: Partner {
                configured: !self.plan.links.is_empty(),
                alive: st.partner_alive,
                state: st
                    .partner
                    .map(|p| if p.active { "active" } else { "inactive" }.to_string()),
                config_mismatch: partner_config.as_ref().is_some_and(|c| *c != ours),
                config: partner_config,
            },
            links: st
                .links
                .iter()
                .map(|l| LinkStatus {
                    local: l.link.local.to_string(),
                    peer: l.link.peer.to_string(),
                    last_heard_ms_ago: l.last_heard.map(|t| {
                        u64::try_from(now.duration_since(t).as_millis()).unwrap_or(u64::MAX)
                    }),
                    heartbeats_sent: l.counters.sent,
                    heartbeats_received: l.counters.received,
                    heartbeats_rejected: l.counters.rejected,
                })
                .collect(),
            vips_held: held,
            counters: Counters {
                heartbeats_sent: st.counters.sent,
                heartbeats_received: st.counters.received,
                heartbeats_rejected: st.counters.rejected,
                takeovers: st.counters.takeovers,
                releases: st.counters.releases,
                arps_sent: self.arps_sent.load(Ordering::Relaxed),
            },
            rejected_by_reason: self
                .rejected_by_reason
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            lvsd_running: self.lvsd.is_some(),
            releasing: st.releasing,
            config: ours,
        }
    }

    /// Feed every heartbeat already received to the state machine: those the receive tasks
    /// forwarded and those still in the sockets. If this process was stalled (a busy host, a
    /// descheduled vCPU), the partner's heartbeats wait here, and without this the dead timer
    /// would fire first and cause a false failover.
    fn drain_datagrams(&mut self, rx: &mut mpsc::Receiver<(usize, SocketAddr, Vec<u8>)>) {
        // Bounded, so a flood of junk cannot keep us here.
        for _ in 0..DRAIN_MAX {
            let Ok((link, from, data)) = rx.try_recv() else {
                break;
            };
            self.hb.handle_datagram(Instant::now(), link, from, &data);
        }
        let mut buf = [0u8; 512];
        for link in 0..self.drain.len() {
            for _ in 0..DRAIN_MAX {
                let Ok((n, from)) = self.drain[link].recv_from(&mut buf) else {
                    break;
                };
                self.hb
                    .handle_datagram(Instant::now(), link, from, &buf[..n]);
            }
        }
    }

    /// Keep the replay floor across our own restarts: a heartbeat recorded before a restart must
    /// not be accepted after it. Written at most once a second of sequence (its unit is µs of the
    /// partner's clock), atomically.
    fn persist_seq(&mut self, now: bool) {
        let seen = self.hb.highest_seq_seen();
        if !self.authenticated
            || seen <= self.persisted_seq
            || (!now && seen < self.persisted_seq.saturating_add(1_000_000))
        {
            return;
        }
        let tmp = self.seq_file.with_extension("tmp");
        let written =
            std::fs::create_dir_all(self.seq_file.parent().unwrap_or(std::path::Path::new("/")))
                .and_then(|()| std::fs::write(&tmp, format!("{seen}\n")))
                .and_then(|()| std::fs::rename(&tmp, &self.seq_file));
        match written {
            Ok(()) => self.persisted_seq = seen,
            Err(e) => {
                warn!(path = %self.seq_file.display(), error = %e, "cannot save the heartbeat replay floor")
            }
        }
    }

    async fn shutdown(&mut self, signo: i32) -> Result<()> {
        info!("Terminating due to signal {signo}");
        self.notify.send("STOPPING=1\nSTATUS=stopping");
        self.persist_seq(true);
        let _ = self.hb.handle_command(Instant::now(), Command::Shutdown);
        self.flush().await;
        // A standby lvsd (`warm_standby`) was not stopped by the deactivation.
        self.stop_lvsd().await;
        Ok(())
    }

    /// Act on everything the state machine produced: events first (a release drops the VIPs),
    /// then datagrams (the partner hears "inactive" right after), then slow work (lvsd's exit).
    async fn flush(&mut self) {
        self.persist_seq(false);
        loop {
            for cmd in std::mem::take(&mut self.pending) {
                if let Err(e) = self.hb.handle_command(Instant::now(), cmd) {
                    debug!(error = %e, "command not applied");
                }
            }
            let mut later = Vec::new();
            let mut reannounced = false;
            while let Some(e) = self.hb.poll_event() {
                // Heartbeats queued during a stall come in a burst, each asking for a
                // re-announcement: one per burst is enough.
                if e == Event::Reannounce && std::mem::replace(&mut reannounced, true) {
                    continue;
                }
                self.on_event(e, &mut later);
            }
            while let Some(t) = self.hb.poll_transmit() {
                self.heartbeat_sent = true;
                if let Err(e) = self.sockets[t.link].send_to(t.payload(), t.dest).await {
                    debug!(dest = %t.dest, error = %e, "heartbeat send failed");
                }
            }
            for w in later {
                match w {
                    Later::StopLvsd => self.stop_lvsd().await,
                    Later::InactiveCmd => {
                        self.run_cmd(self.cfg.inactive_cmd.clone(), "inactive_cmd")
                    }
                }
            }
            if self.pending.is_empty() {
                return;
            }
        }
    }

    fn on_event(&mut self, e: Event, later: &mut Vec<Later>) {
        match e {
            Event::Activate(reason) => {
                let line = match reason {
                    ActivateReason::PartnerDead => "partner dead: activating lvs",
                    ActivateReason::PartnerInactive if self.plan.primary => {
                        "backup inactive: activating lvs"
                    }
                    ActivateReason::PartnerInactive => "primary inactive: activating lvs",
                    ActivateReason::Forced => "Forced active on startup: activating lvs",
                    ActivateReason::Takeover => "takeover requested: activating lvs",
                    ActivateReason::Handover => "partner handed over: activating lvs",
                    ActivateReason::Retry => {
                        "lvsd failed earlier and nobody serves: activating lvs"
                    }
                };
                info!("{line}");
                self.claim_vips();
                self.announce();
                self.run_cmd(self.cfg.active_cmd.clone(), "active_cmd");
                self.sync_daemon(SyncRole::Master);
                // With `warm_standby` lvsd already runs and the table is programmed: the VIPs
                // moving is the whole takeover.
                if !self.start_lvsd() {
                    self.pending.push(Command::ChildExited);
                }
                if self.ready {
                    self.notify.send(&format!("STATUS={}", self.role_status()));
                }
            }
            Event::Deactivate(reason) => {
                let line = match reason {
                    DeactivateReason::PartnerActive => "partner active: deactivating LVS",
                    DeactivateReason::LinkFailure => "local link failure: deactivating LVS",
                    DeactivateReason::ChildFailed => "lvsd failed: deactivating LVS",
                    DeactivateReason::Shutdown => "shutting down: deactivating LVS",
                    DeactivateReason::Release => "release requested: deactivating LVS",
                };
                info!("{line}");
                if let Some(t) = self.arp_task.take() {
                    t.abort();
                }
                self.release_vips();
                self.sync_daemon(SyncRole::Backup);
                if !self.cfg.warm_standby {
                    later.push(Later::StopLvsd);
                }
                self.end_handoff();
                later.push(Later::InactiveCmd);
                if self.ready {
                    self.notify.send(&format!("STATUS={}", self.role_status()));
                }
            }
            Event::Reannounce => {
                info!("partner active: resending arps");
                self.run_cmd(self.cfg.active_cmd.clone(), "active_cmd");
                self.claim_vips();
                self.announce();
            }
            Event::PartnerUp => info!("partner heartbeat heard"),
            Event::PartnerDead => {
                info!(deadtime = ?self.plan.deadtime, "partner silent for deadtime")
            }
            Event::PartnerRestarted => info!("partner restarted"),
            Event::ConfigMismatch { serial_no, .. } => warn!(
                partner_serial_no = serial_no,
                our_serial_no = self.cfg.serial_no,
                "lvs.cf differs between the directors; copy the newer one to both"
            ),
            Event::ConfigMatch => info!(
                serial_no = self.cfg.serial_no,
                "lvs.cf matches the partner's again"
            ),
            Event::Rejected { link, from, why } => self.log_rejection(link, from, why),
            Event::ReleaseFailed => {
                warn!(
                    deadtime = ?self.plan.deadtime,
                    "release: the partner did not take over; keeping the service"
                );
                self.end_handoff();
            }
            Event::Drain => self.drain(),
            Event::Prepare => {
                // Not announced: clients keep the partner's MAC until it hands over; only
                // what it forwards arrives here.
                info!("partner is handing over: claiming the VIPs, not announcing them yet");
                self.claim_vips();
            }
            Event::Unprepare => {
                info!("partner kept the service: releasing the unannounced VIPs");
                self.release_vips();
            }
        }
    }

    fn log_rejection(&mut self, link: usize, from: SocketAddr, why: Rejection) {
        *self.rejected_by_reason.entry(why.reason()).or_default() += 1;
        let key = format!("{why:?}");
        let now = Instant::now();
        let entry = self
            .last_reject_log
            .entry(key)
            .or_insert((now - REJECT_LOG_EVERY, 0));
        entry.1 += 1;
        if now.duration_since(entry.0) >= REJECT_LOG_EVERY {
            let text = match why {
                Rejection::NotFromPartner => "Unexpected heartbeat".to_string(),
                Rejection::Incompatible => {
                    "Incompatible heartbeat received -- other system not using identical services"
                        .to_string()
                }
                Rejection::Replay => "replayed heartbeat".to_string(),
                Rejection::Decode(e) => format!("bad heartbeat packet: {e}"),
            };
            warn!(link, %from, dropped = entry.1, "{text}");
            *entry = (now, 0);
        }
    }

    fn ifindex(name: &str) -> Option<u32> {
        pulse_sys::interface(name).ok().map(|i| i.index)
    }

    fn claim_vips(&mut self) {
        for v in &self.plan.vips {
            let Some(idx) = Self::ifindex(&v.base) else {
                error!(vip = %v.addr, ifname = %v.base, "no such interface; VIP not claimed");
                continue;
            };
            match self
                .rtnl
                .add_address(idx, &v.base, &v.device, v.addr, v.prefix)
            {
                Ok(true) => {
                    info!(vip = %v.addr, prefix = v.prefix, device = %v.device, "claimed VIP")
                }
                Ok(false) => debug!(vip = %v.addr, "VIP already present"),
                Err(e) => error!("{e}"),
            }
        }
    }

    fn release_vips(&mut self) {
        for v in &self.plan.vips {
            release_vip(&self.rtnl, v);
        }
    }

    /// At startup, an inactive node must not hold a VIP (left behind by a crash).
    fn remove_stale_vips(&mut self) {
        let Ok(addrs) = self.rtnl.addresses() else {
            return;
        };
        for v in &self.plan.vips {
            if addrs.iter().any(|a| a.addr == v.addr) {
                warn!(vip = %v.addr, device = %v.device, "removing VIP left from a previous run");
                release_vip(&self.rtnl, v);
            }
        }
    }

    /// The first gratuitous ARP for every address now; the rest of piranha's schedule in the
    /// background.
    fn announce(&mut self) {
        if let Some(t) = self.arp_task.take() {
            t.abort();
        }
        let vips: Vec<(String, Ipv4Addr)> = self
            .plan
            .vips
            .iter()
            .map(|v| (v.base.clone(), v.addr))
            .collect();
        send_arps(&self.arp, &vips, &self.arps_sent);
        let (arp, sent) = (self.arp.clone(), self.arps_sent.clone());
        let (count, interval) = self.plan.garp;
        self.arp_task = Some(tokio::spawn(async move {
            for _ in 1..count {
                tokio::time::sleep(interval).await;
                send_arps(&arp, &vips, &sent);
            }
            info!("gratuitous lvs arps finished");
        }));
    }

    /// `syncdaemon = 1`: the IPVS connection-sync daemon follows this node's role — master while
    /// active, backup otherwise (piranha.md §4.8). pulse owns it, not lvsd: the backup role is
    /// needed exactly while no lvsd runs. The switch happens on a thread of its own, in order:
    /// stopping a sync thread waits for the kernel's RTNL lock, which must never delay a
    /// heartbeat.
    fn sync_daemon(&mut self, role: SyncRole) {
        if !self.cfg.syncdaemon {
            return;
        }
        if self.sync_roles.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<SyncDaemon>();
            let spawned = std::thread::Builder::new()
                .name("pulse-syncd".into())
                .spawn(move || {
                    for d in rx {
                        match pulse_sys::ipvs::Ipvs::connect().and_then(|mut i| i.sync_as(&d)) {
                            Ok(()) => info!(
                                role = ?d.role,
                                interface = %d.interface,
                                syncid = d.sync_id,
                                "ipvs sync daemon running"
                            ),
                            Err(e) => error!(
                                role = ?d.role,
                                interface = %d.interface,
                                syncid = d.sync_id,
                                error = %e,
                                "cannot start the ipvs sync daemon"
                            ),
                        }
                    }
                });
            match spawned {
                Ok(worker) => self.sync_roles = Some((tx, worker)),
                Err(e) => {
                    error!(error = %e, "cannot start the sync-daemon thread; sync daemon left as it is");
                    return;
                }
            }
        }
        let Some((tx, _)) = &self.sync_roles else {
            return;
        };
        let _ = tx.send(SyncDaemon {
            role,
            interface: self.cfg.syncd_iface.clone(),
            sync_id: self.cfg.syncd_id,
        });
    }

    /// At exit: the last role change (backup, after the shutdown's deactivation) is applied
    /// before pulse goes, waiting at most 10 s.
    async fn finish_sync_daemon(&mut self) {
        let Some((tx, worker)) = self.sync_roles.take() else {
            return;
        };
        drop(tx);
        let wait = tokio::task::spawn_blocking(move || worker.join());
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            warn!("the ipvs sync daemon switch did not finish within 10 s");
        }
    }

    /// A draining release (`Event::Drain`): lvsd sends new connections to the partner, which
    /// holds the VIPs unannounced, while the real servers' own connections finish; then the
    /// state machine hands over. Polls lvsd on a blocking thread; a failure to drain only
    /// shortens the wait.
    fn drain(&mut self) {
        let Some(partner) = self.plan.links.first().map(|l| l.peer.ip()) else {
            self.pending.push(Command::DrainDone);
            return;
        };
        info!(partner = %partner, "release: draining (new connections go to the partner)");
        self.handing_off = true;
        let (socket, done) = (self.opts.lvsd_socket.clone(), self.commands.clone());
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let req = Request::Handoff {
                to: Some(partner.to_string()),
            };
            loop {
                match pulse_control::call(&socket, &req, Duration::from_secs(2)) {
                    Ok(Response::Handoff { active_conns: 0 }) => {
                        info!(ms = start.elapsed().as_millis() as u64, "release: drained");
                        break;
                    }
                    Ok(Response::Handoff { active_conns })
                        if start.elapsed() < RELEASE_DRAIN_MAX =>
                    {
                        debug!(active_conns, "release: draining");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Ok(Response::Handoff { active_conns }) => {
                        warn!(
                            active_conns,
                            "release: connections still open after {RELEASE_DRAIN_MAX:?}; handing over"
                        );
                        break;
                    }
                    other => {
                        warn!(answer = ?other, socket = %socket.display(), "release: lvsd cannot drain; handing over without it");
                        break;
                    }
                }
            }
            let _ = done.send(Command::DrainDone);
        });
    }

    /// After a draining release (done or abandoned): lvsd goes back to the configured table.
    fn end_handoff(&mut self) {
        if !std::mem::take(&mut self.handing_off) {
            return;
        }
        let socket = self.opts.lvsd_socket.clone();
        tokio::task::spawn_blocking(move || {
            let req = Request::Handoff { to: None };
            if let Err(e) = pulse_control::call(&socket, &req, Duration::from_secs(5)) {
                warn!(socket = %socket.display(), error = %e, "lvsd did not take back its table after the release");
            }
        });
    }

    /// `warm_standby`: lvsd runs while inactive too (a no-op when it runs already, when the
    /// option is off, or in test mode). A failure to start is retried later.
    fn start_standby_lvsd(&mut self) {
        if (self.cfg.warm_standby || self.hb.is_active()) && !self.start_lvsd() {
            self.schedule_lvsd_restart();
        }
    }

    /// The next standby restart, after a pause that doubles while lvsd keeps dying within a
    /// minute of starting.
    fn schedule_lvsd_restart(&mut self) {
        if !self.cfg.warm_standby || self.opts.test_start {
            return;
        }
        let lasted = self.lvsd_started.map_or(Duration::ZERO, |t| t.elapsed());
        if lasted >= LVSD_RESTART_MAX {
            self.lvsd_restart_pause = LVSD_RESTART_MIN;
        }
        let pause = self.lvsd_restart_pause;
        info!(pause = ?pause, "restarting lvsd (standby) after a pause");
        self.lvsd_restart_at = Some(Instant::now() + pause);
        self.lvsd_restart_pause = (pause * 2).min(LVSD_RESTART_MAX);
    }

    /// Starts lvsd unless it runs (or in test mode); false if it could not be started.
    fn start_lvsd(&mut self) -> bool {
        if self.opts.test_start || self.lvsd.is_some() {
            return true;
        }
        let mut cmd = tokio::process::Command::new(&self.opts.lvsd);
        // lvsd is not the service's main process: systemd would ignore its notifications.
        cmd.env_remove(crate::notify::NOTIFY_SOCKET);
        cmd.arg(if self.opts.nodaemon {
            "--nodaemon"
        } else {
            "--nofork"
        })
        .arg("-c")
        .arg(&self.opts.config)
        .arg("--control")
        .arg(&self.opts.lvsd_socket);
        if self.opts.verbose {
            cmd.arg("-v");
        }
        match cmd.spawn() {
            Ok(child) => {
                let standby = if self.hb.is_active() {
                    ""
                } else {
                    " (standby)"
                };
                info!(pid = child.id(), path = %self.opts.lvsd.display(), "started lvsd{standby}");
                self.lvsd = Some(child);
                self.lvsd_started = Some(Instant::now());
                self.lvsd_restart_at = None;
                true
            }
            Err(e) => {
                error!(path = %self.opts.lvsd.display(), error = %e, "cannot start lvsd");
                false
            }
        }
    }

    async fn stop_lvsd(&mut self) {
        let Some(mut child) = self.lvsd.take() else {
            return;
        };
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(LVSD_STOP_GRACE, child.wait()).await {
            Ok(_) => info!("lvsd stopped"),
            Err(_) => {
                warn!("lvsd did not stop within {LVSD_STOP_GRACE:?}; killing it");
                let _ = child.kill().await;
            }
        }
    }

    /// `active_cmd`/`inactive_cmd`: split on single spaces, run without a shell, not waited for
    /// (piranha.md §4.10). Not run in test mode.
    fn run_cmd(&self, cmd: Option<String>, what: &str) {
        let Some(line) = cmd.filter(|c| !c.is_empty()) else {
            return;
        };
        if self.opts.test_start {
            return;
        }
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let Some(prog) = words.next() else { return };
        match tokio::process::Command::new(prog)
            .args(words)
            .env_remove(crate::notify::NOTIFY_SOCKET)
            .spawn()
        {
            Ok(mut child) => {
                debug!(what, command = %line, "started");
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(e) => error!(what, command = %line, error = %e, "cannot run"),
        }
    }

    /// SIGHUP: re-read lvs.cf; a bad file changes nothing. Unlike piranha, never signals
    /// process 0 when no lvsd runs (piranha.md §10 item 11).
    fn reload(&mut self) {
        self.notify.send("RELOADING=1\nSTATUS=reloading lvs.cf");
        self.reload_config();
        self.notify
            .send(&format!("READY=1\nSTATUS={}", self.role_status()));
    }

    /// One line for systemd's `STATUS=` (`systemctl status pulse`).
    fn role_status(&self) -> String {
        let role = if self.hb.is_active() {
            "active"
        } else {
            "inactive"
        };
        let which = if self.plan.primary {
            "primary"
        } else {
            "backup"
        };
        format!("{role} ({which}), serial_no {}", self.cfg.serial_no)
    }

    fn reload_config(&mut self) {
        info!("rereading configuration file");
        let new = load(&self.opts.config).and_then(|cfg| {
            let p = plan(&cfg, &local_addresses(), resolve)?;
            Ok((cfg, p))
        });
        let (cfg, new_plan) = match new {
            Ok(x) => x,
            Err(e) => {
                error!("reload failed, keeping the running configuration: {e:#}");
                return;
            }
        };
        if new_plan.links != self.plan.links || new_plan.primary != self.plan.primary {
            warn!("heartbeat addresses or role changed; restart pulse to apply them");
        }
        if (cfg.metrics_port, &cfg.metrics_address)
            != (self.cfg.metrics_port, &self.cfg.metrics_address)
        {
            warn!("metrics_port or metrics_address changed; restart pulse to apply them");
        }
        let digest =
            pulse_proto::wire::config_digest(&serde_json::to_vec(&cfg).unwrap_or_default());
        let _ = self.hb.handle_command(
            Instant::now(),
            Command::Reconfigure {
                keepalive: new_plan.keepalive,
                deadtime: new_plan.deadtime,
                serial_no: cfg.serial_no,
                digest,
            },
        );
        let old = std::mem::replace(&mut self.plan.vips, new_plan.vips.clone());
        self.plan.keepalive = new_plan.keepalive;
        self.plan.deadtime = new_plan.deadtime;
        self.plan.garp = new_plan.garp;
        self.cfg = cfg;
        if self.hb.is_active() {
            for v in old.iter().filter(|v| !self.plan.vips.contains(v)) {
                release_vip(&self.rtnl, v);
            }
            if self.plan.vips.iter().any(|v| !old.contains(v)) {
                let mut arp = self
                    .arp
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for v in &self.plan.vips {
                    if !arp.contains_key(&v.base) {
                        match ArpSender::open(&v.base) {
                            Ok(s) => {
                                arp.insert(v.base.clone(), s);
                            }
                            Err(e) => error!("{e}"),
                        }
                    }
                }
                drop(arp);
                self.claim_vips();
                self.announce();
            }
        }
        let lvsd_pid = self
            .lvsd
            .as_ref()
            .and_then(Child::id)
            .and_then(|p| i32::try_from(p).ok())
            .map(nix::unistd::Pid::from_raw);
        if let Some(pid) = lvsd_pid {
            // `warm_standby` turned off on the inactive director: its lvsd goes (its exit is
            // then not restarted); otherwise lvsd rereads the file too.
            let signal = if !self.cfg.warm_standby && !self.hb.is_active() {
                info!("warm_standby is off: stopping the standby lvsd");
                nix::sys::signal::Signal::SIGTERM
            } else {
                nix::sys::signal::Signal::SIGHUP
            };
            let _ = nix::sys::signal::kill(pid, signal);
        } else {
            self.start_standby_lvsd();
        }
        info!(serial_no = self.cfg.serial_no, "configuration reloaded");
    }
}

fn release_vip(rtnl: &Rtnl, v: &VipClaim) {
    let Some(idx) = Driver::ifindex(&v.base) else {
        return;
    };
    match rtnl.delete_address(idx, &v.base, v.addr, v.prefix) {
        Ok(true) => info!(vip = %v.addr, device = %v.device, "released VIP"),
        Ok(false) => {}
        Err(e) => error!("{e}"),
    }
}

fn send_arps(
    arp: &Mutex<HashMap<String, ArpSender>>,
    vips: &[(String, Ipv4Addr)],
    sent: &AtomicU64,
) {
    let mut arp = arp
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (base, ip) in vips {
        if let Some(s) = arp.get_mut(base) {
            match s.announce(*ip) {
                Ok(()) => {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => error!("{e}"),
            }
        }
    }
}
