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
