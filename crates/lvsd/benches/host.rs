//! lvsd's own cost at scale, on the host, in test mode (`-t`: checks run, every change is
//! computed, the kernel's table is not touched — this kernel has no IPVS, and the VM's emulated
//! CPU would distort CPU times):
//!
//! 1. reloads of a 2,277-service / 37,205-server lvs.cf: without changes, and with one line
//!    changed (time from SIGHUP to "configuration reloaded", as lvsd logs it);
//! 2. 10,000 virtual services × 4 = 40,000 real servers with piranha's HTTP check
//!    (`GET / HTTP/1.0`, expect `HTTP`) every 10 s: lvsd's CPU time per wall second.
//!
//! Everything runs in a network namespace of its own where all of 10.0.0.0/8 is local, so one
//! listener answers every real server and no packet leaves it. Needs root; skips otherwise.
//! Prints a markdown table; asserts no duration.

use pulse_e2e::big_config::Shape;
use pulse_e2e::lvsd_log::{large_reload_rows, updates};
use pulse_e2e::netns::wait_for;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WARMUP: Duration = Duration::from_secs(25);
const MEASURE: Duration = Duration::from_secs(30);

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = stat.rsplit_once(')').expect("comm").1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state(0) ppid(1) … utime(11) stime(12), in clock ticks.
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // /proc reports USER_HZ ticks, which Linux fixes at 100 for user space.
    ticks / 100.0
}

fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let kib: u64 = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(format!("peak RSS {} MiB", kib / 1024))
        })
        .unwrap_or_default()
}

/// The bench's namespace; deleted on drop.
struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// lvsd in test mode in the namespace, with its files in `dir`; killed on drop.
struct Lvsd {
    child: Child,
    dir: PathBuf,
}

impl Lvsd {
    fn start(ns: &Ns, cfg: &Path, dir: &Path) -> Self {
        let log = std::fs::File::create(dir.join("lvsd.log")).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_lvsd"),
                "-t",
                "--nodaemon",
                "-c",
            ])
            .arg(cfg)
            .arg("--control")
            .arg(dir.join("lvsd.sock"))
            .arg("--pidfile")
            .arg(dir.join("lvs.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("lvsd");
        Self {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// `ip netns exec` execs lvsd in place: same pid.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("lvsd.log")).unwrap_or_default()
    }
}

impl Drop for Lvsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    if let Some(why) = pulse_e2e::netns::unavailable() {
        println!("skipped: {why}");
        return;
    }
    let ns = Ns(format!("lvbench{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    ip(&[
        "-n",
        &ns.0,
        "route",
        "add",
        "local",
        "10.0.0.0/8",
        "dev",
        "lo",
    ]);
    // The real servers: one listener for all of 10/8 (ports 80 and 443 and 8080 and 25, as the
    // large file uses), answering every connection at once.
    let path = format!("/var/run/netns/{}", ns.0);
    let (tx, rx) = std::sync::mpsc::channel();
    for port in [80u16, 443, 8080, 25] {
        let (path, tx) = (path.clone(), tx.clone());
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = TcpListener::bind(("0.0.0.0", port)).expect("listener");
            let _ = tx.send(());
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            }
        });
    }
    for _ in 0..4 {
        rx.recv_timeout(Duration::from_secs(5)).expect("listener");
    }
    let mut rows = Vec::new();
    reloads(&ns, &mut rows);
    checks(&ns, &mut rows);
    println!("\n| case | result | notes |\n|---|---:|---|");
    for r in rows {
        println!("{r}");
    }
}

fn reloads(ns: &Ns, rows: &mut Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    // Only TCP ports: the namespace's listeners are TCP.
    let shape = Shape {
        ports: vec![80, 443, 8080, 25],
        ..Shape::large()
    };
    let text = shape.generate();
    std::fs::write(&cfg, &text).unwrap();
    let lvsd = Lvsd::start(ns, &cfg, tmp.path());
    let log = tmp.path().join("lvsd.log");
    wait_for(Duration::from_secs(120), || {
        updates(&lvsd.log()).0 >= shape.virtuals + shape.servers
    })
    .unwrap_or_else(|| panic!("table not built:\n{}", lvsd.log()));
    for row in large_reload_rows(lvsd.pid(), &log, &cfg, &text, "host, `-t`") {
        rows.push(row);
    }
    rows.push(format!(
        "| lvsd memory with this table and 37,205 checks (host, `-t`) | {} | |",
        peak_rss(lvsd.pid())
    ));
}

fn checks(ns: &Ns, rows: &mut Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    let shape = Shape {
        virtuals: 10_000,
        servers: 40_000,
        ports: vec![80],
        timeout: 10,
        pool: None,
        vip_offset: 0,
    };
    std::fs::write(&cfg, shape.generate()).unwrap();
    let lvsd = Lvsd::start(ns, &cfg, tmp.path());
    let pid = lvsd.pid();
    std::thread::sleep(WARMUP);
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(MEASURE);
    let (c1, wall) = (cpu_seconds(pid), t0.elapsed());
    let status = pulse_control::call(
        &tmp.path().join("lvsd.sock"),
        &pulse_control::Request::Lvs,
        Duration::from_secs(30),
    )
    .expect("status");
    let pulse_control::Response::Lvs { lvs } = status else {
        panic!("{status:?}")
    };
    let servers: Vec<_> = lvs.services.iter().flat_map(|s| &s.servers).collect();
    let up = servers.iter().filter(|s| s.health == "up").count();
    let fresh = servers
        .iter()
        .filter(|s| s.last_check_ms_ago.is_some_and(|ms| ms <= 12_000))
        .count();
    let pct = 100.0 * (c1 - c0) / wall.as_secs_f64();
    rows.push(format!(
        "| 40,000 real servers, HTTP check every 10 s: lvsd CPU (host, `-t`) | {pct:.1} % of one core | \
         {:.1} s CPU over {:.0} s after {:.0} s warm-up; {up} of {} up, {fresh} checked within 12 s; {}; \
         loopback: the real servers' side of each TCP exchange is counted too |",
        c1 - c0,
        wall.as_secs_f64(),
        WARMUP.as_secs_f64(),
        servers.len(),
        peak_rss(pid)
    ));
}
