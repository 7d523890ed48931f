//! Reading what pulse starts from: lvs.cf, the heartbeat key, the replay floor, the host's
//! addresses; and the small side effects the driver hands off (commands, the floor file).
//! Everything here may block: it runs before the loop starts or on a blocking thread.

use crate::Options;
use anyhow::{Context, Result, bail};
use pulse_director::{Plan, Reload, Settings, plan};
use pulse_lvscf::LvsConfig;
use pulse_proto::HeartbeatKey;
use pulse_proto::fsm::WireMode;
use pulse_sys::resolve::{local_addresses, resolve, resolve_ip};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::SystemTime;
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

/// Everything checked and bound before daemonizing.
pub(crate) struct Prepared {
    pub(crate) cfg: LvsConfig,
    pub(crate) plan: Plan,
    pub(crate) sockets: Vec<std::net::UdpSocket>,
    pub(crate) key: Option<HeartbeatKey>,
}

/// Read the configuration, decide the role, bind the heartbeat sockets.
pub(crate) fn prepare(opts: &Options) -> Result<Prepared> {
    let cfg = load(&opts.config)?;
    // The packaged lvsd needs IPVS. Without it the active director would claim the VIPs, see
    // lvsd exit, release them and retry with backoff for ever while the service looks healthy:
    // refuse to start instead, so the unit (or the init script) fails with the reason.
    // `connect` tries `modprobe ip_vs` first, as ipvsadm does. Not with --test-start (no
    // lvsd), nor for a supervisor named with --lvsd (a wrapper or a stand-in, whose needs pulse
    // cannot know); the path is the `--lvsd` default.
    if !opts.test_start
        && cfg.service == pulse_lvscf::model::ServiceMode::Lvs
        && opts.lvsd == Path::new("/usr/sbin/lvsd")
    {
        match pulse_sys::ipvs::Ipvs::connect() {
            Ok(_) => {}
            Err(pulse_sys::ipvs::IpvsError::Unavailable(_)) => bail!(
                "IPVS is not available in this kernel or network namespace, even after \
                 `modprobe ip_vs`: lvsd cannot run. Load ip_vs (/usr/lib/modules-load.d/pulse.conf \
                 does at boot), or start pulse with --test-start"
            ),
            Err(e) => return Err(anyhow::Error::new(e).context("lvsd cannot run: IPVS")),
        }
    }
    let plan = plan(&cfg, &local_addresses(), resolve)
        .with_context(|| format!("in {}", opts.config.display()))?;
    let key = cfg
        .heartbeat_key
        .as_deref()
        .map(|p| load_key(Path::new(p)))
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

/// A SIGHUP's work, on a blocking thread: read, validate, plan (resolving names). With
/// `ecmp = 1`, also the group digest the group view compares (`group_view::group_digest`).
pub(crate) fn reload(opts: &Options) -> Result<(Reload, Option<[u8; 8]>)> {
    let cfg = load(&opts.config)?;
    let plan = plan(&cfg, &local_addresses(), resolve)?;
    let group = cfg.ecmp.then(|| crate::group_view::group_digest(&cfg));
    Ok((
        Reload {
            settings: settings(&cfg, opts),
            plan,
        },
        group,
    ))
}

/// lvs.cf through the one loader the three binaries share (size cap, bytes that are not UTF-8
/// kept as piranha reads them, the error report).
fn load(path: &Path) -> Result<LvsConfig> {
    Ok(
        pulse_lvscf::source::load_valid(path, std::fs::File::open(path))?
            .parsed
            .config,
    )
}

/// The director's settings from lvs.cf and the command line.
pub(crate) fn settings(cfg: &LvsConfig, opts: &Options) -> Settings {
    Settings {
        warm_standby: cfg.warm_standby,
        syncdaemon: cfg.syncdaemon,
        syncd_iface: cfg.syncd_iface.clone(),
        syncd_id: cfg.syncd_id,
        active_cmd: cfg.active_cmd.clone(),
        inactive_cmd: cfg.inactive_cmd.clone(),
        run_lvsd: !opts.test_start,
        monitor_links: cfg.monitor_links,
        serial_no: cfg.serial_no,
        digest: cfg.digest(),
        restart_only: format!("{}:{}", cfg.metrics_address, cfg.metrics_port),
    }
}

pub(crate) fn heartbeat_config(
    cfg: &LvsConfig,
    plan: &Plan,
    key: Option<HeartbeatKey>,
    opts: &Options,
) -> pulse_proto::Config {
    let authenticated = key.is_some();
    // A boot id must differ between starts (it tells a restart from a replay): random, from
    // the kernel's generator. getrandom only fails before the kernel's pool is initialised
    // on very old kernels; the wall clock is then still unique per start.
    let mut boot = [0u8; 8];
    let wall_clock_us = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    if let Err(e) = getrandom::fill(&mut boot) {
        warn!(error = %e, "no random boot id; using the start time");
        boot = wall_clock_us.to_ne_bytes();
    }
    pulse_proto::Config {
        primary: plan.primary,
        links: plan.links.clone(),
        keepalive: plan.keepalive,
        deadtime: plan.deadtime,
        // piranha's FOS magics with `service = fos` ("incompatible heartbeats will ensure the
        // user doesn't mix systems", docs/reference/piranha.md §4.3).
        mode: key.map_or(
            WireMode::Legacy {
                fos: plan.fos.is_some(),
            },
            WireMode::Authenticated,
        ),
        // `ecmp = 1`: every director of the group is active; no partner decides it.
        force_active: opts.forceactive || cfg.ecmp,
        serial_no: cfg.serial_no,
        digest: cfg.digest(),
        boot_id: u64::from_ne_bytes(boot),
        wall_clock_us,
        replay_floor: if authenticated {
            read_floor(&opts.state_dir.join("heartbeat-seq"))
        } else {
            0
        },
        // Forwarding new connections to the partner while ours finish needs its lvsd running
        // (warm standby) and a forwarding method that passes the VIP through untouched; with
        // NAT the real servers answer through our nat_router. `service = fos` has no lvsd to
        // drain: its release is make-before-break.
        drain_on_release: plan.fos.is_none()
            && cfg.warm_standby
            && cfg.network != pulse_lvscf::model::Network::Nat,
    }
}

/// The replay floor saved by a previous run (0 if there is none).
fn read_floor(path: &Path) -> u64 {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            warn!(path = %path.display(), "unreadable heartbeat replay floor; starting from 0");
            0
        }),
        Err(_) => 0,
    }
}

/// Saves the replay floor atomically (temporary file, rename).
pub(crate) fn persist_floor(path: &Path, seq: u64) {
    let tmp = path.with_extension("tmp");
    let written = std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))
        .and_then(|()| std::fs::write(&tmp, format!("{seq}\n")))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        warn!(path = %path.display(), error = %e, "cannot save the heartbeat replay floor");
    }
}

/// Read the `heartbeat_key` file: at least 32 bytes (trailing whitespace is not part of the
/// key), readable by its owner only.
fn load_key(path: &Path) -> Result<HeartbeatKey> {
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

/// `monitor_links`: the interfaces carrying our heartbeat addresses, and whether each runs.
pub(crate) fn monitored_interfaces(plan: &Plan) -> Vec<(u32, String, bool)> {
    pulse_sys::interfaces()
        .into_iter()
        .filter(|iface| {
            plan.links.iter().any(|l| match l.local.ip() {
                IpAddr::V4(a) => iface.ipv4.contains(&a),
                IpAddr::V6(a) => iface.ipv6.contains(&a),
            })
        })
        .map(|i| (i.index, i.name, i.running))
        .collect()
}

/// The metrics endpoint, if lvs.cf asks for one. A failure to listen is logged and pulse runs
/// on: a taken port must not cost the director pair its failover.
pub(crate) async fn start_metrics(
    cfg: &LvsConfig,
    lvsd_socket: std::path::PathBuf,
    tx: mpsc::Sender<crate::metrics::StatusRequest>,
) {
    if cfg.metrics_port == 0 {
        return;
    }
    let Some(ip) = resolve_ip(&cfg.metrics_address, false) else {
        error!(address = %cfg.metrics_address, "cannot resolve metrics_address; no metrics endpoint");
        return;
    };
    let addr = SocketAddr::new(ip, cfg.metrics_port);
    if let Err(e) = crate::metrics::serve(addr, lvsd_socket, tx).await {
        error!("{e}; no metrics endpoint");
    }
}

/// `active_cmd`/`inactive_cmd`: split on single spaces, run without a shell, not waited for
/// (docs/reference/piranha.md §4.10).
pub(crate) fn run_command(what: &'static str, line: &str) {
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
