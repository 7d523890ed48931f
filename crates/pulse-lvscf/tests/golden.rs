//! The diagnostic fixtures (`fixtures/diagnostics/NAME.cf`) at the library level: error fixtures
//! are invalid, warning fixtures valid, and every one round-trips. Their exact rendered text is
//! pinned by `pulsectl`'s `golden_stderr` test, which runs `pulsectl config check` on each.

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

#[test]
fn every_error_fixture_is_invalid_and_every_warning_fixture_valid() {
    let files = fixtures();
    assert!(
        files.len() >= 20,
        "expected the fixture set, found {}",
        files.len()
    );
    for f in files {
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
        // Every diagnostic of a fixture has a stable code and renders without trouble.
        for d in parsed.diagnostics.iter() {
            assert!(!d.code.is_empty() && !d.render("x.cf", &src).is_empty());
        }
    }
}
