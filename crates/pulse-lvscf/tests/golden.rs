//! Golden diagnostics: each `fixtures/diagnostics/NAME.cf` is checked and its rendered
//! diagnostics must equal `NAME.stderr` byte for byte. Files named `warn-*` are also checked
//! with piranha promotion (`pulsectl config check --piranha`) against `NAME.piranha.stderr`.
//!
//! After an intended change of wording, regenerate with `PULSE_BLESS=1 cargo test --test golden`
//! and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnostics");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cf"))
        .collect();
    v.sort();
    v
}

fn render(path: &Path, piranha: bool) -> String {
    let src = fs::read_to_string(path).expect("fixture is UTF-8");
    let mut parsed = pulse_lvscf::parse(&src);
    if piranha {
        parsed.diagnostics.promote_for_piranha();
    }
    let name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let verdict = if parsed.diagnostics.has_errors() {
        "invalid"
    } else {
        "valid"
    };
    format!("{}-- {verdict}\n", parsed.diagnostics.render(&name, &src))
}

fn compare(expected_path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("PULSE_BLESS").is_some() {
        fs::write(expected_path, actual).expect("bless");
        return;
    }
    match fs::read_to_string(expected_path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}:\n--- expected\n{expected}\n+++ actual\n{actual}",
            expected_path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing; actual:\n{actual}",
            expected_path.display()
        )),
    }
}

#[test]
fn diagnostics_match_golden_files() {
    let files = fixtures();
    assert!(
        files.len() >= 20,
        "expected the fixture set, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        compare(
            &f.with_extension("stderr"),
            &render(f, false),
            &mut failures,
        );
        let stem = f.file_stem().expect("stem").to_string_lossy().into_owned();
        if stem.starts_with("warn-") {
            compare(
                &f.with_extension("piranha.stderr"),
                &render(f, true),
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_fixture_is_invalid_and_every_warning_fixture_valid() {
    for f in fixtures() {
        let src = fs::read_to_string(&f).expect("fixture");
        let parsed = pulse_lvscf::parse(&src);
        let stem = f.file_stem().expect("stem").to_string_lossy().into_owned();
        let expect_valid = stem.starts_with("warn-") || stem == "unterminated-block";
        assert_eq!(
            parsed.is_valid(),
            expect_valid,
            "{stem}: {:#?}",
            parsed.diagnostics
        );
        assert_eq!(parsed.doc.render(), src, "{stem} does not round-trip");
    }
}
