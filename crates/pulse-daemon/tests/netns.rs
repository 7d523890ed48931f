//! Two real `pulse` processes in network namespaces, a client beside them on the bridge
//! (docs/reference/testbed.md §1). Root only; skipped with a printed reason elsewhere. Every wait is bounded;
//! the namespaces go away with the test, pass or fail.

use pulse_control::{Request, Response, Status};
use pulse_e2e::netns::{
    Bed, Host, children, exited, holds_throughout, require_netns, signal, wait_for,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const VIP: &str = "192.0.2.100";

fn lvs_cf(keepalive: u32, deadtime: u32, extra: &str) -> String {
    format!(
        "serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n{extra}\
         keepalive = {keepalive}\ndeadtime = {deadtime}\nnetwork = direct\n\
         virtual web {{\n     active = 1\n     address = {VIP} eth0:1\n     port = 80\n}}\n"
    )
}

struct Pair {
    bed: Bed,
    dir: tempfile::TempDir,
    cf: PathBuf,
}

impl Pair {
    fn new(keepalive: u32, deadtime: u32) -> Self {
        Self::with(keepalive, deadtime, false, "")
    }

    /// With `authenticated`, both use one `heartbeat_key`; an intruder host joins the bridge.
    fn with(keepalive: u32, deadtime: u32, authenticated: bool, more: &str) -> Self {
        require_netns();
        let bed = Bed::new(&[Host::D1, Host::D2, Host::Client, Host::Intruder]);
        bed.accept_gratuitous_arp(Host::Client);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut extra = more.to_string();
        if authenticated {
            let key = dir.path().join("heartbeat.key");
            std::fs::write(
                &key,
                "3f9a0c4e7b1d2a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\n",
            )
            .expect("key");
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod");
            extra += &format!("heartbeat_key = {}\n", key.display());
        }
        let cf = dir.path().join("lvs.cf");
        std::fs::write(&cf, lvs_cf(keepalive, deadtime, &extra)).expect("write lvs.cf");
        Self { bed, dir, cf }
    }

    fn log(&self, h: Host) -> PathBuf {
        self.dir.path().join(format!("{h:?}.log"))
    }

    fn start(&mut self, h: Host) -> u32 {
        let cf = self.cf.clone();
        self.start_with(h, &cf)
    }

    fn start_with(&mut self, h: Host, cf: &Path) -> u32 {
        self.bed.spawn_pulse(
            env!("CARGO_BIN_EXE_pulse"),
            h,
            cf,
            self.dir.path(),
            &["--test-start"],
        )
    }

    fn socket(&self, h: Host) -> PathBuf {
        self.dir.path().join(format!("{h:?}.sock"))
    }

    /// One request on a director's control socket (what `pulsectl` sends).
    fn call(&self, h: Host, req: Request) -> Response {
        pulse_control::call(&self.socket(h), &req, Duration::from_secs(5)).expect("control socket")
    }

    fn status(&self, h: Host) -> Status {
        match self.call(h, Request::Status) {
            Response::Ok { status } => *status,
            other => panic!("status: {other:?}"),
        }
    }

    /// The status, if the pulse on `h` answers (a socket left by a killed one does not).
    fn try_status(&self, h: Host) -> Option<Status> {
        match pulse_control::call(&self.socket(h), &Request::Status, Duration::from_secs(2)) {
            Ok(Response::Ok { status }) => Some(*status),
            _ => None,
        }
    }

    fn logs(&self) -> String {
        [Host::D1, Host::D2]
            .iter()
            .map(|h| {
                format!(
                    "--- {h:?}\n{}",
                    std::fs::read_to_string(self.log(*h)).unwrap_or_default()
                )
            })
            .collect()
    }

    fn holds(&self, h: Host) -> bool {
        self.bed.has_addr(h, VIP)
    }

    /// Wait until exactly one director holds the VIP and return it. Which one is not fixed: as
    /// in piranha, the first to hear the other's STOPPED activates (docs/reference/piranha.md §4.5), and the
    /// other then stays inactive (no preemption).
    fn wait_settled(&self, limit: Duration) -> (Host, Host) {
        // Settled: one holder, unchanged for longer than a keepalive (at a simultaneous start
        // both activate and the backup yields one keepalive later).
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            let one = |p: &Self| p.holds(Host::D1) != p.holds(Host::D2);
            if one(self) {
                let first = self.holds(Host::D1);
                let stable = wait_for(Duration::from_millis(1500), || {
                    !one(self) || self.holds(Host::D1) != first
                });
                if stable.is_none() {
                    return if first {
                        (Host::D1, Host::D2)
                    } else {
                        (Host::D2, Host::D1)
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no single, stable VIP holder within {limit:?}\n{}",
            self.logs()
        );
    }

    /// Wait until exactly `h` holds the VIP.
    fn wait_active(&self, h: Host, limit: Duration) {
        let other = if h == Host::D1 { Host::D2 } else { Host::D1 };
        let ok = wait_for(limit, || self.holds(h) && !self.holds(other));
        assert!(
            ok.is_some(),
            "{h:?} did not become the only VIP holder within {limit:?}\n{}",
            self.logs()
        );
    }

    /// Assert that `h` alone holds the VIP for the whole of `period` (polled, not sampled once
    /// at its end).
    fn assert_stays_active(&self, h: Host, period: Duration, why: &str) {
        let other = if h == Host::D1 { Host::D2 } else { Host::D1 };
        let kept = holds_throughout(period, || self.holds(h) && !self.holds(other));
        assert!(
            kept.is_ok(),
            "{why}: {h:?} was not the only VIP holder {kept:?} into {period:?} (D1 {}, D2 {})\n{}",
            self.holds(Host::D1),
            self.holds(Host::D2),
            self.logs()
        );
    }

    fn wait_client_sees(&self, h: Host, limit: Duration) {
        let ok = wait_for(limit, || {
            self.bed.neighbour(Host::Client, VIP).as_deref() == Some(h.mac())
        });
        assert!(
            ok.is_some(),
            "the client's neighbour entry for {VIP} is {:?}, not {h:?}'s MAC\n{}",
            self.bed.neighbour(Host::Client, VIP),
            self.logs()
        );
    }
}

fn log_contains(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|l| l.contains(text))
}

/// Wait (bounded) for a log line: it is written by another process, maybe a moment late.
fn wait_log(path: &Path, text: &str, limit: Duration) -> bool {
    wait_for(limit, || log_contains(path, text)).is_some()
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn crash_of_the_active_director_moves_the_vip_and_the_clients_neighbour() {
    let mut p = Pair::new(1, 3);
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, survivor) = p.wait_settled(Duration::from_secs(10));
    p.wait_client_sees(active, Duration::from_secs(3));
    // A dead host: its pulse is gone and so is its link.
    signal(pids[usize::from(active == Host::D2)], "KILL");
    p.bed.set_port(active, false);
    let ok = wait_for(Duration::from_secs(6), || p.holds(survivor));
    assert!(ok.is_some(), "{survivor:?} did not take over\n{}", p.logs());
    p.wait_client_sees(survivor, Duration::from_secs(2));
    assert!(
        log_contains(&p.log(survivor), "partner dead: activating lvs"),
        "{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_restarted_inactive_pulse_removes_its_stale_vip() {
    let mut p = Pair::new(1, 3);
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, other) = p.wait_settled(Duration::from_secs(10));
    signal(pids[usize::from(active == Host::D2)], "KILL");
    // The killed director keeps its VIP; the other takes over: both hold it now.
    let ok = wait_for(Duration::from_secs(6), || p.holds(other));
    assert!(ok.is_some() && p.holds(active), "{}", p.logs());
    p.start(active);
    let ok = wait_for(Duration::from_secs(3), || !p.holds(active));
    assert!(
        ok.is_some(),
        "the restarted director kept the stale VIP\n{}",
        p.logs()
    );
    // No failback: the other keeps the service, throughout.
    p.assert_stays_active(other, Duration::from_secs(3), "failback after a restart");
    assert!(
        log_contains(&p.log(active), "removing VIP left from a previous run"),
        "{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn sigterm_hands_over_without_waiting_for_deadtime() {
    // deadtime 10 s: a handover within 1 s cannot come from the dead timer.
    let mut p = Pair::new(1, 10);
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, other) = p.wait_settled(Duration::from_secs(10));
    p.wait_client_sees(active, Duration::from_secs(3));
    signal(pids[usize::from(active == Host::D2)], "TERM");
    p.wait_active(other, Duration::from_secs(1));
    p.wait_client_sees(other, Duration::from_secs(1));
    assert!(
        log_contains(&p.log(other), "inactive: activating lvs"),
        "{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_healed_partition_leaves_one_active_director() {
    let mut p = Pair::new(1, 3);
    p.start(Host::D1);
    p.start(Host::D2);
    let (_, inactive) = p.wait_settled(Duration::from_secs(10));
    p.bed.set_port(inactive, false);
    let ok = wait_for(Duration::from_secs(6), || p.holds(inactive));
    assert!(
        ok.is_some() && p.holds(Host::D1) && p.holds(Host::D2),
        "both should be active while partitioned\n{}",
        p.logs()
    );
    p.bed.set_port(inactive, true);
    // Both active: the primary wins the tie. One keepalive for its RUNNING to arrive, plus slack.
    p.wait_active(Host::D1, Duration::from_millis(2500));
    p.assert_stays_active(
        Host::D1,
        Duration::from_secs(3),
        "after the partition healed",
    );
}

fn ip_of(h: Host) -> &'static str {
    if h == Host::D1 {
        "192.0.2.11"
    } else {
        "192.0.2.12"
    }
}

/// The intruder takes the active director's address and tells the inactive one, as the active
/// one would, that it is stopping: piranha's STOPPED magic, and signed-looking packets made with
/// a key of its own. With `must_hold`, the active director must stay the only VIP holder for
/// the whole forgery (polled between the bursts).
fn forge_stopped_heartbeats(p: &Pair, (active, inactive): (Host, Host), must_hold: bool) {
    let spoofed = ip_of(active);
    p.bed.ip(
        Host::Intruder,
        &["addr", "add", &format!("{spoofed}/32"), "dev", "eth0"],
    );
    let mut forged = vec![vec![0xbd, 0xda, 0xbd, 0xad]; 5];
    for i in 0..5u8 {
        // Format 2's shape (tag, sequence at 16, MAC from 64), signed with nobody's key.
        let mut pkt = vec![0u8; pulse_proto::wire::AUTH_LEN];
        pkt[..4].copy_from_slice(b"PLS\x02");
        pkt[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        pkt[64..].fill(i);
        forged.push(pkt);
    }
    let from = format!("{spoofed}:539").parse().expect("addr");
    let to = format!("{}:539", ip_of(inactive)).parse().expect("addr");
    for _ in 0..4 {
        p.bed.send_udp(Host::Intruder, from, to, forged.clone());
        if must_hold {
            p.assert_stays_active(active, Duration::from_millis(500), "during the forgery");
        } else {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_forged_heartbeat_from_a_third_host_changes_nothing_when_authenticated() {
    let mut p = Pair::with(1, 3, true, "");
    p.start(Host::D1);
    p.start(Host::D2);
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    // (At a simultaneous start it may have activated for a keepalive before settling.)
    let activations = |p: &Pair| {
        std::fs::read_to_string(p.log(inactive))
            .unwrap_or_default()
            .matches("activating lvs")
            .count()
    };
    let activations0 = activations(&p);
    forge_stopped_heartbeats(&p, (active, inactive), true);
    p.assert_stays_active(
        active,
        Duration::from_secs(1),
        "a forged heartbeat moved the service",
    );
    // Both kinds of forgery reached it and were refused, each with its own message …
    let refused = wait_for(Duration::from_secs(3), || {
        log_contains(&p.log(inactive), "heartbeat authentication failed")
            && log_contains(&p.log(inactive), "Incompatible heartbeat")
    });
    assert!(refused.is_some(), "{}", p.logs());
    let log = std::fs::read_to_string(p.log(inactive)).unwrap_or_default();
    // … it ran authenticated (its startup line says so, not "unauthenticated"), and it never
    // activated, not even briefly.
    assert!(
        log.lines().any(|l| l.contains("heartbeat")
            && l.contains("mode=")
            && l.contains("authenticated")
            && !l.contains("unauthenticated")),
        "{}",
        p.logs()
    );
    assert_eq!(
        activations(&p),
        activations0,
        "a forged heartbeat activated {inactive:?}\n{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn the_same_forgery_takes_over_a_piranha_mode_pair() {
    // The control experiment for the test above: without a key the heartbeat is piranha's, and
    // a spoofed STOPPED makes the inactive director activate (docs/reference/piranha.md §10 item 1).
    let mut p = Pair::with(1, 3, false, "");
    p.start(Host::D1);
    p.start(Host::D2);
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    // (At a simultaneous start it may have activated already: the forgery must add one.)
    let activations = |p: &Pair| {
        std::fs::read_to_string(p.log(inactive))
            .unwrap_or_default()
            .matches("inactive: activating lvs")
            .count()
    };
    let activations0 = activations(&p);
    forge_stopped_heartbeats(&p, (active, inactive), false);
    // It activates (it may yield again at the next genuine RUNNING from the primary).
    assert!(
        wait_for(Duration::from_secs(3), || activations(&p) > activations0).is_some(),
        "the unauthenticated forgery should have worked\n{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn status_release_and_takeover_over_the_control_socket() {
    let mut p = Pair::new(1, 3);
    p.start(Host::D1);
    p.start(Host::D2);
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    // The active director has heard its partner as inactive, recently (bounded wait, then the
    // details below are asserted on that status).
    let mut a = p.status(active);
    wait_for(Duration::from_secs(5), || {
        a = p.status(active);
        a.partner.alive
            && a.partner.state == Some(pulse_control::NodeState::Inactive)
            && a.counters.heartbeats_received > 0
    });
    assert_eq!(
        (a.state.as_str(), a.role.as_str()),
        (
            "active",
            if active == Host::D1 {
                "primary"
            } else {
                "backup"
            }
        )
    );
    assert_eq!(a.vips_held, ["192.0.2.100/32 eth0:1"]);
    assert!(
        a.partner.alive && a.partner.state == Some(pulse_control::NodeState::Inactive),
        "{a:?}"
    );
    assert!(
        a.links[0].last_heard_ms_ago.is_some_and(|ms| ms < 2000),
        "{a:?}"
    );
    assert!(
        a.counters.heartbeats_sent > 0
            && a.counters.heartbeats_received > 0
            && a.counters.arps_sent >= 1,
        "{a:?}"
    );
    let b = p.status(inactive);
    assert_eq!(b.state, "inactive");
    assert!(b.vips_held.is_empty());
    // The inactive node cannot release; releasing the active one moves the service at once,
    // make-before-break: it still serves when it answers, and lets go when the partner serves.
    assert!(matches!(
        p.call(inactive, Request::Release),
        Response::Error { .. }
    ));
    let Response::Ok { status } = p.call(active, Request::Release) else {
        panic!("release refused\n{}", p.logs())
    };
    assert_eq!((status.state.as_str(), status.releasing), ("active", true));
    assert_eq!(status.vips_held, ["192.0.2.100/32 eth0:1"]);
    p.wait_active(inactive, Duration::from_secs(1));
    let after = p.status(active);
    assert_eq!((after.state.as_str(), after.releasing), ("inactive", false));
    assert!(after.vips_held.is_empty());
    p.assert_stays_active(
        inactive,
        Duration::from_secs(4),
        "the released node came back",
    );
    // Taking it back: the primary may (the backup yields to it); the backup may not take it
    // from an active primary.
    let primary_has_it = p.holds(Host::D1);
    let (req_on, expect_ok) = if primary_has_it {
        (Host::D2, false)
    } else {
        (Host::D1, true)
    };
    match (p.call(req_on, Request::Takeover), expect_ok) {
        (Response::Ok { .. }, true) => p.wait_active(Host::D1, Duration::from_secs(2)),
        (Response::Error { message }, false) => {
            assert!(message.contains("primary is active"), "{message}")
        }
        (other, _) => panic!("unexpected answer {other:?}\n{}", p.logs()),
    }
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_serial_mismatch_shows_in_status_and_logs() {
    let mut p = Pair::with(1, 3, true, "");
    let other = p.dir.path().join("other.cf");
    let text = std::fs::read_to_string(&p.cf)
        .expect("cf")
        .replace("serial_no = 1", "serial_no = 2");
    std::fs::write(&other, text).expect("write");
    p.start(Host::D1);
    p.start_with(Host::D2, &other);
    p.wait_settled(Duration::from_secs(10));
    let ok = wait_for(Duration::from_secs(3), || {
        p.status(Host::D1).partner.config_mismatch
    });
    assert!(ok.is_some(), "{:?}", p.status(Host::D1));
    let s1 = p.status(Host::D1);
    assert_eq!(s1.partner.config.as_ref().map(|c| c.serial_no), Some(2));
    let ok = wait_for(Duration::from_secs(3), || {
        p.status(Host::D2).partner.config_mismatch
    });
    assert!(ok.is_some(), "{:?}", p.status(Host::D2));
    assert!(
        wait_log(
            &p.log(Host::D1),
            "lvs.cf differs between the directors",
            Duration::from_secs(3)
        ),
        "{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn monitor_links_gives_up_the_service_when_the_active_link_fails() {
    let mut p = Pair::with(1, 3, false, "monitor_links = 1\n");
    p.start(Host::D1);
    p.start(Host::D2);
    let (active, other) = p.wait_settled(Duration::from_secs(10));
    // Pull the active director's cable: its eth0 loses carrier.
    p.bed.set_port(active, false);
    let gone = wait_for(Duration::from_secs(1), || !p.holds(active));
    assert!(
        gone.is_some(),
        "the VIP stayed on a director without link\n{}",
        p.logs()
    );
    assert!(
        log_contains(&p.log(active), "Local NIC link failure: Pulse disabled"),
        "{}",
        p.logs()
    );
    assert!(
        log_contains(&p.log(active), "local link failure: deactivating LVS"),
        "{}",
        p.logs()
    );
    let ok = wait_for(Duration::from_secs(6), || p.holds(other));
    assert!(ok.is_some(), "{}", p.logs());
    // The link comes back: no automatic reactivation (docs/reference/piranha.md §4.5).
    p.bed.set_port(active, true);
    let restored = wait_for(Duration::from_secs(2), || {
        log_contains(&p.log(active), "Local NIC link(s) restored: Pulse enabled")
    });
    assert!(restored.is_some(), "{}", p.logs());
    p.assert_stays_active(
        other,
        Duration::from_secs(3),
        "reactivated when the link came back",
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn sighup_applies_a_good_file_and_survives_a_bad_one() {
    let mut p = Pair::new(1, 3);
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    let good = std::fs::read_to_string(&p.cf).expect("cf");
    // A broken file: both keep running unchanged (and the inactive one does not spin, as
    // piranha's did on SIGHUP without an lvsd).
    std::fs::write(&p.cf, good.replace("keepalive = 1", "keepalive = one")).expect("write");
    for pid in pids {
        signal(pid, "HUP");
    }
    // Both read the broken file and said so (bounded wait: the reload runs on a blocking
    // thread) …
    for h in [active, inactive] {
        assert!(
            wait_log(
                &p.log(h),
                "reload failed, keeping the running configuration",
                Duration::from_secs(5)
            ),
            "{h:?} did not report the failed reload\n{}",
            p.logs()
        );
    }
    // … and nothing changed, for a while after.
    p.assert_stays_active(active, Duration::from_millis(500), "after a failed reload");
    assert_eq!(p.status(active).state, "active");
    assert_eq!(p.status(inactive).state, "inactive");
    assert_eq!(p.status(active).config.serial_no, 1);
    // A second VIP: the active node claims it on reload.
    let more = good.replace("serial_no = 1", "serial_no = 2")
        + "virtual ssh {\n     active = 1\n     address = 192.0.2.101 eth0:2\n     port = 22\n}\n";
    std::fs::write(&p.cf, more).expect("write");
    for pid in pids {
        signal(pid, "HUP");
    }
    let ok = wait_for(Duration::from_secs(2), || {
        p.bed.has_addr(active, "192.0.2.101")
    });
    assert!(ok.is_some(), "the new VIP was not claimed\n{}", p.logs());
    assert!(!p.bed.has_addr(inactive, "192.0.2.101"));
    assert_eq!(p.status(active).config.serial_no, 2);
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn lvsd_death_hands_the_service_to_the_partner() {
    let mut p = Pair::new(1, 3);
    // A stand-in lvsd that just runs: its death is what this test is about.
    let pids = start_with_fake_lvsd(&mut p);
    let (active, other) = p.wait_settled(Duration::from_secs(10));
    assert!(log_contains(&p.log(active), "started lvsd"), "{}", p.logs());
    // The active director's lvsd dies.
    let lvsd_pids = children(pids[usize::from(active == Host::D2)]);
    assert_eq!(
        lvsd_pids.len(),
        1,
        "exactly one lvsd child expected\n{}",
        p.logs()
    );
    signal(lvsd_pids[0], "KILL");
    let ok = wait_for(Duration::from_secs(2), || {
        p.holds(other) && !p.holds(active)
    });
    assert!(ok.is_some(), "the partner did not take over\n{}", p.logs());
    assert!(
        log_contains(&p.log(active), "lvsd failed: deactivating LVS"),
        "{}",
        p.logs()
    );
    // The partner's lvsd runs, so the failed one stays out.
    p.assert_stays_active(
        other,
        Duration::from_secs(3),
        "the failed director came back",
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_stalled_inactive_director_does_not_take_over_when_it_resumes() {
    // Fast timers; the inactive director is frozen for ten deadtimes (a busy host, a
    // descheduled VM). Its partner's heartbeats wait in its socket; on resume they count before
    // its dead timer is judged, so it must not activate.
    let mut p = Pair::with(1, 3, false, "");
    std::fs::write(
        &p.cf,
        lvs_cf(1, 3, "")
            .replace("keepalive = 1", "keepalive = 0.05")
            .replace("deadtime = 3", "deadtime = 0.15"),
    )
    .expect("write");
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    let pid = pids[usize::from(inactive == Host::D2)];
    for _ in 0..5 {
        signal(pid, "STOP");
        std::thread::sleep(Duration::from_millis(1500));
        signal(pid, "CONT");
        // Resumed: it works through what queued up; the service must not move meanwhile.
        p.assert_stays_active(active, Duration::from_millis(300), "after a stall");
    }
    assert!(
        !log_contains(&p.log(inactive), "partner dead: activating lvs"),
        "false failover after a stall\n{}",
        p.logs()
    );
}

const TEST_KEY: &[u8] = b"3f9a0c4e7b1d2a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e";

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_heartbeat_recorded_before_a_restart_is_rejected_after_it() {
    let mut p = Pair::with(1, 10, true, "");
    let then = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let pids = [p.start(Host::D1), p.start(Host::D2)];
    let (active, inactive) = p.wait_settled(Duration::from_secs(10));
    // The inactive director has saved a replay floor past the recording below (what the
    // restarted pulse reads back).
    let floor = p
        .dir
        .path()
        .join(format!("state-{inactive:?}"))
        .join("heartbeat-seq");
    let then_us = u64::try_from(then.as_micros()).expect("µs");
    let saved = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&floor)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .is_some_and(|f| f > then_us)
    });
    assert!(
        saved.is_some(),
        "no replay floor saved in {}\n{}",
        floor.display(),
        p.logs()
    );
    // What an eavesdropper recorded early on: the active director saying "stopped", correctly
    // signed, with a sequence number from before everything the inactive one has accepted.
    let recorded = pulse_proto::AuthHeartbeat {
        primary: active == Host::D1,
        active: false,
        handover: false,
        prepare: false,
        ready: false,
        stop_me: false,
        link_failed: false,
        child_failed: false,
        boot_id: 7,
        seq: then_us,
        serial_no: 1,
        digest: [0; 8],
        keepalive_ms: 1000,
        deadtime_ms: 10_000,
        challenge: 0,
        echo: 0,
    }
    .encode(
        &pulse_proto::HeartbeatKey::new(TEST_KEY).expect("key"),
        pulse_proto::LinkPath::between(
            active == Host::D1,
            ip_of(active).parse().expect("ip"),
            ip_of(inactive).parse().expect("ip"),
        ),
    )
    .to_vec();
    let spoofed = ip_of(active);
    p.bed.ip(
        Host::Intruder,
        &["addr", "add", &format!("{spoofed}/32"), "dev", "eth0"],
    );
    let from = format!("{spoofed}:539").parse().expect("addr");
    let to = format!("{}:539", ip_of(inactive)).parse().expect("addr");
    let gone = |p: &Pair, pid: u32| {
        let dead = wait_for(Duration::from_secs(5), || exited(pid));
        assert!(dead.is_some(), "pulse {pid} outlived SIGKILL\n{}", p.logs());
    };
    // Restart the inactive director while the active one is cut off, and replay as soon as
    // the new pulse is up (it answers on its control socket once its heartbeat sockets are
    // bound), long before its deadtime (10 s).
    let replay = |p: &mut Pair, pid: Option<u32>| -> bool {
        if let Some(pid) = pid {
            signal(pid, "KILL");
            gone(p, pid);
        }
        p.bed.set_port(active, false);
        let new_pid = p.start(inactive);
        let up = wait_for(Duration::from_secs(5), || p.try_status(inactive).is_some());
        assert!(
            up.is_some(),
            "the restarted pulse did not come up\n{}",
            p.logs()
        );
        p.bed
            .send_udp(Host::Intruder, from, to, vec![recorded.clone(); 3]);
        let took_over = wait_for(Duration::from_secs(2), || p.holds(inactive)).is_some();
        p.bed.set_port(active, true);
        signal(new_pid, "KILL");
        gone(p, new_pid);
        took_over
    };
    let first = replay(&mut p, Some(pids[usize::from(inactive == Host::D2)]));
    assert!(
        !first,
        "a recorded heartbeat was accepted after a restart\n{}",
        p.logs()
    );
    assert!(
        wait_log(
            &p.log(inactive),
            "replayed heartbeat",
            Duration::from_secs(2)
        ),
        "{}",
        p.logs()
    );
    // The control experiment: without the saved floor the same replay works (so the test can
    // fail). The previous pulse was killed (and is gone) above; the next starts with no state.
    let _ = std::fs::remove_dir_all(p.dir.path().join(format!("state-{inactive:?}")));
    p.bed.ip(
        inactive,
        &["addr", "flush", "dev", "eth0", "label", "eth0:1"],
    );
    assert!(
        replay(&mut p, None),
        "without the saved floor the replay should have worked\n{}",
        p.logs()
    );
}

/// One `GET path` to the metrics endpoint `addr` from inside `h`'s namespace: (status line,
/// headers and body).
fn http_get(p: &Pair, h: Host, addr: &str, path: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read, Write};
    let (addr, path) = (addr.to_string(), path.to_string());
    pulse_e2e::lvs_bed::in_ns(&p.bed.ns(h), move || {
        let addr: std::net::SocketAddr = addr.parse().expect("address");
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Ok((head.to_string(), body.to_string()))
    })
}

/// The metrics of `h` as `series → value`.
fn scrape(p: &Pair, h: Host) -> std::collections::BTreeMap<String, f64> {
    let (head, body) = http_get(p, h, "127.0.0.1:9469", "/metrics")
        .unwrap_or_else(|e| panic!("scrape {h:?}: {e}\n{}", p.logs()));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect()
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn metrics_change_when_the_backup_takes_over() {
    let mut p = Pair::with(1, 3, true, "metrics_port = 9469\n");
    // One real server on the client host, answering like a web server; lvsd runs in test mode
    // (this kernel may have no IPVS) and checks it for real.
    let cf = p.cf.clone();
    let text = std::fs::read_to_string(&cf).expect("lvs.cf").replace(
        "     port = 80\n}",
        "     port = 80\n     timeout = 1\n     reentry = 1\n     server rs1 {\n          address = 192.0.2.50\n          active = 1\n          weight = 2\n     }\n}",
    );
    std::fs::write(&cf, text).expect("write lvs.cf");
    let _web = pulse_e2e::lvs_bed::serve_tcp_in(
        &p.bed.ns(Host::Client),
        "192.0.2.50:80".parse().expect("address"),
    );
    let lvsd = pulse_e2e::lvs_bed::test_mode_lvsd(p.dir.path());
    let dir = p.dir.path().to_path_buf();
    let pids: Vec<u32> = [Host::D1, Host::D2]
        .into_iter()
        .map(|h| {
            p.bed.spawn_pulse(
                env!("CARGO_BIN_EXE_pulse"),
                h,
                &cf,
                &dir,
                &["--lvsd", &lvsd],
            )
        })
        .collect();
    let (active, backup) = p.wait_settled(Duration::from_secs(10));
    let rs1 = "virtual=\"web\",server=\"rs1\",address=\"192.0.2.50:80\"";
    let up = format!("lvs_real_server_health{{{rs1},state=\"up\"}}");
    let passed = format!("lvs_checks_total{{{rs1},result=\"passed\"}}");
    let wait_lvs_up = |h: Host| {
        let ok = wait_for(Duration::from_secs(10), || {
            let m = scrape(&p, h);
            m.get(&up) == Some(&1.0) && m.get(&passed).is_some_and(|n| *n >= 1.0)
        });
        assert!(
            ok.is_some(),
            "{h:?}: rs1 never up in the metrics\n{}",
            p.logs()
        );
    };

    // Before: both report rs1 up (warm_standby: the inactive director runs lvsd too); only
    // the active one holds the VIP.
    wait_lvs_up(backup);
    wait_lvs_up(active);
    let a = scrape(&p, active);
    assert_eq!(a.get("pulse_active"), Some(&1.0));
    assert_eq!(a.get("pulse_lvsd_up"), Some(&1.0));
    assert_eq!(
        a.get(&format!("lvs_real_server_weight{{{rs1}}}")),
        Some(&2.0)
    );
    let b0 = scrape(&p, backup);
    assert_eq!(b0.get("pulse_active"), Some(&0.0));
    assert_eq!(b0.get("pulse_partner_alive"), Some(&1.0));
    assert_eq!(b0.get("pulse_lvsd_up"), Some(&1.0));
    assert_eq!(b0.get("pulse_vips_held"), Some(&0.0));
    let received = |m: &std::collections::BTreeMap<String, f64>| {
        m.iter()
            .filter(|(k, _)| k.starts_with("pulse_heartbeats_received_total"))
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert!(received(&b0) >= 1.0, "{b0:?}");

    // Loopback only by default: the director's own address does not answer.
    let outside = http_get(
        &p,
        Host::Client,
        &format!("{}:9469", ip_of(backup)),
        "/metrics",
    );
    assert!(
        outside.is_err(),
        "metrics reachable from the network: {outside:?}"
    );
    let (head, _) = http_get(&p, backup, "127.0.0.1:9469", "/nothing").expect("404");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // The received counter moves with the partner's heartbeats (keepalive 1 s).
    let mut heard = b0.clone();
    let moved = wait_for(Duration::from_secs(5), || {
        heard = scrape(&p, backup);
        received(&heard) > received(&b0)
    });
    assert!(
        moved.is_some(),
        "pulse_heartbeats_received_total did not grow: {b0:?}\n{heard:?}"
    );

    // The active director dies; the backup takes over and its metrics say so.
    signal(pids[usize::from(active == Host::D2)], "KILL");
    for c in children(pids[usize::from(active == Host::D2)]) {
        signal(c, "KILL");
    }
    p.bed.set_port(active, false);
    // (The dead director keeps its VIP address: nobody is left there to remove it.)
    let ok = wait_for(Duration::from_secs(6), || p.holds(backup));
    assert!(ok.is_some(), "{backup:?} did not take over\n{}", p.logs());
    wait_lvs_up(backup);
    let b1 = scrape(&p, backup);
    let get = |m: &std::collections::BTreeMap<String, f64>, k: &str| m.get(k).copied();
    assert_eq!(get(&b1, "pulse_active"), Some(1.0));
    // Exactly one more takeover (at a simultaneous start the backup may have been active for a
    // keepalive already, so the counter is compared, not its absolute value).
    let to_active = "pulse_transitions_total{to=\"active\"}";
    assert_eq!(
        get(&b1, to_active)
            .zip(get(&b0, to_active))
            .map(|(a, b)| a - b),
        Some(1.0),
        "{b0:?}\n{b1:?}"
    );
    assert_eq!(get(&b1, "pulse_partner_alive"), Some(0.0));
    assert_eq!(get(&b1, "pulse_vips_held"), Some(1.0));
    assert!(
        get(&b1, "pulse_gratuitous_arps_sent_total").is_some_and(|n| n >= 1.0),
        "{b1:?}"
    );
    assert!(
        get(&b1, "pulse_gratuitous_arps_sent_total") > get(&b0, "pulse_gratuitous_arps_sent_total"),
        "{b0:?}\n{b1:?}"
    );
    assert!(
        get(&b1, "pulse_state_since_timestamp_seconds")
            > get(&b0, "pulse_state_since_timestamp_seconds"),
        "state change time did not move"
    );
    // Kept across the takeover, not reset.
    assert!(
        received(&b1) >= received(&heard),
        "the received counter went back: {heard:?}\n{b1:?}"
    );
}

/// Both directors run a stand-in lvsd that just runs; returns their pulse pids.
fn start_with_fake_lvsd(p: &mut Pair) -> Vec<u32> {
    let fake = p.dir.path().join("lvsd");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 1000\n").expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let lvsd = fake.to_string_lossy().into_owned();
    let (cf, dir) = (p.cf.clone(), p.dir.path().to_path_buf());
    [Host::D1, Host::D2]
        .into_iter()
        .map(|h| {
            p.bed.spawn_pulse(
                env!("CARGO_BIN_EXE_pulse"),
                h,
                &cf,
                &dir,
                &["--lvsd", &lvsd],
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn warm_standby_keeps_lvsd_running_on_the_backup_through_a_takeover() {
    let mut p = Pair::new(1, 3);
    let pids = start_with_fake_lvsd(&mut p);
    let (active, backup) = p.wait_settled(Duration::from_secs(10));
    let pid_of = |h: Host| pids[usize::from(h == Host::D2)];
    let one_child = |h: Host| {
        let c = children(pid_of(h));
        assert_eq!(
            c.len(),
            1,
            "{h:?} should run exactly one lvsd: {c:?}\n{}",
            p.logs()
        );
        c[0]
    };
    // (Each director starts its lvsd once it has settled on its role; bounded wait.)
    for h in [active, backup] {
        wait_for(Duration::from_secs(3), || children(pid_of(h)).len() == 1);
    }
    one_child(active);
    let standby = one_child(backup);
    assert!(
        log_contains(&p.log(backup), "started lvsd (standby)"),
        "{}",
        p.logs()
    );

    // The standby lvsd dies: it is restarted, and nothing else changes.
    signal(standby, "KILL");
    let restarted = wait_for(Duration::from_secs(4), || {
        children(pid_of(backup))
            .first()
            .is_some_and(|c| *c != standby)
    });
    assert!(
        restarted.is_some(),
        "standby lvsd not restarted\n{}",
        p.logs()
    );
    p.assert_stays_active(
        active,
        Duration::from_secs(1),
        "the standby lvsd's death moved the service",
    );
    let standby = one_child(backup);

    // The active director dies: the backup takes over with the lvsd it already runs.
    signal(pid_of(active), "KILL");
    for c in children(pid_of(active)) {
        signal(c, "KILL");
    }
    p.bed.set_port(active, false);
    let ok = wait_for(Duration::from_secs(6), || p.holds(backup));
    assert!(ok.is_some(), "{backup:?} did not take over\n{}", p.logs());
    assert_eq!(
        one_child(backup),
        standby,
        "the takeover restarted lvsd\n{}",
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn without_warm_standby_lvsd_runs_only_on_the_active_director() {
    let mut p = Pair::with(1, 3, false, "warm_standby = 0\n");
    let pids = start_with_fake_lvsd(&mut p);
    let (active, backup) = p.wait_settled(Duration::from_secs(10));
    let pid_of = |h: Host| pids[usize::from(h == Host::D2)];
    // (At a simultaneous start the backup may have been active for a moment: its lvsd stops.)
    let ok = wait_for(Duration::from_secs(3), || {
        children(pid_of(backup)).is_empty()
    });
    assert!(
        ok.is_some(),
        "the inactive director runs lvsd\n{}",
        p.logs()
    );
    // … and starts none later, while the active one runs exactly one.
    let steady = holds_throughout(Duration::from_secs(2), || {
        children(pid_of(backup)).is_empty() && children(pid_of(active)).len() == 1
    });
    assert!(
        steady.is_ok(),
        "{steady:?}: backup runs {:?}, active runs {:?}\n{}",
        children(pid_of(backup)),
        children(pid_of(active)),
        p.logs()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn an_authenticated_release_prepares_the_partner_then_hands_over() {
    let mut p = Pair::with(1, 3, true, "");
    // The stand-in lvsd cannot drain: the release must still complete, just without the wait.
    start_with_fake_lvsd(&mut p);
    let (active, other) = p.wait_settled(Duration::from_secs(10));
    let Response::Ok { status } = p.call(active, Request::Release) else {
        panic!("release refused\n{}", p.logs())
    };
    assert!(status.releasing, "{status:?}");
    p.wait_active(other, Duration::from_secs(3));
    assert!(
        log_contains(&p.log(other), "partner is handing over: claiming the VIPs"),
        "{}",
        p.logs()
    );
    assert!(
        log_contains(
            &p.log(active),
            "release: lvsd cannot drain; handing over without it"
        ),
        "{}",
        p.logs()
    );
    // Announced once it took over: the client follows.
    p.wait_client_sees(other, Duration::from_secs(2));
    p.assert_stays_active(other, Duration::from_secs(2), "the released node came back");
}
