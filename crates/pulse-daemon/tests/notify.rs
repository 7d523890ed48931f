//! systemd readiness (`Type=notify`): the real `pulse` in a network namespace with
//! `$NOTIFY_SOCKET` pointing at a datagram socket this test listens on. Root only; skipped with a
//! printed reason elsewhere. Every wait is bounded; the namespace goes away with the test.

use pulse_e2e::netns::{Bed, Host, require_netns, signal};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

const LVS_CF: &str = "serial_no = 7\nprimary = 192.0.2.11\nbackup = 192.0.2.12\n\
    backup_active = 1\nkeepalive = 1\ndeadtime = 3\nnetwork = direct\n\
    virtual web {\n     active = 1\n     address = 192.0.2.100 eth0:1\n     port = 80\n}\n";

/// Datagrams until one contains `line` (a whole line), or `limit` passes; all of them.
fn wait_line(rx: &UnixDatagram, line: &str, limit: Duration) -> Result<Vec<String>, Vec<String>> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match rx.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let hit = msg.lines().any(|l| l == line);
                seen.push(msg);
                if hit {
                    return Ok(seen);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv on the notify socket: {e}"),
        }
    }
    Err(seen)
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn pulse_notifies_ready_reloading_and_stopping() {
    require_netns();
    let mut bed = Bed::new(&[Host::D1]);
    let dir = tempfile::tempdir().expect("tempdir");
    let cf = dir.path().join("lvs.cf");
    std::fs::write(&cf, LVS_CF).expect("write lvs.cf");
    // A path, not an abstract name: abstract unix sockets belong to a network namespace.
    let sock = dir.path().join("notify");
    let rx = UnixDatagram::bind(&sock).expect("bind the notify socket");
    rx.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let log = dir.path().join("pulse.log");
    let (cf_s, sock_s, ctl, state) = (
        cf.to_string_lossy().into_owned(),
        format!("NOTIFY_SOCKET={}", sock.display()),
        dir.path().join("ctl.sock").to_string_lossy().into_owned(),
        dir.path().join("state").to_string_lossy().into_owned(),
    );
    let pid = bed.spawn(
        Host::D1,
        "env",
        &[
            &sock_s,
            env!("CARGO_BIN_EXE_pulse"),
            "-c",
            &cf_s,
            "--nodaemon",
            "--test-start",
            "--control",
            &ctl,
            "--state-dir",
            &state,
        ],
        &log,
    );
    let spawned = Instant::now();
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let ready = wait_line(&rx, "READY=1", Duration::from_secs(10))
        .unwrap_or_else(|seen| panic!("no READY=1 within 10 s; got {seen:?}\n{}", show_log()));
    assert_eq!(ready.len(), 1, "READY=1 comes first: {ready:?}");
    // After the first heartbeat, which goes out one keepalive (1 s) after start.
    assert!(
        spawned.elapsed() >= Duration::from_millis(900),
        "READY=1 before the first heartbeat: {:?}",
        spawned.elapsed()
    );
    assert!(
        ready[0].contains("STATUS=inactive (primary), serial_no 7"),
        "{ready:?}"
    );

    signal(pid, "HUP");
    let reload = wait_line(&rx, "READY=1", Duration::from_secs(10))
        .unwrap_or_else(|seen| panic!("no READY=1 after SIGHUP; got {seen:?}\n{}", show_log()));
    assert!(
        reload[0].lines().any(|l| l == "RELOADING=1"),
        "RELOADING=1 before READY=1: {reload:?}"
    );

    signal(pid, "TERM");
    wait_line(&rx, "STOPPING=1", Duration::from_secs(10))
        .unwrap_or_else(|seen| panic!("no STOPPING=1 after SIGTERM; got {seen:?}\n{}", show_log()));
    let gone = pulse_e2e::netns::wait_for(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone.is_some(), "pulse still runs 10 s after SIGTERM");
}
