//! lvsd's command line on the host (no IPVS needed): what an admin sees before anything runs.

use std::process::Command;

fn lvsd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(args)
        .output()
        .expect("run lvsd")
}

#[test]
fn version_is_piranha_shaped() {
    let o = lvsd(&["--version"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("Program Version:\tlvsd "), "{out}");
}

#[test]
fn an_invalid_file_is_refused_before_anything_runs_with_the_line_and_the_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(
        &cfg,
        "serial_no = 1\nvirtual web {\n    active = 1\n    schedular = wlc\n    address = 192.0.2.10 eth0:1\n}\n",
    )
    .unwrap();
    let o = lvsd(&["--nodaemon", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("lvs: error parsing {} on line 4.", cfg.display())),
        "{err}"
    );
    assert!(err.contains("unknown keyword"), "{err}");
    assert!(err.contains("did you mean \"scheduler\"?"), "{err}");
}

#[test]
fn a_missing_file_says_which() {
    let o = lvsd(&["--nodaemon", "-c", "/nonexistent/lvs.cf"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("lvs: failed to open /nonexistent/lvs.cf"),
        "{err}"
    );
}

#[test]
fn a_bad_regex_is_refused_naming_the_virtual_service() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(
        &cfg,
        "serial_no = 1\nvirtual web {\n    active = 1\n    address = 192.0.2.10 eth0:1\n    use_regex = 1\n    expect = \"HTTP/1.[01\"\n    server a {\n        address = 192.0.2.20\n        active = 1\n    }\n}\n",
    )
    .unwrap();
    let o = lvsd(&["--nodaemon", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("virtual web"), "{err}");
}

/// (SIGHUP blocked, SIGHUP caught) for process `pid`, from `/proc/PID/status`.
fn hup_masks(pid: u32) -> Option<(bool, bool)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = |name: &str| -> Option<bool> {
        let hex = status.lines().find_map(|l| l.strip_prefix(name))?.trim();
        // SIGHUP is signal 1: bit 0.
        Some(u64::from_str_radix(hex, 16).ok()? & 1 == 1)
    };
    Some((mask("SigBlk:")?, mask("SigCgt:")?))
}

/// pulse forwards reloads as SIGHUP; one that arrives while lvsd is still reading a large file
/// (before its handler exists) must be held and applied, not kill lvsd (which pulse would take
/// for a failure and fail over).
#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_sighup_during_startup_is_a_reload_not_a_death() {
    pulse_e2e::netns::require_netns();
    // Its own namespace: test mode still runs the checks, which must not leave it.
    let ns = format!("lvhup{}", std::process::id());
    let ip = |args: &[&str]| {
        assert!(
            Command::new("ip").args(args).status().unwrap().success(),
            "ip {args:?}"
        );
    };
    ip(&["netns", "add", &ns]);
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _del = Del(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lvs.cf");
    std::fs::write(&cfg, pulse_e2e::big_config::Shape::large().generate()).unwrap();
    let log = std::fs::File::create(tmp.path().join("lvsd.log")).unwrap();
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            env!("CARGO_BIN_EXE_lvsd"),
            "-t",
            "--nodaemon",
            "-c",
        ])
        .arg(&cfg)
        .arg("--control")
        .arg(tmp.path().join("lvsd.sock"))
        .arg("--pidfile")
        .arg(tmp.path().join("lvs.pid"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // The moment this test is about: lvsd runs (`ip netns exec` has exec'd it: SIGHUP is
    // blocked, as `main` does first) and its handler does not exist yet (the 5 MB file is
    // still being read). Polled for, not slept into: too early, the HUP would hit `ip`; too
    // late, it would prove nothing.
    let mut caught_at_send = None;
    let blocked = pulse_e2e::netns::wait_for(std::time::Duration::from_secs(10), || {
        let Some((blk, cgt)) = hup_masks(child.id()) else {
            return false;
        };
        if blk {
            caught_at_send = Some(cgt);
            pulse_e2e::netns::signal(child.id(), "HUP");
        }
        blk
    });
    assert!(
        blocked.is_some(),
        "lvsd never blocked SIGHUP (still `ip`, or gone?)"
    );
    assert_eq!(
        caught_at_send,
        Some(false),
        "the SIGHUP went out after lvsd's handler existed: this run proves nothing"
    );
    let read = || std::fs::read_to_string(tmp.path().join("lvsd.log")).unwrap_or_default();
    let mut alive = true;
    let reloaded = pulse_e2e::netns::wait_for(std::time::Duration::from_secs(60), || {
        alive = child.try_wait().unwrap().is_none();
        !alive || read().contains("configuration reloaded")
    })
    .filter(|_| alive);
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "lvsd died of an early SIGHUP:\n{}", read());
    assert!(reloaded.is_some(), "the early SIGHUP was lost:\n{}", read());
}
