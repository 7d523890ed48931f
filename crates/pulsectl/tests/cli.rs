//! `pulsectl config` driven as an operator would: real files, real processes, exit codes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pulsectl");

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/lvs.cf")
        .join(name)
}

const MASTER: &str = "OpenDocCN__netkiller-tut-zh__master_serial31.cf";

/// A scratch directory holding a copy of a corpus file as `lvs.cf`.
fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lvs.cf");
    fs::copy(corpus(name), &path).expect("copy corpus file");
    (dir, path)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run pulsectl")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Lines of `b` that differ from `a` (same line count assumed unless stated).
fn changed_lines(a: &str, b: &str) -> Vec<(usize, String, String)> {
    a.lines()
        .zip(b.lines())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i + 1, x.to_string(), y.to_string()))
        .collect()
}

#[test]
fn check_accepts_every_piranha_corpus_file_and_rejects_keepalived_syntax() {
    let dir = corpus("");
    for entry in fs::read_dir(&dir).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "cf") {
            continue;
        }
        let o = run(&["config", "check", p(&path)]);
        if path.to_string_lossy().contains("keepalived_syntax") {
            assert_eq!(code(&o), 1, "{}", stderr(&o));
            assert!(
                stderr(&o).contains(
                    "keepalived_syntax_NOT_piranha.cf:2:1: error: unknown keyword \"global_defs\""
                ),
                "{}",
                stderr(&o)
            );
        } else {
            assert_eq!(code(&o), 0, "{}: {}", path.display(), stderr(&o));
            assert!(stdout(&o).contains(": valid: serial_no "), "{}", stdout(&o));
        }
    }
}

#[test]
fn check_json_lists_diagnostics() {
    let o = run(&["config", "check", "--format", "json", p(&corpus(MASTER))]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["valid"], true);
    assert_eq!(v["serial_no"], 31);
    assert_eq!(v["errors"], 0);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["ignored-keyword", "ignored-keyword"]);
    assert_eq!(v["diagnostics"][0]["span"]["line"], 8);
}

#[test]
fn check_piranha_turns_extensions_into_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("lvs.cf");
    fs::write(&f, "primary = 192.0.2.11\nbackup = 192.0.2.12\nkeepalive=1\nvirtual w {\n active = 1\n address = 192.0.2.100 eth0:1\n}\n").expect("write");
    let plain = run(&["config", "check", p(&f)]);
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    assert!(stderr(&plain).contains("warning: `=` without blanks around it"));
    let strict = run(&["config", "check", "--piranha", p(&f)]);
    assert_eq!(code(&strict), 1);
    assert!(
        stderr(&strict).contains("lvs.cf:3:10: error: `=` without blanks around it"),
        "{}",
        stderr(&strict)
    );
}

#[test]
fn set_changes_exactly_the_value_line_and_the_serial() {
    let (_d, f) = scratch(MASTER);
    let before = fs::read_to_string(&f).expect("read");
    let o = run(&[
        "config",
        "set",
        p(&f),
        "virtual.LVS-HTTP.server.Web2.weight",
        "7",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(serial_no 31 -> 32)"),
        "{}",
        stderr(&o)
    );
    let after = fs::read_to_string(&f).expect("read");
    assert_eq!(
        changed_lines(&before, &after),
        [
            (1, "serial_no = 31".into(), "serial_no = 32".into()),
            (
                40,
                "         weight = 2".into(),
                "         weight = 7".into()
            )
        ]
    );
    let got = run(&[
        "config",
        "get",
        p(&f),
        "virtual.LVS-HTTP.server.Web2.weight",
    ]);
    assert_eq!(stdout(&got), "7\n");
}

#[test]
fn no_bump_and_dry_run() {
    let (_d, f) = scratch(MASTER);
    let before = fs::read_to_string(&f).expect("read");
    let o = run(&["config", "set", "--dry-run", p(&f), "keepalive", "1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(&f).expect("read"),
        before,
        "dry run wrote the file"
    );
    let diff = stdout(&o);
    assert!(
        diff.contains("-serial_no = 31\n+serial_no = 32\n")
            && diff.contains("-keepalive = 2\n+keepalive = 1\n"),
        "{diff}"
    );
    // The reload's view of it, as `config diff` says it.
    assert!(
        stderr(&o).contains("what a reload would change:\n  ~ keepalive: 2 -> 1\n"),
        "{}",
        stderr(&o)
    );
    let o = run(&["config", "set", "--no-bump", p(&f), "keepalive", "1"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        changed_lines(&before, &fs::read_to_string(&f).expect("read")),
        [(10, "keepalive = 2".into(), "keepalive = 1".into())]
    );
}

#[test]
fn invalid_edits_are_refused_and_the_file_is_untouched() {
    let (_d, f) = scratch(MASTER);
    let before = fs::read(&f).expect("read");
    let mtime = fs::metadata(&f).expect("stat").mtime_nsec();
    for (key, value, expect) in [
        (
            "virtual.LVS-HTTP.scheduler",
            "wlcx",
            "unknown scheduler \"wlcx\"",
        ),
        (
            "keepalive",
            "9",
            "`deadtime` (6s) must be greater than `keepalive` (9s)",
        ),
        (
            "virtual.LVS-HTTP.address",
            "172.16.0.1",
            "expected two words",
        ),
        (
            "virtual.LVS-HTTP.schedular",
            "rr",
            "did you mean \"scheduler\"?",
        ),
        ("virtual.nope.port", "1", "no `virtual nope` block"),
        (
            "primary",
            "172.16.0.3",
            "`primary` and `backup` are both 172.16.0.3",
        ),
    ] {
        let o = run(&["config", "set", p(&f), key, value]);
        assert_ne!(code(&o), 0, "{key} = {value} was accepted");
        assert!(stderr(&o).contains(expect), "{key}: {}", stderr(&o));
    }
    assert_eq!(fs::read(&f).expect("read"), before);
    assert_eq!(fs::metadata(&f).expect("stat").mtime_nsec(), mtime);
    let leftovers: Vec<_> = fs::read_dir(f.parent().expect("dir"))
        .expect("ls")
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");
}

#[test]
fn add_and_rm_blocks_with_file_indentation() {
    let (_d, f) = scratch(MASTER);
    let o = run(&[
        "config",
        "add",
        p(&f),
        "virtual.LVS-HTTP.server",
        "Web5",
        "address=172.16.0.9",
        "active=1",
        "weight=3",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = fs::read_to_string(&f).expect("read");
    assert!(text.contains("     }\n     server Web5 {\n         address = 172.16.0.9\n         active = 1\n         weight = 3\n     }\n}\n"), "{text}");
    assert!(text.starts_with("serial_no = 32\n"), "one add is one bump");
    let o = run(&["config", "rm", p(&f), "virtual.LVS-HTTP.server.Web4"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = fs::read_to_string(&f).expect("read");
    assert!(!text.contains("Web4") && text.starts_with("serial_no = 33\n"));
    let o = run(&["config", "add", p(&f), "virtual", "LVS-HTTP"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("`virtual LVS-HTTP` already exists"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "config",
        "add",
        p(&f),
        "virtual",
        "web2",
        "active=0",
        "address=172.16.0.20 eth0:2",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        fs::read_to_string(&f).expect("read").ends_with(
            "}\nvirtual web2 {\n     active = 0\n     address = 172.16.0.20 eth0:2\n}\n\n"
        )
    );
}

#[test]
fn get_prints_values_defaults_and_blocks() {
    let f = corpus(MASTER);
    assert_eq!(stdout(&run(&["config", "get", p(&f), "deadtime"])), "6\n");
    let o = run(&["config", "get", p(&f), "virtual.LVS-HTTP.persistent"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "0\n"));
    assert!(stderr(&o).contains("not set"));
    let o = run(&["config", "get", p(&f), "virtual.LVS-HTTP.address"]);
    assert_eq!(stdout(&o), "172.16.0.1 eth0:1\n");
    let o = run(&["config", "get", p(&f), "virtual.LVS-HTTP.server.Web1"]);
    assert!(stdout(&o).starts_with("     server Web1 {\n") && stdout(&o).ends_with("     }\n"));
}

#[test]
fn bump_inserts_serial_when_absent() {
    let (_d, f) = scratch("OpenDocCN__netkiller-tut-zh__mysql_fragment.cf");
    let before = fs::read_to_string(&f).expect("read");
    assert_eq!(code(&run(&["config", "bump", p(&f)])), 0);
    assert_eq!(
        fs::read_to_string(&f).expect("read"),
        format!("serial_no = 1\n{before}")
    );
    assert_eq!(code(&run(&["config", "bump", p(&f)])), 0);
    assert!(
        fs::read_to_string(&f)
            .expect("read")
            .starts_with("serial_no = 2\n")
    );
}

#[test]
fn diff_reports_what_a_reload_changes() {
    let o = run(&[
        "config",
        "diff",
        p(&corpus(MASTER)),
        p(&corpus("OpenDocCN__netkiller-tut-zh__slave_serial30.cf")),
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        "~ serial_no: 31 -> 30\n~ virtual.LVS-HTTP.server.Web4.weight: 0 -> 3\n"
    );
    let o = run(&["config", "diff", p(&corpus(MASTER)), p(&corpus(MASTER))]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, ""));
    let o = run(&[
        "config",
        "diff",
        "--format",
        "json",
        p(&corpus(MASTER)),
        p(&corpus("OpenDocCN__netkiller-tut-zh__slave_serial30.cf")),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["changes"][1]["path"],
        "virtual.LVS-HTTP.server.Web4.weight"
    );
}

#[test]
fn writes_keep_mode_and_owner() {
    let (_d, f) = scratch(MASTER);
    fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).expect("chmod");
    let root = nix_is_root();
    if root {
        // piranha's RPM installs lvs.cf as root:piranha (gid 60), mode 0664 (docs/reference/piranha.md §9).
        std::os::unix::fs::chown(&f, Some(0), Some(60)).expect("chown");
    }
    assert_eq!(code(&run(&["config", "bump", p(&f)])), 0);
    let m = fs::metadata(&f).expect("stat");
    assert_eq!(m.mode() & 0o7777, 0o640);
    if root {
        assert_eq!((m.uid(), m.gid()), (0, 60));
    }
}

fn nix_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn concurrent_editors_never_lose_a_bump() {
    let (_d, f) = scratch(MASTER);
    let (editors, rounds) = (6, 5);
    let handles: Vec<_> = (0..editors)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    let o = run(&["config", "bump", p(&f)]);
                    assert_eq!(code(&o), 0, "{}", stderr(&o));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("editor thread");
    }
    let text = fs::read_to_string(&f).expect("read");
    assert!(
        text.starts_with(&format!("serial_no = {}\n", 31 + editors * rounds)),
        "{}",
        text.lines().next().unwrap_or("")
    );
}

#[test]
fn hostile_files_get_diagnostics_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe bad utf8\n".to_vec(),
        b"virtual a {\n".repeat(500),
        b"}\n".repeat(100),
        b"\"".to_vec(),
        b"port = 99999999999999999999999\n".to_vec(),
        b"\0\0\0".to_vec(),
        vec![b'x'; 100_000],
        b"\r\r\r=\r".to_vec(),
        "virtual \u{1F600} {\n address = \u{e9} eth0\n}\n"
            .as_bytes()
            .to_vec(),
    ];
    for (i, bytes) in inputs.iter().enumerate() {
        let f = dir.path().join(format!("in{i}.cf"));
        fs::write(&f, bytes).expect("write");
        for args in [
            vec!["config", "check", p(&f)],
            vec!["config", "check", "--format", "json", p(&f)],
            vec!["config", "set", p(&f), "keepalive", "3"],
            vec!["config", "get", p(&f), "virtual.a.port"],
            vec!["config", "bump", p(&f)],
            vec!["config", "diff", p(&f), p(&f)],
        ] {
            let o = run(&args);
            let c = code(&o);
            assert!((0..=2).contains(&c), "input {i} {args:?}: exit {c}");
            assert!(
                !stderr(&o).contains("panicked"),
                "input {i} {args:?}: {}",
                stderr(&o)
            );
        }
    }
    // The edits above went through on the file that is not UTF-8 and kept its bytes.
    let edited = fs::read(dir.path().join("in1.cf")).expect("read");
    assert!(
        edited.windows(13).any(|w| w == b"\n\xff\xfe bad utf8\n"),
        "{:?}",
        String::from_utf8_lossy(&edited)
    );
    let fresh = dir.path().join("fresh.cf");
    fs::write(&fresh, &inputs[1]).expect("write");
    let o = run(&["config", "check", p(&fresh)]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("fresh.cf:1:1: error: byte 0xFF is not UTF-8 text"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("unknown keyword \"\\xFF\\xFE\""),
        "{}",
        stderr(&o)
    );
    let missing = dir.path().join("missing.cf");
    let o = run(&["config", "check", p(&missing)]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        format!(
            "pulsectl: error: failed to open {}: no such file or directory\n",
            missing.display()
        )
    );
    // Opening a directory works; reading it does not, and the message says why.
    let o = run(&["config", "check", p(dir.path())]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        format!(
            "pulsectl: error: cannot read {}: is a directory\n",
            dir.path().display()
        )
    );
}

/// piranha reads bytes: a Latin-1 comment is nothing to it, so it is a warning here, and an
/// edit writes every other byte back exactly as it was.
#[test]
fn a_latin1_comment_is_a_warning_and_survives_an_edit_byte_for_byte() {
    let (_dir, f) = scratch(MASTER);
    let mut original = b"# r\xe9seau de production (\xa9 ACME)\n".to_vec();
    original.extend(fs::read(&f).expect("read"));
    fs::write(&f, &original).expect("write");

    let o = run(&["config", "check", p(&f)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lvs.cf:1:4: warning: byte 0xE9 in a comment is not UTF-8"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("1 | # r\\xE9seau"), "{}", stderr(&o));

    let o = run(&["config", "set", p(&f), "keepalive", "4"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let edited = fs::read(&f).expect("read");
    // Only the keepalive and serial_no lines differ; every other byte is the original's.
    let lines =
        |b: &[u8]| -> Vec<Vec<u8>> { b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect() };
    let (a, b) = (lines(&original), lines(&edited));
    assert_eq!(a.len(), b.len());
    let differing: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(_, y)| String::from_utf8_lossy(y).into_owned())
        .collect();
    assert_eq!(differing.len(), 2, "{differing:?}");
    assert!(
        differing.iter().any(|l| l.starts_with("serial_no = 32")),
        "{differing:?}"
    );
    assert!(
        differing.iter().any(|l| l.trim() == "keepalive = 4"),
        "{differing:?}"
    );
    assert_eq!(b[0], a[0]);
    assert_eq!(b[0], b"# r\xe9seau de production (\xa9 ACME)");
}

#[test]
fn killing_an_editor_mid_write_leaves_the_old_or_the_new_file() {
    // A big file so that a kill lands inside the write often enough to matter.
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("lvs.cf");
    let mut text = String::from("serial_no = 1\nprimary = 192.0.2.11\nbackup = 192.0.2.12\n");
    for v in 0..150 {
        text.push_str(&format!(
            "virtual v{v} {{\n     active = 1\n     address = 10.0.{v}.1 eth0:1\n"
        ));
        for s in 0..20 {
            text.push_str(&format!("     server s{s} {{\n         address = 10.1.{v}.{s}\n         active = 1\n         weight = 1\n     }}\n"));
        }
        text.push_str("}\n");
    }
    fs::write(&f, &text).expect("write");
    let mut serial = 1;
    for round in 0..40u64 {
        let mut child = Command::new(BIN)
            .args([
                "config",
                "set",
                p(&f),
                "virtual.v7.server.s3.weight",
                &round.to_string(),
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // Deterministic spread of kill times from 0 to 200 ms (a debug-build edit of this file takes ~120 ms).
        std::thread::sleep(std::time::Duration::from_micros((round * 5077) % 200_000));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        let now = fs::read_to_string(&f).expect("read");
        let parsed = pulse_lvscf_parse(&now);
        assert!(parsed.0, "round {round} ({status}): the file is broken");
        assert!(
            parsed.1 == serial || parsed.1 == serial + 1,
            "round {round}: serial {} after {serial}",
            parsed.1
        );
        serial = parsed.1;
    }
    eprintln!("edits that completed: {} of 40", serial - 1);
    // The lock died with its holders: a normal edit still goes through at once.
    let o = run(&["config", "bump", p(&f)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// (valid, serial_no) of a file, via `pulsectl config check --format json`.
fn pulse_lvscf_parse(text: &str) -> (bool, i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("copy.cf");
    fs::write(&f, text).expect("write");
    let o = run(&["config", "check", "--format", "json", p(&f)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    (v["valid"] == true, v["serial_no"].as_i64().unwrap_or(-1))
}

#[test]
fn show_prints_the_effective_model() {
    let o = run(&[
        "config",
        "show",
        p(&corpus("ssocopsacc__piranha__sample.cf")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["heartbeat_port"], 1050);
    assert_eq!(v["keepalive"], "6");
    assert_eq!(v["virtuals"][0]["port"], 80); // `port = http`
    assert_eq!(v["virtuals"][0]["pmask"], serde_json::Value::Null); // 255.255.255.255 = none
    assert_eq!(v["virtuals"][1]["servers"][0]["port"], 21);
    assert_eq!(
        v["failovers"][0]["start_cmd"],
        "/etc/rc.d/init.d/httpd start"
    );
    let bad = run(&[
        "config",
        "show",
        p(&corpus(
            "vincentmli__proxyos__keepalived_syntax_NOT_piranha.cf",
        )),
    ]);
    assert_eq!((code(&bad), bad.stdout.is_empty()), (1, true));
}

#[test]
fn oversized_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("huge.cf");
    let file = fs::File::create(&f).expect("create");
    file.set_len((64 << 20) + 1).expect("sparse file");
    for args in [
        vec!["config", "check", p(&f)],
        vec!["config", "bump", p(&f)],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(stderr(&o).contains("larger than 64 MiB"), "{}", stderr(&o));
    }
}

#[test]
fn status_without_a_running_pulse_says_so() {
    let o = run(&["status", "--socket", "/nonexistent/pulse.sock"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot reach pulse at /nonexistent/pulse.sock"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn diff_sees_a_changed_or_removed_heartbeat_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = fs::read_to_string(corpus(MASTER)).expect("read");
    let old = dir.path().join("old.cf");
    let changed = dir.path().join("changed.cf");
    let removed = dir.path().join("removed.cf");
    fs::write(&old, format!("heartbeat_link = 10.0.0.1 10.0.0.2\n{base}")).expect("write");
    fs::write(
        &changed,
        format!("heartbeat_link = 10.0.0.1 10.0.0.9\n{base}"),
    )
    .expect("write");
    fs::write(&removed, &base).expect("write");
    let o = run(&["config", "diff", p(&old), p(&changed)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "~ heartbeat_links: 10.0.0.1 10.0.0.2 -> 10.0.0.1 10.0.0.9\n"
    );
    let o = run(&["config", "diff", p(&old), p(&removed)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "~ heartbeat_links: 10.0.0.1 10.0.0.2 -> (none)\n"
    );
    let o = run(&["config", "diff", p(&old), p(&old)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn serial_no_limits_are_out_of_range_not_not_a_number() {
    let (_dir, f) = scratch(MASTER);
    // Setting the serial is the serial change: it is written as given, not bumped past it.
    let o = run(&["config", "set", p(&f), "serial_no", "9223372036854775807"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        fs::read_to_string(&f)
            .expect("read")
            .starts_with("serial_no = 9223372036854775807\n")
    );
    let o = run(&["config", "set", p(&f), "keepalive", "3"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot be bumped: serial numbers go up to 9223372036854775807"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("not a number"), "{}", stderr(&o));
    let o = run(&["config", "set", p(&f), "serial_no", "99999999999999999999"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("`serial_no` must be between -9223372036854775808 and 9223372036854775807, found 99999999999999999999"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "config",
        "set",
        p(&f),
        "--no-bump",
        "virtual.LVS-HTTP.port",
        "99999999999999999999",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`port` must be between 0 and 65535, found 99999999999999999999"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn keywords_lists_the_table_with_defaults_and_origins() {
    let o = run(&["config", "keywords", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).expect("json");
    let find = |scope: &str, name: &str| {
        rows.iter()
            .find(|r| r["scope"] == scope && r["name"] == name)
            .unwrap_or_else(|| panic!("{scope} {name} missing"))
            .clone()
    };
    assert_eq!(find("server", "weight")["default"], "1");
    assert_eq!(find("global", "keepalive")["origin"], "piranha");
    assert_eq!(find("global", "heartbeat_key")["origin"], "Pulse extension");
    assert_eq!(find("virtual", "send")["value"], "a double-quoted string");
    assert!(rows.len() > 50, "{} keywords", rows.len());
}

#[test]
fn check_summarises_failover_services_with_service_fos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cf = dir.path().join("lvs.cf");
    fs::write(
        &cf,
        "service = fos\nprimary = 192.0.2.11\nbackup = 192.0.2.12\nbackup_active = 1\n\
         failover web {\n active = 1\n address = 192.0.2.100 eth0:1\n port = 80\n\
         \x20start_cmd = \"/usr/bin/systemctl start haproxy\"\n stop_cmd = \"/usr/bin/systemctl stop haproxy\"\n}\n\
         failover dns {\n active = 0\n address = 192.0.2.101 eth0:2\n port = 53\n}\n",
    )
    .expect("write");
    let o = run(&["config", "check", p(&cf)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("service = fos, 1 of 2 failover services active"),
        "{}",
        stdout(&o)
    );
}
