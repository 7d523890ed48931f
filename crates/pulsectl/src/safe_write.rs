//! Serialised, atomic rewrites of a config file.
//!
//! Editors take an exclusive `flock` on the file they read. Because the write replaces the file
//! by rename, a waiting editor may hold a lock on the *old* inode when it wakes; it then sees that
//! the path points elsewhere and starts over, so it never edits stale content. The write itself
//! goes to a temporary file in the same directory, is fsynced, gets the original mode and owner,
//! and is renamed over the original; the directory is fsynced last. A process killed at any point
//! leaves either the old file or the new one, never a mix (at worst a stray `.NAME.*` temp file).

use anyhow::{Context, Result, bail};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long an editor waits for another one to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A config file, locked against other editors, with its content as read under the lock.
#[derive(Debug)]
pub(crate) struct LockedFile {
    path: PathBuf,
    file: File,
    /// The bytes read under the lock.
    pub(crate) content: Vec<u8>,
}

impl LockedFile {
    /// Open `path` and take the editor lock, waiting up to [`LOCK_WAIT`].
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            let file = File::open(path).map_err(|error| pulse_lvscf::LoadError::Open {
                path: path.to_path_buf(),
                error,
            })?;
            loop {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(fs::TryLockError::WouldBlock) => {
                        bail!(
                            "timed out after {}s waiting for another editor of {}",
                            LOCK_WAIT.as_secs(),
                            path.display()
                        )
                    }
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                    }
                }
            }
            // Still the file the path names? If another editor renamed a new one in, start over.
            let held = file
                .metadata()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            let now =
                fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
            if held.dev() == now.dev() && held.ino() == now.ino() {
                // The size cap and the wording of read errors are pulse-lvscf's, shared with the
                // daemons.
                let content = pulse_lvscf::source::read(path, Ok(&file))?;
                return Ok(Self {
                    path: path.to_path_buf(),
                    file,
                    content,
                });
            }
        }
    }

    /// Replace the file's content atomically, keeping its mode and owner. Consumes the lock.
    pub(crate) fn replace(self, new: &[u8]) -> Result<()> {
        let path = &self.path;
        let meta = self
            .file
            .metadata()
            .with_context(|| format!("cannot stat {}", path.display()))?;
        // Write through symlinks to the real file, as editors do.
        let target =
            fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))?;
        let dir = target
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        tmp.write_all(new)
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        let f = tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
            .with_context(|| format!("cannot set the mode of {}", tmp.path().display()))?;
        let tmeta = f.metadata()?;
        if (tmeta.uid(), tmeta.gid()) != (meta.uid(), meta.gid()) {
            std::os::unix::fs::fchown(f, Some(meta.uid()), Some(meta.gid())).with_context(
                || {
                    format!(
                        "cannot give {} the owner {}:{} of the original",
                        tmp.path().display(),
                        meta.uid(),
                        meta.gid()
                    )
                },
            )?;
        }
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", tmp.path().display()))?;
        tmp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot rename over {}", target.display()))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot fsync directory {}", dir.display()))?;
        drop(self.file);
        Ok(())
    }
}
