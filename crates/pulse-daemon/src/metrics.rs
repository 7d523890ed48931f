//! The Prometheus/OpenMetrics endpoint (`metrics_port`, `metrics_address` in lvs.cf; off by
//! default, loopback unless told otherwise). A deliberately small HTTP/1.x server: one
//! `GET /metrics` per connection, answered and closed. The exposition itself is
//! `pulse_metrics::render`; this module only moves bytes.
//!
//! A scrape asks the driver loop for pulse's status (a channel round trip, so the loop never
//! waits on a slow client), then asks lvsd over its control socket with a short timeout: a busy
//! or hung lvsd costs the scrape its `lvs_*` metrics, never pulse's heartbeat.
//!
//! Clients cannot block each other or pulse: every connection is its own task with its own
//! timeouts, at most [`MAX_CLIENTS`] are open (at the limit a new one displaces the oldest that
//! has not sent its request yet, so idle connections never hold a scrape back), and failed
//! accepts (out of file descriptors) pause the accept loop instead of spinning. The pieces are
//! the control socket's: `pulse_control::server::{ConnectionSlots, AcceptBackoff}`.

use pulse_control::server::{AcceptBackoff, ConnectionSlots, Slot};
use pulse_control::{Request, Response, Status};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// A scrape's request for pulse's status, answered by the driver loop.
pub(crate) type StatusRequest = oneshot::Sender<Status>;

/// Longest request head read.
const MAX_HEAD: usize = 8192;
/// A client has this long to send its request head, and again to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// lvsd has this long to answer a scrape.
const LVSD_TIMEOUT: Duration = Duration::from_secs(2);
/// The driver loop has this long to give its status (it answers at once unless stopping).
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections open at once. A Prometheus server scrapes with one; a few more cover ad-hoc
/// `curl`s. Idle ones beyond it are displaced, so the number bounds descriptors, not scrapes.
const MAX_CLIENTS: usize = 64;

/// Listens on `addr` and serves scrapes until the runtime ends. Must be called inside a tokio
/// runtime.
pub(crate) async fn serve(
    addr: SocketAddr,
    lvsd_socket: PathBuf,
    status: mpsc::Sender<StatusRequest>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for metrics: {e}"),
        )
    })?;
    info!(address = %addr, "metrics endpoint listening");
    let slots = ConnectionSlots::new("metrics endpoint", MAX_CLIENTS);
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::new("metrics endpoint");
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(e) => {
                    tokio::time::sleep(backoff.failed(&e)).await;
                    continue;
                }
            };
            // Dropping a refused stream closes it.
            if let Some(slot) = slots.admit() {
                tokio::spawn(serve_one(
                    stream,
                    peer,
                    slot,
                    status.clone(),
                    lvsd_socket.clone(),
                ));
            }
        }
    });
    Ok(())
}

/// One connection: its request head within [`CLIENT_TIMEOUT`] (unless a newer connection
/// displaces it first), then the answer, taken within [`CLIENT_TIMEOUT`] of being ready.
async fn serve_one(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut slot: Slot,
    status: mpsc::Sender<StatusRequest>,
    lvsd_socket: PathBuf,
) {
    let head = tokio::select! {
        head = tokio::time::timeout(CLIENT_TIMEOUT, read_head(&mut stream)) => head,
        () = slot.evicted() => {
            debug!(%peer, "idle metrics connection closed to make room for a new one");
            return;
        }
    };
    slot.busy();
    let head = match head {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "metrics client went away");
            return;
        }
        Err(_) => {
            debug!(%peer, timeout = ?CLIENT_TIMEOUT, "metrics client sent no request in time");
            return;
        }
    };
    let answer = answer(&head, &status, lvsd_socket).await;
    match tokio::time::timeout(CLIENT_TIMEOUT, send(&mut stream, answer)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, error = %e, "metrics client went away"),
        Err(_) => {
            debug!(%peer, timeout = ?CLIENT_TIMEOUT, "metrics client did not take its answer in time")
        }
    }
}

/// An HTTP answer: status code, content type, body.
type Answer = (u16, &'static str, String);

async fn answer(head: &[u8], status: &mpsc::Sender<StatusRequest>, lvsd_socket: PathBuf) -> Answer {
    match parse_request_line(head) {
        Err(code) => (
            code,
            "text/plain; charset=utf-8",
            reason(code).to_string() + "\n",
        ),
        Ok(("GET", "/metrics")) => match scrape(status, lvsd_socket).await {
            Some(text) => (200, pulse_metrics::CONTENT_TYPE, text),
            None => (
                503,
                "text/plain; charset=utf-8",
                "pulse is shutting down or busy\n".into(),
            ),
        },
        Ok(("GET", "/")) => (
            200,
            "text/plain; charset=utf-8",
            "pulse: metrics at /metrics\n".into(),
        ),
        Ok(("GET", _)) => (
            404,
            "text/plain; charset=utf-8",
            "not found; try /metrics\n".into(),
        ),
        Ok(_) => (405, "text/plain; charset=utf-8", "only GET\n".into()),
    }
}

async fn send(stream: &mut TcpStream, (code, content_type, body): Answer) -> std::io::Result<()> {
    let allow = if code == 405 { "Allow: GET\r\n" } else { "" };
    let header = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    stream.write_all(header.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads up to the blank line that ends the request head (the body of a GET is ignored).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break; // a client that half-closes after the request line still gets an answer
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            head.truncate(MAX_HEAD);
            break;
        }
    }
    Ok(head)
}

/// `METHOD TARGET HTTP/1.x` → (method, path without query); an HTTP status code if it is not.
fn parse_request_line(head: &[u8]) -> Result<(&str, &str), u16> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| 400u16)?.trim_end();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if head.len() >= MAX_HEAD { 431 } else { 400 });
    };
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok((method, path))
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// pulse's status from the driver loop, then lvsd's, rendered.
async fn scrape(status: &mpsc::Sender<StatusRequest>, lvsd_socket: PathBuf) -> Option<String> {
    let (tx, rx) = oneshot::channel();
    let st = tokio::time::timeout(STATUS_TIMEOUT, async {
        status.send(tx).await.ok()?;
        rx.await.ok()
    })
    .await
    .ok()
    .flatten()?;
    let lvs = if st.lvsd_running {
        match pulse_control::call_async(&lvsd_socket, &Request::Lvs, LVSD_TIMEOUT).await {
            Ok(Response::Lvs { lvs }) => Some(lvs),
            Ok(other) => {
                warn!(socket = %lvsd_socket.display(), answer = ?other, "lvsd gave the metrics scrape an unexpected answer");
                None
            }
            Err(e) => {
                // lvsd may be starting (no socket yet) or busy with a large reload.
                debug!(socket = %lvsd_socket.display(), error = %e, "lvsd did not answer the metrics scrape");
                None
            }
        }
    } else {
        None
    };
    let view = match (lvs, st.lvsd_running) {
        (Some(l), _) => pulse_metrics::Lvsd::Status(l),
        (None, true) => pulse_metrics::Lvsd::Unreachable,
        (None, false) => pulse_metrics::Lvsd::NotRunning,
    };
    Some(pulse_metrics::render(st, view))
}

#[cfg(test)]
mod tests {
    use super::parse_request_line;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(("GET", "/metrics"))
        );
        assert_eq!(
            parse_request_line(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Ok(("GET", "/metrics"))
        );
        assert_eq!(parse_request_line(b"GET /metrics\r\n\r\n"), Err(400));
        assert_eq!(parse_request_line(b"\xff\xfe\r\n\r\n"), Err(400));
        assert_eq!(parse_request_line(b"GET / HTTP/2\r\n\r\n"), Err(505));
        assert_eq!(parse_request_line(b""), Err(400));
    }
}
