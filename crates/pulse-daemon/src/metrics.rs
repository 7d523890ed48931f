//! The Prometheus/OpenMetrics endpoint (`metrics_port`, `metrics_address` in lvs.cf; off by
//! default, loopback unless told otherwise). A deliberately small HTTP/1.x server: one
//! `GET /metrics` per connection, answered and closed. The exposition itself is
//! `pulse_metrics::render`; this module only moves bytes.
//!
//! A scrape asks the driver loop for pulse's status (a channel round trip, so the loop never
//! waits on a slow client), then asks lvsd over its control socket on a blocking thread with a
//! short timeout: a busy or hung lvsd costs the scrape its `lvs_*` metrics, never pulse's
//! heartbeat.

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
/// A client has this long to send its request head, and to take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// lvsd has this long to answer a scrape.
const LVSD_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many scrapes at once; more wait in the kernel's accept queue.
const MAX_CLIENTS: usize = 16;

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
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    debug!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (status, lvsd_socket) = (status.clone(), lvsd_socket.clone());
            tokio::spawn(async move {
                let answer =
                    tokio::time::timeout(CLIENT_TIMEOUT, handle(stream, &status, lvsd_socket))
                        .await;
                if !matches!(answer, Ok(Ok(()))) {
                    debug!(%peer, "metrics client failed or timed out");
                }
                drop(permit);
            });
        }
    });
    Ok(())
}

async fn handle(
    mut stream: TcpStream,
    status: &mpsc::Sender<StatusRequest>,
    lvsd_socket: PathBuf,
) -> std::io::Result<()> {
    let head = read_head(&mut stream).await?;
    let (code, content_type, body) = match parse_request_line(&head) {
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
                "pulse is shutting down\n".into(),
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
    };
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
    status.send(tx).await.ok()?;
    let st = rx.await.ok()?;
    let lvs = if st.lvsd_running {
        tokio::task::spawn_blocking(move || {
            match pulse_control::call(&lvsd_socket, &Request::Lvs, LVSD_TIMEOUT) {
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
        })
        .await
        .ok()
        .flatten()
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
