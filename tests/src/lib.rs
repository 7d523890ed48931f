//! `pulse-e2e`: whole-product acceptance tests.
//!
//! The lvs.cf corpus helpers (the real-world files in `../shared/corpus/lvs.cf/` against
//! piranha 0.8.6's recorded results, docs/reference/piranha.md §2.6), [`netns`]: the network-namespace bed of
//! two `pulse` directors, [`lvs_bed`]: the director / real servers / client bed the IPVS
//! tests run in inside the VM (`tests/vm/`), and [`ecmp_bed`]: `ecmp = 1`'s three directors
//! behind a BIRD router with ECMP, in the VM.

pub mod big_config;
pub mod bird;
pub mod ecmp_bed;
pub mod lvs_bed;
pub mod lvsd_log;
pub mod netns;
pub mod pair_bed;
pub mod tls;

use std::path::PathBuf;

/// The shared corpus of real lvs.cf files (a sibling of the repository, as CI lays it out).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/lvs.cf")
}

/// Every `.cf` file of the corpus, sorted, with its content.
pub fn corpus_files() -> Vec<(String, String)> {
    let dir = corpus_dir();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}
