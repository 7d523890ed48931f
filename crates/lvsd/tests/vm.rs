//! lvsd against a real kernel's IPVS. These run inside the project's VM (`tests/vm/run-tests.sh`
//! boots a Debian kernel with `ip_vs` under QEMU and runs this binary there with
//! `PULSE_IN_VM=1`); elsewhere they are `#[ignore]`d (listed as skipped). Each test builds its
//! own namespaces (`pulse_e2e::lvs_bed`), so they run in parallel without seeing each other's
//! IPVS table.

use pulse_e2e::lvs_bed::{LvsBed, Node, in_vm};
use pulse_e2e::lvsd_log::updates;
use pulse_e2e::netns::{holds_throughout, signal, wait_for};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The tests are `#[ignore]`d: a plain `cargo test` lists them as skipped and
/// `tests/vm/run-tests.sh` runs them in the VM; asked for anywhere else, they fail with the
/// reason instead of passing silently.
fn require_vm() {
    assert!(
        in_vm(),
        "this test needs a kernel with IPVS: run tests/vm/run-tests.sh"
    );
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `ipvsadm -Ln` rows, whitespace-normalized, each service followed by its destinations,
/// services and destinations sorted (the kernel lists in hash order).
fn table(bed: &LvsBed, extra: &[&str]) -> String {
    let mut args = vec!["-Ln"];
    args.extend_from_slice(extra);
    let out = bed.ipvsadm(&args);
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines().skip(3) {
        let norm = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if norm.starts_with("->") {
            if let Some(s) = services.last_mut() {
                s.1.push(norm);
            }
        } else if !norm.is_empty() {
            services.push((norm, Vec::new()));
        }
    }
    services.sort();
    let mut text = String::new();
    for (s, mut ds) in services {
        ds.sort();
        text.push_str(&s);
        text.push('\n');
        for d in ds {
            text.push_str(&format!("  {d}\n"));
        }
    }
    text
}

fn wait_table(bed: &LvsBed, expected: &str, limit: Duration) -> Option<Duration> {
    wait_for(limit, || table(bed, &[]) == expected)
}

/// `n` requests from the client through `to` must all be answered.
fn assert_requests(bed: &LvsBed, to: &str, n: usize) {
    let ok = bed.client_requests(addr(to), n);
    if ok != n {
        let conns = bed.ipvsadm(&["-Lnc"]);
        let show = |node, prog: &str, args: &[&str]| {
            let o = bed.exec(node, prog, args);
            format!(
                "{prog} {args:?} on {node:?}:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        panic!(
            "{ok} of {n} requests to {to} answered\nconnections:\n{conns}\n{}\n{}\n{}\n{}\n{}",
            show(Node::Client, "ip", &["neigh"]),
            show(Node::Servers, "ss", &["-tan"]),
            show(
                Node::Servers,
                "cat",
                &["/proc/sys/net/ipv4/conf/all/arp_ignore"]
            ),
            show(Node::Servers, "ip", &["-s", "link"]),
            show(Node::Director, "ip", &["link"]),
        );
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("lvsd.log")).unwrap_or_default()
}

fn assert_table(bed: &LvsBed, dir: &Path, expected: &str, limit: Duration) -> Duration {
    match wait_table(bed, expected, limit) {
        Some(d) => d,
        None => panic!(
            "IPVS table did not become\n{expected}\nit is\n{}\nlvsd log:\n{}",
            table(bed, &[]),
            log_of(dir)
        ),
    }
}

const MULTI: &str = r#"serial_no = 1
primary = 10.0.0.1
service = lvs
network = direct
tcp_timeout = 900
tcpfin_timeout = 60
udp_timeout = 120
virtual web {
    active = 1
    address = 10.0.0.100 br0:1
    port = 80
    scheduler = wlc
    timeout = 1
    reentry = 1
    send = "GET / HTTP/1.0\r\n\r\n"
    expect = "HTTP"
    server a {
        address = 10.0.0.2
        active = 1
        weight = 3
    }
    server b {
        address = 10.0.0.3
        active = 1
        weight = 1
    }
    server c {
        address = 10.0.0.4
        active = 0
    }
}
virtual dns {
    active = 1
    address = 10.0.0.101 br0:2
    protocol = udp
    port = 53
    scheduler = rr
    timeout = 1
    send = "ping"
    expect = "ping"
    server d {
        address = 10.0.0.5
        active = 1
    }
}
virtual marked {
    active = 1
    address = 10.0.0.102 br0:3
    port = 8080
    fwmark = 7
    scheduler = sh
    persistent = 300
    pmask = 255.255.255.0
    timeout = 1
    server e {
        address = 10.0.0.6
        active = 1
        weight = 2
    }
}
virtual tls {
    active = 1
    address = 10.0.0.103 br0:4
    port = 443
    scheduler = sed
    persistent = 60
    timeout = 1
    server f {
        address = 10.0.0.7
        active = 1
        weight = 5
    }
    server g {
        address = 10.0.0.8
        active = 1
        weight = 5
    }
}
virtual off {
    active = 0
    address = 10.0.0.103 br0:4
    port = 8443
    server x {
        address = 10.0.0.9
        active = 1
    }
}
"#;

const MULTI_TABLE: &str = "\
FWM 7 sh persistent 300 mask 255.255.255.0
  -> 10.0.0.6:8080 Route 2 0 0
TCP 10.0.0.100:80 wlc
  -> 10.0.0.2:80 Route 3 0 0
  -> 10.0.0.3:80 Route 1 0 0
TCP 10.0.0.103:443 sed persistent 60
  -> 10.0.0.7:443 Route 5 0 0
  -> 10.0.0.8:443 Route 5 0 0
UDP 10.0.0.101:53 rr
  -> 10.0.0.5:53 Route 1 0 0
";

#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn programs_a_multi_service_lvs_cf_exactly_as_ipvsadm_reads_it() {
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, MULTI).unwrap();
    let mut bed = LvsBed::new();
    let _servers = [
        bed.serve_tcp(addr("10.0.0.2:80")),
        bed.serve_tcp(addr("10.0.0.3:80")),
        bed.serve_udp(addr("10.0.0.5:53")),
        bed.serve_tcp(addr("10.0.0.6:8080")),
        bed.serve_tcp(addr("10.0.0.7:443")),
        bed.serve_tcp(addr("10.0.0.8:443")),
        // Direct routing keeps the VIP as destination: the servers' traffic listener is on it.
        bed.serve_tcp(addr("10.0.0.100:80")),
    ];
    bed.spawn_lvsd(&cfg, tmp.path());
    let took = assert_table(&bed, tmp.path(), MULTI_TABLE, Duration::from_secs(20));
    eprintln!("table complete after {took:?}");
    let timeouts = bed.ipvsadm(&["-L", "--timeout"]);
    assert!(
        timeouts.contains("900 60 120"),
        "timeouts not applied: {timeouts}"
    );
    // Traffic really flows through the table: the client reaches the real servers via the VIP.
    assert_requests(&bed, "10.0.0.100:80", 4);
}

const FAILING: &str = r#"serial_no = 1
network = direct
virtual plain {
    active = 1
    address = 10.0.0.100 br0:1
    port = 80
    scheduler = rr
    timeout = 1
    reentry = 3
    server a {
        address = 10.0.0.2
        active = 1
    }
    server b {
        address = 10.0.0.3
        active = 1
        weight = 4
    }
}
virtual quiet {
    active = 1
    address = 10.0.0.101 br0:2
    port = 81
    scheduler = rr
    timeout = 1
    reentry = 3
    quiesce_server = 1
    server c {
        address = 10.0.0.4
        active = 1
        weight = 2
    }
}
virtual sorry {
    active = 1
    address = 10.0.0.102 br0:3
    port = 82
    scheduler = rr
    timeout = 1
    reentry = 1
    sorry_server = 10.0.0.9
    server d {
        address = 10.0.0.5
        active = 1
    }
}
"#;

#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn a_server_that_stops_answering_leaves_within_timeout_and_returns_after_reentry() {
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, FAILING).unwrap();
    let mut bed = LvsBed::new();
    let _a = bed.serve_tcp(addr("10.0.0.2:80"));
    let b = bed.serve_tcp(addr("10.0.0.3:80"));
    let c = bed.serve_tcp(addr("10.0.0.4:81"));
    let d = bed.serve_tcp(addr("10.0.0.5:82"));
    bed.spawn_lvsd(&cfg, tmp.path());
    let all_up = "\
TCP 10.0.0.100:80 rr
  -> 10.0.0.2:80 Route 1 0 0
  -> 10.0.0.3:80 Route 4 0 0
TCP 10.0.0.101:81 rr
  -> 10.0.0.4:81 Route 2 0 0
TCP 10.0.0.102:82 rr
  -> 10.0.0.5:82 Route 1 0 0
";
    assert_table(&bed, tmp.path(), all_up, Duration::from_secs(20));

    // b, c and d stop answering (connections refused): b leaves, c is quiesced (weight 0), d's
    // virtual service falls back to its sorry server.
    let stopped = Instant::now();
    drop((b, c, d));
    let down = "\
TCP 10.0.0.100:80 rr
  -> 10.0.0.2:80 Route 1 0 0
TCP 10.0.0.101:81 rr
  -> 10.0.0.4:81 Route 0 0 0
TCP 10.0.0.102:82 rr
  -> 10.0.0.9:82 Route 1 0 0
";
    assert_table(&bed, tmp.path(), down, Duration::from_secs(10));
    let out_after = stopped.elapsed();
    eprintln!("out after {out_after:?} (timeout 1 s)");
    // Within `timeout` of the failure, plus scheduling slack under the emulated CPU.
    assert!(out_after < Duration::from_millis(2500), "{out_after:?}");

    // They answer again: back only after reentry / timeout = 3 consecutive good checks.
    let restarted = Instant::now();
    let _b = bed.serve_tcp(addr("10.0.0.3:80"));
    let _c = bed.serve_tcp(addr("10.0.0.4:81"));
    let _d = bed.serve_tcp(addr("10.0.0.5:82"));
    assert_table(&bed, tmp.path(), all_up, Duration::from_secs(15));
    let back_after = restarted.elapsed();
    eprintln!("back after {back_after:?} (reentry 3 s)");
    assert!(
        back_after >= Duration::from_millis(1500),
        "came back before reentry: {back_after:?}"
    );
    let log = log_of(tmp.path());
    for line in [
        "[inactive] shutting down 10.0.0.3:80 due to connection failure",
        "[ active ] making 10.0.0.3:80 available",
        "Virtual Server sorry: No real servers; activate sorry_server 10.0.0.9",
        "Virtual Server sorry: 1 real servers; deactivate sorry_server 10.0.0.9",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
}

const RELOAD_BEFORE: &str = r#"serial_no = 1
network = direct
virtual web {
    active = 1
    address = 10.0.0.100 br0:1
    port = 80
    scheduler = rr
    timeout = 1
    reentry = 1
    server a {
        address = 10.0.0.2
        active = 1
    }
    server b {
        address = 10.0.0.3
        active = 1
    }
    server c {
        address = 10.0.0.4
        active = 1
    }
}
virtual other {
    active = 1
    address = 10.0.0.101 br0:2
    port = 80
    scheduler = rr
    timeout = 1
    server d {
        address = 10.0.0.5
        active = 1
    }
}
"#;

/// Each destination's connection counters (`ipvsadm -Ln`: ActiveConn/InActConn, which the
/// kernel keeps on the destination object and updates at once), by "SERVICE -> DEST".
fn conns(bed: &LvsBed) -> BTreeMap<String, (u64, u64)> {
    let out = bed.ipvsadm(&["-Ln"]);
    let mut service = String::new();
    let mut m = BTreeMap::new();
    for line in out.lines().skip(3) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["->", dest, _fwd, _weight, active, inactive] => {
                let n = |s: &str| s.parse::<u64>().unwrap_or(0);
                m.insert(format!("{service} -> {dest}"), (n(active), n(inactive)));
            }
            [proto, vip, ..] => service = format!("{proto} {vip}"),
            _ => {}
        }
    }
    m
}

#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn a_reload_applies_exactly_its_changes_and_keeps_every_other_connection_counter() {
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, RELOAD_BEFORE).unwrap();
    let mut bed = LvsBed::new();
    // Checks go to each RIP; direct-routed traffic arrives for the VIPs.
    let _servers: Vec<_> = [
        "10.0.0.2:80",
        "10.0.0.3:80",
        "10.0.0.4:80",
        "10.0.0.5:80",
        "10.0.0.6:80",
        "10.0.0.100:80",
        "10.0.0.101:80",
    ]
    .into_iter()
    .map(|a| bed.serve_tcp(addr(a)))
    .collect();
    let pid = bed.spawn_lvsd(&cfg, tmp.path());
    let before = "\
TCP 10.0.0.100:80 rr
  -> 10.0.0.2:80 Route 1 0 0
  -> 10.0.0.3:80 Route 1 0 0
  -> 10.0.0.4:80 Route 1 0 0
TCP 10.0.0.101:80 rr
  -> 10.0.0.5:80 Route 1 0 0
";
    assert_table(&bed, tmp.path(), before, Duration::from_secs(20));
    // Real connections through both VIPs, so every destination has counters to lose.
    assert_requests(&bed, "10.0.0.100:80", 9);
    assert_requests(&bed, "10.0.0.101:80", 2);
    let counters_before = conns(&bed);
    assert!(
        counters_before.values().all(|&(a, i)| a + i > 0),
        "{counters_before:?}"
    );

    // The edit: b's weight 1 → 5, c removed, e added.
    let after_cfg = RELOAD_BEFORE
        .replace("serial_no = 1", "serial_no = 2")
        .replace(
            "        address = 10.0.0.3\n        active = 1\n",
            "        address = 10.0.0.3\n        active = 1\n        weight = 5\n",
        )
        .replace(
            "    server c {\n        address = 10.0.0.4\n",
            "    server e {\n        address = 10.0.0.6\n",
        );
    assert_ne!(after_cfg, RELOAD_BEFORE);
    std::fs::write(&cfg, &after_cfg).unwrap();
    signal(pid, "HUP");
    let after = "\
TCP 10.0.0.100:80 rr
  -> 10.0.0.2:80 Route 1 0 0
  -> 10.0.0.3:80 Route 5 0 0
  -> 10.0.0.6:80 Route 1 0 0
TCP 10.0.0.101:80 rr
  -> 10.0.0.5:80 Route 1 0 0
";
    // Active/inactive connection columns are not compared: they count live connections.
    let normalize = |t: String| -> String {
        t.lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.first() == Some(&"->") {
                    format!("  {}", f[..4].join(" "))
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let want = normalize(after.to_string());
    let ok = wait_for(Duration::from_secs(10), || {
        normalize(table(&bed, &[])) == want
    });
    assert!(
        ok.is_some(),
        "after reload:\n{}\nwanted\n{want}\nlog:\n{}",
        table(&bed, &[]),
        log_of(tmp.path())
    );
    let counters_after = conns(&bed);
    // a, b (edited in place) and d keep their counters: they were not deleted and re-added.
    for k in [
        "TCP 10.0.0.100:80 -> 10.0.0.2:80",
        "TCP 10.0.0.100:80 -> 10.0.0.3:80",
        "TCP 10.0.0.101:80 -> 10.0.0.5:80",
    ] {
        assert_eq!(
            counters_after.get(k),
            counters_before.get(k),
            "{k}: before {counters_before:?} after {counters_after:?}"
        );
    }
    assert_eq!(
        counters_after.get("TCP 10.0.0.100:80 -> 10.0.0.6:80"),
        Some(&(0, 0))
    );
    assert!(!counters_after.contains_key("TCP 10.0.0.100:80 -> 10.0.0.4:80"));
    // Exactly three kernel changes: two at the reload (delete c, edit b), one when e's first
    // check passed (add e).
    let log = log_of(tmp.path());
    let after_reload = log
        .split_once("rereading configuration file")
        .map_or("", |(_, rest)| rest);
    let (changes, _) = updates(after_reload);
    assert_eq!(changes, 3, "{after_reload}");

    // An invalid file changes nothing: not the table, not a counter; lvsd keeps running.
    let table_before = table(&bed, &[]);
    std::fs::write(&cfg, after_cfg.replace("weight = 5", "weight = five")).unwrap();
    signal(pid, "HUP");
    wait_for(Duration::from_secs(5), || {
        log_of(tmp.path()).contains("reload refused")
    })
    .unwrap_or_else(|| panic!("no refusal logged:\n{}", log_of(tmp.path())));
    // Unchanged throughout (polled), not only at the end of the wait.
    let kept = holds_throughout(Duration::from_millis(1500), || {
        table(&bed, &[]) == table_before
    });
    assert_eq!(
        kept,
        Ok(()),
        "the refused reload changed the table:\n{}\nwas:\n{table_before}",
        table(&bed, &[])
    );
    let status = pulse_control::call(
        &tmp.path().join("lvsd.sock"),
        &pulse_control::Request::Lvs,
        Duration::from_secs(5),
    )
    .expect("status");
    let pulse_control::Response::Lvs { lvs } = status else {
        panic!("{status:?}")
    };
    assert_eq!((lvs.reloads, lvs.reloads_refused), (1, 1));
    assert_eq!(lvs.serial_no, 2);
    assert!(lvs.last_reload_error.is_some());
    let web = &lvs.services[0];
    assert_eq!(web.key, "TCP 10.0.0.100:80");
    assert!(web.servers.iter().all(|s| s.health == "up"), "{web:?}");
    let b = web
        .servers
        .iter()
        .find(|s| s.address == "10.0.0.3:80")
        .unwrap();
    assert_eq!(b.kernel_weight, Some(5));
    // The kernel's own counters (what the metrics endpoint exports): the 9 connections through
    // 10.0.0.100 are the service's, spread over the servers that kept theirs; c's went with it.
    assert_eq!(web.traffic.conns, 9, "{web:?}");
    assert!(
        web.traffic.in_packets >= 9 * 3 && web.traffic.in_bytes > 0,
        "{web:?}"
    );
    let per_server: u64 = web.servers.iter().map(|s| s.traffic.conns).sum();
    assert!(per_server > 0 && per_server <= 9, "{web:?}");
    assert_eq!(
        web.servers
            .iter()
            .find(|s| s.address == "10.0.0.6:80")
            .map(|s| s.traffic.conns),
        Some(0)
    );
    // Checks are counted with their durations, and carried over the reload.
    assert!(
        b.checks.passed >= 2 && b.checks.seconds_total > 0.0,
        "{b:?}"
    );
    assert!(b.checks.last_seconds.is_some_and(|t| t < 1.0), "{b:?}");
    assert_eq!(lvs.services[1].traffic.conns, 2);
}

#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn a_restart_adopts_the_table_and_sigterm_removes_it() {
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, RELOAD_BEFORE).unwrap();
    let mut bed = LvsBed::new();
    let _servers: Vec<_> = [
        "10.0.0.2:80",
        "10.0.0.3:80",
        "10.0.0.4:80",
        "10.0.0.5:80",
        "10.0.0.100:80",
    ]
    .into_iter()
    .map(|a| bed.serve_tcp(addr(a)))
    .collect();
    // A service lvs.cf does not name: lvsd owns the table, so it goes.
    bed.ipvsadm(&["-A", "-t", "10.0.0.103:25", "-s", "rr"]);
    let pid = bed.spawn_lvsd(&cfg, tmp.path());
    let full = "\
TCP 10.0.0.100:80 rr
  -> 10.0.0.2:80 Route 1 0 0
  -> 10.0.0.3:80 Route 1 0 0
  -> 10.0.0.4:80 Route 1 0 0
TCP 10.0.0.101:80 rr
  -> 10.0.0.5:80 Route 1 0 0
";
    assert_table(&bed, tmp.path(), full, Duration::from_secs(20));
    assert_requests(&bed, "10.0.0.100:80", 6);
    let counters = conns(&bed);
    assert!(counters.values().any(|&(a, i)| a + i > 0), "{counters:?}");

    // lvsd dies without cleaning up; a new one adopts the running table as it is.
    signal(pid, "KILL");
    bed.wait_lvsd(pid, Duration::from_secs(5)).expect("killed");
    std::fs::remove_file(tmp.path().join("lvsd.log")).unwrap();
    let pid = bed.spawn_lvsd(&cfg, tmp.path());
    wait_for(Duration::from_secs(10), || {
        log_of(tmp.path()).contains("health checks running")
    })
    .unwrap_or_else(|| panic!("{}", log_of(tmp.path())));
    // Its first checks and their reconcile: the counters stay (polled throughout).
    let kept = holds_throughout(Duration::from_secs(2), || conns(&bed) == counters);
    assert_eq!(
        kept,
        Ok(()),
        "the restart re-created destinations: {:?}, was {counters:?}",
        conns(&bed)
    );
    assert!(log_of(tmp.path()).contains("adopting the IPVS table already in the kernel"));

    // SIGTERM: lvsd removes its services and exits 0.
    signal(pid, "TERM");
    let status = bed
        .wait_lvsd(pid, Duration::from_secs(10))
        .expect("lvsd exits");
    assert!(status.success(), "{status:?}\n{}", log_of(tmp.path()));
    assert_eq!(table(&bed, &[]), "", "{}", log_of(tmp.path()));
    assert!(log_of(tmp.path()).contains("shutting down due to signal 15"));
}

/// The codec and client against the kernel: every kind of service and destination goes in and
/// reads back equal; kernel errors name the object; the sync daemon starts and stops.
#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn the_ipvs_client_round_trips_every_kind_of_object_through_the_kernel() {
    require_vm();
    use pulse_ipvs::*;
    let bed = LvsBed::new();
    bed.in_ns(Node::Director, || {
        let mut ipvs = pulse_sys::ipvs::Ipvs::connect().expect("IPVS");
        let info = ipvs.info().expect("info");
        assert!(info.version >= 0x010200, "{info:?}");
        let v4 = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
        let mut services = Vec::new();
        let schedulers = [
            "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh",
        ];
        for (i, sched) in schedulers.iter().enumerate() {
            services.push(Service {
                key: ServiceKey::Addr {
                    protocol: if i % 2 == 0 {
                        Protocol::Tcp
                    } else {
                        Protocol::Udp
                    },
                    addr: v4(&format!("10.1.0.{}", i + 1)),
                    port: 1000 + i as u16,
                },
                scheduler: (*sched).into(),
                flags: ServiceFlags(0),
                timeout: 0,
                netmask: Netmask::full(Family::V4),
                pe_name: None,
            });
        }
        services.push(Service {
            key: ServiceKey::Fwmark {
                family: Family::V4,
                mark: 42,
            },
            scheduler: "wlc".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 600,
            netmask: Netmask::V4("255.255.0.0".parse().unwrap()),
            pe_name: None,
        });
        services.push(Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: v4("2001:db8::10"),
                port: 443,
            },
            scheduler: "sed".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 60,
            netmask: Netmask::V6Prefix(64),
            pe_name: None,
        });
        let mut ops: Vec<IpvsOp> = services.iter().cloned().map(IpvsOp::AddService).collect();
        let dest = |a: &str, port, forward, weight| Dest {
            key: DestKey { addr: v4(a), port },
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        };
        let k0 = services[0].key;
        let dests_v4 = [
            dest("10.2.0.1", 1000, Forward::Masq, 1),
            dest("10.2.0.2", 1000, Forward::Route, 7),
            dest("10.2.0.3", 1000, Forward::Tunnel, 0),
            Dest {
                upper_threshold: 100,
                lower_threshold: 10,
                ..dest("10.2.0.4", 2000, Forward::Masq, 3)
            },
        ];
        let k6 = services.last().unwrap().key;
        let dests_v6 = [dest("2001:db8::20", 443, Forward::Masq, 2)];
        ops.extend(dests_v4.iter().map(|d| IpvsOp::AddDest(k0, *d)));
        ops.extend(dests_v6.iter().map(|d| IpvsOp::AddDest(k6, *d)));
        for (op, r) in ops.iter().zip(ipvs.apply(&ops)) {
            r.unwrap_or_else(|e| panic!("{op}: {e}"));
        }
        let mut got = ipvs.services().expect("dump");
        got.sort_by_key(|s| s.key);
        let mut want = services.clone();
        want.sort_by_key(|s| s.key);
        assert_eq!(got, want);
        let mut d = ipvs.dests(&k0).expect("dests");
        d.sort_by_key(|(d, _)| d.key);
        assert_eq!(
            d.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            dests_v4.to_vec()
        );
        let d6 = ipvs.dests(&k6).expect("dests v6");
        assert_eq!(
            d6.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            dests_v6.to_vec()
        );

        // In-place edits.
        let mut edited = services[0].clone();
        edited.scheduler = "mh".into();
        let ops = [
            IpvsOp::EditService(edited.clone()),
            IpvsOp::EditDest(k0, dest("10.2.0.1", 1000, Forward::Route, 9)),
            IpvsOp::DeleteDest(
                k0,
                DestKey {
                    addr: v4("10.2.0.3"),
                    port: 1000,
                },
            ),
        ];
        assert!(ipvs.apply(&ops).iter().all(Result::is_ok));
        let s0 = ipvs
            .services()
            .unwrap()
            .into_iter()
            .find(|s| s.key == k0)
            .unwrap();
        assert_eq!(s0.scheduler, "mh");
        let d = ipvs.dests(&k0).unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.iter().any(|(d, _)| d.key.addr == v4("10.2.0.1")
            && d.weight == 9
            && d.forward == Forward::Route));

        // Errors name the object; one failure does not stop the rest of a batch.
        let dup = services[1].clone();
        let ops = [
            IpvsOp::AddService(dup),
            IpvsOp::DeleteService(ServiceKey::Fwmark {
                family: Family::V4,
                mark: 4242,
            }),
            IpvsOp::DeleteService(k0),
        ];
        let r = ipvs.apply(&ops);
        let e0 = r[0].as_ref().unwrap_err().to_string();
        assert!(
            e0.contains("already exists") && e0.contains("10.1.0.2"),
            "{e0}"
        );
        let e1 = r[1].as_ref().unwrap_err().to_string();
        assert!(e1.contains("4242"), "{e1}");
        assert!(r[2].is_ok());

        // Timeouts and the sync daemon.
        ipvs.set_timeouts(Timeouts {
            tcp: 901,
            tcp_fin: 61,
            udp: 121,
        })
        .unwrap();
        assert_eq!(
            ipvs.timeouts().unwrap(),
            Timeouts {
                tcp: 901,
                tcp_fin: 61,
                udp: 121
            }
        );
        let master = SyncDaemon {
            role: SyncRole::Master,
            interface: "br0".into(),
            sync_id: 9,
        };
        ipvs.start_daemon(&master).expect("start sync daemon");
        assert_eq!(ipvs.daemons().unwrap(), vec![master.clone()]);
        let t = std::time::Instant::now();
        ipvs.stop_daemon(&master).expect("stop sync daemon");
        eprintln!("sync daemon stopped in {:?}", t.elapsed());
        assert!(ipvs.daemons().unwrap().is_empty());
        ipvs.flush().unwrap();
        assert!(ipvs.services().unwrap().is_empty());
    });
}

/// pulse owns the IPVS sync daemon (docs/lvsd.md): backup at start, master once active, backup
/// again when it stops serving.
#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn pulse_runs_the_sync_daemon_as_master_while_active_and_backup_otherwise() {
    require_vm();
    let pulse = std::env::var("PULSE_PULSE").expect("PULSE_PULSE (tests/vm/run-tests.sh sets it)");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(
        &cfg,
        "serial_no = 1
primary = 10.0.0.1
service = lvs
syncdaemon = 1
syncd_iface = br0
syncd_id = 7
network = direct
virtual web {
    active = 1
    address = 10.0.0.100 br0:1
    port = 80
    server a {
        address = 10.0.0.2
        active = 1
    }
}
",
    )
    .unwrap();
    let mut bed = LvsBed::new();
    let daemons = |bed: &LvsBed| bed.ipvsadm(&["-L", "--daemon"]);
    // Inactive (no --forceactive, and no partner heard yet): backup.
    let pid = bed.spawn_program(
        &pulse,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--nodaemon",
            "--test-start",
            "--no-realtime",
            "--control",
            tmp.path().join("pulse.sock").to_str().unwrap(),
            "--state-dir",
            tmp.path().join("state").to_str().unwrap(),
        ],
        &tmp.path().join("pulse.log"),
    );
    let log = || std::fs::read_to_string(tmp.path().join("pulse.log")).unwrap_or_default();
    let shows = |bed: &LvsBed, what: &str| {
        wait_for(Duration::from_secs(20), || daemons(bed).contains(what))
            .unwrap_or_else(|| panic!("no {what}: {}\n{}", daemons(bed), log()))
    };
    shows(&bed, "backup sync daemon (mcast=br0, syncid=7,");
    // With no partner, pulse activates after deadtime: master, and no backup daemon.
    shows(&bed, "master sync daemon (mcast=br0, syncid=7,");
    assert!(!daemons(&bed).contains("backup"), "{}", daemons(&bed));
    // Stopping: it stops serving, so back to backup before it exits.
    signal(pid, "TERM");
    bed.wait_lvsd(pid, Duration::from_secs(15))
        .expect("pulse exits");
    let d = daemons(&bed);
    assert!(
        d.contains("backup sync daemon") && !d.contains("master"),
        "{d}\n{}",
        log()
    );
}

/// The HTTPS service of the issue's "Must show": three TLS real servers, checked with
/// `check_tls*`/`check_http*`; `verify` is `check_tls_verify`.
fn https_cf(ca_file: &Path, verify: bool) -> String {
    format!(
        r#"serial_no = 1
network = direct
virtual secure {{
    active = 1
    address = 10.0.0.100 br0:1
    port = 443
    scheduler = rr
    timeout = 1
    reentry = 3
    check_tls = 1
    check_tls_verify = {}
    check_tls_ca = "{}"
    check_tls_sni = www.example.test
    check_http_path = "/health"
    check_http_status = 200
    server expired {{
        address = 10.0.0.2
        active = 1
    }}
    server broken {{
        address = 10.0.0.3
        active = 1
    }}
    server healthy {{
        address = 10.0.0.4
        active = 1
    }}
}}
"#,
        u8::from(verify),
        ca_file.display()
    )
}

#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn https_checks_keep_only_servers_with_a_valid_certificate_and_a_good_status() {
    use pulse_e2e::tls::{TestCa, serve_tls_in, server_config};
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Pulse VM test CA");
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, https_cf(&ca_file, true)).unwrap();
    let name = ["www.example.test"];
    let good = server_config(&ca.leaf(&name, 2020, 2090));
    let expired = server_config(&ca.leaf(&name, 2020, 2021));
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    const ERR: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
    let mut bed = LvsBed::new();
    let servers = bed.ns(Node::Servers);
    let expired_server = serve_tls_in(&servers, addr("10.0.0.2:443"), expired, OK);
    let _broken = serve_tls_in(&servers, addr("10.0.0.3:443"), good.clone(), ERR);
    let _healthy = serve_tls_in(&servers, addr("10.0.0.4:443"), good.clone(), OK);
    let pid = bed.spawn_lvsd(&cfg, tmp.path());

    // Verification on: only the healthy server.
    let only_healthy = "\
TCP 10.0.0.100:443 rr
  -> 10.0.0.4:443 Route 1 0 0
";
    let t = assert_table(&bed, tmp.path(), only_healthy, Duration::from_secs(20));
    // Held (not a moment between checks): the two others never come in.
    assert!(
        holds_throughout(Duration::from_secs(3), || table(&bed, &[]) == only_healthy).is_ok(),
        "{}",
        table(&bed, &[])
    );
    let log = log_of(tmp.path());
    for reason in [
        "10.0.0.2:443: TLS: certificate expired",
        "10.0.0.3:443: HTTP 500",
    ] {
        assert!(log.contains(reason), "log lacks {reason:?}:\n{log}");
    }
    eprintln!("verification on: only the healthy server after {t:?}");

    // Verification off (reload): the expired one comes in, the 500 one stays out.
    std::fs::write(&cfg, https_cf(&ca_file, false)).unwrap();
    signal(pid, "HUP");
    let with_expired = "\
TCP 10.0.0.100:443 rr
  -> 10.0.0.2:443 Route 1 0 0
  -> 10.0.0.4:443 Route 1 0 0
";
    let t = assert_table(&bed, tmp.path(), with_expired, Duration::from_secs(20));
    assert!(
        holds_throughout(Duration::from_secs(3), || table(&bed, &[]) == with_expired).is_ok(),
        "{}",
        table(&bed, &[])
    );
    eprintln!("verification off: expired server in, 500 out, after {t:?}");

    // Verification on again: the expired one leaves; restarted with a good certificate, it
    // comes back after `reentry`.
    std::fs::write(&cfg, https_cf(&ca_file, true)).unwrap();
    signal(pid, "HUP");
    assert_table(&bed, tmp.path(), only_healthy, Duration::from_secs(20));
    drop(expired_server);
    let restarted = Instant::now();
    let _fixed = serve_tls_in(&servers, addr("10.0.0.2:443"), good, OK);
    assert_table(&bed, tmp.path(), with_expired, Duration::from_secs(20));
    let back = restarted.elapsed();
    eprintln!("good certificate: back after {back:?} (reentry 3 s)");
    assert!(
        back >= Duration::from_millis(2000),
        "back before reentry: {back:?}"
    );
}

/// `ecmp = 1`: the real kernel takes `mh` with `mh-port` and `mh-fallback`, the destinations
/// go in in the canonical order whatever the file's (the kernel lists them in reverse insertion
/// order with `--nosort`), `sloppy_tcp` is on, and a failed server is quiesced, never removed.
#[test]
#[ignore = "needs the VM with IPVS; tests/vm/run-tests.sh runs it"]
fn ecmp_mode_programs_mh_with_port_and_fallback_in_one_order_and_sets_sloppy_tcp() {
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    let server = |n: &str, a: &str| {
        format!("    server {n} {{\n        address = {a}\n        active = 1\n    }}\n")
    };
    std::fs::write(
        &cfg,
        format!(
            "serial_no = 1\nprimary = 10.0.0.1\nnetwork = direct\necmp = 1\nvirtual web {{\n    \
             active = 1\n    address = 10.0.0.100 lo\n    port = 80\n    scheduler = wlc\n    \
             timeout = 1\n    reentry = 1\n{}{}{}}}\n",
            server("c", "10.0.0.4"),
            server("a", "10.0.0.2"),
            server("b", "10.0.0.3")
        ),
    )
    .unwrap();
    let mut bed = LvsBed::new();
    let _a = bed.serve_tcp(addr("10.0.0.2:80"));
    let b = bed.serve_tcp(addr("10.0.0.3:80"));
    let _c = bed.serve_tcp(addr("10.0.0.4:80"));
    let _pid = bed.spawn_lvsd(&cfg, tmp.path());
    let nosort = |bed: &LvsBed| {
        bed.ipvsadm(&["-Ln", "--nosort"])
            .lines()
            .skip(3)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let want = |w3: u8| {
        vec![
            "TCP 10.0.0.100:80 mh (mh-fallback,mh-port)".to_string(),
            "-> 10.0.0.4:80 Route 1 0 0".to_string(),
            format!("-> 10.0.0.3:80 Route {w3} 0 0"),
            "-> 10.0.0.2:80 Route 1 0 0".to_string(),
        ]
    };
    let mut seen = Vec::new();
    let ok = wait_for(Duration::from_secs(20), || {
        seen = nosort(&bed);
        seen == want(1)
    });
    assert!(ok.is_some(), "table {seen:#?}\n{}", log_of(tmp.path()));
    let sloppy = bed.exec(Node::Director, "cat", &["/proc/sys/net/ipv4/vs/sloppy_tcp"]);
    assert_eq!(String::from_utf8_lossy(&sloppy.stdout).trim(), "1");
    // b stops answering: quiesced in place (weight 0), the order unchanged.
    drop(b);
    let ok = wait_for(Duration::from_secs(20), || {
        seen = nosort(&bed);
        seen == want(0)
    });
    assert!(ok.is_some(), "table {seen:#?}\n{}", log_of(tmp.path()));
}
