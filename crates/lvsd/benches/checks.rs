//! Health-check cost at scale, on the host: lvsd in test mode (`-t`: checks run, the kernel's
//! table is not touched) with 10,000 virtual services × 4 = 40,000 real servers, each with
//! piranha's HTTP check (`GET / HTTP/1.0`, expect `HTTP`) every 10 s. Everything happens in a
//! network namespace of its own, where all of 10.0.0.0/8 is local: one listener answers every
//! real server. Reports lvsd's CPU time per wall second (utime + stime from /proc). Needs root;
//! skips otherwise.

use pulse_e2e::big_config::Shape;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
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

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn main() {
    if let Some(why) = pulse_e2e::netns::unavailable() {
        println!("skipped: {why}");
        return;
    }
    let lvsd = env!("CARGO_BIN_EXE_lvsd");
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

    // The real servers: one listener for all of 10/8, answering every connection at once.
    let path = format!("/var/run/netns/{}", ns.0);
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let (path, tx) = (path.clone(), tx.clone());
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = match TcpListener::bind("0.0.0.0:80") {
                Ok(l) => l,
                Err(_) => return, // the other thread holds it; one accept loop is enough
            };
            let _ = tx.send(());
            for s in l.incoming().flatten() {
                let mut s = s;
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            }
        });
    }
    rx.recv_timeout(Duration::from_secs(5)).expect("listener");

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
    let sock = tmp.path().join("lvsd.sock");
    let log = std::fs::File::create(tmp.path().join("lvsd.log")).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, lvsd, "-t", "--nodaemon", "-c"])
        .arg(&cfg)
        .arg("--control")
        .arg(&sock)
        .arg("--pidfile")
        .arg(tmp.path().join("lvs.pid"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("lvsd");
    // `ip netns exec` execs lvsd in place: same pid.
    let pid = child.id();
    std::thread::sleep(WARMUP);
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(MEASURE);
    let (c1, wall) = (cpu_seconds(pid), t0.elapsed());
    let status = pulse_control::call(&sock, &pulse_control::Request::Lvs, Duration::from_secs(30))
        .expect("status");
    let _ = child.kill();
    let _ = child.wait();
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
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!(
        "\n| case | result | notes |\n|---|---:|---|\n\
         | 40,000 real servers, HTTP check every 10 s: lvsd CPU | {pct:.1} % of one core | \
         {:.1} s CPU over {:.0} s after {:.0} s warm-up; {up} of {} up, {fresh} checked within 12 s; {} |",
        c1 - c0,
        wall.as_secs_f64(),
        WARMUP.as_secs_f64(),
        servers.len(),
        rss.split_whitespace().collect::<Vec<_>>().join(" ")
    );
}
