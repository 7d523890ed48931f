//! `ecmp = 1` end to end: a real BIRD router and one director running pulse (lvsd in test mode:
//! checks for real, the kernel's IPVS untouched) and BIRD with the example configurations of
//! `etc/bird/`. The VIP's route appears at the router once the real server passes its check,
//! leaves when it fails, comes back, survives a SIGKILLed pulse's restart without a withdrawal,
//! leaves on `pulsectl release` and returns on `pulsectl takeover`, and leaves when pulse is
//! stopped. Root and `bird` only.

use pulse_e2e::bird::{Birds, example, next_hops, require_bird};
use pulse_e2e::netns::{Topology, require_netns, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VIP: &str = "10.0.0.100";

struct Pulse(Option<Child>);

impl Pulse {
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
         ecmp_director = 10.1.0.11\necmp_drain = 1\nvirtual web {\n    active = 1\n    \
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

    // Release drains by withdrawal; takeover rejoins.
    pulsectl(dir.path(), "release");
    assert!(routed(false), "release did not withdraw; {}", logs());
    pulsectl(dir.path(), "takeover");
    assert!(routed(true), "takeover did not rejoin; {}", logs());

    // Stopped: withdrawn before lvsd removes the service.
    pulse.signal("TERM");
    assert!(routed(false), "a stopped pulse left its route; {}", logs());
    drop(birds);
}
