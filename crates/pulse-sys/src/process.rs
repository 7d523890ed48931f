//! What `pulse` and `lvsd` share as processes: piranha's `--version` text, the start-up after
//! the input is checked (detach, logging, pid file), and files that must not outlive the daemon
//! (pid file, control socket).

use std::path::{Path, PathBuf};

/// How a daemon leaves its caller (piranha's options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detach {
    /// `--nodaemon`: stay in the foreground, log to stderr.
    Foreground,
    /// `--nofork` (lvsd under pulse): a session of its own, same process (pulse waits for it).
    NoFork,
    /// Fork into the background (`daemon(3)`).
    Daemonize,
}

/// The start-up `pulse` and `lvsd` share, once their input has been checked (so the admin saw
/// any error on the terminal): detach, start logging with `ident` (syslog unless in the
/// foreground), write the pid file (`pidfile`, else `default_pidfile` unless in the foreground)
/// and remove it and the control socket `socket` when the returned [`Cleanup`] drops.
pub fn start_daemon(
    ident: &'static str,
    detach: Detach,
    verbose: bool,
    pidfile: Option<PathBuf>,
    default_pidfile: &str,
    socket: &Path,
) -> std::io::Result<Cleanup> {
    match detach {
        Detach::Foreground => {}
        Detach::NoFork => {
            let _ = nix::unistd::setsid();
        }
        Detach::Daemonize => nix::unistd::daemon(false, false)
            .map_err(|e| std::io::Error::other(format!("cannot daemonize: {e}")))?,
    }
    let foreground = detach == Detach::Foreground;
    crate::logging::init(ident, !foreground, verbose);
    let mut cleanup = Cleanup::default();
    if let Some(p) = pidfile.or_else(|| (!foreground).then(|| PathBuf::from(default_pidfile))) {
        cleanup.pid_file(&p)?;
    }
    cleanup.remove_at_exit(socket);
    Ok(cleanup)
}

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
