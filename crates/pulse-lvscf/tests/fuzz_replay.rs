//! Replays the fuzz corpus on stable: every seed and every minimised crash in
//! `fuzz/corpus/lvscf_roundtrip/` (and `tests/fixtures/fuzzed/`, if present) goes through
//! `pulse_lvscf::fuzzing::roundtrip`, the same check the `lvscf_roundtrip` fuzz target makes.

use std::panic;
use std::path::{Path, PathBuf};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn replay_fuzz_corpus() {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = manifest.join("../../fuzz/corpus/lvscf_roundtrip");
    assert!(corpus.is_dir(), "missing fuzz corpus {}", corpus.display());
    let mut files = files_in(&corpus);
    files.extend(files_in(&manifest.join("tests/fixtures/fuzzed")));
    assert!(
        files.len() >= 30,
        "expected at least 30 corpus files, found {} in {}",
        files.len(),
        corpus.display()
    );

    let mut failed = Vec::new();
    for file in &files {
        let data =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        // The bytes as the fuzzer gives them, then (for invalid UTF-8, which `roundtrip` skips) the
        // text with the bad bytes replaced, so those seeds test something too.
        let lossy = String::from_utf8_lossy(&data).into_owned();
        let run = panic::catch_unwind(|| {
            pulse_lvscf::fuzzing::roundtrip(&data);
            pulse_lvscf::fuzzing::roundtrip(lossy.as_bytes());
        });
        if let Err(e) = run {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()));
            failed.push(format!(
                "{}: {}",
                file.display(),
                msg.unwrap_or_else(|| "panic".into())
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} corpus files fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}
