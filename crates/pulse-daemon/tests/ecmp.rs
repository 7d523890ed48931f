//! `ecmp = 1` end to end: a real BIRD router and one director running pulse (lvsd in test mode:
//! checks for real, the kernel's IPVS untouched) and BIRD with the example configurations of
//! `etc/bird/`. The VIP's route appears at the router once the real server passes its check,
//! leaves when it fails, comes back, survives a SIGKILLed pulse's restart without a withdrawal,
//! leaves on `pulsectl release` (whose drain ends once nothing arrives, well before
//! `ecmp_drain`, and stops lvsd) and returns on `pulsectl takeover` (lvsd started again), and
//! leaves when pulse is stopped; a SIGTERM mid-drain stops pulse and lvsd at once. Root and
//! `bird` only.
//!
//! The group view: three directors (no routing daemon) with the same lvs.cf but for `primary`
//! and a heartbeat key; each shows the others' announcements over its control socket and in
//! `pulsectl status`, a release and a withdrawal, a flood at one of them, a killed director
//! (not heard after 3 keepalives) and a reload with another `serial_no`. Root only.

use pulse_control::{Request, Response, Status};
use pulse_e2e::bird::{Birds, example, next_hops, require_bird};
use pulse_e2e::netns::{Topology, holds_throughout, require_netns, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VIP: &str = "10.0.0.100";

struct Pulse(Option<Child>);

impl Pulse {
    /// Its lvsd (its only child: the test-mode wrapper execs lvsd), if one runs.
    fn lvsd(&self) -> Option<u32> {
        let pid = self.0.as_ref()?.id();
        pulse_e2e::netns::children(pid)
            .into_iter()
            .find(|c| !pulse_e2e::netns::exited(*c))
    }

    fn signal(&mut self, sig: &str) {
        if let Some(c) = &mut self.0 {
            pulse_e2e::netns::signal(c.id(), sig);
            let _ = c.wait();
        }
        self.0 = None;
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pulsectl(dir: &std::path::Path, cmd: &str) {
    let o = Command::new(pulse_e2e::pair_bed::binary("PULSE_PULSECTL", "pulsectl"))
        .args([cmd, "--socket"])
        .arg(dir.join("pulse.sock"))
        .output()
        .expect("pulsectl");
    assert!(o.status.success(), "pulsectl {cmd}: {o:?}");
}

fn status(dir: &std::path::Path) -> Status {
    match pulse_control::call(
        &dir.join("pulse.sock"),
        &Request::Status,
        Duration::from_secs(5),
    ) {
        Ok(Response::Ok { status }) => *status,
        other => panic!("pulse's status: {other:?}"),
    }
}

#[test]
#[ignore = "needs root, network namespaces and bird (tests/run-all.sh runs it)"]
fn the_vip_route_follows_health_restart_release_and_stop() {
    require_netns();
    require_bird();
    let mut topo = Topology::new("ec");
    topo.namespace("br");
    topo.bridge("br", "br0");
    topo.namespace("rt");
    topo.plug("rt", "eth0", "prt", ("br", "br0"), None, &["10.1.0.1/24"]);
    topo.namespace("d1");
    topo.plug("d1", "eth0", "pd1", ("br", "br0"), None, &["10.1.0.11/24"]);
    let (rt, d1) = (topo.ns("rt"), topo.ns("d1"));
    // The real server: on the director's own loopback, so one namespace serves.
    let ok = Command::new("ip")
        .args(["-n", &d1, "addr", "add", "10.9.0.1/32", "dev", "lo"])
        .status()
        .expect("ip");
    assert!(ok.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut birds = Birds::new(dir.path());
    birds.start(&rt, &example("router.conf"), "router");
    birds.start(&d1, &example("director.conf"), "d1");
    let cf = dir.path().join("lvs.cf");
    std::fs::write(
        &cf,
        "serial_no = 1\nprimary = 10.1.0.11\nnetwork = direct\necmp = 1\n\
         ecmp_director = 10.1.0.11\necmp_drain = 20\nvirtual web {\n    active = 1\n    \
         address = 10.0.0.100 lo\n    port = 80\n    timeout = 1\n    reentry = 1\n    \
         server rs1 {\n        address = 10.9.0.1\n        active = 1\n    }\n}\n",
    )
    .expect("lvs.cf");
    let lvsd = pulse_e2e::lvs_bed::test_mode_lvsd(dir.path());
    let start = |name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log");
        Pulse(Some(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &d1,
                    env!("CARGO_BIN_EXE_pulse"),
                    "-n",
                    "-c",
                ])
                .arg(&cf)
                .args(["--no-realtime", "--lvsd", &lvsd, "--control"])
                .arg(dir.path().join("pulse.sock"))
                .arg("--lvsd-socket")
                .arg(dir.path().join("lvsd.sock"))
                .arg("--state-dir")
                .arg(dir.path())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("pulse"),
        ))
    };
    let routed = |on: bool| {
        let rt = rt.clone();
        wait_for(Duration::from_secs(20), move || {
            next_hops(&rt, VIP).is_empty() != on
        })
        .is_some()
    };
    let logs = || format!("logs in {}", dir.path().display());

    // No real server answers yet: pulse runs, nothing is announced.
    let mut pulse = start("pulse1");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        next_hops(&rt, VIP).is_empty(),
        "announced without a healthy server"
    );
    let web = pulse_e2e::lvs_bed::serve_tcp_in(&d1, "10.9.0.1:80".parse().expect("addr"));
    assert!(routed(true), "never announced; {}", logs());
    // The real server fails: withdrawn; back: announced.
    drop(web);
    assert!(routed(false), "not withdrawn when rs1 failed; {}", logs());
    let _web = pulse_e2e::lvs_bed::serve_tcp_in(&d1, "10.9.0.1:80".parse().expect("addr"));
    assert!(routed(true), "not announced again; {}", logs());

    // pulse SIGKILLed and restarted over the intact table: the route never leaves.
    pulse.signal("KILL");
    pulse = start("pulse2");
    let rt2 = rt.clone();
    assert!(
        pulse_e2e::netns::holds_throughout(Duration::from_secs(5), move || {
            !next_hops(&rt2, VIP).is_empty()
        })
        .is_ok(),
        "the route flapped across a restart; {}",
        logs()
    );

    // Release drains by withdrawal. lvsd in test mode reports no traffic (no IPVS), as a
    // director reports once the router has moved every flow away: the drain ends after the
    // quiet window (1 s of unchanged counters) instead of ecmp_drain (20 s), and lvsd stops.
    let lvsd_pid = wait_for(Duration::from_secs(10), || pulse.lvsd().is_some())
        .and(pulse.lvsd())
        .unwrap_or_else(|| panic!("no lvsd under pulse; {}", logs()));
    let released = Instant::now();
    pulsectl(dir.path(), "release");
    assert_eq!(
        status(dir.path()).ecmp[0].reason,
        "released, draining",
        "{}",
        logs()
    );
    assert!(routed(false), "release did not withdraw; {}", logs());
    let withdrawn = released.elapsed();
    assert!(
        wait_for(Duration::from_secs(30), || pulse_e2e::netns::exited(
            lvsd_pid
        ))
        .is_some(),
        "lvsd still runs after the drain; {}",
        logs()
    );
    let drained = released.elapsed();
    println!(
        "release: route gone at the router after {} ms, lvsd stopped after {} ms (ecmp_drain 20 s)",
        withdrawn.as_millis(),
        drained.as_millis()
    );
    assert!(
        drained < Duration::from_secs(5),
        "the drain waited {drained:?}: not ended by quiet; {}",
        logs()
    );
    // Stopped as asked, not a failure: not restarted, its socket does not answer, and pulse
    // says so.
    assert!(
        pulse_e2e::netns::holds_throughout(Duration::from_secs(2), || pulse.lvsd().is_none())
            .is_ok(),
        "lvsd was started again while released; {}",
        logs()
    );
    assert!(
        pulse_control::call(
            &dir.path().join("lvsd.sock"),
            &Request::Lvs,
            Duration::from_secs(2)
        )
        .is_err(),
        "lvsd's socket still answers"
    );
    let st = status(dir.path());
    assert!(!st.lvsd_running, "{st:?}");
    assert_eq!(st.ecmp[0].reason, "released, drained");
    assert!(!st.ecmp[0].announced);
    assert!(next_hops(&rt, VIP).is_empty(), "announced while released");

    // Takeover rejoins: lvsd starts again and the route returns once it reports rs1 up.
    let rejoined = Instant::now();
    pulsectl(dir.path(), "takeover");
    assert!(routed(true), "takeover did not rejoin; {}", logs());
    println!(
        "takeover: route back at the router after {} ms",
        rejoined.elapsed().as_millis()
    );
    assert!(
        pulse.lvsd().is_some_and(|p| p != lvsd_pid),
        "lvsd not started again"
    );
    assert_eq!(status(dir.path()).ecmp[0].reason, "serving");

    // Stopped: withdrawn before lvsd removes the service.
    pulse.signal("TERM");
    assert!(routed(false), "a stopped pulse left its route; {}", logs());

    // SIGTERM mid-drain: pulse stops at once (the drain does not hold the shutdown up) and
    // takes its lvsd with it.
    pulse = start("pulse3");
    assert!(routed(true), "not announced after a restart; {}", logs());
    let lvsd_pid = pulse
        .lvsd()
        .unwrap_or_else(|| panic!("no lvsd under pulse; {}", logs()));
    pulsectl(dir.path(), "release");
    assert!(routed(false), "release did not withdraw; {}", logs());
    assert_eq!(status(dir.path()).ecmp[0].reason, "released, draining");
    let stopping = Instant::now();
    pulse.signal("TERM");
    let stopped = stopping.elapsed();
    println!(
        "SIGTERM mid-drain: pulse exited after {} ms",
        stopped.as_millis()
    );
    assert!(stopped < Duration::from_secs(5), "{stopped:?}; {}", logs());
    assert!(
        wait_for(Duration::from_secs(5), || pulse_e2e::netns::exited(
            lvsd_pid
        ))
        .is_some(),
        "lvsd left running; {}",
        logs()
    );
    assert!(next_hops(&rt, VIP).is_empty());
    drop(birds);
}

/// Three directors (pulse + lvsd in test mode, no routing daemon: the view is about pulse's
/// own announcements) with the same lvs.cf but for `primary`, and a heartbeat key.
struct Group {
    topo: Topology,
    dirs: Vec<tempfile::TempDir>,
    pulses: Vec<Pulse>,
}

const DIRECTORS: [&str; 3] = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
/// `keepalive` of the group test: stale after 3 × this.
const KEEPALIVE: Duration = Duration::from_millis(200);

impl Group {
    fn new() -> Self {
        let mut topo = Topology::new("eg");
        topo.namespace("br");
        topo.bridge("br", "br0");
        let mut dirs = Vec::new();
        // One key file for all: its path is part of lvs.cf, which must be the same everywhere
        // (but for `primary`) or the view flags the difference.
        let shared = tempfile::tempdir().expect("tempdir");
        let key = shared.path().join("heartbeat.key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef0123456789abcdef\n").expect("key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        for (i, addr) in DIRECTORS.iter().enumerate() {
            let n = format!("d{}", i + 1);
            topo.namespace(&n);
            topo.plug(
                &n,
                "eth0",
                &format!("p{n}"),
                ("br", "br0"),
                None,
                &[&format!("{addr}/24")],
            );
            let ok = Command::new("ip")
                .args([
                    "-n",
                    &topo.ns(&n),
                    "addr",
                    "add",
                    "10.9.0.1/32",
                    "dev",
                    "lo",
                ])
                .status()
                .expect("ip");
            assert!(ok.success());
            let dir = tempfile::tempdir().expect("tempdir");
            let directors: String = DIRECTORS
                .iter()
                .map(|d| format!("ecmp_director = {d}\n"))
                .collect();
            std::fs::write(
                dir.path().join("lvs.cf"),
                format!(
                    "serial_no = 1\nprimary = {addr}\nnetwork = direct\nkeepalive = 0.2\n\
                     heartbeat_key = {}\necmp = 1\n{directors}ecmp_drain = 1\n\
                     virtual web {{\n    active = 1\n    address = 10.0.0.100 lo\n    port = 80\n    \
                     timeout = 1\n    reentry = 1\n    server rs1 {{\n        address = 10.9.0.1\n        \
                     active = 1\n    }}\n}}\nvirtual web2 {{\n    active = 1\n    \
                     address = 10.0.0.53 lo\n    port = 80\n    timeout = 1\n    reentry = 1\n    \
                     server rs1 {{\n        address = 10.9.0.1\n        active = 1\n    }}\n}}\n",
                    key.display()
                ),
            )
            .expect("lvs.cf");
            dirs.push(dir);
        }
        // Last: the directors are 0..3.
        dirs.push(shared);
        let mut g = Self {
            topo,
            dirs,
            pulses: Vec::new(),
        };
        for i in 0..DIRECTORS.len() {
            let p = g.start(i);
            g.pulses.push(p);
        }
        g
    }

    fn start(&self, i: usize) -> Pulse {
        let dir = self.dirs[i].path();
        let lvsd = pulse_e2e::lvs_bed::test_mode_lvsd(dir);
        let log = std::fs::File::create(dir.join("pulse.log")).expect("log");
        Pulse(Some(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns(i),
                    env!("CARGO_BIN_EXE_pulse"),
                    "-n",
                    "-c",
                ])
                .arg(dir.join("lvs.cf"))
                .args(["--no-realtime", "--lvsd", &lvsd, "--control"])
                .arg(dir.join("pulse.sock"))
                .arg("--lvsd-socket")
                .arg(dir.join("lvsd.sock"))
                .arg("--state-dir")
                .arg(dir)
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("pulse"),
        ))
    }

    fn ns(&self, i: usize) -> String {
        self.topo.ns(&format!("d{}", i + 1))
    }

    fn status(&self, i: usize) -> Option<pulse_control::Status> {
        match pulse_control::call(
            &self.dirs[i].path().join("pulse.sock"),
            &pulse_control::Request::Status,
            Duration::from_secs(2),
        ) {
            Ok(pulse_control::Response::Ok { status }) => Some(*status),
            _ => None,
        }
    }

    /// Director `of` as director `by` sees it.
    fn seen(&self, by: usize, of: usize) -> Option<pulse_control::EcmpDirectorStatus> {
        self.status(by)?.ecmp_group?.directors.into_iter().nth(of)
    }

    /// `by` shows `of` heard, with this lvs.cf, announcing exactly `vips`.
    fn shows(&self, by: usize, of: usize, vips: &[&str]) -> bool {
        self.seen(by, of).is_some_and(|d| {
            !d.stale
                && !d.config_mismatch
                && d.announced.as_deref()
                    == Some(&vips.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..])
        })
    }

    /// `pulsectl status` against director `i` (printed, for the log of a failure).
    fn pulsectl_status(&self, i: usize) -> String {
        let o = Command::new(pulse_e2e::pair_bed::binary("PULSE_PULSECTL", "pulsectl"))
            .args(["status", "--socket"])
            .arg(self.dirs[i].path().join("pulse.sock"))
            .output()
            .expect("pulsectl");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        eprintln!("{text}");
        text
    }

    fn logs(&self) -> String {
        let dirs: Vec<String> = self
            .dirs
            .iter()
            .map(|d| d.path().display().to_string())
            .collect();
        format!("logs (pulse.log) in {}", dirs.join(", "))
    }
}

#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it)"]
fn the_group_view_shows_every_directors_announcements() {
    require_netns();
    let mut g = Group::new();
    let mut servers: Vec<_> = (0..3)
        .map(|i| pulse_e2e::lvs_bed::serve_tcp_in(&g.ns(i), "10.9.0.1:80".parse().expect("addr")))
        .collect();
    // Everybody announces both VIPs (ascending order: 10.0.0.53, 10.0.0.100) once its checks
    // pass, and every director shows every other one so, with the same lvs.cf (the group
    // digest leaves out `primary`, which differs).
    let both = ["10.0.0.53", "10.0.0.100"];
    let all = || (0..3).all(|by| (0..3).all(|of| g.shows(by, of, &both)));
    assert!(
        wait_for(Duration::from_secs(20), all).is_some(),
        "not every director shows every other announcing: {:#?}; {}",
        (0..3)
            .flat_map(|by| (0..3).map(move |of| (by, of)))
            .filter(|(by, of)| !g.shows(*by, *of, &both))
            .map(|(by, of)| (by, g.seen(by, of)))
            .collect::<Vec<_>>(),
        g.logs()
    );
    let text = g.pulsectl_status(0);
    assert!(
        text.contains("group:     director   10.0.0.53  10.0.0.100  state")
            && text.contains("10.1.0.12  announced  announced   heard "),
        "{text}"
    );

    // A release on d2 withdraws at once; d1 shows it within 2 keepalives (plus polling).
    pulsectl(g.dirs[1].path(), "release");
    let t = wait_for(Duration::from_secs(5), || {
        g.seen(0, 1)
            .is_some_and(|d| d.released && d.announced == Some(vec![]))
    });
    let t = t.unwrap_or_else(|| panic!("d1 never saw d2's release; {}", g.logs()));
    eprintln!("d2's release seen by d1 after {t:?}");
    assert!(t < KEEPALIVE * 2 + Duration::from_millis(100), "{t:?}");
    pulsectl(g.dirs[1].path(), "takeover");
    assert!(
        wait_for(Duration::from_secs(10), || g.shows(0, 1, &both)).is_some(),
        "d2's rejoin not seen; {}",
        g.logs()
    );

    // d3's real server fails: d3 withdraws both VIPs (after its check's timeout), d1 sees it.
    drop(servers.pop());
    assert!(
        wait_for(Duration::from_secs(10), || g.shows(0, 2, &[])).is_some(),
        "d3's withdrawal not seen; {}",
        g.logs()
    );
    assert!(
        g.shows(0, 1, &both) && g.shows(1, 0, &both),
        "d1 and d2 still announce"
    );

    // A flood at d1's group port, from a stranger's address and from a director's (d3's
    // namespace, forged MACs), 10 000 datagrams a second each (paced, so the kernel drops
    // none and a loaded CI host still passes; unpaced it held in 2 of 2 runs, docs/security.md):
    // d1 keeps announcing, still hears d2, and d2 still hears d1 throughout; the rejections
    // are counted.
    let (d1_ip, port) = (DIRECTORS[0], 539);
    let flood = |ns: String, from: &'static str| {
        std::thread::spawn(move || {
            pulse_e2e::lvs_bed::in_ns(&ns, move || {
                let sock = std::net::UdpSocket::bind((from, 0)).expect("bind");
                // Well-formed, signed, two VIPs (48 + 1 + 32 bytes), a MAC that never verifies.
                let mut junk = vec![0u8; 81];
                junk[..4].copy_from_slice(b"PLG\x01");
                junk[4] = 1;
                junk[7] = 2;
                const RATE: u128 = 10_000;
                let start = std::time::Instant::now();
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(3) {
                    if u128::from(n) >= start.elapsed().as_micros() * RATE / 1_000_000 {
                        std::thread::sleep(Duration::from_micros(500));
                        continue;
                    }
                    junk[80] = n as u8;
                    let _ = sock.send_to(&junk, (d1_ip, port));
                    n += 1;
                }
                n
            })
        })
    };
    let intruder = {
        g.topo.namespace("ix");
        g.topo
            .plug("ix", "eth0", "pix", ("br", "br0"), None, &["10.1.0.66/24"]);
        g.topo.ns("ix")
    };
    let d1_pid = g.pulses[0].0.as_ref().expect("d1 runs").id();
    let rss0 = rss_kb(d1_pid);
    let f1 = flood(intruder, "10.1.0.66");
    let f2 = flood(g.ns(2), "10.1.0.13");
    let mut last = None;
    let steady = holds_throughout(Duration::from_secs(3), || {
        let seen = (g.seen(0, 1), g.seen(1, 0));
        let ok = seen.0.as_ref().is_some_and(|d| !d.stale)
            && seen.1.as_ref().is_some_and(|d| !d.stale)
            && g.status(0)
                .is_some_and(|s| s.ecmp.iter().all(|v| v.announced));
        last = Some(seen);
        ok
    });
    let sent = f1.join().expect("flood") + f2.join().expect("flood");
    let rss1 = rss_kb(d1_pid);
    eprintln!("flood: d1's VmRSS {rss0} -> {rss1} kB");
    assert!(
        rss1 < rss0 + 4096,
        "d1 grew from {rss0} to {rss1} kB under the flood"
    );
    let rejected = g
        .status(0)
        .and_then(|s| s.ecmp_group)
        .map(|v| v.rejected_by_reason)
        .unwrap_or_default();
    eprintln!("flood: {sent} datagrams sent; d1 rejected {rejected:?}");
    assert!(
        steady.is_ok(),
        "a director went stale under the flood at {steady:?}: {last:#?}"
    );
    assert!(
        rejected.get("not_a_director").copied().unwrap_or(0) > 0,
        "{rejected:?}"
    );
    assert!(
        rejected.get("bad_mac").copied().unwrap_or(0) > 0,
        "{rejected:?}"
    );

    // d3 killed: d1 shows it not heard after 3 keepalives.
    // Killed just after d1 heard it (its datagrams may have waited behind the flood's).
    let fresh = wait_for(Duration::from_secs(5), || {
        g.seen(0, 2)
            .is_some_and(|d| d.last_heard_ms_ago.is_some_and(|ms| ms < 100))
    });
    assert!(fresh.is_some(), "d1 does not hear d3 after the flood");
    g.pulses[2].signal("KILL");
    let t = wait_for(Duration::from_secs(5), || {
        g.seen(0, 2).is_some_and(|d| d.stale)
    });
    let t = t.unwrap_or_else(|| panic!("d3 never went stale; {}", g.logs()));
    eprintln!("d3 killed: stale at d1 after {t:?}");
    assert!(t >= KEEPALIVE * 2, "stale too early: {t:?}");
    let text = g.pulsectl_status(0);
    assert!(
        text.contains("10.1.0.13  ?          ?           not heard for")
            && text.contains("10.1.0.12  announced  announced   heard "),
        "{text}"
    );

    // d2 reloads a file with another serial_no: d1 flags it (and d2 flags d1).
    let cf = g.dirs[1].path().join("lvs.cf");
    let text = std::fs::read_to_string(&cf).expect("lvs.cf");
    std::fs::write(&cf, text.replace("serial_no = 1\n", "serial_no = 2\n")).expect("lvs.cf");
    let pid = g.pulses[1].0.as_ref().expect("d2 runs").id();
    pulse_e2e::netns::signal(pid, "HUP");
    let flagged = wait_for(Duration::from_secs(10), || {
        g.seen(0, 1)
            .is_some_and(|d| d.config_mismatch && d.config.is_some_and(|c| c.serial_no == 2))
            && g.seen(1, 0).is_some_and(|d| d.config_mismatch)
    });
    assert!(flagged.is_some(), "d2's reload not flagged; {}", g.logs());

    // d2 stopped: it says so on its way out (released, nothing announced) before going silent.
    g.pulses[1].signal("TERM");
    let v = g.seen(0, 1).expect("d1 answers");
    assert!(
        v.released && v.announced == Some(vec![]) && !v.stale,
        "{v:?}; {:?}; {}",
        g.status(0)
            .and_then(|s| s.ecmp_group)
            .map(|g| g.rejected_by_reason),
        g.logs()
    );
    g.pulses[0].signal("TERM");
}

/// A process's resident memory (`VmRSS`, kB).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}
