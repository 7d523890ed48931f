//! `ecmp = 1` end to end: a real BIRD router and one director running pulse (lvsd in test mode:
//! checks for real, the kernel's IPVS untouched) and BIRD with the example configurations of
//! `etc/bird/`. The VIP's route appears at the router once the real server passes its check,
//! leaves when it fails, comes back, survives a SIGKILLed pulse's restart without a withdrawal,
//! leaves on `pulsectl release` (whose drain ends once nothing arrives, well before
//! `ecmp_drain`, and stops lvsd) and returns on `pulsectl takeover` (lvsd started again), and
//! leaves when pulse is stopped; a SIGTERM mid-drain stops pulse and lvsd at once. Root and
//! `bird` only.

use pulse_control::{Request, Response, Status};
use pulse_e2e::bird::{Birds, example, next_hops, require_bird};
use pulse_e2e::netns::{Topology, require_netns, wait_for};
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
