//! `pulsectl config push` and `config set --push` between two real directors in network
//! namespaces: each runs pulse with its own lvs.cf and an lvsd in test mode. Root only.
//!
//! The transport is the test seam: lvs.cf's `rsh_command` names a small script that runs the
//! remote command line with `sh -c` inside the partner's namespace (`ip netns exec`), exactly as
//! `ssh HOST LINE` runs LINE with the remote user's shell. Everything after it — quoting, the
//! file on stdin, `pulsectl config receive`, the write and the reload — is the product's.

mod pair_files;

use pair_files::{Pair, text};
use pulse_e2e::netns::{Host, wait_for};
use std::time::Duration;

#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn an_edit_with_push_reaches_the_partner_and_older_or_rejected_files_change_nothing() {
    let p = Pair::new("1", "3");
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

/// `ecmp = 1`: one lvs.cf for the whole group. `pulsectl config push` on d1 sends it to every
/// other `ecmp_director` (d2, and the bed's third host as d3), each of which accepts the very
/// file `primary` names d1 in (it finds itself among the `ecmp_director`s); an edit with
/// `--push` that one director refuses is not written on d1, and the message says who took it.
///
/// Each director has its own file at the same path, as on separate hosts: the seam runs the
/// remote line in the director's network namespace with that director's directory bind-mounted
/// over the shared one (`ip netns exec` gives it a private mount namespace, so nothing leaks).
#[test]
#[ignore = "needs root and network namespaces; tests/run-all.sh runs it as root"]
fn a_push_in_ecmp_mode_reaches_every_other_director_of_the_group() {
    pulse_e2e::netns::require_netns();
    let bed = pulse_e2e::netns::Bed::new(&[Host::D1, Host::D2, Host::Intruder]);
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    let pulsectl = pulse_e2e::pair_bed::binary("PULSE_PULSECTL", "pulsectl");
    let bin_dir = std::path::Path::new(&pulsectl)
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let rsh = dir.path().join("rsh-netns");
    std::fs::write(
        &rsh,
        format!(
            "#!/bin/sh\nhost=$1; shift\ncase $host in\n  192.0.2.12) ns={} own={};;\n  \
             192.0.2.66) ns={} own={};;\n  *) echo \"rsh-netns: unknown host $host\" >&2; exit 255;;\nesac\n\
             PATH={bin_dir}:$PATH exec ip netns exec \"$ns\" sh -c \"mount --bind $own {} && $*\"\n",
            bed.ns(Host::D2),
            dir.path().join("d2").display(),
            bed.ns(Host::Intruder),
            dir.path().join("d3").display(),
            etc.display(),
        ),
    )
    .expect("rsh script");
    std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod rsh");
    let cf = |serial: u32| {
        format!(
            "serial_no = {serial}\nprimary = 192.0.2.11\nrsh_command = {}\nnetwork = direct\n\
             ecmp = 1\necmp_director = 192.0.2.11\necmp_director = 192.0.2.12\n\
             ecmp_director = 192.0.2.66\nvirtual web {{\n     active = 1\n     \
             address = 192.0.2.100 lo\n     port = 80\n     server rs1 {{\n          \
             address = 192.0.2.50\n          active = 1\n     }}\n}}\n",
            rsh.display()
        )
    };
    for d in ["etc", "d2", "d3"] {
        std::fs::create_dir(dir.path().join(d)).expect("mkdir");
        std::fs::write(dir.path().join(d).join("lvs.cf"), cf(1)).expect("lvs.cf");
    }
    let file = etc.join("lvs.cf");
    let name = file.display().to_string();
    let d1 = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--socket", "/nonexistent/pulse.sock"]);
        all.extend(["--remote-socket", "/nonexistent/pulse.sock"]);
        bed.exec(Host::D1, &pulsectl, &all)
    };
    let read = |d: &str| std::fs::read_to_string(dir.path().join(d).join("lvs.cf")).expect("read");

    // 1. The file as it is, with serial 2: both other directors take it.
    std::fs::write(&file, cf(2)).expect("write d1");
    let o = d1(&["config", "push", &name]);
    assert!(o.status.success(), "push: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("pushed to 192.0.2.12, 192.0.2.66 (serial_no 2)"),
        "{}",
        text(&o)
    );
    assert_eq!((read("d2"), read("d3")), (cf(2), cf(2)));

    // 2. d3 is ahead (serial 5): an edit with --push goes to d2, is refused by d3, and is not
    //    written on d1; the message says d2 took it.
    std::fs::write(dir.path().join("d3").join("lvs.cf"), cf(5)).expect("write d3");
    let o = d1(&[
        "config",
        "set",
        &name,
        "virtual.web.server.rs1.weight",
        "3",
        "--push",
    ]);
    assert_eq!(o.status.code(), Some(1), "refused push: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refused: the pushed serial_no 3 is older than this director's 5")
            && err.contains(
                "not changed: 192.0.2.66 refused the edited file; 192.0.2.12 took it already"
            ),
        "{}",
        text(&o)
    );
    assert_eq!(read("etc"), cf(2), "d1 written although d3 refused");
    assert!(
        read("d2").contains("weight = 3"),
        "d2 did not take it: {}",
        read("d2")
    );
    assert_eq!(read("d3"), cf(5), "d3 written although it refused");
}
