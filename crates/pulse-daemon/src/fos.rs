//! `service = fos`'s I/O (docs/reference/piranha.md §4.11, §7): the failover services'
//! commands, checks and the connectivity check, each on a task of its own so the heartbeat
//! loop never waits; results come back to the loop as [`Ev`]s. `pulse_director::fos` decides.
//!
//! Commands are split on spaces and exec'd without a shell, as piranha's fos did (absolute
//! path, no PATH search), in a process group of their own: a command still running after
//! `fos_command_timeout` is killed with its whole group and reported failed (piranha waited for
//! ever). Pulse waits for the command's exit, not for the end of its output, so a `start_cmd`
//! that leaves a daemon holding stdout (an init script, `haproxy -D`) returns when it exits;
//! the output is logged line by line (at most [`OUTPUT_LINES`] lines per command, each cut at
//! [`LINE_MAX`] bytes) and the rest is read and dropped until the daemon closes it.

use crate::driver::Ev;
use pulse_check::CheckSpec;
use pulse_director::{FosPlan, Which};
use pulse_lvscf::LvsConfig;
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// Output lines logged per command and stream.
const OUTPUT_LINES: usize = 100;
/// Longest output line logged (bytes; the rest of the line is dropped).
const LINE_MAX: usize = 1024;
/// piranha pinged the gateway up to 3 times, 1 s each.
const PINGS: u16 = 3;
const PING_WAIT: Duration = Duration::from_secs(1);

/// Each failover service's check (from its `send`/`expect`/`send_program`, with nanny's
/// defaults) and where it is made: the VIP and port.
/// A service's check (or why it cannot be built), target, time limit and name.
type Check = (Result<Arc<CheckSpec>, String>, SocketAddr, Duration, String);

#[derive(Debug)]
pub(crate) struct FosShell {
    checks: Vec<Check>,
    command_timeout: Duration,
    ping_target: Option<IpAddr>,
}

impl FosShell {
    pub(crate) fn new(cfg: &LvsConfig, plan: &FosPlan) -> Self {
        let checks = plan
            .services
            .iter()
            .map(|s| {
                let block = cfg.failovers.iter().find(|f| f.name == s.name && f.active);
                let spec = match block.map(CheckSpec::from_virtual) {
                    Some(Ok(spec)) => Ok(Arc::new(spec)),
                    Some(Err(e)) => {
                        // lvsd's rule: a check that cannot be built fails every time.
                        error!(service = %s.name, error = %e, "failover service check cannot be built; every check fails");
                        Err(e.to_string())
                    }
                    None => Ok(Arc::new(CheckSpec::TcpConnect)),
                };
                (
                    spec,
                    SocketAddr::from((s.vip, s.port)),
                    s.timeout,
                    s.name.clone(),
                )
            })
            .collect();
        Self {
            checks,
            command_timeout: plan.command_timeout,
            ping_target: plan.ping_target,
        }
    }

    /// Run a command of a service; [`Ev::FosDone`] when it ends.
    pub(crate) fn run(
        &self,
        service: usize,
        which: Which,
        line: String,
        events: mpsc::UnboundedSender<Ev>,
    ) {
        let name = self
            .checks
            .get(service)
            .map(|c| c.3.clone())
            .unwrap_or_default();
        let limit = self.command_timeout;
        tokio::spawn(async move {
            let result = run_command(&name, which, &line, limit).await;
            let _ = events.send(Ev::FosDone(service, which, result));
        });
    }

    /// Check a service at its VIP; [`Ev::FosCheck`] with the outcome.
    pub(crate) fn check(&self, service: usize, id: u64, events: mpsc::UnboundedSender<Ev>) {
        let Some((spec, target, timeout, _)) = self.checks.get(service).cloned() else {
            return;
        };
        tokio::spawn(async move {
            let result = match spec {
                Ok(spec) => pulse_check::run(&spec, target, timeout)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            let _ = events.send(Ev::FosCheck(service, id, result));
        });
    }

    /// Ping `fos_ping_target` or the default gateway; [`Ev::FosPing`].
    pub(crate) fn connectivity(&self, events: mpsc::UnboundedSender<Ev>) {
        let target = self.ping_target;
        tokio::task::spawn_blocking(move || {
            let _ = events.send(Ev::FosPing(connectivity(target)));
        });
    }
}

/// piranha: `ip route show` for `default via GW`, then `ping -n -c 1 -w 1 GW` up to 3 times.
/// The default gateway is the IPv4 one (piranha's); an IPv6-only pair sets `fos_ping_target`
/// to an IPv6 address, pinged with ICMPv6.
fn connectivity(target: Option<IpAddr>) -> Result<String, String> {
    let (addr, what) = match target {
        Some(t) => (t, "fos_ping_target"),
        None => match pulse_sys::netcheck::default_gateway() {
            Some(g) => (IpAddr::V4(g), "default gateway"),
            None => return Err("no default gateway to ping (set fos_ping_target)".into()),
        },
    };
    let id = (std::process::id() & 0xffff) as u16;
    let mut last = String::new();
    for seq in 0..PINGS {
        match pulse_sys::netcheck::ping(addr, PING_WAIT, id, seq) {
            Ok(true) => return Ok(format!("{what} {addr}")),
            Ok(false) => last = "no answer".into(),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{what} {addr}: {last} to {PINGS} pings"))
}

/// One `start_cmd`/`stop_cmd`, bounded by `limit`.
async fn run_command(
    service: &str,
    which: Which,
    line: &str,
    limit: Duration,
) -> Result<(), String> {
    let what = which.keyword();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let Some(prog) = words.next() else {
        return Err("empty command".into());
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(words)
        // The services are not pulse: systemd must not take their notifications as ours.
        .env_remove(crate::notify::NOTIFY_SOCKET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {prog}: {e}"))?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    for (stream, name) in [
        (
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            "stdout",
        ),
        (
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            "stderr",
        ),
    ] {
        if let Some(s) = stream {
            tokio::spawn(log_output(s, service.to_string(), what, name));
        }
    }
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            info!(
                service,
                command = what,
                ms = started.elapsed().as_millis() as u64,
                "failover service command done"
            );
            Ok(())
        }
        Ok(Ok(status)) => Err(format!("{line}: {status}")),
        Ok(Err(e)) => Err(format!("{line}: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                // The whole group: an init script and what it started.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            warn!(service, command = what, limit = ?limit, "failover service command still running: killed");
            Err(format!("{line}: still running after {limit:?}; killed"))
        }
    }
}

/// Log a command's output line by line (bounded), then read and drop the rest until EOF.
async fn log_output(
    mut s: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    service: String,
    command: &'static str,
    stream: &'static str,
) {
    let mut buf = vec![0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let mut logged = 0usize;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if logged >= OUTPUT_LINES {
            continue;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                if logged < OUTPUT_LINES {
                    info!(service = %service, command, stream, "{}", String::from_utf8_lossy(&line));
                    logged += 1;
                }
                line.clear();
            } else if line.len() < LINE_MAX {
                line.push(b);
            }
        }
    }
    if !line.is_empty() && logged < OUTPUT_LINES {
        info!(service = %service, command, stream, "{}", String::from_utf8_lossy(&line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        p.display().to_string()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_hanging_command_is_killed_with_its_group_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidf = dir.path().join("child.pid");
        // The script starts a grandchild in its group, then hangs.
        let s = script(
            dir.path(),
            "hang.sh",
            &format!("sleep 30 & echo $! > {}\nsleep 30", pidf.display()),
        );
        let t = Instant::now();
        let r = rt().block_on(run_command(
            "web",
            Which::Start,
            &s,
            Duration::from_millis(300),
        ));
        let e = r.expect_err("a hanging start_cmd fails");
        assert!(
            e.contains("still running after") && e.contains("killed"),
            "{e}"
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let pid: i32 = std::fs::read_to_string(&pidf)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        // The grandchild went with the group (a zombie until init reaps it at most).
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "grandchild still running: {state}"
        );
    }

    #[test]
    fn the_exit_status_is_reported_and_output_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = script(
            dir.path(),
            "fail.sh",
            "i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done; exit 3",
        );
        let r = rt().block_on(run_command("web", Which::Stop, &s, Duration::from_secs(10)));
        assert!(r.expect_err("exit 3").contains("exit status: 3"));
        let r = rt().block_on(run_command(
            "web",
            Which::Start,
            "/nonexistent/start",
            Duration::from_secs(1),
        ));
        assert!(
            r.expect_err("missing")
                .contains("cannot run /nonexistent/start")
        );
        let r = rt().block_on(run_command(
            "web",
            Which::Start,
            "  ",
            Duration::from_secs(1),
        ));
        assert!(r.is_err());
    }

    #[test]
    fn a_daemon_left_holding_stdout_does_not_delay_the_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidf = dir.path().join("daemon.pid");
        // An init script's shape: the daemon keeps stdout open, the script returns.
        let s = script(
            dir.path(),
            "start.sh",
            &format!(
                "sleep 5 & echo $! > {}\necho started\nexit 0",
                pidf.display()
            ),
        );
        let t = Instant::now();
        let r = rt().block_on(run_command(
            "web",
            Which::Start,
            &s,
            Duration::from_secs(10),
        ));
        assert_eq!(r, Ok(()));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        if let Ok(pid) = std::fs::read_to_string(&pidf) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}
