//! Logs of the daemons, with a severity journald and syslog can filter on.
//!
//! - Daemonized: syslog with the program's ident (`pulse`, `lvsd`), facility daemon
//!   (docs/reference/piranha.md §4.2 step 6, §5.1): one datagram per line, `<PRI>IDENT[PID]: line`.
//! - In the foreground with stderr connected to the journal (systemd sets `JOURNAL_STREAM` to
//!   stderr's `DEV:INO`): the same syslog datagrams to `/dev/log`, which journald serves, so each
//!   daemon's lines carry its own `SYSLOG_IDENTIFIER` — lvsd's appear as `lvsd` even when pulse
//!   started it and it shares pulse's unit — and their priority. Without `/dev/log`, stderr with
//!   sd-daemon(3)'s `<N>` prefix on every line (journald's `SyslogLevelPrefix=yes` default).
//! - Otherwise (a terminal, a pipe): plain stderr.
//!
//! Severities: error → 3 (`LOG_ERR`), warn → 4 (`LOG_WARNING`), info → 6 (`LOG_INFO`),
//! debug and trace → 7 (`LOG_DEBUG`); with facility daemon (3 << 3) a warning is `<28>`.
//! A datagram that cannot be sent (journald or rsyslog restarted) is sent once more after
//! reconnecting.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// `LOG_DAEMON`.
const FACILITY_DAEMON: u8 = 3 << 3;

/// The syslog severity of a tracing level.
pub fn severity(level: LevelFilter) -> u8 {
    if level == LevelFilter::ERROR {
        3
    } else if level == LevelFilter::WARN {
        4
    } else if level == LevelFilter::INFO {
        6
    } else {
        7
    }
}

/// Where and how a daemon logs. [`init`] is `Logging::new(ident, daemon, verbose).init()`.
#[derive(Clone, Debug)]
pub struct Logging {
    /// The syslog identifier: `pulse`, `lvsd`.
    pub ident: &'static str,
    /// Daemonized: log to syslog.
    pub daemon: bool,
    /// `debug` instead of `info` (`RUST_LOG` overrides both).
    pub verbose: bool,
    /// The syslog socket (`/dev/log`).
    pub syslog_socket: PathBuf,
    /// Is stderr the journal? `None`: find out from `JOURNAL_STREAM`.
    pub journal: Option<bool>,
}

impl Logging {
    /// The defaults: `/dev/log`, journal detected from the environment.
    pub fn new(ident: &'static str, daemon: bool, verbose: bool) -> Self {
        Self {
            ident,
            daemon,
            verbose,
            syslog_socket: PathBuf::from("/dev/log"),
            journal: None,
        }
    }

    /// Installs the global `tracing` subscriber (once; later calls do nothing).
    pub fn init(self) {
        let default = if self.verbose { "debug" } else { "info" };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false);
        let _ = match self.destination() {
            Destination::Syslog(s) => builder
                .without_time()
                .with_ansi(false)
                .with_writer(s)
                .try_init(),
            Destination::JournalStderr => builder
                .without_time()
                .with_ansi(false)
                .with_writer(PrefixedStderr)
                .try_init(),
            Destination::Stderr => builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .try_init(),
        };
    }

    fn destination(&self) -> Destination {
        let journal = self.journal.unwrap_or_else(stderr_is_journal);
        if (self.daemon || journal)
            && let Ok(s) = Syslog::connect(&self.syslog_socket, self.ident)
        {
            return Destination::Syslog(s);
        }
        if journal {
            Destination::JournalStderr
        } else {
            Destination::Stderr
        }
    }
}

enum Destination {
    Syslog(Syslog),
    JournalStderr,
    Stderr,
}

/// Installs the global `tracing` subscriber: syslog with `ident` when `daemon` or when stderr is
/// the journal (and `/dev/log` exists), stderr otherwise; `RUST_LOG` overrides the level (`debug`
/// with `verbose`). See [`Logging`].
pub fn init(ident: &'static str, daemon: bool, verbose: bool) {
    Logging::new(ident, daemon, verbose).init();
}

/// systemd sets `JOURNAL_STREAM=DEV:INO` for a service whose stderr goes to the journal; a
/// child whose stderr was redirected inherits the variable, so the numbers must match fd 2.
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    match (
        dev.parse::<u64>(),
        ino.parse::<u64>(),
        std::fs::metadata("/proc/self/fd/2"),
    ) {
        (Ok(d), Ok(i), Ok(m)) => m.dev() == d && m.ino() == i,
        _ => false,
    }
}

/// Syslog over a datagram socket: one datagram per log line, `<PRI>IDENT[PID]: line`.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    ident: &'static str,
    sock: Mutex<UnixDatagram>,
}

impl Syslog {
    /// Connect to the syslog socket at `path` (`/dev/log`).
    pub fn connect(path: &Path, ident: &'static str) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            ident,
            sock: Mutex::new(connect(path)?),
        })
    }

    /// A writer for one line at `level`; the datagram is sent when it is dropped.
    pub fn line(&self, level: LevelFilter) -> SyslogLine<'_> {
        let mut buf = Vec::with_capacity(256);
        let _ = write!(
            buf,
            "<{}>{}[{}]: ",
            FACILITY_DAEMON | severity(level),
            self.ident,
            std::process::id()
        );
        SyslogLine { syslog: self, buf }
    }

    /// Send one datagram; if that fails (the daemon behind the socket restarted), reconnect
    /// and send it once more. A line that still cannot be sent is dropped: logging must never
    /// stop a failover.
    fn send(&self, datagram: &[u8]) {
        let mut sock = self
            .sock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sock.send(datagram).is_ok() {
            return;
        }
        if let Ok(fresh) = connect(&self.path) {
            *sock = fresh;
            let _ = sock.send(datagram);
        }
    }
}

fn connect(path: &Path) -> std::io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    Ok(s)
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(LevelFilter::INFO)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        self.line(LevelFilter::from_level(*meta.level()))
    }
}

/// One line being formatted for syslog.
#[derive(Debug)]
pub struct SyslogLine<'a> {
    syslog: &'a Syslog,
    buf: Vec<u8>,
}

impl Write for SyslogLine<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        while self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        self.syslog.send(&self.buf);
    }
}

/// stderr for journald: every line of a record starts with `<N>`, its severity.
struct PrefixedStderr;

impl<'a> MakeWriter<'a> for PrefixedStderr {
    type Writer = PrefixedLine;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedLine::new(LevelFilter::INFO)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        PrefixedLine::new(LevelFilter::from_level(*meta.level()))
    }
}

struct PrefixedLine {
    severity: u8,
    buf: Vec<u8>,
}

impl PrefixedLine {
    fn new(level: LevelFilter) -> Self {
        Self {
            severity: severity(level),
            buf: Vec::with_capacity(256),
        }
    }
}

impl Write for PrefixedLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `text` with `<N>` before each of its lines.
fn prefix_lines(severity: u8, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for line in text.split_inclusive(|&b| b == b'\n') {
        let _ = write!(out, "<{severity}>");
        out.extend_from_slice(line);
    }
    out
}

impl Drop for PrefixedLine {
    fn drop(&mut self) {
        let _ = std::io::stderr()
            .lock()
            .write_all(&prefix_lines(self.severity, &self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A directory of its own under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("pulse-logging-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("temp dir");
            Self(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn bind(path: &Path) -> UnixDatagram {
        let s = UnixDatagram::bind(path).expect("bind a stand-in /dev/log");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0; 4096];
        let n = s.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_warning_goes_out_at_warning_severity_with_the_ident() {
        let dir = TempDir::new("warn");
        let dev_log = dir.0.join("log");
        let server = bind(&dev_log);
        let subscriber = tracing_subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_ansi(false)
            .with_writer(Syslog::connect(&dev_log, "lvsd").expect("connect"))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(server = "web01", "real server is down");
            tracing::error!("cannot program IPVS");
            tracing::info!("started");
            tracing::debug!("not shown at the default level");
        });
        let pid = std::process::id();
        let warn = recv(&server);
        assert!(warn.starts_with(&format!("<28>lvsd[{pid}]: ")), "{warn:?}");
        assert!(warn.contains("real server is down"), "{warn:?}");
        assert!(!warn.ends_with('\n'), "{warn:?}");
        assert!(recv(&server).starts_with(&format!("<27>lvsd[{pid}]: ")));
        assert!(recv(&server).starts_with(&format!("<30>lvsd[{pid}]: ")));
    }

    #[test]
    fn a_failed_send_is_retried_once_after_reconnecting() {
        let dir = TempDir::new("retry");
        let dev_log = dir.0.join("log");
        let first = bind(&dev_log);
        let syslog = Syslog::connect(&dev_log, "pulse").expect("connect");
        drop(syslog.line(LevelFilter::INFO));
        assert!(recv(&first).starts_with("<30>pulse["));
        // The syslog daemon restarts: a new socket at the same path.
        drop(first);
        std::fs::remove_file(&dev_log).expect("remove");
        let second = bind(&dev_log);
        {
            let mut l = syslog.line(LevelFilter::ERROR);
            l.write_all(b"after the restart\n").expect("write");
        }
        let got = recv(&second);
        assert!(got.starts_with("<27>pulse["), "{got:?}");
        assert!(got.ends_with("]: after the restart"), "{got:?}");
    }

    #[test]
    fn severities_follow_syslog() {
        assert_eq!(severity(LevelFilter::ERROR), 3);
        assert_eq!(severity(LevelFilter::WARN), 4);
        assert_eq!(severity(LevelFilter::INFO), 6);
        assert_eq!(severity(LevelFilter::DEBUG), 7);
        assert_eq!(severity(LevelFilter::TRACE), 7);
    }

    #[test]
    fn journal_lines_are_prefixed_each() {
        assert_eq!(
            prefix_lines(4, b"WARN x\n  detail\n"),
            b"<4>WARN x\n<4>  detail\n".to_vec()
        );
    }

    #[test]
    fn in_the_journal_the_foreground_daemon_logs_to_syslog_with_its_ident() {
        let dir = TempDir::new("journal");
        let dev_log = dir.0.join("log");
        let _server = bind(&dev_log);
        let mut l = Logging::new("lvsd", false, false);
        l.syslog_socket = dev_log.clone();
        l.journal = Some(true);
        assert!(matches!(l.destination(), Destination::Syslog(_)));
        l.journal = Some(false);
        assert!(matches!(l.destination(), Destination::Stderr));
        l.journal = Some(true);
        l.syslog_socket = dir.0.join("absent");
        assert!(matches!(l.destination(), Destination::JournalStderr));
    }
}
