//! `service = fos` with two real `pulse` processes in network namespaces: two failover services
//! (busybox httpd on two ports and two VIPs, started and stopped by their `start_cmd` and
//! `stop_cmd`), a client sending a request to each VIP every 10 ms, heartbeats on a public and
//! a private LAN, each director's default route via the client (the address piranha's gateway
//! check pings). Root only; every wait is bounded; the namespaces and every process started in
//! them go away with the test, pass or fail. One case runs the services on IPv6 VIPs.

use pulse_e2e::netns::{Bed, HTTP_SERVICE_SH, Host, holds_throughout, require_netns, wait_for};
use pulse_e2e::pair_bed::{Record, Traffic, longest_outage, outages};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const VIPS: [&str; 2] = ["192.0.2.100", "192.0.2.101"];
/// The IPv6 case's VIPs (on the bed's dual-stacked first LAN, [`Bed::add_ipv6`]).
const VIPS6: [&str; 2] = ["2001:db8::100", "2001:db8::101"];
const PORTS: [u16; 2] = [8081, 8082];
/// `keepalive`, `deadtime`, the services' `timeout`, and `fos_restarts` of the bed.
const KEEPALIVE: &str = "0.2";
const DEADTIME: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);
const RESTARTS: u32 = 1;

fn lvs_cf(dir: &std::path::Path) -> String {
    fos_cf(dir, &VIPS, "")
}

/// The bed's lvs.cf with the services on `vips`, their httpd bound to `bind` (`""`: svc.sh's
/// default, IPv4).
fn fos_cf(dir: &std::path::Path, vips: &[&str; 2], bind: &str) -> String {
    let svc = dir.join("svc.sh");
    let svc = svc.display();
    let mut cf = format!(
        "serial_no = 1\nservice = fos\nprimary = 192.0.2.11\nprimary_private = 198.51.100.11\n\
         backup = 192.0.2.12\nbackup_private = 198.51.100.12\nbackup_active = 1\n\
         keepalive = {KEEPALIVE}\ndeadtime = {}\nfos_restarts = {RESTARTS}\nfos_command_timeout = 5\n",
        DEADTIME.as_secs()
    );
    for (i, (vip, port)) in vips.iter().zip(PORTS).enumerate() {
        cf += &format!(
            "failover web{n} {{\n     active = 1\n     address = {vip} eth0:{n}\n     port = {port}\n\
             \x20    send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n     expect = \"HTTP\"\n     timeout = {t}\n\
             \x20    start_cmd = \"{svc} start {port} {bind}\"\n     stop_cmd = \"{svc} stop {port}\"\n}}\n",
            n = i + 1,
            t = TIMEOUT.as_secs()
        );
    }
    cf
}

/// [`lvs_cf`] with a `heartbeat_key` (written next to it, mode 0600).
fn authenticated_cf(dir: &std::path::Path) -> String {
    let key = dir.join("heartbeat.key");
    std::fs::write(
        &key,
        "3f9a0c4e7b1d2a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\n",
    )
    .expect("key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    format!("heartbeat_key = {}\n{}", key.display(), lvs_cf(dir))
}

struct FosPair {
    bed: Bed,
    dir: tempfile::TempDir,
    cf: PathBuf,
    vips: [&'static str; 2],
}

impl FosPair {
    fn new() -> Self {
        Self::with_cf(lvs_cf)
    }

    /// The bed with the lvs.cf `cf` makes (given the directory of `svc.sh`).
    fn with_cf(cf: impl FnOnce(&std::path::Path) -> String) -> Self {
        require_netns();
        let bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
        bed.add_second_lan(&[Host::D1, Host::D2]);
        bed.accept_gratuitous_arp(Host::Client);
        for h in [Host::D1, Host::D2] {
            // piranha's connectivity check pings the default gateway.
            bed.ip(h, &["route", "add", "default", "via", "192.0.2.50"]);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let svc = dir.path().join("svc.sh");
        std::fs::write(&svc, HTTP_SERVICE_SH).expect("svc.sh");
        std::fs::set_permissions(&svc, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let cf_text = cf;
        let cf = dir.path().join("lvs.cf");
        std::fs::write(&cf, cf_text(dir.path())).expect("lvs.cf");
        Self {
            bed,
            dir,
            cf,
            vips: VIPS,
        }
    }

    /// The bed dual-stacked, the services on [`VIPS6`] (httpd on `[::]`), the connectivity
    /// check an ICMPv6 echo to the client (`fos_ping_target`).
    fn ipv6() -> Self {
        let mut p = Self::with_cf(|dir| {
            format!(
                "fos_ping_target = {}\n{}",
                Host::Client.addr6(),
                fos_cf(dir, &VIPS6, "[::]")
            )
        });
        p.bed.add_ipv6(&[Host::D1, Host::D2, Host::Client]);
        p.vips = VIPS6;
        p
    }

    fn start(&mut self) {
        for h in [Host::D1, Host::D2] {
            let cf = self.cf.clone();
            self.bed
                .spawn_pulse(env!("CARGO_BIN_EXE_pulse"), h, &cf, self.dir.path(), &[]);
        }
    }

    /// `pulsectl status|release|takeover` over the control socket.
    fn call(&self, h: Host, req: pulse_control::Request) -> pulse_control::Response {
        let sock = self.dir.path().join(format!("{h:?}.sock"));
        pulse_control::call(&sock, &req, Duration::from_secs(5)).expect("control socket")
    }

    fn status(&self, h: Host) -> pulse_control::Status {
        match self.call(h, pulse_control::Request::Status) {
            pulse_control::Response::Ok { status } => *status,
            other => panic!("status: {other:?}"),
        }
    }

    fn log(&self, h: Host) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{h:?}.log"))).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- D1\n{}\n--- D2\n{}",
            self.log(Host::D1),
            self.log(Host::D2)
        )
    }

    fn holds_all(&self, h: Host) -> bool {
        self.vips.iter().all(|v| self.bed.has_addr(h, v))
    }

    fn holds_any(&self, h: Host) -> bool {
        self.vips.iter().any(|v| self.bed.has_addr(h, v))
    }

    /// The namespace name a host's services put in their pages.
    fn server_name(&self, h: Host, i: usize) -> String {
        format!("{} {}", self.bed.ns(h), PORTS[i])
    }

    /// Wait until one director holds both VIPs and both services answer from it; (active,
    /// inactive).
    fn settled(&self) -> (Host, Host) {
        let mut pair = None;
        let ok = wait_for(Duration::from_secs(15), || {
            for (a, b) in [(Host::D1, Host::D2), (Host::D2, Host::D1)] {
                if self.holds_all(a) && !self.holds_any(b) && self.serves(a) {
                    pair = Some((a, b));
                    return true;
                }
            }
            false
        });
        assert!(
            ok.is_some(),
            "the pair did not settle: pages {:?} {:?}\n{}",
            self.page(0),
            self.page(1),
            self.logs()
        );
        // Stable for longer than a keepalive (a simultaneous start resolves within one).
        let (a, _) = pair.expect("settled");
        assert!(
            holds_throughout(Duration::from_secs(1), || self.holds_all(a)).is_ok(),
            "the holder changed\n{}",
            self.logs()
        );
        pair.expect("settled")
    }

    /// Both services answer at their VIPs from `h`.
    fn serves(&self, h: Host) -> bool {
        (0..2).all(|i| self.page(i) == self.server_name(h, i))
    }

    /// What service `i` answers at its VIP (the client's view), or why nothing does.
    fn page(&self, i: usize) -> String {
        fetch(&self.bed.ns(Host::Client), self.vip(i))
    }

    fn traffic(&self) -> [Traffic; 2] {
        let ns = self.bed.ns(Host::Client);
        [0, 1].map(|i| Traffic::start_to(&ns, self.vip(i), Duration::from_millis(10)))
    }

    /// Service `i`'s VIP and port.
    fn vip(&self, i: usize) -> SocketAddr {
        (
            self.vips[i].parse::<std::net::IpAddr>().expect("vip"),
            PORTS[i],
        )
            .into()
    }

    /// Kill service `i`'s httpd on `h` (SIGKILL, not through its stop_cmd).
    fn kill_service(&self, h: Host, i: usize) {
        let pidf = self
            .dir
            .path()
            .join(format!("{}-{}.pid", self.bed.ns(h), PORTS[i]));
        let pid = std::fs::read_to_string(&pidf)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", pidf.display(), self.logs()));
        let o = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .output()
            .expect("kill");
        assert!(o.status.success(), "kill {pid}");
    }
}

/// The longest outage of `records` after `from`, and who answered last.
fn outage_after(records: &[Record], from: SystemTime) -> (Duration, Option<String>) {
    let after: Vec<Record> = records.iter().filter(|r| r.sent >= from).cloned().collect();
    let end = after.last().map_or(from, |r| r.sent);
    let longest = longest_outage(&after).map_or(Duration::ZERO, |o| o.upper_bound(end));
    let last = after.iter().rev().find_map(|r| r.result.clone().ok());
    assert!(
        outages(&after).last().is_none_or(|o| o.next_ok.is_some()),
        "the service did not come back"
    );
    (longest, last)
}

/// Must show: the service killed on the active node is restarted there; the client's outage is
/// at most `timeout` + the restart time, and the other service is untouched.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn a_killed_service_is_restarted_on_the_active_node() {
    let mut p = FosPair::new();
    p.start();
    let (active, inactive) = p.settled();
    let traffic = p.traffic();
    std::thread::sleep(Duration::from_millis(500));
    let at = SystemTime::now();
    p.kill_service(active, 0);
    let back = wait_for(Duration::from_secs(6), || p.serves(active));
    std::thread::sleep(Duration::from_millis(500));
    let [t0, t1] = traffic;
    let (r0, r1) = (t0.stop(), t1.stop());
    assert!(back.is_some(), "not restarted\n{}", p.logs());
    let (outage, last) = outage_after(&r0, at);
    let (other, _) = outage_after(&r1, at);
    // The restart time: from the failed check to "started" (stop_cmd + start_cmd), as pulse
    // logged them; the bound adds the client's 10 ms cadence and scheduling slack.
    let log = p.log(active);
    let when = |needle: &str| {
        pulse_e2e::pair_bed::log_lines(&log, needle)
            .into_iter()
            .map(|(t, _)| t)
            .find(|t| *t >= at)
    };
    let restart = match (
        when("This is a restart condition"),
        when("failover service started service=web1"),
    ) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
        _ => panic!("no restart in the log\n{}", p.logs()),
    };
    let bound = TIMEOUT + restart + Duration::from_millis(150);
    eprintln!(
        "fos restart: outage {outage:?} (bound timeout + restart {restart:?} + 150 ms = {bound:?}); other service {other:?}"
    );
    assert!(
        outage <= bound,
        "outage {outage:?} > {bound:?}\n{}",
        p.logs()
    );
    assert!(
        outage > Duration::ZERO,
        "the kill was not seen by the client"
    );
    assert_eq!(
        last,
        Some(p.server_name(active, 0)),
        "served by the same node"
    );
    assert!(
        other < Duration::from_millis(200),
        "the other service had {other:?}"
    );
    assert!(p.holds_all(active) && !p.holds_any(inactive));
    assert!(
        p.log(active).contains("This is a restart condition"),
        "{}",
        p.logs()
    );
    // pulsectl status on both nodes: the restart, and the partner's view through the VIPs.
    let st = p.status(active);
    assert_eq!(
        (st.failover[0].state.as_str(), st.failover[0].restarts_total),
        ("running", 1),
        "{st:?}"
    );
    assert_eq!(st.failover[1].restarts_total, 0);
    let ok = wait_for(Duration::from_secs(3), || {
        p.status(inactive)
            .failover
            .iter()
            .all(|f| f.state == "partner_up")
    });
    assert!(ok.is_some(), "{:?}", p.status(inactive).failover);
}

/// `pulsectl release` works in fos mode (authenticated heartbeats): the partner starts the
/// services and takes the VIPs, then this node stops its own; and back.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn release_hands_the_failover_services_over_and_back() {
    let mut p = FosPair::with_cf(authenticated_cf);
    p.start();
    let (active, inactive) = p.settled();
    for (from, to) in [(active, inactive), (inactive, active)] {
        let traffic = p.traffic();
        std::thread::sleep(Duration::from_millis(300));
        let at = SystemTime::now();
        match p.call(from, pulse_control::Request::Release) {
            pulse_control::Response::Ok { .. } => {}
            other => panic!("release on {from:?}: {other:?}\n{}", p.logs()),
        }
        let moved = wait_for(Duration::from_secs(5), || {
            p.holds_all(to) && !p.holds_any(from) && p.serves(to)
        });
        std::thread::sleep(Duration::from_millis(300));
        let [t0, t1] = traffic;
        let (r0, r1) = (t0.stop(), t1.stop());
        assert!(
            moved.is_some(),
            "release {from:?} -> {to:?} failed\n{}",
            p.logs()
        );
        let (o0, _) = outage_after(&r0, at);
        let (o1, _) = outage_after(&r1, at);
        eprintln!("fos release {from:?} -> {to:?}: outages {o0:?} {o1:?}");
        assert!(p.status(from).failover.iter().all(|f| f.state != "running"));
        // Held until the partner serves (make before break); the service itself restarts.
        assert!(
            o0 < Duration::from_secs(1) && o1 < Duration::from_secs(1),
            "{o0:?} {o1:?}"
        );
        // The release's hold-off (deadtime) passes before the next one.
        std::thread::sleep(DEADTIME + Duration::from_millis(200));
    }
}

/// Kills service 0 on `active`, whose restart is made to fail, under the client `traffic`
/// to both VIPs: the partner serves both within `timeout` × tries + `deadtime` + 100 ms (the
/// issue's bound), and the last answers come from it.
fn give_up_moves_both_vips(
    p: &FosPair,
    active: Host,
    inactive: Host,
    traffic: [Traffic; 2],
    what: &str,
) {
    let at = SystemTime::now();
    p.kill_service(active, 0);
    let moved = wait_for(Duration::from_secs(10), || {
        p.holds_all(inactive) && p.serves(inactive)
    });
    std::thread::sleep(Duration::from_millis(500));
    let [t0, t1] = traffic;
    let (r0, r1) = (t0.stop(), t1.stop());
    assert!(
        moved.is_some(),
        "the partner did not take over\n{}",
        p.logs()
    );
    let tries = RESTARTS + 1;
    let bound = TIMEOUT * tries + DEADTIME + Duration::from_millis(100);
    let (o0, last0) = outage_after(&r0, at);
    let (o1, last1) = outage_after(&r1, at);
    eprintln!("{what}: outages {o0:?} and {o1:?} (bound {bound:?})");
    assert!(
        o0 <= bound && o1 <= bound,
        "outages {o0:?} {o1:?} > {bound:?}\n{}",
        p.logs()
    );
    assert_eq!(last0, Some(p.server_name(inactive, 0)));
    assert_eq!(last1, Some(p.server_name(inactive, 1)));
}

/// Must show: when the restart fails too, the node gives up and the partner serves both VIPs
/// within `timeout` × tries + deadtime + 100 ms.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn a_service_that_cannot_be_restarted_moves_both_vips_to_the_partner() {
    let mut p = FosPair::new();
    p.start();
    let (active, inactive) = p.settled();
    std::fs::write(p.dir.path().join(format!("fail-{}", p.bed.ns(active))), "").expect("fail flag");
    let traffic = p.traffic();
    std::thread::sleep(Duration::from_millis(500));
    give_up_moves_both_vips(&p, active, inactive, traffic, "fos give-up");
    assert!(!p.holds_any(active), "the VIPs were released");
    assert!(
        p.log(active)
            .contains("giving up so the partner takes over"),
        "{}",
        p.logs()
    );
}

/// Must show: the active node dies (cut from both LANs); the outage is at most deadtime +
/// 100 ms + the services' start time.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn the_partner_starts_the_services_when_the_active_node_dies() {
    let mut p = FosPair::new();
    p.start();
    let (active, inactive) = p.settled();
    let traffic = p.traffic();
    std::thread::sleep(Duration::from_millis(500));
    let at = SystemTime::now();
    p.bed.set_port(active, false);
    p.bed.set_second_port(active, false);
    let moved = wait_for(Duration::from_secs(6), || p.serves(inactive));
    std::thread::sleep(Duration::from_millis(500));
    let [t0, t1] = traffic;
    let (r0, r1) = (t0.stop(), t1.stop());
    assert!(
        moved.is_some(),
        "the partner did not take over\n{}",
        p.logs()
    );
    // The services' start time on the partner: from its activation to the last "started"
    // (stop_cmd + start_cmd of each, in parallel), as it logged them; plus the client's 10 ms
    // cadence.
    let log = p.log(inactive);
    let lines = |needle: &str| -> Vec<SystemTime> {
        pulse_e2e::pair_bed::log_lines(&log, needle)
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| *t >= at)
            .collect()
    };
    let activated = lines(": activating failover services").first().copied();
    let started = lines("failover service started").last().copied();
    let start_time = match (activated, started) {
        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
        _ => panic!("no activation in the log\n{}", p.logs()),
    };
    let bound = DEADTIME + Duration::from_millis(100) + start_time + Duration::from_millis(10);
    let (o0, _) = outage_after(&r0, at);
    let (o1, _) = outage_after(&r1, at);
    eprintln!(
        "fos node death: outages {o0:?} and {o1:?} (bound deadtime + 100 ms + start {start_time:?} + 10 ms = {bound:?})"
    );
    assert!(
        o0 <= bound && o1 <= bound,
        "outages {o0:?} {o1:?} > {bound:?}\n{}",
        p.logs()
    );
}

/// Must show: the inactive node's own uplink is cut (heartbeats still flow on the private
/// LAN): the partner's services look dead from there, but it cannot reach its gateway either,
/// so it does not take over, and it says why.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn an_inactive_node_cut_off_from_its_uplink_does_not_take_over() {
    let mut p = FosPair::new();
    p.start();
    let (active, inactive) = p.settled();
    let traffic = p.traffic();
    p.bed.set_port(inactive, false);
    // remote_fall (= fos_restarts + 2) failed checks (each up to `timeout`, one per `timeout`),
    // then 3 pings of 1 s: the reason is logged within about 6 s; wait up to 20 s for it while
    // checking that nothing moves, then watch 2 s more.
    let said = |p: &FosPair| p.log(inactive).contains("I SEEM TO HAVE A NETWORK FAULT");
    let mut moved = false;
    let told = wait_for(Duration::from_secs(20), || {
        moved |= !p.holds_all(active) || p.holds_any(inactive);
        moved || said(&p)
    });
    let kept = holds_throughout(Duration::from_secs(2), || {
        p.holds_all(active) && !p.holds_any(inactive)
    });
    let [t0, t1] = traffic;
    let (r0, r1) = (t0.stop(), t1.stop());
    assert!(!moved && kept.is_ok(), "the VIPs moved\n{}", p.logs());
    assert!(
        told.is_some() && said(&p),
        "the cut-off node did not say why\n{}",
        p.logs()
    );
    let watch = told.unwrap_or_default() + Duration::from_secs(2);
    let start = r0.first().map_or(SystemTime::now(), |r| r.sent);
    let (o0, _) = outage_after(&r0, start);
    let (o1, _) = outage_after(&r1, start);
    assert!(
        o0 < Duration::from_millis(200) && o1 < Duration::from_millis(200),
        "clients saw outages {o0:?} {o1:?}"
    );
    eprintln!("fos cut-off inactive node: no takeover over {watch:?}; outages {o0:?} {o1:?}");
}

/// Must show: the corpus's `ssocopsacc__piranha__sample.cf` (piranha's own sample, two
/// `failover` blocks, one active) runs in fos mode, unchanged but for `service = fos` and its
/// init-script commands replaced by the test service; its addresses are given to the bed's
/// hosts. The active director starts `web1` (and not the inactive `ftp`), the client reaches it at its
/// VIP, and a killed `web1` is restarted within its `timeout` (10 s) plus the restart.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn the_corpus_sample_with_two_failover_blocks_runs_in_fos_mode() {
    let sample = pulse_e2e::corpus_dir().join("ssocopsacc__piranha__sample.cf");
    let text =
        std::fs::read_to_string(&sample).unwrap_or_else(|e| panic!("{}: {e}", sample.display()));
    let mut p = FosPair::with_cf(|dir| {
        let svc = dir.join("svc.sh");
        let svc = svc.display();
        let out = text
            .replace("service = lvs", "service = fos")
            .replace("/etc/rc.d/init.d/httpd start", &format!("{svc} start 1010"))
            .replace("/etc/rc.d/init.d/httpd stop", &format!("{svc} stop 1010"))
            .replace("/etc/rc.d/init.d/inet start", &format!("{svc} start 21"))
            .replace("/etc/rc.d/init.d/inet stop", &format!("{svc} stop 21"));
        assert_eq!(
            out.matches(&*svc.to_string()).count(),
            4,
            "four commands replaced"
        );
        out
    });
    // The sample's addresses: primary .150, backup .196, private 10.11.12.1/.2.
    for (h, public, private) in [
        (Host::D1, "207.175.44.150/24", "10.11.12.1/24"),
        (Host::D2, "207.175.44.196/24", "10.11.12.2/24"),
    ] {
        p.bed.ip(h, &["addr", "add", public, "dev", "eth0"]);
        p.bed.ip(h, &["addr", "add", private, "dev", "eth1"]);
    }
    p.bed.ip(
        Host::Client,
        &["addr", "add", "207.175.44.50/24", "dev", "eth0"],
    );
    p.start();
    let web1: SocketAddr = "207.175.44.242:1010".parse().expect("addr");
    let page = |p: &FosPair| fetch(&p.bed.ns(Host::Client), web1);
    // keepalive = 6: the first heartbeats go out after 6 s. Whichever director hears the
    // other's STOPPED first activates (piranha: no preemption), usually the primary.
    let holder = |p: &FosPair| {
        [Host::D1, Host::D2]
            .into_iter()
            .find(|h| p.bed.has_addr(*h, "207.175.44.242"))
    };
    let mut serving = None;
    let up = wait_for(Duration::from_secs(30), || {
        serving = holder(&p).filter(|h| page(&p) == format!("{} 1010", p.bed.ns(*h)));
        serving.is_some()
    });
    assert!(
        up.is_some(),
        "web1 not served: {:?}\n{}",
        page(&p),
        p.logs()
    );
    let active = serving.expect("serving");
    let other = if active == Host::D1 {
        Host::D2
    } else {
        Host::D1
    };
    let active_page = format!("{} 1010", p.bed.ns(active));
    assert!(!p.bed.has_addr(other, "207.175.44.242"));
    let log = p.log(active);
    assert!(
        log.contains("Starting local service 207.175.44.242:1010"),
        "{}",
        p.logs()
    );
    assert!(
        !log.contains(":21 ..."),
        "the inactive ftp block was started\n{}",
        p.logs()
    );
    let t = std::time::Instant::now();
    let pidf = p.dir.path().join(format!("{}-1010.pid", p.bed.ns(active)));
    let pid = std::fs::read_to_string(&pidf).expect("pid file");
    let _ = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .output();
    let down = wait_for(Duration::from_secs(2), || page(&p) != active_page);
    assert!(down.is_some(), "the kill did not stop web1");
    let back = wait_for(Duration::from_secs(15), || page(&p) == active_page);
    assert!(back.is_some(), "web1 was not restarted\n{}", p.logs());
    eprintln!(
        "corpus sample: web1 restarted {:?} after the kill (timeout = 10)",
        t.elapsed()
    );
    assert!(t.elapsed() <= Duration::from_secs(12), "{:?}", t.elapsed());
}

/// One GET from namespace `ns`: the page's body, or the error.
fn fetch(ns: &str, to: SocketAddr) -> String {
    pulse_e2e::lvs_bed::in_ns(ns, move || {
        use std::io::{Read, Write};
        let get = || -> std::io::Result<String> {
            let t = Duration::from_millis(500);
            let mut s = std::net::TcpStream::connect_timeout(&to, t)?;
            s.set_read_timeout(Some(t))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf)?;
            let text = String::from_utf8_lossy(&buf).into_owned();
            Ok(text
                .split_once("\r\n\r\n")
                .map_or(text.clone(), |(_, b)| b.trim().to_string()))
        };
        get().unwrap_or_else(|e| format!("error: {e}"))
    })
}

/// The partner's services fail as seen from the inactive node while the partner still
/// heartbeats (here: the active node cannot answer the inactive one on the public LAN; the
/// private LAN carries the heartbeats): the inactive node checks its gateway, takes over and
/// tells the partner to stop (authenticated heartbeats: STOPME is flag bit 7), which stops its
/// services and releases the VIPs.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn a_remote_failure_while_the_partner_heartbeats_takes_over_and_stops_the_partner() {
    let mut p = FosPair::with_cf(authenticated_cf);
    p.start();
    let (active, inactive) = p.settled();
    let peer = if inactive == Host::D1 {
        "192.0.2.11"
    } else {
        "192.0.2.12"
    };
    // Replies from the active node to the inactive one's public address vanish.
    p.bed.ip(
        active,
        &["route", "add", "blackhole", &format!("{peer}/32")],
    );
    // RESTARTS + 2 failed checks, the ping, the takeover.
    let limit = TIMEOUT * (RESTARTS + 2) + Duration::from_secs(4);
    let moved = wait_for(limit, || p.holds_all(inactive) && p.serves(inactive));
    assert!(
        moved.is_some(),
        "no takeover within {limit:?}\n{}",
        p.logs()
    );
    let released = wait_for(Duration::from_secs(3), || !p.holds_any(active));
    assert!(
        released.is_some(),
        "the partner kept the VIPs\n{}",
        p.logs()
    );
    let (la, li) = (p.log(active), p.log(inactive));
    assert!(li.contains("performing service failover"), "{}", p.logs());
    assert!(
        la.contains("PARTNER HAS TOLD US TO GO INACTIVE"),
        "{}",
        p.logs()
    );
    assert!(
        !std::fs::read_dir(p.dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with(&p.bed.ns(active))
                && e.file_name().to_string_lossy().ends_with(".pid")),
        "the partner's services still run"
    );
    // Stays so: the old active node does not take the service back.
    assert!(
        holds_throughout(Duration::from_secs(3), || p.holds_all(inactive)
            && !p.holds_any(active))
        .is_ok(),
        "{}",
        p.logs()
    );
}

/// IPv6 VIPs in fos mode: claimed `nodad` (usable at once), checked by the inactive node
/// through the VIPs; the active node's restart fails:
/// the partner serves both IPv6 VIPs within `timeout` × tries + deadtime + 100 ms, its
/// unsolicited neighbour advertisements move the client's neighbour entries to its MAC, and
/// the node that gave up holds neither VIP.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn ipv6_vips_move_to_the_partner_when_a_restart_fails() {
    let mut p = FosPair::ipv6();
    p.start();
    let (active, inactive) = p.settled();
    let o = p
        .bed
        .exec(active, "ip", &["-6", "-o", "addr", "show", "dev", "eth0"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for vip in VIPS6 {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("{vip}/128")))
            .unwrap_or_else(|| panic!("no {vip}/128 on {active:?}: {text}"));
        assert!(line.contains("nodad"), "{line}");
    }
    // The partner checks the services through the IPv6 VIPs.
    let ok = wait_for(Duration::from_secs(5), || {
        p.status(inactive)
            .failover
            .iter()
            .all(|f| f.state == "partner_up")
    });
    assert!(ok.is_some(), "{:?}", p.status(inactive).failover);
    std::fs::write(p.dir.path().join(format!("fail-{}", p.bed.ns(active))), "").expect("fail flag");
    let traffic = p.traffic();
    std::thread::sleep(Duration::from_millis(500));
    for vip in VIPS6 {
        assert_eq!(
            p.bed.neighbour(Host::Client, vip).as_deref(),
            Some(active.mac()),
            "the client's entry for {vip} before"
        );
    }
    give_up_moves_both_vips(&p, active, inactive, traffic, "fos IPv6 give-up");
    for vip in VIPS6 {
        assert_eq!(
            p.bed.neighbour(Host::Client, vip).as_deref(),
            Some(inactive.mac()),
            "the client's entry for {vip} after\n{}",
            p.logs()
        );
    }
    assert!(!p.holds_any(active), "the IPv6 VIPs were released");
    // If the partner saw the failure through the VIPs before the give-up, it pinged the
    // client over ICMPv6 first, and it answered.
    let partner = p.log(inactive);
    assert!(!partner.contains("NETWORK FAULT"), "{}", p.logs());
    if partner.contains("we can see the gateway") {
        let ping = format!("fos_ping_target {}", Host::Client.addr6());
        assert!(partner.contains(&ping), "{}", p.logs());
        eprintln!("fos IPv6: the partner took over after an ICMPv6 echo to {ping}");
    }
    assert!(
        p.log(active)
            .contains("giving up so the partner takes over"),
        "{}",
        p.logs()
    );
}

/// IPv6, a remote failure: the active node's answers to the inactive node's IPv6 address
/// vanish, so the services look dead through their IPv6 VIPs while heartbeats (IPv4) flow; the
/// inactive node's connectivity check is an ICMPv6 echo to `fos_ping_target` (the client),
/// which answers: it takes over, and the partner stops its services.
#[test]
#[ignore = "needs root and network namespaces (tests/run-all.sh runs it as root)"]
fn ipv6_remote_failure_takes_over_after_an_icmpv6_echo_to_the_ping_target() {
    let mut p = FosPair::ipv6();
    p.start();
    let (active, inactive) = p.settled();
    p.bed.ip(
        active,
        &[
            "-6",
            "route",
            "add",
            "blackhole",
            &format!("{}/128", inactive.addr6()),
        ],
    );
    // RESTARTS + 2 failed checks, the ping, the takeover.
    let limit = TIMEOUT * (RESTARTS + 2) + Duration::from_secs(4);
    let moved = wait_for(limit, || p.holds_all(inactive) && p.serves(inactive));
    assert!(
        moved.is_some(),
        "no takeover within {limit:?}\n{}",
        p.logs()
    );
    let released = wait_for(Duration::from_secs(3), || !p.holds_any(active));
    assert!(
        released.is_some(),
        "the partner kept the VIPs\n{}",
        p.logs()
    );
    let li = p.log(inactive);
    let ping = format!("fos_ping_target {}", Host::Client.addr6());
    assert!(
        li.contains("performing service failover") && li.contains(&ping),
        "{}",
        p.logs()
    );
    for vip in VIPS6 {
        assert_eq!(
            p.bed.neighbour(Host::Client, vip).as_deref(),
            Some(inactive.mac()),
            "the client's entry for {vip}\n{}",
            p.logs()
        );
    }
}
