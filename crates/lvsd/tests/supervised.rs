//! `--supervised` (docs/lvsd.md, "One lvsd per director"): an lvsd whose parent is gone exits 0
//! within a second, leaving the table; without the option it runs on, as piranha's did. Test
//! mode (`-t`), no root needed.
//!
//! This test process makes itself a child subreaper, so the orphaned lvsd becomes its child and
//! its exit status can be read (its own parent, the `sh` we kill, cannot tell us).

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One virtual service and no real server: nothing is probed.
const CF: &str = "serial_no = 1\nnetwork = direct\nvirtual web {\n    active = 1\n    address = 192.0.2.10 eth0:1\n    port = 80\n}\n";

struct Run {
    _dir: tempfile::TempDir,
    log: PathBuf,
    /// The `sh` that started lvsd (its parent).
    parent: Child,
    lvsd: Pid,
}

impl Run {
    /// Starts `sh`, which starts lvsd with `extra` in the background and then sleeps; waits
    /// until lvsd's loop runs (its control socket exists).
    fn start(extra: &str) -> Self {
        let run = Self::spawn(extra);
        let up = wait_until(Duration::from_secs(10), || run.sock().exists());
        assert!(up, "lvsd did not start:\n{}", run.log());
        run
    }

    fn sock(&self) -> std::path::PathBuf {
        self._dir.path().join("lvsd.sock")
    }

    /// Starts lvsd under `sh` without waiting for it to come up.
    fn spawn(extra: &str) -> Self {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        let dir = tempfile::tempdir().expect("tempdir");
        let cf = dir.path().join("lvs.cf");
        std::fs::write(&cf, CF).expect("write lvs.cf");
        let log = dir.path().join("lvsd.log");
        let sock = dir.path().join("lvsd.sock");
        let script = format!(
            "\"$0\" -t --nodaemon {extra} -c \"$1\" --control \"$2\" --pidfile \"$3\" 2>\"$4\" &\necho $!\nexec sleep 30\n"
        );
        let mut parent = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_lvsd"))
            .arg(&cf)
            .arg(&sock)
            .arg(dir.path().join("lvs.pid"))
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        BufReader::new(parent.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("lvsd's pid");
        let lvsd = Pid::from_raw(line.trim().parse().expect("a pid"));
        Self {
            _dir: dir,
            log,
            parent,
            lvsd,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs lvsd's parent and reaps it; returns when it died.
    fn kill_parent(&mut self) -> Instant {
        self.parent.kill().expect("kill sh");
        let died = Instant::now();
        self.parent.wait().expect("reap sh");
        died
    }

    /// lvsd's exit status, if it exits within `limit` (it is this process's child once its
    /// parent is gone).
    fn wait_lvsd(&self, limit: Duration) -> Option<WaitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            // ECHILD until lvsd is reparented to this subreaper.
            if let Ok(s) = waitpid(self.lvsd, Some(WaitPidFlag::WNOHANG))
                && s != WaitStatus::StillAlive
            {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.parent.kill();
        let _ = self.parent.wait();
        if kill(self.lvsd, None).is_ok() {
            let _ = kill(self.lvsd, Signal::SIGKILL);
            let _ = waitpid(self.lvsd, None);
        }
    }
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_supervised_lvsd_exits_zero_within_a_second_of_its_parents_death_leaving_the_table() {
    let mut run = Run::start("--supervised");
    // Alive while its parent is: several looks at the parent pass without a word.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        waitpid(run.lvsd, Some(WaitPidFlag::WNOHANG)).ok(),
        None,
        "lvsd is not this process's child while its parent lives"
    );
    assert!(
        kill(run.lvsd, None).is_ok(),
        "lvsd died early:\n{}",
        run.log()
    );
    assert!(
        !run.log().contains("is gone"),
        "lvsd took its living parent for gone:\n{}",
        run.log()
    );
    let parent = run.parent.id();
    let died = run.kill_parent();
    let status = run.wait_lvsd(Duration::from_secs(2));
    let took = died.elapsed();
    assert_eq!(
        status,
        Some(WaitStatus::Exited(run.lvsd, 0)),
        "lvsd did not exit 0 within 2 s of its parent's death:\n{}",
        run.log()
    );
    let log = run.log();
    assert!(
        log.contains(&format!(
            "pulse (pid {parent}) is gone; exiting and leaving the IPVS table as it is"
        )),
        "{log}"
    );
    assert!(
        !log.contains("shutting down virtual service"),
        "an orphan must leave the table:\n{log}"
    );
    eprintln!("lvsd exited {took:?} after its parent's death");
}

#[test]
fn without_supervised_lvsd_runs_on_after_its_parent_dies_and_sigterm_still_cleans_up() {
    let mut run = Run::start("");
    run.kill_parent();
    assert_eq!(
        run.wait_lvsd(Duration::from_secs(2)),
        None,
        "lvsd without --supervised exited with its parent:\n{}",
        run.log()
    );
    kill(run.lvsd, Signal::SIGTERM).expect("SIGTERM lvsd");
    assert_eq!(
        run.wait_lvsd(Duration::from_secs(5)),
        Some(WaitStatus::Exited(run.lvsd, 0)),
        "{}",
        run.log()
    );
    let log = run.log();
    assert!(log.contains("shutting down due to signal 15"), "{log}");
    assert!(log.contains("shutting down virtual service web"), "{log}");
}

#[test]
fn supervised_is_refused_for_a_forking_lvsd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cf = dir.path().join("lvs.cf");
    std::fs::write(&cf, CF).expect("write lvs.cf");
    let o = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-t", "--supervised", "-c"])
        .arg(&cf)
        .arg("--control")
        .arg(Path::new(dir.path()).join("s"))
        .output()
        .expect("run lvsd");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("lvs: --supervised needs --nofork or --nodaemon"),
        "{err}"
    );
}

#[test]
fn help_documents_supervised() {
    let o = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("--help")
        .output()
        .expect("run lvsd");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("--supervised"), "{out}");
}

#[test]
fn a_supervised_lvsd_whose_named_pulse_died_before_it_looked_exits_at_once() {
    // pulse passes its own pid: if pulse died between starting lvsd and lvsd's first look,
    // lvsd's parent is already init or a subreaper, and only the named pid tells.
    let mut gone = Command::new("true").spawn().expect("spawn true");
    let dead = gone.id();
    gone.wait().expect("reap");
    let mut run = Run::spawn(&format!("--supervised={dead}"));
    let noticed = wait_until(Duration::from_secs(2), || {
        run.log().contains(&format!("pulse (pid {dead}) is gone"))
    });
    assert!(noticed, "lvsd watched the wrong process:\n{}", run.log());
    // Its exit status: lvsd becomes this subreaper's child once its parent goes.
    run.kill_parent();
    assert_eq!(
        run.wait_lvsd(Duration::from_secs(2)),
        Some(WaitStatus::Exited(run.lvsd, 0)),
        "{}",
        run.log()
    );
}
