//! Exactly one lvsd per director, whatever killed pulse (the SysV or by-hand case: no systemd
//! control group kills the whole group). One director alone in a network namespace runs pulse,
//! which starts lvsd in test mode (`-t`: checks run against a real TCP server, the kernel's
//! table is not touched); lvsd's status stands in for the IPVS table. Root only; skipped with a
//! printed reason elsewhere.

use pulse_control::{LvsStatus, Request, Response};
use pulse_e2e::netns::{Bed, Host, holds_throughout, require_netns, signal, wait_for};
use std::path::PathBuf;
use std::time::Duration;

struct Director {
    bed: Bed,
    dir: tempfile::TempDir,
    cf: PathBuf,
    lvsd: String,
    _web: pulse_e2e::lvs_bed::Server,
}

impl Director {
    fn new() -> Self {
        require_netns();
        let bed = Bed::new(&[Host::D1, Host::Client]);
        let dir = tempfile::tempdir().expect("tempdir");
        let cf = dir.path().join("lvs.cf");
        // No partner: the primary goes active after deadtime, as piranha does.
        std::fs::write(
            &cf,
            "serial_no = 1\nprimary = 192.0.2.11\nbackup_active = 0\nkeepalive = 1\ndeadtime = 2\n\
             network = direct\nvirtual web {\n     active = 1\n     address = 192.0.2.100 eth0:1\n\
             \x20    port = 80\n     timeout = 1\n     server rs1 {\n          address = 192.0.2.50\n\
             \x20         active = 1\n          weight = 2\n     }\n}\n",
        )
        .expect("write lvs.cf");
        let web = pulse_e2e::lvs_bed::serve_tcp_in(
            &bed.ns(Host::Client),
            "192.0.2.50:80".parse().expect("address"),
        );
        let lvsd = pulse_e2e::lvs_bed::test_mode_lvsd(dir.path());
        Self {
            bed,
            lvsd,
            dir,
            cf,
            _web: web,
        }
    }

    fn start_pulse(&mut self) -> u32 {
        let (cf, dir, lvsd) = (
            self.cf.clone(),
            self.dir.path().to_path_buf(),
            self.lvsd.clone(),
        );
        self.bed.spawn_pulse(
            env!("CARGO_BIN_EXE_pulse"),
            Host::D1,
            &cf,
            &dir,
            &["--lvsd", &lvsd],
        )
    }

    /// The lvsd processes in the director's namespace.
    fn lvsds(&self) -> Vec<u32> {
        processes_in(&self.bed.ns(Host::D1), "lvsd")
    }

    fn pulses(&self) -> Vec<u32> {
        processes_in(&self.bed.ns(Host::D1), "pulse")
    }

    /// Does lvsd answer on its control socket (its loop runs: past `main`, where it records
    /// its parent)?
    fn lvsd_answers(&self) -> bool {
        let socket = self.dir.path().join("D1-lvsd.sock");
        matches!(
            pulse_control::call(&socket, &Request::Lvs, Duration::from_secs(2)),
            Ok(Response::Lvs { .. })
        )
    }

    /// lvsd's table, once every server has been checked: (service, server, weight) rows.
    fn table(&self) -> Option<Vec<String>> {
        let socket = self.dir.path().join("D1-lvsd.sock");
        let Ok(Response::Lvs { lvs }) =
            pulse_control::call(&socket, &Request::Lvs, Duration::from_secs(2))
        else {
            return None;
        };
        rows(&lvs)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("D1.log")).unwrap_or_default()
    }
}

fn rows(lvs: &LvsStatus) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in &lvs.services {
        for r in &s.servers {
            if r.health == "unknown" {
                return None;
            }
            out.push(format!(
                "{} {} {} {}",
                s.key,
                r.address,
                r.health,
                r.kernel_weight.map_or(-1, i64::from)
            ));
        }
    }
    Some(out)
}

/// Pids of the processes in namespace `ns` whose command name is `comm`.
fn processes_in(ns: &str, comm: &str) -> Vec<u32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.split_once('(')
                    .and_then(|(_, r)| r.rsplit_once(')'))
                    .is_some_and(|(c, rest)| c == comm && !rest.trim_start().starts_with('Z'))
            })
        })
        .collect()
}

fn wait_table(d: &Director) -> Vec<String> {
    let mut table = None;
    wait_for(Duration::from_secs(10), || {
        table = d.table();
        table.is_some()
    });
    table.unwrap_or_else(|| panic!("lvsd's table never settled\n{}", d.log()))
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_restarted_pulse_replaces_the_orphaned_lvsd_and_exactly_one_runs() {
    let mut d = Director::new();
    let pulse = d.start_pulse();
    assert!(
        wait_for(Duration::from_secs(5), || d.lvsds().len() == 1).is_some(),
        "lvsd started\n{}",
        d.log()
    );
    let before = wait_table(&d);
    assert_eq!(before.len(), 1, "{before:?}");
    let first = d.lvsds();
    signal(pulse, "KILL");
    // Restart at once, before the orphan notices its pulse is gone.
    let pulse = d.start_pulse();
    assert!(
        wait_for(Duration::from_secs(5), || {
            let l = d.lvsds();
            l.len() == 1 && l != first
        })
        .is_some(),
        "one new lvsd, the orphan gone: {:?} (was {first:?})\n{}",
        d.lvsds(),
        d.log()
    );
    // Stays one, the same: nothing else starts a second (polled throughout, not only at the
    // end).
    let second = d.lvsds();
    let one = holds_throughout(Duration::from_secs(2), || d.lvsds() == second);
    assert!(
        one.is_ok(),
        "{one:?}: lvsds {:?}, was {second:?}\n{}",
        d.lvsds(),
        d.log()
    );
    assert_eq!(wait_table(&d), before, "the table is the same");
    signal(pulse, "TERM");
    assert!(
        wait_for(Duration::from_secs(15), || d.pulses().is_empty()
            && d.lvsds().is_empty())
        .is_some(),
        "SIGTERM leaves no pulse or lvsd: pulse {:?}, lvsd {:?}\n{}",
        d.pulses(),
        d.lvsds(),
        d.log()
    );
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn an_lvsd_whose_pulse_was_killed_exits_within_two_seconds() {
    let mut d = Director::new();
    let pulse = d.start_pulse();
    // Running, not merely exec'd: lvsd records its parent's pid early in `main`, and a pulse
    // killed before that is a parent it never had (a narrower case this test is not about).
    assert!(
        wait_for(Duration::from_secs(5), || d.lvsds().len() == 1
            && d.lvsd_answers())
        .is_some(),
        "lvsd started\n{}",
        d.log()
    );
    signal(pulse, "KILL");
    let gone = wait_for(Duration::from_secs(5), || d.lvsds().is_empty());
    let gone = gone
        .unwrap_or_else(|| panic!("the orphaned lvsd still runs: {:?}\n{}", d.lvsds(), d.log()));
    // The documented bound (docs/lvsd.md): lvsd checks its parent every 500 ms.
    assert!(gone <= Duration::from_secs(2), "gone after {gone:?}");
}
