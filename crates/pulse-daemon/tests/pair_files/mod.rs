//! The directors of `push.rs` and `console.rs`: two real pulses in network namespaces, each
//! with its own lvs.cf (as on two hosts) and an lvsd in test mode, a web server on the client
//! host as rs1, and the `rsh_command` seam (see `push.rs`).
#![allow(dead_code)]

use pulse_control::{LvsStatus, Request, Response, Status};
use pulse_e2e::netns::{Bed, Host, require_netns, wait_for};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const KEY: &str = "3f9a0c4e7b1d2a5f6e8c9b0a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e\n";

pub(crate) struct Pair {
    pub(crate) pids: [u32; 2],
    pub(crate) bed: Bed,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) pulsectl: String,
    _web: pulse_e2e::lvs_bed::Server,
}

impl Pair {
    /// `keepalive`/`deadtime` as written in lvs.cf.
    pub(crate) fn new(keepalive: &str, deadtime: &str) -> Self {
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
             heartbeat_key = {}\nrsh_command = {}\nkeepalive = {keepalive}\ndeadtime = {deadtime}\nnetwork = direct\n\
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
        let mut pids = [0; 2];
        for (i, h) in [Host::D1, Host::D2].into_iter().enumerate() {
            let cf = dir.path().join(format!("{h:?}.cf"));
            pids[i] = bed.spawn_pulse(
                env!("CARGO_BIN_EXE_pulse"),
                h,
                &cf,
                dir.path(),
                &["--lvsd", &lvsd],
            );
        }
        Self {
            pids,
            bed,
            dir,
            pulsectl,
            _web: web,
        }
    }

    pub(crate) fn cf(&self, h: Host) -> PathBuf {
        self.dir.path().join(format!("{h:?}.cf"))
    }

    pub(crate) fn bytes(&self, h: Host) -> Vec<u8> {
        std::fs::read(self.cf(h)).expect("read lvs.cf")
    }

    pub(crate) fn sock(&self, h: Host) -> String {
        self.dir
            .path()
            .join(format!("{h:?}.sock"))
            .display()
            .to_string()
    }

    pub(crate) fn status(&self, h: Host) -> Option<Status> {
        match pulse_control::call(
            Path::new(&self.sock(h)),
            &Request::Status,
            Duration::from_secs(2),
        ) {
            Ok(Response::Ok { status }) => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn lvs(&self, h: Host) -> Option<LvsStatus> {
        let sock = self.dir.path().join(format!("{h:?}-lvsd.sock"));
        match pulse_control::call(&sock, &Request::Lvs, Duration::from_secs(2)) {
            Ok(Response::Lvs { lvs }) => Some(*lvs),
            _ => None,
        }
    }

    pub(crate) fn logs(&self) -> String {
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
    pub(crate) fn pulsectl_on_d1(&self, args: &[&str]) -> Output {
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
    pub(crate) fn wait_in_use(&self, serial: i64, weight: i32) {
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

pub(crate) fn rs1(l: &LvsStatus) -> Option<pulse_control::ServerStatus> {
    l.services.first().and_then(|v| v.servers.first()).cloned()
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
