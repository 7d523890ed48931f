//! What `pulse` and `lvsd` share as processes: piranha's `--version` text, and files that must
//! not outlive the daemon (pid file, control socket).

use std::path::{Path, PathBuf};

/// piranha's `--version` output for `program`.
pub fn version_text(program: &str) -> String {
    let v = env!("CARGO_PKG_VERSION");
    format!("Program Version:\t{program} {v}\nA component of:\t\tpulse-{v}\n")
}

/// Files removed when the daemon ends, however its main function returns.
#[derive(Debug, Default)]
pub struct Cleanup(Vec<PathBuf>);

impl Cleanup {
    /// Writes the pid file `path` (our pid and a newline) and removes it at the end.
    pub fn pid_file(&mut self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
        })?;
        self.0.push(path.to_path_buf());
        Ok(())
    }

    /// Removes `path` (a control socket) at the end.
    pub fn remove_at_exit(&mut self, path: &Path) {
        self.0.push(path.to_path_buf());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
