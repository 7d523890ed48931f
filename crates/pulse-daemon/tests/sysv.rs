//! The SysV init script (`packaging/sysv/pulse.init`) driving the real, daemonized `pulse` in a
//! network namespace: every action's LSB exit code, the pid file, and that stop really ends the
//! process. Paths point into a temp dir through the script's environment overrides; no
//! /etc/init.d/functions (the script must work without it). Root only; skipped with a printed
//! reason elsewhere, and when pulsectl has not been built next to pulse.

use pulse_e2e::netns::{Bed, Host, require_netns, wait_for};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const LVS_CF: &str = "serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\n\
    backup_active = 1\nkeepalive = 1\ndeadtime = 3\nnetwork = direct\n\
    virtual web {\n     active = 1\n     address = 192.0.2.100 eth0:1\n     port = 80\n}\n";

struct Script {
    bed: Bed,
    dir: tempfile::TempDir,
    pulsectl: PathBuf,
}

/// Kills whatever pulse the pid file names when the test ends (a daemonized pulse is no child
/// of the bed, and would outlive its namespace).
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.0) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
    }
}

fn pid_in(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Runs, and is no zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

impl Script {
    fn new() -> Self {
        require_netns();
        let pulsectl = Path::new(env!("CARGO_BIN_EXE_pulse")).with_file_name("pulsectl");
        assert!(
            pulsectl.exists(),
            "{} not built (cargo build -p pulsectl)",
            pulsectl.display()
        );
        let bed = Bed::new(&[Host::D1]);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("lvs.cf"), LVS_CF).expect("lvs.cf");
        std::fs::create_dir(d.join("subsys")).expect("subsys");
        std::fs::write(
            d.join("sysconfig"),
            format!(
                "OPTIONS=\"--test-start --no-realtime --control {} --state-dir {}\"\nDELAY=0.1\n",
                d.join("ctl.sock").display(),
                d.join("state").display()
            ),
        )
        .expect("sysconfig");
        Self { bed, dir, pulsectl }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pidfile(&self) -> PathBuf {
        self.path("pulse.pid")
    }

    /// `ip netns exec NS env PULSE_…=… sh pulse.init ACTION`.
    fn run(&self, action: &str) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/sysv/pulse.init");
        let env = [
            format!("PULSE_BIN={}", env!("CARGO_BIN_EXE_pulse")),
            format!("PULSECTL_BIN={}", self.pulsectl.display()),
            format!("PULSE_CONFIG={}", self.path("lvs.cf").display()),
            format!("PULSE_PIDFILE={}", self.pidfile().display()),
            format!("PULSE_SYSCONFIG={}", self.path("sysconfig").display()),
            format!("PULSE_LOCKFILE={}", self.path("subsys/pulse").display()),
            format!("PULSE_FUNCTIONS={}", self.path("no-functions").display()),
            format!("PULSE_NETWORK={}", self.path("no-network").display()),
            "PULSE_STOP_TIMEOUT=10".to_string(),
        ];
        let mut args: Vec<&str> = env.iter().map(String::as_str).collect();
        let script = script.to_string_lossy().into_owned();
        args.extend(["sh", &script, action]);
        self.bed.exec(Host::D1, "env", &args)
    }

    /// Runs ACTION and asserts its exit code; returns its stdout.
    fn expect(&self, action: &str, code: i32) -> String {
        let o = self.run(action);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            o.status.code(),
            Some(code),
            "pulse.init {action}: stdout {out:?}, stderr {:?}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn sysv_script_starts_reloads_and_stops_pulse() {
    let s = Script::new();
    let _reaper = Reaper(s.pidfile());

    s.expect("status", 3);
    s.expect("reload", 7);
    s.expect("bogus", 2);

    s.expect("start", 0);
    let pid = pid_in(&s.pidfile()).expect("start wrote the pid file");
    assert!(alive(pid), "pid {pid} from the pid file is not running");
    assert!(s.path("subsys/pulse").exists(), "start took the lock file");
    assert!(s.expect("status", 0).contains(&pid.to_string()));
    // start on a running pulse succeeds and starts nothing else.
    s.expect("start", 0);
    assert_eq!(pid_in(&s.pidfile()), Some(pid));

    s.expect("reload", 0);
    s.expect("force-reload", 0);
    assert!(alive(pid), "pulse died on SIGHUP");

    // An invalid lvs.cf is refused by the script; pulse never sees the HUP and keeps running.
    std::fs::write(
        s.path("lvs.cf"),
        "serial_no = 2\nschedular = wlc\nprimary = \n",
    )
    .expect("break lvs.cf");
    let o = s.run("reload");
    assert_eq!(
        o.status.code(),
        Some(1),
        "reload of an invalid lvs.cf: {o:?}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not valid; not reloading"),
        "{o:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "pulse died after a refused reload");
    s.expect("status", 0);
    std::fs::write(s.path("lvs.cf"), LVS_CF).expect("restore lvs.cf");

    // condrestart on a running pulse: a new process.
    s.expect("condrestart", 0);
    let pid2 = pid_in(&s.pidfile()).expect("condrestart wrote the pid file");
    assert_ne!(pid, pid2, "condrestart did not restart");
    assert!(!alive(pid), "the old pulse survived condrestart");
    assert!(alive(pid2));

    s.expect("stop", 0);
    assert!(!s.pidfile().exists(), "stop left the pid file");
    assert!(!s.path("subsys/pulse").exists(), "stop left the lock file");
    assert!(
        wait_for(Duration::from_secs(2), || !alive(pid2)).is_some(),
        "pulse {pid2} still runs after stop"
    );
    s.expect("status", 3);
    s.expect("stop", 0);

    // condrestart and try-restart on a stopped pulse start nothing.
    s.expect("condrestart", 0);
    s.expect("try-restart", 0);
    assert!(!s.pidfile().exists(), "condrestart started a stopped pulse");
    s.expect("status", 3);

    // A pid file naming a dead process: status 1; start cleans it up.
    std::fs::write(s.pidfile(), format!("{pid2}\n")).expect("stale pid file");
    s.expect("status", 1);
    s.expect("restart", 0);
    let pid3 = pid_in(&s.pidfile()).expect("restart wrote the pid file");
    assert!(alive(pid3));
    s.expect("stop", 0);
    assert!(wait_for(Duration::from_secs(2), || !alive(pid3)).is_some());
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn sysv_script_refuses_missing_program_and_config() {
    let s = Script::new();
    let _reaper = Reaper(s.pidfile());
    std::fs::remove_file(s.path("lvs.cf")).expect("rm lvs.cf");
    s.expect("start", 6);
    assert!(!s.pidfile().exists());
    std::fs::write(s.path("lvs.cf"), "serial_no = 1\nbogus_keyword = 1\n").expect("bad lvs.cf");
    // pulse itself refuses a bad file before daemonizing.
    s.expect("start", 1);
    assert!(!s.pidfile().exists());
    std::fs::write(s.path("no-network"), "NETWORKING=no\n").expect("network");
    s.expect("start", 1);
}
