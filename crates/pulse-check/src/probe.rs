//! One check of one real server, performed on the caller's tokio runtime (docs/reference/piranha.md §6.3–6.4).
//!
//! [`run`] needs a runtime with the I/O and time drivers enabled (and, for program checks, the
//! process support tokio's `process` feature brings). Every phase of a probe is bounded by one
//! deadline, `timeout` after the call; a probe that fails says how, in nanny's words where nanny
//! had some ([`CheckFailure`]).

use crate::http::{BODY_CAP, HEAD_CAP, HttpFailure, Response, Step};
use crate::spec::{CheckSpec, Expect, HttpCheck, Program, TlsCheck};
use crate::tls::Resume;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rustls::pki_types::ServerName;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::process::Stdio;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Sleep;

/// A regex check reads at most this much of the reply before giving up on a match.
pub const REGEX_READ_CAP: usize = 64 * 1024;
/// A program check keeps at most this much of the program's output (nanny's `read()` of 4095).
pub const PROGRAM_OUTPUT_CAP: usize = 4095;
/// A UDP check looks at most at this much of the reply datagram (the rest is discarded).
pub const UDP_REPLY_CAP: usize = 2048;
/// After a program check timed out and its process group got SIGKILL, how long the probe waits
/// to reap it before leaving that to tokio's orphan reaper.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// A failed check: which real server and what went wrong. `Display` gives a stable one-line
/// message that names the target, in nanny's wording where nanny had one (`CONNECT to
/// 10.0.0.2:80 timed out`, `READ to 10.0.0.2:80 timed out`, `Trouble. Received results are not
/// what we expected from (10.0.0.2:80)`, …).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct CheckFailure {
    /// The real server checked.
    pub target: SocketAddr,
    /// What went wrong.
    pub kind: FailureKind,
}

/// What went wrong in a check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// No socket could be opened (e.g. out of file descriptors).
    Socket(IoCause),
    /// The TCP connection was not established before the deadline.
    ConnectTimeout,
    /// Connecting failed (refused, unreachable, …).
    Connect(IoCause),
    /// The send string could not be written before the deadline.
    WriteTimeout,
    /// Writing the send string failed.
    Write(IoCause),
    /// The reply was not decided before the deadline; `received` bytes had arrived.
    ReadTimeout {
        /// Bytes received before the deadline.
        received: usize,
    },
    /// Reading the reply failed (for UDP, `Connection refused` is an ICMP port unreachable).
    Read(IoCause),
    /// The peer closed (TCP) or replied (UDP) with fewer bytes than the expect string, all of
    /// which matched it.
    TooShort {
        /// Bytes received.
        received: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// The reply (or the program's output) is not what `expect` asks for.
    Mismatch,
    /// The external program could not be started (not found, not executable, …).
    ProgramSpawn(IoCause),
    /// The external program did not finish (exit and close its output) before the deadline; its
    /// whole process group was killed.
    ProgramTimeout,
    /// The external program exited with a non-zero status or was killed by a signal.
    ProgramExit(ExitKind),
    /// The TLS handshake did not finish before the deadline.
    TlsHandshakeTimeout,
    /// The TLS handshake failed: the reason (`certificate expired`, …).
    Tls(String),
    /// The HTTP response failed the check (`HTTP 503`, `body did not match`, …).
    Http(HttpFailure),
    /// A redirect whose `Location` cannot be followed (not a path on this server).
    Redirect {
        /// The status of the last response.
        status: u16,
    },
}

/// How an external program ended when it did not exit with status 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// `exit(code)` with `code != 0`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// An I/O error reduced to what a check reports: its kind and, when the OS gave one, the errno.
/// `Display` is the C library's text for the errno (`Connection refused`), without Rust's
/// `(os error N)` suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoCause {
    kind: io::ErrorKind,
    errno: Option<i32>,
}

impl IoCause {
    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.kind
    }

    /// The OS error number, if the error came from the OS.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }
}

impl From<&io::Error> for IoCause {
    fn from(e: &io::Error) -> Self {
        Self {
            kind: e.kind(),
            errno: e.raw_os_error(),
        }
    }
}

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno {
            Some(n) => f.write_str(nix::errno::Errno::from_raw(n).desc()),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Code(c) => write!(f, "exit status {c}"),
            Self::Signal(s) => match Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by signal {s} ({})", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.target;
        match self.kind.clone() {
            FailureKind::Socket(c) => write!(f, "cannot open a socket to check {t}: {c}"),
            FailureKind::ConnectTimeout => write!(f, "CONNECT to {t} timed out"),
            FailureKind::Connect(c) => write!(f, "CONNECT to {t} failed: {c}"),
            FailureKind::WriteTimeout => write!(f, "WRITE to {t} timed out"),
            FailureKind::Write(c) => write!(f, "WRITE operation for {t} returned error: {c}"),
            FailureKind::ReadTimeout { received: 0 } => write!(f, "READ to {t} timed out"),
            FailureKind::ReadTimeout { received } => {
                write!(f, "READ to {t} timed out after {received} bytes")
            }
            FailureKind::Read(c) => write!(f, "READ from {t} returned error: {c}"),
            FailureKind::TooShort { received, expected } => {
                write!(f, "READ from {t} was too short[{received}>={expected}]")
            }
            FailureKind::Mismatch => write!(
                f,
                "Trouble. Received results are not what we expected from ({t})"
            ),
            FailureKind::ProgramSpawn(c) => {
                write!(f, "cannot run the external check for {t}: {c}")
            }
            FailureKind::ProgramTimeout => {
                write!(f, "timeout running the external check for {t}")
            }
            FailureKind::ProgramExit(e) => {
                write!(f, "the external check for {t} exited abnormally: {e}")
            }
            FailureKind::TlsHandshakeTimeout => write!(f, "{t}: TLS: handshake timed out"),
            FailureKind::Tls(reason) => write!(f, "{t}: TLS: {reason}"),
            FailureKind::Http(h) => match h {
                HttpFailure::Status(code) => write!(f, "{t}: HTTP {code}"),
                HttpFailure::BodyMismatch => write!(f, "{t}: body did not match"),
                HttpFailure::TooLarge => write!(
                    f,
                    "{t}: HTTP response too large (head over {HEAD_CAP} or body over {BODY_CAP} bytes)"
                ),
                HttpFailure::Malformed(why) => write!(f, "{t}: bad HTTP response: {why}"),
                HttpFailure::Truncated => write!(f, "{t}: HTTP response cut short"),
            },
            FailureKind::Redirect { status } => {
                write!(
                    f,
                    "{t}: HTTP {status}: redirect not followed (limit or bad Location)"
                )
            }
        }
    }
}

/// Perform one check of `target` as `spec` says; the whole probe is bounded by `timeout`.
///
/// **TCP** ([`CheckSpec::TcpConnect`], [`CheckSpec::Tcp`]): connect; write the whole send string;
/// if an expect is set, read until the reply is decided: a [`Expect::Prefix`] passes once that
/// many bytes have arrived and equal it, and fails as soon as a received byte differs (EOF
/// earlier: too short); [`Expect::AnyByte`] passes on the first byte; [`Expect::Regex`] reads
/// until the received text matches (failing at EOF or after [`REGEX_READ_CAP`] bytes). Nanny
/// made a single `read()`, so a reply split across TCP segments could fail there; here it does
/// not. The socket is closed with `SO_LINGER` 0 (a reset, no `TIME_WAIT`); a send-only check
/// may therefore abort before the server has read the send string, which does not change its
/// result.
///
/// **UDP** ([`CheckSpec::Udp`]): a connected socket sends the send string (an empty datagram
/// when none) and awaits one reply datagram; an ICMP port unreachable (`Connection refused` on
/// receive) fails; the reply is compared like TCP's (only its first [`UDP_REPLY_CAP`] bytes).
///
/// **Program** ([`CheckSpec::Program`]): argv from the template (`%h`, `%p`), executed directly
/// (no shell, `PATH` search) with stdin and stderr on `/dev/null`, stdout on a pipe, in a process
/// group of its own. The probe reads stdout until EOF (keeping the first
/// [`PROGRAM_OUTPUT_CAP`] bytes) and waits for the exit; at the deadline the whole process
/// group gets SIGKILL (children included) and the check fails, once the program is reaped (a
/// few milliseconds; the probe waits at most 1 s more for that). Then: a non-zero exit or a
/// death by signal fails; with an expect, the output less its last byte (nanny assumed a
/// newline) must equal it exactly; with no expect, exit status 0 passes. Differences from
/// nanny, deliberate: nanny counted a program that exited non-zero (or was killed) as a
/// **success** whenever an expect was set (docs/reference/piranha.md §10 #6), and failed every check when no
/// expect was set; nanny never enforced the timeout (its `waitpid` restarted after SIGALRM), and
/// its SIGKILL would have reached the program only, not its children. A background process
/// that keeps the program's stdout open holds the check until the deadline (and is killed with
/// the group); one that closed stdout and outlives the program is left alone, as with nanny.
/// If the probe future is dropped early, the process group is killed as well.
pub async fn run(
    spec: &CheckSpec,
    target: SocketAddr,
    timeout: Duration,
) -> Result<(), CheckFailure> {
    run_resuming(spec, target, timeout, None).await
}

/// [`run`], resuming TLS sessions with `resume`, the state the caller keeps for this target
/// between probes (`None`: a full handshake every time).
///
/// **TLS** ([`CheckSpec::TlsTcp`], and [`CheckSpec::Http`] with TLS): after the TCP connect,
/// the TLS handshake (SNI and verification as configured), within the same deadline; then
/// send/expect as for TCP.
///
/// **HTTP** ([`CheckSpec::Http`]): one request per connection (`Connection: close`); the
/// status code must be an accepted one; when the body is checked it is read whole (by
/// `Content-Length`, chunks or the end of the stream, at most [`BODY_CAP`]
/// bytes) and must satisfy every expectation. A 3xx is judged as it is unless redirects are
/// allowed: then its `Location` is requested from the same real server, on a new connection.
/// Every hop shares the one deadline.
pub async fn run_resuming(
    spec: &CheckSpec,
    target: SocketAddr,
    timeout: Duration,
    resume: Option<&mut Resume>,
) -> Result<(), CheckFailure> {
    let deadline = tokio::time::sleep(timeout);
    let mut deadline = pin!(deadline);
    let result = match spec {
        CheckSpec::TcpConnect => tcp(&[], None, target, &mut deadline).await,
        CheckSpec::Tcp { send, expect } => tcp(send, expect.as_ref(), target, &mut deadline).await,
        CheckSpec::TlsTcp { tls, send, expect } => {
            match connect_tls(tls, target, resume, &mut deadline).await {
                Ok(mut stream) => exchange(&mut stream, send, expect.as_ref(), &mut deadline).await,
                Err(e) => Err(e),
            }
        }
        CheckSpec::Http(h) => http(h, target, resume, &mut deadline).await,
        CheckSpec::Udp { send, expect } => udp(send, expect.as_ref(), target, &mut deadline).await,
        CheckSpec::Program { program: p, expect } => {
            program(p, expect.as_deref(), target, &mut deadline).await
        }
    };
    result.map_err(|kind| {
        let failure = CheckFailure { target, kind };
        tracing::debug!(%target, %failure, "check failed");
        failure
    })
}

/// `fut`, unless `deadline` passes first (`None`). `fut` is polled first, so a result that is
/// ready at the deadline still counts.
async fn before<F: Future>(deadline: &mut Pin<&mut Sleep>, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}

fn cause(e: &io::Error) -> IoCause {
    IoCause::from(e)
}

async fn tcp(
    send: &[u8],
    expect: Option<&Expect>,
    target: SocketAddr,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let mut stream = connect(target, deadline).await?;
    exchange(&mut stream, send, expect, deadline).await
}

async fn connect(
    target: SocketAddr,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<TcpStream, FailureKind> {
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| FailureKind::Socket(cause(&e)))?;
    // Close with a reset: no TIME_WAIT, whatever path drops the socket.
    socket
        .set_zero_linger()
        .map_err(|e| FailureKind::Socket(cause(&e)))?;
    let stream = match before(deadline, socket.connect(target)).await {
        None => return Err(FailureKind::ConnectTimeout),
        Some(Err(e)) => return Err(FailureKind::Connect(cause(&e))),
        Some(Ok(s)) => s,
    };
    Ok(stream)
}

/// Connect and complete the TLS handshake, both before the deadline.
async fn connect_tls(
    tls: &TlsCheck,
    target: SocketAddr,
    resume: Option<&mut Resume>,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, FailureKind> {
    let Some(shared) = &tls.config.0 else {
        return Err(FailureKind::Tls(
            "no client configuration (not prepared)".into(),
        ));
    };
    let config = match resume {
        Some(r) => r.config(shared),
        None => shared.clone(),
    };
    let name = match &tls.server_name {
        Some(n) => ServerName::try_from(n.clone())
            .map_err(|_| FailureKind::Tls(format!("{n:?} is not a valid server name")))?,
        None => ServerName::IpAddress(target.ip().into()),
    };
    let stream = connect(target, deadline).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match before(deadline, connector.connect(name, stream)).await {
        None => Err(FailureKind::TlsHandshakeTimeout),
        Some(Ok(s)) => Ok(s),
        Some(Err(e)) => Err(tls_failure(&e)),
    }
}

fn tls_failure(e: &io::Error) -> FailureKind {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => FailureKind::Tls(crate::tls::reason(r)),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            FailureKind::Tls("the server closed the connection during the handshake".into())
        }
        None => FailureKind::Tls(e.to_string()),
    }
}

async fn http(
    check: &HttpCheck,
    target: SocketAddr,
    mut resume: Option<&mut Resume>,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let mut host = check.host.clone().unwrap_or_else(|| target.to_string());
    let mut path = check.path.clone();
    let mut hops = 0;
    loop {
        let request = crate::http::request(check, &host, &path);
        let may_redirect = hops < check.redirects;
        let step = match &check.tls {
            Some(tls) => {
                let mut s = connect_tls(tls, target, resume.as_deref_mut(), deadline).await?;
                http_exchange(&mut s, check, &request, may_redirect, deadline).await?
            }
            None => {
                let mut s = connect(target, deadline).await?;
                http_exchange(&mut s, check, &request, may_redirect, deadline).await?
            }
        };
        match step {
            Step::Pass => return Ok(()),
            Step::Fail(f) => return Err(FailureKind::Http(f)),
            Step::More => return Err(FailureKind::Http(HttpFailure::Truncated)),
            Step::Redirect(status, location) => {
                let Some((h, p)) = crate::http::follow(&location, &host, &path) else {
                    return Err(FailureKind::Redirect { status });
                };
                host = h;
                path = p;
                hops += 1;
            }
        }
    }
}

/// Write the request, read the response until it is decided.
async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    check: &HttpCheck,
    request: &[u8],
    may_redirect: bool,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<Step, FailureKind> {
    match before(deadline, async {
        stream.write_all(request).await?;
        stream.flush().await
    })
    .await
    {
        None => return Err(FailureKind::WriteTimeout),
        Some(Err(e)) => return Err(FailureKind::Write(cause(&e))),
        Some(Ok(())) => {}
    }
    let mut response = Response::new(check, may_redirect);
    let mut chunk = vec![0u8; 8 * 1024];
    loop {
        let want = response.room().min(chunk.len());
        let n = match before(deadline, stream.read(&mut chunk[..want])).await {
            None => {
                return Err(FailureKind::ReadTimeout {
                    received: response.received(),
                });
            }
            // A TLS server that closes without close_notify: the end of the stream, as for
            // plain HTTP (the response framing decides whether it was complete).
            Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Some(Err(e)) => return Err(FailureKind::Read(cause(&e))),
            Some(Ok(n)) => n,
        };
        let step = if n == 0 {
            response.eof()
        } else {
            response.feed(&chunk[..n])
        };
        if step != Step::More {
            return Ok(step);
        }
    }
}

/// Write `send`, then read until `expect` is decided.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    send: &[u8],
    expect: Option<&Expect>,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    if !send.is_empty() {
        match before(deadline, async {
            stream.write_all(send).await?;
            stream.flush().await
        })
        .await
        {
            None => return Err(FailureKind::WriteTimeout),
            Some(Err(e)) => return Err(FailureKind::Write(cause(&e))),
            Some(Ok(())) => {}
        }
    }
    match expect {
        None => Ok(()),
        Some(Expect::AnyByte) => read_any(stream, deadline).await,
        Some(Expect::Prefix(p)) => read_prefix(stream, p, deadline).await,
        Some(Expect::Regex(re)) => read_regex(stream, re, deadline).await,
    }
}

async fn read_any<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let mut byte = [0u8; 1];
    match before(deadline, stream.read(&mut byte)).await {
        None => Err(FailureKind::ReadTimeout { received: 0 }),
        Some(Err(e)) => Err(FailureKind::Read(cause(&e))),
        Some(Ok(0)) => Err(FailureKind::TooShort {
            received: 0,
            expected: 1,
        }),
        Some(Ok(_)) => Ok(()),
    }
}

/// Read exactly `expect.len()` bytes (never more, as nanny's `read(N)`), comparing as they come.
async fn read_prefix<S: AsyncRead + Unpin>(
    stream: &mut S,
    expect: &[u8],
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let mut chunk = [0u8; 512];
    let mut got = 0;
    while got < expect.len() {
        let want = (expect.len() - got).min(chunk.len());
        let n = match before(deadline, stream.read(&mut chunk[..want])).await {
            None => return Err(FailureKind::ReadTimeout { received: got }),
            Some(Err(e)) => return Err(FailureKind::Read(cause(&e))),
            Some(Ok(0)) => {
                return Err(FailureKind::TooShort {
                    received: got,
                    expected: expect.len(),
                });
            }
            Some(Ok(n)) => n,
        };
        if chunk[..n] != expect[got..got + n] {
            return Err(FailureKind::Mismatch);
        }
        got += n;
    }
    Ok(())
}

/// Read until the accumulated reply matches, EOF, the cap or the deadline. A reply that arrives
/// in one read is matched in place, without allocating.
async fn read_regex<S: AsyncRead + Unpin>(
    stream: &mut S,
    re: &regex::bytes::Regex,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let mut chunk = [0u8; 1024];
    let mut acc: Vec<u8> = Vec::new();
    loop {
        if acc.len() >= REGEX_READ_CAP {
            return Err(FailureKind::Mismatch);
        }
        let want = (REGEX_READ_CAP - acc.len()).min(chunk.len());
        let n = match before(deadline, stream.read(&mut chunk[..want])).await {
            None => {
                return Err(FailureKind::ReadTimeout {
                    received: acc.len(),
                });
            }
            Some(Err(e)) => return Err(FailureKind::Read(cause(&e))),
            Some(Ok(n)) => n,
        };
        if n == 0 {
            // EOF: only a pattern that matches what we have (possibly nothing) passes.
            return if re.is_match(&acc) {
                Ok(())
            } else {
                Err(FailureKind::Mismatch)
            };
        }
        if acc.is_empty() && re.is_match(&chunk[..n]) {
            return Ok(());
        }
        acc.extend_from_slice(&chunk[..n]);
        // (a first chunk was matched in place just above)
        if acc.len() > n && re.is_match(&acc) {
            return Ok(());
        }
    }
}

async fn udp(
    send: &[u8],
    expect: Option<&Expect>,
    target: SocketAddr,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| FailureKind::Socket(cause(&e)))?;
    socket
        .connect(target)
        .await
        .map_err(|e| FailureKind::Connect(cause(&e)))?;
    match before(deadline, socket.send(send)).await {
        None => return Err(FailureKind::WriteTimeout),
        Some(Err(e)) => return Err(FailureKind::Write(cause(&e))),
        Some(Ok(_)) => {}
    }
    let mut buf = [0u8; UDP_REPLY_CAP];
    let n = match before(deadline, socket.recv(&mut buf)).await {
        None => return Err(FailureKind::ReadTimeout { received: 0 }),
        Some(Err(e)) => return Err(FailureKind::Read(cause(&e))),
        Some(Ok(n)) => n,
    };
    let reply = &buf[..n];
    match expect {
        None => Ok(()),
        Some(Expect::AnyByte) if reply.is_empty() => Err(FailureKind::TooShort {
            received: 0,
            expected: 1,
        }),
        Some(Expect::AnyByte) => Ok(()),
        Some(Expect::Prefix(p)) => {
            let common = reply.len().min(p.len());
            if reply[..common] != p[..common] {
                Err(FailureKind::Mismatch)
            } else if reply.len() < p.len() {
                Err(FailureKind::TooShort {
                    received: reply.len(),
                    expected: p.len(),
                })
            } else {
                Ok(())
            }
        }
        Some(Expect::Regex(re)) if re.is_match(reply) => Ok(()),
        Some(Expect::Regex(_)) => Err(FailureKind::Mismatch),
    }
}

/// SIGKILL to a program's whole process group when dropped, unless disarmed. Declared after the
/// `Child` it guards, so it is dropped first: the group leader is then not yet reaped, and its
/// pid (the group id) cannot have been reused.
#[derive(Debug)]
struct GroupKill(Option<Pid>);

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (group already gone) is fine.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn program(
    program: &Program,
    expect: Option<&[u8]>,
    target: SocketAddr,
    deadline: &mut Pin<&mut Sleep>,
) -> Result<(), FailureKind> {
    let argv = program.argv(target);
    let Some((path, args)) = argv.split_first() else {
        return Err(FailureKind::ProgramSpawn(IoCause {
            kind: io::ErrorKind::InvalidInput,
            errno: None,
        }));
    };
    let mut cmd = Command::new(path);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| FailureKind::ProgramSpawn(cause(&e)))?;
    let mut group = GroupKill(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );

    let mut out = [0u8; PROGRAM_OUTPUT_CAP];
    let mut len = 0;
    if let Some(mut stdout) = child.stdout.take() {
        match before(deadline, read_output(&mut stdout, &mut out)).await {
            None => return Err(timed_out(child, group).await),
            Some(n) => len = n,
        }
        // Closing our end makes a program still writing past the cap get EPIPE/SIGPIPE.
        drop(stdout);
    }
    let status = match before(deadline, child.wait()).await {
        None => return Err(timed_out(child, group).await),
        Some(Err(e)) => return Err(FailureKind::ProgramSpawn(cause(&e))),
        Some(Ok(status)) => status,
    };
    // Reaped: the group id may be reused from now on, never signal it again.
    group.disarm();

    if !status.success() {
        use std::os::unix::process::ExitStatusExt as _;
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => ExitKind::Code(code),
            (None, Some(sig)) => ExitKind::Signal(sig),
            (None, None) => ExitKind::Code(-1),
        };
        return Err(FailureKind::ProgramExit(how));
    }
    match expect {
        None => Ok(()),
        // nanny: `buf[rc - 1] = '\0'` (chop the assumed newline), then strcmp.
        Some(e) if out[..len.saturating_sub(1)] == *e => Ok(()),
        Some(_) => Err(FailureKind::Mismatch),
    }
}

/// Read stdout until EOF, keeping the first `buf.len()` bytes; stops at the cap. A read error
/// ends the output like EOF.
async fn read_output(stdout: &mut ChildStdout, buf: &mut [u8]) -> usize {
    let mut len = 0;
    while len < buf.len() {
        match stdout.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    len
}

/// The deadline passed: kill the whole group (before reaping), then reap the leader.
async fn timed_out(mut child: Child, mut group: GroupKill) -> FailureKind {
    group.kill();
    let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
    FailureKind::ProgramTimeout
}
