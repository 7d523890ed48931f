//! `pulsectl config push` and `config set --push` between two real directors in network
//! namespaces: each runs pulse with its own lvs.cf and an lvsd in test mode. Root only.
//!
//! The transport is the test seam: lvs.cf's `rsh_command` names a small script that runs the
//! remote command line with `sh -c` inside the partner's namespace (`ip netns exec`), exactly as
//! `ssh HOST LINE` runs LINE with the remote user's shell. Everything after it — quoting, the
//! file on stdin, `pulsectl config receive`, the write and the reload — is the product's.

use pulse_control::{LvsStatus, Request, Response, Status};
use pulse_e2e::netns::{Bed, Host, require_netns, wait_for};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const KEY: &str = "3f9a0c4e7b1d2a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\n";

struct Pair {
    bed: Bed,
    dir: tempfile::TempDir,
    pulsectl: String,
    _web: pulse_e2e::lvs_bed::Server,
}

impl Pair {
    fn new() -> Self {
        require_netns();
        let mut bed = Bed::new(&[Host::D1, Host::D2, Host::Client]);
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("heartbeat.key");
        std::fs::write(&key, KEY).expect("key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        let pulsectl = pulse_e2e::pair_bed::binary("PULSE_PULSECTL", "pulsectl");
        let bin_dir = Path::new(&pulsectl)
            .parent()
            .expect("bin dir")
            .display()
            .to_string();
        // The seam: `rsh-netns HOST LINE…` runs LINE in HOST's namespace with pulsectl on PATH.
        let rsh = dir.path().join("rsh-netns");
        std::fs::write(
            &rsh,
            format!(
                "#!/bin/sh\nhost=$1; shift\ncase $host in\n  192.0.2.11) ns={};;\n  192.0.2.12) ns={};;\n  *) echo \"rsh-netns: unknown host $host\" >&2; exit 255;;\nesac\nPATH={bin_dir}:$PATH exec ip netns exec \"$ns\" sh -c \"$*\"\n",
                bed.ns(Host::D1),
                bed.ns(Host::D2)
            ),
        )
        .expect("rsh script");
        std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod rsh");
        let cf = format!(
            "serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n\
             heartbeat_key = {}\nrsh_command = {}\nkeepalive = 1\ndeadtime = 3\nnetwork = direct\n\
             virtual web {{\n     active = 1\n     address = 192.0.2.100 eth0:1\n     port = 80\n\
             \x20    timeout = 1\n     reentry = 1\n     server rs1 {{\n          address = 192.0.2.50\n\
             \x20         active = 1\n          weight = 2\n     }}\n}}\n",
            key.display(),
            rsh.display()
        );
        for h in [Host::D1, Host::D2] {
            std::fs::write(dir.path().join(format!("{h:?}.cf")), &cf).expect("lvs.cf");
        }
        let web = pulse_e2e::lvs_bed::serve_tcp_in(
            &bed.ns(Host::Client),
            "192.0.2.50:80".parse().expect("address"),
        );
        let lvsd = pulse_e2e::lvs_bed::test_mode_lvsd(dir.path());
        for h in [Host::D1, Host::D2] {
            let cf = dir.path().join(format!("{h:?}.cf"));
            bed.spawn_pulse(
                env!("CARGO_BIN_EXE_pulse"),
                h,
                &cf,
                dir.path(),
                &["--lvsd", &lvsd],
            );
        }
        Self {
            bed,
            dir,
            pulsectl,
            _web: web,
        }
    }

    fn cf(&self, h: Host) -> PathBuf {
        self.dir.path().join(format!("{h:?}.cf"))
    }

    fn bytes(&self, h: Host) -> Vec<u8> {
        std::fs::read(self.cf(h)).expect("read lvs.cf")
    }

    fn sock(&self, h: Host) -> String {
        self.dir
            .path()
            .join(format!("{h:?}.sock"))
            .display()
            .to_string()
    }

    fn status(&self, h: Host) -> Option<Status> {
        match pulse_control::call(
            Path::new(&self.sock(h)),
            &Request::Status,
            Duration::from_secs(2),
        ) {
            Ok(Response::Ok { status }) => Some(*status),
            _ => None,
        }
    }

    fn lvs(&self, h: Host) -> Option<LvsStatus> {
        let sock = self.dir.path().join(format!("{h:?}-lvsd.sock"));
        match pulse_control::call(&sock, &Request::Lvs, Duration::from_secs(2)) {
            Ok(Response::Lvs { lvs }) => Some(*lvs),
            _ => None,
        }
    }

    fn logs(&self) -> String {
        [Host::D1, Host::D2]
            .iter()
            .map(|h| {
                let log = self.dir.path().join(format!("{h:?}.log"));
                format!(
                    "--- {h:?}\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .collect()
    }

    /// `pulsectl ARGS… --socket/--remote-file/--remote-socket` on d1 towards d2.
    fn pulsectl_on_d1(&self, args: &[&str]) -> Output {
        let (remote_file, sock, remote_sock) = (
            self.cf(Host::D2).display().to_string(),
            self.sock(Host::D1),
            self.sock(Host::D2),
        );
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--remote-file",
            &remote_file,
            "--socket",
            &sock,
            "--remote-socket",
            &remote_sock,
        ]);
        self.bed.exec(Host::D1, &self.pulsectl, &all)
    }

    /// Both pulses run `serial` (and their lvsds have loaded it) with rs1 at `weight`.
    fn wait_in_use(&self, serial: i64, weight: i32) {
        for h in [Host::D1, Host::D2] {
            let ok = wait_for(Duration::from_secs(10), || {
                self.status(h).is_some_and(|s| s.config.serial_no == serial)
                    && self.lvs(h).is_some_and(|l| {
                        l.serial_no == serial
                            && rs1(&l).is_some_and(|s| {
                                s.weight == weight && s.kernel_weight == Some(weight)
                            })
                    })
            });
            assert!(
                ok.is_some(),
                "{h:?} not running serial_no {serial} with weight {weight}: pulse {:?}, lvsd {:?}\n{}",
                self.status(h).map(|s| s.config),
                self.lvs(h).map(|l| (l.serial_no, rs1(&l))),
                self.logs()
            );
        }
    }
}

fn rs1(l: &LvsStatus) -> Option<pulse_control::ServerStatus> {
    l.services.first().and_then(|v| v.servers.first()).cloned()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn an_edit_with_push_reaches_the_partner_and_older_or_rejected_files_change_nothing() {
    let p = Pair::new();
    p.wait_in_use(1, 2);

    // 1. An edit on d1 with --push: d2 gets the same bytes, both reload.
    let d1 = p.cf(Host::D1).display().to_string();
    let o = p.pulsectl_on_d1(&[
        "config",
        "set",
        &d1,
        "virtual.web.server.rs1.weight",
        "5",
        "--push",
    ]);
    assert!(o.status.success(), "set --push: {}\n{}", text(&o), p.logs());
    let pushed = p.bytes(Host::D1);
    assert!(String::from_utf8_lossy(&pushed).contains("serial_no = 2\n"));
    assert_eq!(p.bytes(Host::D2), pushed, "d2's lvs.cf differs from d1's");
    p.wait_in_use(2, 5);
    let same = wait_for(Duration::from_secs(5), || {
        p.status(Host::D1).is_some_and(|s| {
            !s.partner.config_mismatch && s.partner.config.is_some_and(|c| c.serial_no == 2)
        })
    });
    assert!(
        same.is_some(),
        "d1 does not see d2 on serial_no 2: {:?}",
        p.status(Host::D1)
    );

    // 2. An older file pushed (d1's file set back to serial_no 1 by hand): refused with the
    //    reason, nothing written on d2.
    let older = String::from_utf8_lossy(&pushed)
        .replace("serial_no = 2\n", "serial_no = 1\n")
        .replace("weight = 5", "weight = 7");
    std::fs::write(p.cf(Host::D1), &older).expect("write d1");
    let o = p.pulsectl_on_d1(&["config", "push", &d1]);
    assert_eq!(o.status.code(), Some(1), "older push: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refused: the pushed serial_no 1 is older than this director's 2"),
        "{}",
        text(&o)
    );
    assert_eq!(p.bytes(Host::D2), pushed, "d2 written by a refused push");
    // Equal serial, other content: refused too.
    std::fs::write(
        p.cf(Host::D1),
        older.replace("serial_no = 1\n", "serial_no = 2\n"),
    )
    .expect("write d1");
    let o = p.pulsectl_on_d1(&["config", "push", &d1]);
    assert_eq!(o.status.code(), Some(1), "equal push: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("has this director's serial_no 2 but other content"),
        "{}",
        text(&o)
    );
    assert_eq!(p.bytes(Host::D2), pushed, "d2 written by a refused push");
    std::fs::write(p.cf(Host::D1), &pushed).expect("restore d1");

    // 3. A file the partner cannot use (the backup address moved to one d2 does not hold):
    //    valid on d1, refused by d2, and then not written on d1 either.
    let o = p.pulsectl_on_d1(&["config", "set", &d1, "backup", "192.0.2.99", "--push"]);
    assert_eq!(o.status.code(), Some(1), "rejected push: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("partner 192.0.2.12:")
            && err.contains("holds neither the primary")
            && err.contains("nothing changed on either director"),
        "{}",
        text(&o)
    );
    assert_eq!(p.bytes(Host::D1), pushed, "d1 written although d2 refused");
    assert_eq!(p.bytes(Host::D2), pushed, "d2 written although it refused");
    // Both still run serial 2.
    p.wait_in_use(2, 5);
}
