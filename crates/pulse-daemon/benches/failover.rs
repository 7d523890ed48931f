//! Failover benchmark (not a test): Pulse next to keepalived in the same namespace bed.
//!
//! `cargo bench -p pulse-daemon --bench failover` (root; keepalived from Debian's packages for
//! the comparison rows, skipped with a note if missing). Prints a markdown table:
//!
//! - SIGKILL of the active director (and its link taken down, as a dead host's) → the client's
//!   neighbour entry for the VIP shows the survivor's MAC; for Pulse also the overhead beyond
//!   `deadtime`, counted from the last heartbeat the survivor heard.
//! - SIGTERM of the active director → the client sees the other MAC.
//! - A soak at keepalive 0.05 s / deadtime 0.15 s with both cores busy: false failovers.
//!
//! `PULSE_BENCH_TRIALS` (default 10) and `PULSE_BENCH_SOAK_SECS` (default 300) shorten it.

use pulse_control::{Request, Response};
use pulse_e2e::netns::{Bed, Host, signal, unavailable, wait_for};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const VIP: &str = "192.0.2.100";

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC).
fn parse_ts(s: &str) -> Option<f64> {
    let s = s.trim_start_matches('[').trim_end_matches([']', 'Z']);
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let ss = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + hh * 3600.0 + mm * 60.0 + ss)
}

/// `ip -ts monitor neigh` in the client's namespace, written to a file.
struct NeighMonitor {
    child: Child,
    path: PathBuf,
}

impl NeighMonitor {
    fn start(bed: &Bed, dir: &Path) -> Self {
        let path = dir.join("neigh.txt");
        let out = std::fs::File::create(&path).expect("monitor file");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &bed.ns(Host::Client),
                "ip",
                "-ts",
                "monitor",
                "neigh",
            ])
            .env("TZ", "UTC")
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("ip monitor");
        std::thread::sleep(Duration::from_millis(100));
        Self { child, path }
    }

    /// The time of the first event that puts `mac` on the VIP.
    fn first(&self, mac: &str) -> Option<f64> {
        let f = std::fs::File::open(&self.path).ok()?;
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                (l.contains(VIP) && l.contains(mac))
                    .then(|| l.split_whitespace().next().and_then(parse_ts))
                    .flatten()
            })
    }
}

impl Drop for NeighMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn other(h: Host) -> Host {
    if h == Host::D1 { Host::D2 } else { Host::D1 }
}

fn holds(bed: &Bed, h: Host) -> bool {
    bed.has_addr(h, VIP)
}

/// Wait for one stable VIP holder (see the netns tests).
fn settled(bed: &Bed, limit: Duration, keepalive: Duration) -> Option<Host> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let one = || holds(bed, Host::D1) != holds(bed, Host::D2);
        if one() {
            let first = holds(bed, Host::D1);
            let flip = wait_for(keepalive * 2 + Duration::from_millis(300), || {
                !one() || holds(bed, Host::D1) != first
            });
            if flip.is_none() {
                return Some(if first { Host::D1 } else { Host::D2 });
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn call(sock: &Path, req: &Request) -> Option<pulse_control::Status> {
    match pulse_control::call(sock, req, Duration::from_secs(3)).ok()? {
        Response::Ok { status } => Some(*status),
        Response::Error { .. } | Response::Lvs { .. } | Response::Handoff { .. } => None,
    }
}

/// Start `pulse` for `h` with its control socket, state and log in `dir`.
fn start_pulse(bed: &mut Bed, h: Host, cf: &Path, dir: &Path) -> u32 {
    bed.spawn_pulse(env!("CARGO_BIN_EXE_pulse"), h, cf, dir, &["--test-start"])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kill,
    Term,
}

/// One Pulse trial; returns (signal → client sees new MAC, overhead beyond deadtime) in ms.
fn pulse_trial(
    keepalive: &str,
    deadtime: &str,
    kind: Kind,
    seed: u64,
) -> Option<(f64, Option<f64>)> {
    let ka: f64 = keepalive.parse().ok()?;
    let dt: f64 = deadtime.parse().ok()?;
    let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
    bed.accept_gratuitous_arp(Host::Client);
    let dir = tempfile::tempdir().ok()?;
    let cf = dir.path().join("lvs.cf");
    std::fs::write(
        &cf,
        format!(
            "serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n\
             keepalive = {keepalive}\ndeadtime = {deadtime}\nnetwork = direct\n\
             virtual web {{\n     active = 1\n     address = {VIP} eth0:1\n}}\n"
        ),
    )
    .ok()?;
    let pids = [
        start_pulse(&mut bed, Host::D1, &cf, dir.path()),
        start_pulse(&mut bed, Host::D2, &cf, dir.path()),
    ];
    let active = settled(&bed, Duration::from_secs(15), Duration::from_secs_f64(ka))?;
    let survivor = other(active);
    wait_for(Duration::from_secs(3), || {
        bed.neighbour(Host::Client, VIP).as_deref() == Some(active.mac())
    })?;
    let mon = NeighMonitor::start(&bed, dir.path());
    // A spread of phases against the heartbeat timer.
    std::thread::sleep(Duration::from_secs_f64(
        ka * ((seed * 7919 % 1000) as f64 / 1000.0),
    ));
    let sock = dir.path().join(format!("{survivor:?}.sock"));
    let before = call(&sock, &Request::Status);
    let t_status = now_unix();
    let t_signal = now_unix();
    let pid = pids[usize::from(active == Host::D2)];
    match kind {
        Kind::Kill => {
            signal(pid, "KILL");
            bed.set_port(active, false);
        }
        Kind::Term => signal(pid, "TERM"),
    }
    let limit = Duration::from_secs_f64(dt + 3.0);
    wait_for(limit, || {
        bed.neighbour(Host::Client, VIP).as_deref() == Some(survivor.mac())
    })?;
    std::thread::sleep(Duration::from_millis(50));
    let t_neigh = mon.first(survivor.mac())?;
    let total = (t_neigh - t_signal) * 1000.0;
    // Overhead beyond deadtime: from the last heartbeat the survivor heard (its status just
    // before the signal) plus deadtime, to the client's neighbour change.
    let overhead = before
        .and_then(|s| s.links.first().and_then(|l| l.last_heard_ms_ago))
        .map(|ago| {
            let last = t_status - ago as f64 / 1000.0;
            (t_neigh - (last + dt)) * 1000.0
        });
    Some((total, if kind == Kind::Kill { overhead } else { None }))
}

fn keepalived_conf(
    dir: &Path,
    me: &str,
    peer: &str,
    state: &str,
    prio: u32,
    advert: &str,
    version: u32,
) -> PathBuf {
    let path = dir.join(format!("k{me}.conf"));
    let text = format!(
        "global_defs {{\n    router_id lvs_{me}\n    vrrp_version {version}\n}}\n\
         vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    virtual_router_id 51\n\
         \x20   priority {prio}\n    advert_int {advert}\n    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n\
         \x20   virtual_ipaddress {{\n        {VIP}/24 dev eth0\n    }}\n}}\n"
    );
    std::fs::write(&path, text).expect("keepalived conf");
    path
}

/// One keepalived trial: SIGKILL (or SIGTERM) of the MASTER → client sees the backup's MAC, ms.
fn keepalived_trial(advert: &str, version: u32, kind: Kind, seed: u64) -> Option<f64> {
    let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
    bed.accept_gratuitous_arp(Host::Client);
    let dir = tempfile::tempdir().ok()?;
    let d = dir.path().to_string_lossy().into_owned();
    let c1 = keepalived_conf(
        dir.path(),
        "192.0.2.11",
        "192.0.2.12",
        "MASTER",
        150,
        advert,
        version,
    );
    let c2 = keepalived_conf(
        dir.path(),
        "192.0.2.12",
        "192.0.2.11",
        "BACKUP",
        100,
        advert,
        version,
    );
    for (h, c, n) in [(Host::D1, c1, "1"), (Host::D2, c2, "2")] {
        let cs = c.to_string_lossy().into_owned();
        let args = [
            "--dont-fork",
            "--log-console",
            "--no-syslog",
            "--vrrp",
            "-f",
            &cs,
            "-p",
            &format!("{d}/{n}.pid"),
            "-r",
            &format!("{d}/{n}-vrrp.pid"),
            "-c",
            &format!("{d}/{n}-chk.pid"),
        ];
        bed.spawn(
            h,
            "keepalived",
            &args,
            &dir.path().join(format!("k{n}.log")),
        );
    }
    let adv: f64 = advert.parse().ok()?;
    wait_for(Duration::from_secs(15), || {
        holds(&bed, Host::D1) && !holds(&bed, Host::D2)
    })?;
    wait_for(Duration::from_secs(3), || {
        bed.neighbour(Host::Client, VIP).as_deref() == Some(Host::D1.mac())
    })?;
    let mon = NeighMonitor::start(&bed, dir.path());
    std::thread::sleep(Duration::from_secs_f64(
        adv * ((seed * 7919 % 1000) as f64 / 1000.0),
    ));
    let read_pid = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    let (parent, child) = (read_pid("1.pid")?, read_pid("1-vrrp.pid")?);
    let t_signal = now_unix();
    match kind {
        Kind::Kill => {
            signal(child, "KILL");
            signal(parent, "KILL");
            bed.set_port(Host::D1, false);
        }
        Kind::Term => signal(parent, "TERM"),
    }
    wait_for(Duration::from_secs_f64(adv * 4.0 + 3.0), || {
        bed.neighbour(Host::Client, VIP).as_deref() == Some(Host::D2.mac())
    })?;
    std::thread::sleep(Duration::from_millis(50));
    Some((mon.first(Host::D2.mac())? - t_signal) * 1000.0)
}

/// Both cores busy for the soak.
struct CpuHog(Vec<Child>);

impl CpuHog {
    fn start(n: usize) -> Self {
        Self(
            (0..n)
                .filter_map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .ok()
                })
                .collect(),
        )
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run the pair at 0.05/0.15 for `secs` under load; count activations beyond the first.
fn soak(secs: u64) -> Option<(u64, u64, u64)> {
    let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
    let dir = tempfile::tempdir().ok()?;
    let cf = dir.path().join("lvs.cf");
    std::fs::write(
        &cf,
        format!(
            "primary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\nkeepalive = 0.05\ndeadtime = 0.15\n\
             network = direct\nvirtual web {{\n     active = 1\n     address = {VIP} eth0:1\n}}\n"
        ),
    )
    .ok()?;
    for h in [Host::D1, Host::D2] {
        start_pulse(&mut bed, h, &cf, dir.path());
    }
    settled(&bed, Duration::from_secs(10), Duration::from_millis(50))?;
    let count = |h: Host| {
        call(&dir.path().join(format!("{h:?}.sock")), &Request::Status).map(|s| s.counters)
    };
    let (a0, b0) = (count(Host::D1)?, count(Host::D2)?);
    let hog = CpuHog::start(2);
    std::thread::sleep(Duration::from_secs(secs));
    drop(hog);
    let (a1, b1) = (count(Host::D1)?, count(Host::D2)?);
    let takeovers = (a1.takeovers - a0.takeovers) + (b1.takeovers - b0.takeovers);
    Some((
        takeovers,
        a1.heartbeats_received - a0.heartbeats_received,
        b1.heartbeats_received - b0.heartbeats_received,
    ))
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "| 0 | – | – | – |".into();
    }
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "| {} | {:.1} | {:.1} | {:.1} |",
        v.len(),
        v[0],
        p(0.5),
        v[v.len() - 1]
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --benches` only checks that it builds.
        return;
    }
    if let Some(why) = unavailable() {
        println!("failover benchmark skipped: {why}");
        return;
    }
    let trials: u64 = std::env::var("PULSE_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let soak_secs: u64 = std::env::var("PULSE_BENCH_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let have_keepalived = Command::new("keepalived").arg("--version").output().is_ok();
    println!("# Failover: Pulse and keepalived in one namespace bed ({trials} trials per row)\n");
    println!("| case | trials | min (ms) | median (ms) | max (ms) |");
    println!("|---|---:|---:|---:|---:|");
    let mut overheads = Vec::new();
    for (ka, dt) in [("1", "3"), ("0.05", "0.15")] {
        let mut kill = Vec::new();
        let mut over = Vec::new();
        for i in 0..trials {
            if let Some((t, o)) = pulse_trial(ka, dt, Kind::Kill, i) {
                kill.push(t);
                over.extend(o);
            }
        }
        println!(
            "| Pulse keepalive {ka} / deadtime {dt}: SIGKILL → client sees new MAC {}",
            stats(kill)
        );
        println!(
            "| Pulse keepalive {ka} / deadtime {dt}: overhead beyond deadtime {}",
            stats(over.clone())
        );
        overheads.push((ka, over));
        let term: Vec<f64> = (0..trials)
            .filter_map(|i| pulse_trial(ka, dt, Kind::Term, i).map(|x| x.0))
            .collect();
        println!(
            "| Pulse keepalive {ka} / deadtime {dt}: SIGTERM → client sees new MAC {}",
            stats(term)
        );
    }
    if have_keepalived {
        for (adv, ver) in [("1", 2), ("0.1", 3)] {
            let kill: Vec<f64> = (0..trials)
                .filter_map(|i| keepalived_trial(adv, ver, Kind::Kill, i))
                .collect();
            println!(
                "| keepalived advert_int {adv} (VRRPv{ver}): SIGKILL → client sees new MAC {}",
                stats(kill)
            );
            let term: Vec<f64> = (0..trials)
                .filter_map(|i| keepalived_trial(adv, ver, Kind::Term, i))
                .collect();
            println!(
                "| keepalived advert_int {adv} (VRRPv{ver}): SIGTERM → client sees new MAC {}",
                stats(term)
            );
        }
    } else {
        println!("| keepalived | not installed (`apt-get install keepalived`) | | | |");
    }
    match soak(soak_secs) {
        Some((false_failovers, rx1, rx2)) => println!(
            "\nsoak: {soak_secs} s at keepalive 0.05 / deadtime 0.15 with 2 CPU hogs: {false_failovers} false failovers \
             ({rx1} and {rx2} heartbeats received)"
        ),
        None => println!("\nsoak: could not run"),
    }
    println!(
        "\ntargets: overhead beyond deadtime < 10 ms at p50; SIGTERM handover < 20 ms; 0 false failovers"
    );
}
