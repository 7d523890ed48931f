//! systemd's readiness protocol (`sd_notify(3)`): `READY=1`, `RELOADING=1`, `STOPPING=1` and
//! `STATUS=` lines as datagrams to `$NOTIFY_SOCKET`, a path or, with a leading '@', an abstract
//! socket name. Without the variable (SysV, a shell) every call does nothing.

use std::os::unix::net::UnixDatagram;
use tracing::debug;

/// The variable systemd sets for `Type=notify` services.
pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// A connection to the service manager's notification socket, if there is one.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    target: Option<(UnixDatagram, String)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; an unset, empty or unusable value gives a notifier that does nothing.
    pub(crate) fn from_env() -> Self {
        let Some(name) = std::env::var_os(NOTIFY_SOCKET) else {
            return Self::default();
        };
        let name = name.to_string_lossy().into_owned();
        match open(&name) {
            Ok(sock) => Self {
                target: Some((sock, name)),
            },
            Err(e) => {
                tracing::warn!(socket = %name, error = %e, "cannot reach the service manager's notification socket");
                Self::default()
            }
        }
    }

    /// Send one message (newline-separated `KEY=VALUE` lines); failures are logged, not fatal.
    pub(crate) fn send(&self, msg: &str) {
        if let Some((sock, name)) = &self.target
            && let Err(e) = sock.send(msg.as_bytes())
        {
            debug!(socket = %name, error = %e, "sd_notify failed");
        }
    }
}

fn open(name: &str) -> std::io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    if let Some(abs) = name.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes())?;
        sock.connect_addr(&addr)?;
    } else if name.starts_with('/') {
        sock.connect(name)?;
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name",
        ));
    }
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some((open(path.to_str().unwrap()).unwrap(), String::new())),
        };
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("pulse-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            target: Some((open(&format!("@{name}")).unwrap(), String::new())),
        };
        n.send("STOPPING=1");
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
        assert!(open("relative").is_err());
        Notifier::default().send("READY=1");
    }
}
