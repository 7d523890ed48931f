//! pulse's lvsd: started, stopped and waited for by a task of its own, so the heartbeat loop
//! never waits on it. Exactly one lvsd per director: before starting its own, pulse stops any
//! lvsd still running for its control socket (a pulse killed with SIGKILL leaves its lvsd
//! behind, and a second one would run every check twice and reconcile against the first). The
//! stray is killed with SIGKILL, not terminated, so that it leaves the IPVS table in place:
//! the new lvsd adopts the table as it finds it (no flush, no re-add). An lvsd whose pulse is
//! gone exits by itself (`--supervised`, see docs/lvsd.md).

use crate::Options;
use crate::driver::Ev;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pulse_control::{Request, Response};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// How long lvsd gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a killed stray lvsd gets to disappear.
const STRAY_GONE: Duration = Duration::from_secs(2);

/// The running lvsd.
#[derive(Debug)]
pub(crate) struct Handle {
    pid: Arc<AtomicI32>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

/// Starts lvsd on a task; with `reap`, stray lvsds for the same control socket are stopped
/// first. The start and the exit are reported as [`Ev::LvsdStarted`] and [`Ev::LvsdExited`].
pub(crate) fn start(
    opts: &Options,
    standby: bool,
    reap: bool,
    events: mpsc::UnboundedSender<Ev>,
) -> Handle {
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let pid = Arc::new(AtomicI32::new(0));
    let mut cmd = tokio::process::Command::new(&opts.lvsd);
    // lvsd is not the service's main process: systemd would ignore its notifications.
    cmd.env_remove(crate::notify::NOTIFY_SOCKET);
    cmd.arg(if opts.nodaemon {
        "--nodaemon"
    } else {
        "--nofork"
    })
    // Our pid, not "whoever lvsd's parent is when it first looks": had pulse died before, lvsd
    // would watch its new parent (init) for good.
    .arg(format!("--supervised={}", std::process::id()))
    .arg("-c")
    .arg(&opts.config)
    .arg("--control")
    .arg(&opts.lvsd_socket);
    if opts.verbose {
        cmd.arg("-v");
    }
    let (program, socket, shared_pid) = (opts.lvsd.clone(), opts.lvsd_socket.clone(), pid.clone());
    tokio::spawn(async move {
        if reap {
            let (p, s) = (program.clone(), socket.clone());
            let _ = tokio::task::spawn_blocking(move || reap_strays(&p, &s)).await;
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = events.send(Ev::LvsdStarted(Err(format!("{}: {e}", program.display()))));
                let _ = done_tx.send(());
                return;
            }
        };
        let id = child.id().unwrap_or(0);
        shared_pid.store(i32::try_from(id).unwrap_or(0), Ordering::Relaxed);
        let standby = if standby { " (standby)" } else { "" };
        info!(pid = id, path = %program.display(), "started lvsd{standby}");
        let _ = events.send(Ev::LvsdStarted(Ok(id)));
        let how = tokio::select! {
            status = child.wait() => status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            _ = stop_rx => {
                signal(id, Signal::SIGTERM);
                match tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    Ok(status) => status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    Err(_) => {
                        warn!("lvsd did not stop within {STOP_GRACE:?}; killing it");
                        let _ = child.kill().await;
                        "killed".to_string()
                    }
                }
            }
        };
        shared_pid.store(0, Ordering::Relaxed);
        let _ = events.send(Ev::LvsdExited(how));
        let _ = done_tx.send(());
    });
    Handle {
        pid,
        stop: Some(stop_tx),
        done: Some(done_rx),
    }
}

impl Handle {
    /// SIGTERM (lvsd removes its services), SIGKILL after the grace period.
    pub(crate) fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// SIGHUP: lvsd rereads lvs.cf.
    pub(crate) fn reload(&self) {
        let pid = self.pid.load(Ordering::Relaxed);
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        }
    }

    /// Waits until the lvsd task has ended (after [`Self::stop`]), bounded.
    pub(crate) async fn wait_stopped(mut self) {
        self.stop();
        if let Some(d) = self.done.take() {
            let _ = tokio::time::timeout(STOP_GRACE + Duration::from_secs(2), d).await;
        }
    }
}

fn signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid)
        && pid > 0
    {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// The lvsd processes running for `socket`: the program's name is lvsd's (`lvsd`, or the name
/// of `--lvsd` when that is another program) and its arguments name this control socket
/// (`--control SOCKET`, as pulse starts it). Nothing else uses that socket path.
pub(crate) fn strays(program: &Path, socket: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let names = [program.file_name(), Some(std::ffi::OsStr::new("lvsd"))];
    let socket = socket.as_os_str().as_encoded_bytes();
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_lvsd = args
                .first()
                .map(|a0| Path::new(std::ffi::OsStr::from_bytes(a0)).file_name())
                .is_some_and(|n| n.is_some() && names.contains(&n));
            is_lvsd
                && args
                    .windows(2)
                    .any(|w| w[0] == b"--control" && w[1] == socket)
                && !zombie(pid)
        })
        .collect()
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Kills every stray lvsd for `socket` and waits (bounded) until they are gone.
fn reap_strays(program: &Path, socket: &Path) {
    let found = strays(program, socket);
    if found.is_empty() {
        return;
    }
    for &pid in &found {
        warn!(pid, socket = %socket.display(), "an lvsd left by an earlier pulse is still running; stopping it (its IPVS table stays for the new lvsd to adopt)");
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let until = Instant::now() + STRAY_GONE;
    while Instant::now() < until && !strays(program, socket).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = strays(program, socket);
    if !left.is_empty() {
        warn!(pids = ?left, "stray lvsd still running after SIGKILL");
    }
}

/// One step of a draining release: ask lvsd (idempotently) to send new connections to the
/// partner and say how many connections its real servers still have; the answer goes back to
/// the director, which decides whether to ask again.
pub(crate) async fn drain(
    socket: std::path::PathBuf,
    partner: std::net::IpAddr,
    done: mpsc::UnboundedSender<Ev>,
) {
    let req = Request::Handoff {
        to: Some(partner.to_string()),
    };
    let answer = match pulse_control::call_async(&socket, &req, Duration::from_secs(2)).await {
        Ok(Response::Handoff { active_conns }) => Ok(active_conns),
        Ok(other) => Err(format!("{other:?} from {}", socket.display())),
        Err(e) => Err(format!("{}: {e}", socket.display())),
    };
    let _ = done.send(Ev::DrainProgress(answer));
}

/// After a draining release (done or abandoned): lvsd goes back to the configured table.
/// `own`: pulse runs this lvsd (with --test-start nobody may listen, which is normal).
pub(crate) fn end_handoff(socket: std::path::PathBuf, own: bool) {
    tokio::spawn(async move {
        let req = Request::Handoff { to: None };
        if let Err(e) = pulse_control::call_async(&socket, &req, Duration::from_secs(5)).await {
            if own {
                warn!(socket = %socket.display(), error = %e, "lvsd did not take back its table after the release");
            } else {
                debug!(socket = %socket.display(), error = %e, "no lvsd to end the handoff");
            }
        }
    });
}
