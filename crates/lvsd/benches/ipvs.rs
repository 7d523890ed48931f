//! IPVS at scale on a real kernel (inside the VM; `tests/vm/run-tests.sh --bench`):
//!
//! 1. program 10,000 services × 4 real servers into an empty table with lvsd, with
//!    `ipvsadm -R` (one process reading a rules file) and with one `ipvsadm` exec per rule
//!    (piranha's way; timed on a sample and extrapolated);
//! 2. reload a 2,277-service / 37,205-server lvs.cf without changes and with one changed line.
//!
//! Prints a markdown table. Not a timed test: nothing here asserts a duration.

use pulse_e2e::big_config::Shape;
use pulse_e2e::lvs_bed::{LvsBed, Node, in_vm};
use pulse_e2e::netns::{signal, wait_for};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `ipvsadm` processes timed per rule; the rest is extrapolated.
const EXEC_SAMPLE_SERVICES: usize = 200;

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("lvsd.log")).unwrap_or_default()
}

/// `key=VALUE` of a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// (total changes, total ms) over the "ipvs table updated" lines of `log`.
fn updates(log: &str) -> (usize, f64) {
    log.lines()
        .filter(|l| l.contains("ipvs table updated"))
        .fold((0, 0.0), |(c, ms), l| {
            (
                c + field(l, "changes")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0),
                ms + field(l, "ms")
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0),
            )
        })
}

fn dest_count(bed: &LvsBed) -> usize {
    bed.ipvsadm(&["-Ln"])
        .lines()
        .filter(|l| l.trim_start().starts_with("->"))
        .count()
        .saturating_sub(1) // the header line "  -> RemoteAddress:Port ..."
}

fn service_count(bed: &LvsBed) -> usize {
    bed.ipvsadm(&["-Ln"])
        .lines()
        .filter(|l| l.starts_with("TCP") || l.starts_with("UDP") || l.starts_with("FWM"))
        .count()
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// The `ipvsadm -R` rules of a configuration, from the same plan lvsd makes.
fn rules(cfg_text: &str) -> Vec<String> {
    let cfg = pulse_lvscf::parse(cfg_text).config;
    let (plan, _) = pulse_lvs::Plan::new(&cfg, &mut |_| None);
    let mut out = Vec::new();
    for s in &plan.services {
        let svc = match s.service.key {
            pulse_ipvs::ServiceKey::Addr { addr, port, .. } => format!("-t {addr}:{port}"),
            pulse_ipvs::ServiceKey::Fwmark { mark, .. } => format!("-f {mark}"),
        };
        out.push(format!("-A {svc} -s {}", s.service.scheduler));
        for r in &s.servers {
            out.push(format!(
                "-a {svc} -r {}:{} -g -w {}",
                r.dest.key.addr, r.dest.key.port, r.dest.weight
            ));
        }
    }
    out
}

struct Row {
    case: String,
    result: String,
    note: String,
}

fn main() {
    if !in_vm() {
        println!(
            "skipped: this benchmark needs a kernel with IPVS; run `bash tests/vm/run-tests.sh --bench`"
        );
        return;
    }
    let mut rows = Vec::new();
    program_10k(&mut rows);
    reload_large(&mut rows);
    let mut t = String::from("| case | result | notes |\n|---|---:|---|\n");
    for r in rows {
        let _ = writeln!(t, "| {} | {} | {} |", r.case, r.result, r.note);
    }
    println!("\n{t}");
}

fn program_10k(rows: &mut Vec<Row>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut bed = LvsBed::new();
    let pool: Vec<(String, u16)> = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]
        .iter()
        .map(|a| (a.to_string(), 80))
        .collect();
    let _servers: Vec<_> = pool
        .iter()
        .map(|(a, p)| bed.serve_tcp(SocketAddr::new(a.parse().unwrap(), *p)))
        .collect();
    let shape = Shape {
        virtuals: 10_000,
        servers: 40_000,
        ports: vec![80],
        timeout: 10,
        pool: Some(pool),
        vip_offset: 10 * 65_536,
    };
    let text = shape.generate();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, &text).unwrap();
    let total_ops = 10_000 + 40_000;

    // lvsd, from an empty table: services at once, real servers after their first check.
    let started = Instant::now();
    let pid = bed.spawn_lvsd(&cfg, tmp.path());
    let done = wait_for(Duration::from_secs(600), || {
        updates(&log_of(tmp.path())).0 >= total_ops
    })
    .unwrap_or_else(|| panic!("lvsd did not program the table:\n{}", log_of(tmp.path())));
    let (_, lvsd_ms) = updates(&log_of(tmp.path()));
    let wall = started.elapsed();
    assert_eq!((service_count(&bed), dest_count(&bed)), (10_000, 40_000));
    let (rss, hwm) = rss_kib(pid);
    eprintln!("lvsd: {lvsd_ms:.0} ms in netlink, {wall:?} wall ({done:?} to detect)");
    // SIGTERM removes the services lvsd owns.
    signal(pid, "TERM");
    bed.wait_lvsd(pid, Duration::from_secs(300))
        .expect("lvsd exits");
    assert_eq!(service_count(&bed), 0);

    // ipvsadm -R.
    let rules = rules(&text);
    assert_eq!(rules.len(), total_ops);
    let restore = rules.join("\n") + "\n";
    let ns = bed.ns(Node::Director);
    let t = Instant::now();
    let mut child = std::process::Command::new("/usr/sbin/ip")
        .args(["netns", "exec", &ns, "ipvsadm", "-R"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(restore.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    let restore_time = t.elapsed();
    assert_eq!((service_count(&bed), dest_count(&bed)), (10_000, 40_000));
    bed.ipvsadm(&["-C"]);

    // One ipvsadm per rule (piranha's lvsd + nanny): a sample, extrapolated.
    let sample: Vec<&String> = rules.iter().take(EXEC_SAMPLE_SERVICES * 5).collect();
    let t = Instant::now();
    for r in &sample {
        let args: Vec<&str> = r.split_whitespace().collect();
        let o = bed.exec(Node::Director, "ipvsadm", &args);
        assert!(o.status.success(), "ipvsadm {r}");
    }
    let per_rule = t.elapsed() / sample.len() as u32;
    let exec_total = per_rule * total_ops as u32;
    bed.ipvsadm(&["-C"]);

    let lvsd_prog = Duration::from_secs_f64(lvsd_ms / 1e3);
    rows.push(Row {
        case: "program 10,000 services × 4 real servers: **lvsd** (netlink time)".into(),
        result: format!("{:.2} s", lvsd_prog.as_secs_f64()),
        note: format!(
            "50,000 ops, pipelined; {:.1}× faster than `ipvsadm -R`",
            restore_time.as_secs_f64() / lvsd_prog.as_secs_f64()
        ),
    });
    rows.push(Row {
        case: "… lvsd end to end (start → last real server in the kernel)".into(),
        result: format!("{:.2} s", wall.as_secs_f64()),
        note: format!(
            "includes parse, first checks (≤ 1 s jitter); RSS {} MiB, peak {} MiB",
            rss / 1024,
            hwm / 1024
        ),
    });
    rows.push(Row {
        case: "… `ipvsadm -R` (restore)".into(),
        result: format!("{:.2} s", restore_time.as_secs_f64()),
        note: "one process, one netlink round trip per rule".into(),
    });
    rows.push(Row {
        case: "… one `ipvsadm` exec per rule (piranha)".into(),
        result: format!("{:.0} s", exec_total.as_secs_f64()),
        note: format!(
            "extrapolated from {} execs ({:.1} ms each)",
            sample.len(),
            per_rule.as_secs_f64() * 1e3
        ),
    });
}

fn reload_large(rows: &mut Vec<Row>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut bed = LvsBed::new();
    let mut pool: Vec<(String, u16)> = Vec::new();
    for port in [80u16, 81] {
        for a in pulse_e2e::lvs_bed::RIPS {
            pool.push((a.to_string(), port));
        }
    }
    pool.push(("10.0.0.2".into(), 82));
    let _servers: Vec<_> = pool
        .iter()
        .map(|(a, p)| bed.serve_tcp(SocketAddr::new(a.parse().unwrap(), *p)))
        .collect();
    let shape = Shape {
        ports: vec![80],
        pool: Some(pool),
        vip_offset: 10 * 65_536,
        ..Shape::large()
    };
    let text = shape.generate();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, &text).unwrap();
    let pid = bed.spawn_lvsd(&cfg, tmp.path());
    wait_for(Duration::from_secs(600), || {
        updates(&log_of(tmp.path())).0 >= shape.virtuals + shape.servers
    })
    .unwrap_or_else(|| panic!("lvsd did not program the table:\n{}", log_of(tmp.path())));
    assert_eq!(dest_count(&bed), shape.servers);

    let reload = |cfg_text: &str| -> (f64, usize) {
        let before = log_of(tmp.path());
        let n = before.matches("configuration reloaded").count();
        let (changes0, _) = updates(&before);
        std::fs::write(&cfg, cfg_text).unwrap();
        signal(pid, "HUP");
        wait_for(Duration::from_secs(120), || {
            log_of(tmp.path()).matches("configuration reloaded").count() > n
        })
        .expect("reload finished");
        let log = log_of(tmp.path());
        let line = log
            .lines()
            .filter(|l| l.contains("configuration reloaded"))
            .nth(n)
            .unwrap();
        let ms = field(line, "ms").and_then(|v| v.parse().ok()).unwrap();
        (ms, updates(&log).0 - changes0)
    };
    let mut no_change: Vec<f64> = (0..5)
        .map(|_| {
            let (ms, changes) = reload(&text);
            assert_eq!(changes, 0);
            ms
        })
        .collect();
    no_change.sort_by(f64::total_cmp);
    let changed = text.replacen("weight = 1\n", "weight = 9\n", 1);
    assert_ne!(changed, text);
    let (one_ms, changes) = reload(&changed);
    assert_eq!(changes, 1, "{}", log_of(tmp.path()));
    let (rss, hwm) = rss_kib(pid);
    rows.push(Row {
        case: "no-change reload, 2,277 services / 37,205 real servers".into(),
        result: format!("{:.0} ms", no_change[2]),
        note: format!(
            "median of 5 (min {:.0}, max {:.0}); 0 kernel changes; keepalived 2.3 reports 240 ms",
            no_change[0], no_change[4]
        ),
    });
    rows.push(Row {
        case: "one-line-change reload (one weight)".into(),
        result: format!("{one_ms:.0} ms"),
        note: format!(
            "exactly 1 kernel change; lvsd RSS {} MiB, peak {} MiB",
            rss / 1024,
            hwm / 1024
        ),
    });
}
