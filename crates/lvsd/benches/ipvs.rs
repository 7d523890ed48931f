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
use pulse_e2e::lvsd_log::{large_reload_rows, updates};
use pulse_e2e::netns::{signal, wait_for};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `ipvsadm` processes timed per rule; the rest is extrapolated.
const EXEC_SAMPLE_SERVICES: usize = 200;

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("lvsd.log")).unwrap_or_default()
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
    println!("\n| case | result | notes |\n|---|---:|---|");
    for r in rows {
        println!("{r}");
    }
}

fn program_10k(rows: &mut Vec<String>) {
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

    let lvsd_prog = lvsd_ms / 1e3;
    rows.push(format!(
        "| program 10,000 services × 4 real servers: **lvsd** (netlink time) (VM) | {lvsd_prog:.2} s | 50,000 ops, pipelined; **{:.1}× faster than `ipvsadm -R`** |",
        restore_time.as_secs_f64() / lvsd_prog
    ));
    rows.push(format!(
        "| … lvsd end to end: start → last real server in the kernel (VM) | {:.2} s | includes parse, plan and the first checks (≤ 1 s jitter); RSS {} MiB, peak {} MiB |",
        wall.as_secs_f64(),
        rss / 1024,
        hwm / 1024
    ));
    rows.push(format!(
        "| … `ipvsadm -R` (restore) (VM) | {:.2} s | one process, one netlink round trip per rule |",
        restore_time.as_secs_f64()
    ));
    rows.push(format!(
        "| … one `ipvsadm` exec per rule, piranha's way (VM) | {:.0} s | extrapolated from {} execs ({:.1} ms each) |",
        exec_total.as_secs_f64(),
        sample.len(),
        per_rule.as_secs_f64() * 1e3
    ));
}

fn reload_large(rows: &mut Vec<String>) {
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

    for r in large_reload_rows(pid, &tmp.path().join("lvsd.log"), &cfg, &text, "VM") {
        rows.push(r);
    }
    let (rss, hwm) = rss_kib(pid);
    rows.push(format!(
        "| lvsd memory with this table and 37,205 checks (VM) | RSS {} MiB | peak {} MiB |",
        rss / 1024,
        hwm / 1024
    ));
}
