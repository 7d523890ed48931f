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
