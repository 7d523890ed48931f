//! lvsd's own cost at scale, on the host, in test mode (`-t`: checks run, every change is
//! computed, the kernel's table is not touched — this kernel has no IPVS, and the VM's emulated
//! CPU would distort CPU times):
//!
//! 1. reloads of a 2,277-service / 37,205-server lvs.cf: without changes, and with one line
//!    changed (time from SIGHUP to "configuration reloaded", as lvsd logs it);
//! 2. 10,000 virtual services × 4 = 40,000 real servers with piranha's HTTP check
//!    (`GET / HTTP/1.0`, expect `HTTP`) every 10 s: lvsd's CPU time per wall second;
//! 3. the same 40,000 with HTTPS checks (`check_tls`, certificate verified against a CA file,
//!    `check_http`: `GET /`, status 200-299) against a tokio-rustls server
//!    (`pulse_e2e::tls::LoadServer`), once with TLS session tickets and once without, so the
//!    difference is what session resumption saves lvsd.
//!
//! Arguments filter the sections: `reload`, `checks`, `https` (none: all).
//!
//! Everything runs in a network namespace of its own where all of 10.0.0.0/8 is local, so one
//! listener answers every real server and no packet leaves it. Needs root; skips otherwise.
//! Prints a markdown table; asserts no duration.

use pulse_e2e::big_config::Shape;
use pulse_e2e::lvsd_log::{large_reload_rows, updates};
use pulse_e2e::netns::wait_for;
use pulse_e2e::tls::{LoadServer, TestCa, for_load, server_config};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WARMUP: Duration = Duration::from_secs(25);
const MEASURE: Duration = Duration::from_secs(30);
const TLS_NAME: &str = "www.example.test";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

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
    // (443 is the HTTPS section's own TLS server; the reload file's port-443 checks are plain
    // TCP checks that any accepting listener passes, so the TLS server answers them too.)
    for port in [80u16, 8080, 25] {
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
    for _ in 0..3 {
        rx.recv_timeout(Duration::from_secs(5)).expect("listener");
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let ca = TestCa::new("Pulse bench CA");
    let leaf = ca.leaf(&[TLS_NAME], 2020, 2090);
    let tls = server_config(&leaf);
    let mut rows = Vec::new();
    if want("reload") || want("checks") {
        let _plain443 = LoadServer::start(
            Some(&ns.0),
            "0.0.0.0:443".parse().unwrap(),
            1,
            1,
            for_load(&tls, false),
            OK,
        );
        if want("reload") {
            reloads(&ns, &mut rows);
        }
        if want("checks") {
            checks(&ns, &mut rows);
        }
    }
    if want("https") {
        for servers in [40_000, 10_000] {
            for resumption in [true, false] {
                https_checks(&ns, &ca, &tls, servers, resumption, &mut rows);
            }
        }
    }
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

/// CPU seconds (user + system) of this process: the bench's TLS server.
fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}

fn https_checks(
    ns: &Ns,
    ca: &TestCa,
    tls: &rustls::ServerConfig,
    servers: usize,
    resumption: bool,
    rows: &mut Vec<String>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let cfg = tmp.path().join("lvs.cf");
    let shape = Shape {
        virtuals: servers / 4,
        servers,
        ports: vec![443],
        timeout: 10,
        pool: None,
        vip_offset: 0,
    };
    let check = format!(
        "     check_tls = 1\n     check_tls_ca = \"{}\"\n     check_tls_sni = {TLS_NAME}\n     check_http = 1\n",
        ca_file.display()
    );
    let text = shape.generate().replace(
        "     send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n     expect = \"HTTP\"\n",
        &check,
    );
    assert!(text.contains("check_tls = 1"), "no check replaced");
    std::fs::write(&cfg, text).unwrap();
    // The TLS side: 4 SO_REUSEPORT listeners, 2 worker threads (the machine's cores).
    let server = LoadServer::start(
        Some(&ns.0),
        "0.0.0.0:443".parse().unwrap(),
        4,
        2,
        for_load(tls, resumption),
        OK,
    );
    let lvsd = Lvsd::start(ns, &cfg, tmp.path());
    let pid = lvsd.pid();
    std::thread::sleep(WARMUP);
    let counts = &server.counts;
    let (c0, s0, t0) = (cpu_seconds(pid), own_cpu_seconds(), Instant::now());
    let (h0, r0) = (
        counts.handshakes.load(std::sync::atomic::Ordering::Relaxed),
        counts.resumed.load(std::sync::atomic::Ordering::Relaxed),
    );
    std::thread::sleep(MEASURE);
    let (c1, s1, wall) = (cpu_seconds(pid), own_cpu_seconds(), t0.elapsed());
    let (h1, r1) = (
        counts.handshakes.load(std::sync::atomic::Ordering::Relaxed),
        counts.resumed.load(std::sync::atomic::Ordering::Relaxed),
    );
    // `pulsectl status`'s lvsd half under this load: the same call with pulsectl's 5 s timeout
    // (per read), the answer decoded; three times. Before the control socket's deadline
    // measured progress, the 18 MB answer did not get out within its fixed 5 s.
    let status_times = status_times(&tmp.path().join("lvsd.sock"), 3);
    // Which servers are up: from lvsd's log (the last "making … available" or "shutting down"
    // of each).
    let (up, seen) = up_from_log(&lvsd.log());
    let total = shape.servers;
    let _ = seen;
    let servers = format!("{},{:03}", servers / 1000, servers % 1000);
    let pct = 100.0 * (c1 - c0) / wall.as_secs_f64();
    let server_pct = 100.0 * (s1 - s0) / wall.as_secs_f64();
    let secs = wall.as_secs_f64();
    rows.push(format!(
        "| {servers} real servers, HTTPS check every 10 s, {}: lvsd CPU (host, `-t`) | {pct:.1} % of one core | \
         {:.1} s CPU over {secs:.0} s after {:.0} s warm-up; {up} of {total} up (lvsd's log); \
         {:.0} handshakes/s, {:.0} % resumed, {:.0} µs of lvsd CPU per handshake; {}; the TLS server used {server_pct:.0} % of one core; \
         lvsd's status answer: {status_times} |",
        if resumption { "sessions resumed" } else { "full handshakes" },
        c1 - c0,
        WARMUP.as_secs_f64(),
        (h1 - h0) as f64 / secs,
        if h1 > h0 { 100.0 * (r1 - r0) as f64 / (h1 - h0) as f64 } else { 0.0 },
        if h1 > h0 { (c1 - c0) * 1e6 / (h1 - h0) as f64 } else { 0.0 },
        peak_rss(pid)
    ));
    eprintln!("{}", rows.last().unwrap());
    eprintln!(
        "check failures by reason: {:?}",
        failure_reasons(&lvsd.log())
    );
    drop(lvsd);
    drop(server);
}

/// `n` status requests to lvsd as `pulsectl status` makes them (5 s timeout per read, as
/// `pulse_control::call`): the answer's size and, for each, the time to its first byte (lvsd
/// builds and encodes the whole answer before writing), to its last, and to the decoded answer.
fn status_times(socket: &Path, n: usize) -> String {
    use std::io::Read;
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        let once = || -> std::io::Result<(f64, f64, f64, usize)> {
            let mut s = std::os::unix::net::UnixStream::connect(socket)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut line = serde_json::to_vec(&pulse_control::Request::Lvs)?;
            line.push(b'\n');
            s.write_all(&line)?;
            let mut answer = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut first = None;
            loop {
                let k = s.read(&mut buf)?;
                if k == 0 {
                    break;
                }
                first.get_or_insert_with(|| t.elapsed().as_secs_f64());
                answer.extend_from_slice(&buf[..k]);
            }
            let last = t.elapsed().as_secs_f64();
            let decoded: pulse_control::Response =
                serde_json::from_slice(&answer).map_err(std::io::Error::other)?;
            if !matches!(decoded, pulse_control::Response::Lvs { .. }) {
                return Err(std::io::Error::other(format!("{decoded:?}")));
            }
            Ok((
                first.unwrap_or(last),
                last,
                t.elapsed().as_secs_f64(),
                answer.len(),
            ))
        };
        match once() {
            Ok((first, last, decoded, len)) => {
                size = len;
                times.push(format!("{first:.2}/{last:.2}/{decoded:.2} s"));
            }
            Err(e) => times.push(format!(
                "failed after {:.1} s ({e})",
                t.elapsed().as_secs_f64()
            )),
        }
    }
    format!(
        "{:.1} MB, first byte/last byte/decoded: {}",
        size as f64 / 1e6,
        times.join(", ")
    )
}

/// The reasons of the failed checks in lvsd's log, addresses left out, most frequent first.
fn failure_reasons(log: &str) -> Vec<(String, usize)> {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for line in log.lines() {
        let Some(e) = line.split("error=\"").nth(1) else {
            continue;
        };
        let e = e.trim_end_matches('"');
        let words: Vec<&str> = e.split(' ').filter(|w| !w.starts_with("10.")).collect();
        *by.entry(words.join(" ")).or_default() += 1;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.truncate(6);
    v
}

/// Servers whose last health event in lvsd's log is "making … available", and how many
/// servers have any event.
fn up_from_log(log: &str) -> (usize, usize) {
    let mut last: std::collections::HashMap<&str, bool> = Default::default();
    for line in log.lines() {
        if let Some(rest) = line.split("making ").nth(1) {
            if let Some(server) = rest.split(' ').next() {
                last.insert(server, true);
            }
        } else if let Some(rest) = line.split("shutting down ").nth(1)
            && let Some(server) = rest.split(' ').next()
        {
            last.insert(server, false);
        }
    }
    (last.values().filter(|&&up| up).count(), last.len())
}
