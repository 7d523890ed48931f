//! pulse under connection floods (issue 11 item 3): idle clients on the control socket or the
//! metrics port must not make pulse spin, block `pulsectl status` or scrapes, or delay a
//! failover. Two real `pulse` processes in network namespaces (docs/reference/testbed.md §1); root only, like
//! `tests/netns.rs`. Every wait and flood is bounded; the namespaces go away with the test,
//! pass or fail, and so do the flood's sockets (they belong to this process).
//!
//! Before the fix both fail: pulse's control-socket accept loop retried `EMFILE` at once (94 %
//! CPU under `SCHED_FIFO` with 1,100 idle connections and 1,024 descriptors, status requests
//! timing out), and the metrics endpoint served 16 connections at a time, each idle one holding
//! its place for 5 s, so the 101st connection (the scrape) waited about 30 s.

use pulse_control::{Request, Response};
use pulse_e2e::netns::{Bed, Host, require_netns, signal, wait_for};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VIP: &str = "192.0.2.100";
const KEEPALIVE: u32 = 1;
const DEADTIME: u32 = 3;
const METRICS: &str = "127.0.0.1:9469";

struct Pair {
    bed: Bed,
    dir: tempfile::TempDir,
    cf: PathBuf,
    pids: Vec<(Host, u32)>,
}

impl Pair {
    fn new(extra: &str) -> Self {
        require_netns();
        let bed = Bed::new(&[Host::D1, Host::D2]);
        let dir = tempfile::tempdir().expect("tempdir");
        let cf = dir.path().join("lvs.cf");
        std::fs::write(
            &cf,
            format!(
                "serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n{extra}\
                 keepalive = {KEEPALIVE}\ndeadtime = {DEADTIME}\nnetwork = direct\n\
                 virtual web {{\n     active = 1\n     address = {VIP} eth0:1\n     port = 80\n}}\n"
            ),
        )
        .expect("write lvs.cf");
        Self {
            bed,
            dir,
            cf,
            pids: Vec::new(),
        }
    }

    fn start(&mut self, h: Host) -> u32 {
        let (cf, dir) = (self.cf.clone(), self.dir.path().to_path_buf());
        let pid =
            self.bed
                .spawn_pulse(env!("CARGO_BIN_EXE_pulse"), h, &cf, &dir, &["--test-start"]);
        self.pids.push((h, pid));
        pid
    }

    fn pid(&self, h: Host) -> u32 {
        self.pids
            .iter()
            .find(|(host, _)| *host == h)
            .map(|(_, pid)| *pid)
            .expect("started")
    }

    fn socket(&self, h: Host) -> PathBuf {
        self.dir.path().join(format!("{h:?}.sock"))
    }

    fn holds(&self, h: Host) -> bool {
        self.bed.has_addr(h, VIP)
    }

    fn logs(&self) -> String {
        [Host::D1, Host::D2]
            .iter()
            .map(|h| {
                let log = self.dir.path().join(format!("{h:?}.log"));
                format!(
                    "--- {h:?}\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .collect()
    }

    /// Both started; wait until exactly one holds the VIP, steadily: (active, inactive).
    fn wait_settled(&self) -> (Host, Host) {
        let one = || self.holds(Host::D1) != self.holds(Host::D2);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if one() {
                let d1 = self.holds(Host::D1);
                // Steady for more than a keepalive: a simultaneous start has both active
                // until one yields.
                let changed = wait_for(Duration::from_millis(1500), || {
                    !one() || self.holds(Host::D1) != d1
                });
                if changed.is_none() {
                    return if d1 {
                        (Host::D1, Host::D2)
                    } else {
                        (Host::D2, Host::D1)
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no single, steady VIP holder within 15 s\n{}", self.logs());
    }
}

/// Runs `f` on a thread and waits at most `limit` for it: a call that hangs (a connect to a
/// full backlog, a daemon that never answers) fails the test instead of stalling it. A thread
/// still stuck is left behind; the test process ends soon after.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: no result within {limit:?}"))
}

/// `RLIMIT_NOFILE` of `pid` as (soft, hard), from `/proc/PID/limits`.
fn nofile(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut n = line
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (n.next().expect("soft"), n.next().expect("hard"))
}

/// `prlimit --pid PID --nofile=SOFT:HARD`.
fn set_nofile(pid: u32, soft: u64, hard: u64) {
    let o = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={soft}:{hard}"),
        ])
        .output()
        .expect("prlimit (util-linux)");
    assert!(
        o.status.success(),
        "prlimit: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(nofile(pid), (soft, hard));
}

/// CPU time pulse used, in seconds (`utime + stime` of `/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // `pid (comm) state ...`: fields 14 and 15 overall are 12 and 13 after the comm.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    let o = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

/// What `pulsectl status` sends, with its answer's latency; fails past `limit`.
fn status_within(socket: &Path, limit: Duration) -> Duration {
    let socket = socket.to_path_buf();
    let (answer, took) = within(limit + Duration::from_secs(1), "status", move || {
        let start = Instant::now();
        let answer = pulse_control::call(&socket, &Request::Status, limit);
        (answer, start.elapsed())
    });
    match answer {
        Ok(Response::Ok { .. }) => {}
        other => panic!("status: {other:?} after {took:?}"),
    }
    assert!(took < limit, "status took {took:?}");
    took
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn idle_control_connections_under_1024_descriptors_neither_spin_nor_delay_a_failover() {
    const IDLE: usize = 1100;
    let mut p = Pair::new("");
    p.start(Host::D1);
    p.start(Host::D2);
    let (active, backup) = p.wait_settled();
    // The director that must take over is the one under pressure: the distribution default
    // of 1,024 descriptors, as when the unit sets no LimitNOFILE.
    let pid = p.pid(backup);
    set_nofile(pid, 1024, 1024);
    // This process holds the flood's client ends: make room for them.
    let (soft, hard) = nofile(std::process::id());
    if soft < 4096 {
        set_nofile(std::process::id(), 4096, hard.max(4096));
    }

    let socket = p.socket(backup);
    let flood_socket = socket.clone();
    let flood: Vec<UnixStream> = within(Duration::from_secs(20), "1,100 connects", move || {
        (0..IDLE)
            .map(|i| {
                UnixStream::connect(&flood_socket)
                    .unwrap_or_else(|e| panic!("connection {i} to the control socket: {e}"))
            })
            .collect()
    });
    assert_eq!(flood.len(), IDLE);

    // Answered promptly, again and again, while pulse's CPU is measured.
    let cpu_before = cpu_seconds(pid);
    let window = Instant::now();
    let mut slowest = Duration::ZERO;
    while window.elapsed() < Duration::from_secs(3) {
        slowest = slowest.max(status_within(&socket, Duration::from_secs(2)));
        std::thread::sleep(Duration::from_millis(250));
    }
    let cpu = (cpu_seconds(pid) - cpu_before) / window.elapsed().as_secs_f64();
    eprintln!(
        "{IDLE} idle control connections: pulse used {:.1} % CPU, slowest status {slowest:?}",
        cpu * 100.0
    );
    assert!(
        cpu < 0.05,
        "pulse used {:.0} % CPU with {IDLE} idle connections\n{}",
        cpu * 100.0,
        p.logs()
    );

    // A dead host (its pulse gone and its link): the director under pressure takes over
    // within deadtime.
    let crash = Instant::now();
    signal(p.pid(active), "KILL");
    p.bed.set_port(active, false);
    let limit = Duration::from_secs(u64::from(DEADTIME)) + Duration::from_millis(100);
    let took = wait_for(limit + Duration::from_secs(3), || p.holds(backup))
        .map(|_| crash.elapsed())
        .unwrap_or_else(|| panic!("{backup:?} did not take over\n{}", p.logs()));
    eprintln!("{backup:?} took over {took:?} after the crash (deadtime {DEADTIME} s)");
    assert!(
        took <= limit,
        "{backup:?} took over {took:?} after the crash, beyond deadtime + 100 ms\n{}",
        p.logs()
    );
    status_within(&socket, Duration::from_secs(2));
    drop(flood);
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn idle_metrics_connections_do_not_hold_back_a_scrape() {
    use std::io::{Read, Write};
    const IDLE: usize = 100;
    let mut p = Pair::new("metrics_port = 9469\n");
    p.start(Host::D1);
    let ns = p.bed.ns(Host::D1);
    // The endpoint is up once it answers.
    let up = wait_for(Duration::from_secs(10), || {
        pulse_e2e::lvs_bed::in_ns(&ns, || {
            std::net::TcpStream::connect_timeout(
                &METRICS.parse().expect("address"),
                Duration::from_millis(200),
            )
            .is_ok()
        })
    });
    assert!(up.is_some(), "no metrics endpoint\n{}", p.logs());

    // Connected (the kernel completes the handshake) and silent.
    let flood: Vec<std::net::TcpStream> = pulse_e2e::lvs_bed::in_ns(&ns, || {
        (0..IDLE)
            .map(|i| {
                std::net::TcpStream::connect_timeout(
                    &METRICS.parse().expect("address"),
                    Duration::from_secs(2),
                )
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
            })
            .collect()
    });

    let (head, took) = pulse_e2e::lvs_bed::in_ns(&ns, || {
        let start = Instant::now();
        let mut s = std::net::TcpStream::connect_timeout(
            &METRICS.parse().expect("address"),
            Duration::from_secs(2),
        )
        .expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(s, "GET /metrics HTTP/1.1\r\nHost: {METRICS}\r\n\r\n").expect("request");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        (
            text.lines().next().unwrap_or_default().to_string(),
            start.elapsed(),
        )
    });
    eprintln!("scrape behind {IDLE} idle connections answered in {took:?}: {head}");
    assert_eq!(head, "HTTP/1.1 200 OK", "{}", p.logs());
    assert!(
        took < Duration::from_secs(1),
        "the scrape took {took:?} behind {IDLE} idle connections\n{}",
        p.logs()
    );
    drop(flood);
}
