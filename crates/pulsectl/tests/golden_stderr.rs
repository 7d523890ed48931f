//! Golden diagnostics: `pulsectl config check NAME.cf`, run in the fixture directory, must print
//! exactly `NAME.stderr` on stderr (and exit 0 for `warn-*` fixtures, 1 for the others). Files
//! named `warn-*` are also checked with `--piranha` against `NAME.piranha.stderr`, where every
//! Pulse extension is an error (`warn-piranha-*` files have none, so they stay valid).
//!
//! The fixtures live beside the parser: `crates/pulse-lvscf/tests/fixtures/diagnostics/`. After an
//! intended change of wording, regenerate with
//! `PULSE_BLESS=1 cargo test -p pulsectl --test golden_stderr` and review the diff.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pulse-lvscf/tests/fixtures/diagnostics")
}

/// (stderr, exit code) of `pulsectl config check [--piranha] NAME`.
fn check(name: &str, piranha: bool) -> (String, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulsectl"));
    cmd.current_dir(fixture_dir()).args(["config", "check"]);
    if piranha {
        cmd.arg("--piranha");
    }
    let o = cmd.arg(name).output().expect("run pulsectl");
    (
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().expect("exit code"),
    )
}

#[test]
fn check_prints_the_golden_diagnostics() {
    let mut names: Vec<String> = fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cf"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 20,
        "expected the fixture set, found {}",
        names.len()
    );
    let bless = std::env::var_os("PULSE_BLESS").is_some();
    let mut failures = Vec::new();
    for name in &names {
        let stem = name.trim_end_matches(".cf");
        let warn_only = stem.starts_with("warn-") || stem == "unterminated-block";
        let mut runs = vec![(
            false,
            format!("{stem}.stderr"),
            if warn_only { 0 } else { 1 },
        )];
        if stem.starts_with("warn-") {
            // `warn-piranha-*` files hold only what piranha reads the same way.
            let piranha_code = if stem.starts_with("warn-piranha-") {
                0
            } else {
                1
            };
            runs.push((true, format!("{stem}.piranha.stderr"), piranha_code));
        }
        for (piranha, golden, want_code) in runs {
            let (stderr, code) = check(name, piranha);
            if code != want_code {
                failures.push(format!(
                    "{name} (piranha: {piranha}): exit {code}, want {want_code}\n{stderr}"
                ));
            }
            let path = fixture_dir().join(&golden);
            if bless {
                fs::write(&path, &stderr).expect("bless");
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(expected) if expected == stderr => {}
                Ok(expected) => failures.push(format!(
                    "{golden}:\n--- expected\n{expected}\n+++ actual\n{stderr}"
                )),
                Err(_) => failures.push(format!("{golden} is missing; actual:\n{stderr}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
