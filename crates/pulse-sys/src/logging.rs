//! Logs of the daemons: stderr in the foreground (journald picks it up under systemd); syslog
//! with the program's ident (`pulse`, `lvsd`), facility daemon, when daemonized (piranha.md §4.2
//! step 6, §5.1).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global `tracing` subscriber: syslog with `ident` when `daemon` (and `/dev/log`
/// exists), stderr otherwise; `RUST_LOG` overrides the level (`debug` with `verbose`).
pub fn init(ident: &'static str, daemon: bool, verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let syslog = daemon
        .then(|| {
            UnixDatagram::unbound()
                .and_then(|s| s.connect("/dev/log").map(|()| s))
                .ok()
        })
        .flatten();
    let _ = match syslog {
        Some(sock) => builder
            .without_time()
            .with_ansi(false)
            .with_writer(Syslog { sock, ident })
            .try_init(),
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

/// One datagram per log line to `/dev/log`: `<30>IDENT[PID]: line` (LOG_DAEMON | LOG_INFO).
struct Syslog {
    sock: UnixDatagram,
    ident: &'static str,
}

struct SyslogLine<'a> {
    sock: &'a UnixDatagram,
    buf: Vec<u8>,
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        let mut buf = Vec::with_capacity(256);
        let _ = write!(buf, "<30>{}[{}]: ", self.ident, std::process::id());
        SyslogLine {
            sock: &self.sock,
            buf,
        }
    }
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
        let _ = self.sock.send(&self.buf);
    }
}
