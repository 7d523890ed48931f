//! The daemons' side of the control socket: `pulsectl` talks to a running `pulse` or `lvsd` here.

use crate::{Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// A request and where its answer goes.
pub type Call = (Request, oneshot::Sender<Response>);

/// Longest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// Listens on `path` (mode 0600, root only); requests come out of the returned channel. Must be
/// called inside a tokio runtime.
pub fn listen(path: &Path) -> std::io::Result<mpsc::Receiver<Call>> {
    // A socket file left by a killed pulse would make bind fail.
    let _ = std::fs::remove_file(path);
    let context = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
    };
    let listener = UnixListener::bind(path).map_err(|e| context("listen on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| context("restrict", e))?;
    let (tx, rx) = mpsc::channel::<Call>(8);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
                let answer = match reader.read_line(&mut line).await {
                    Ok(_) => match serde_json::from_str::<Request>(line.trim()) {
                        Ok(req) => {
                            let (otx, orx) = oneshot::channel();
                            if tx.send((req, otx)).await.is_err() {
                                return;
                            }
                            orx.await.unwrap_or(Response::Error {
                                message: "the daemon is shutting down".into(),
                            })
                        }
                        Err(e) => Response::Error {
                            message: format!("bad request: {e}"),
                        },
                    },
                    Err(e) => Response::Error {
                        message: format!("bad request: {e}"),
                    },
                };
                let mut out = serde_json::to_vec(&answer).unwrap_or_default();
                out.push(b'\n');
                if let Err(e) = write.write_all(&out).await {
                    debug!(error = %e, "control client went away");
                }
            });
        }
    });
    Ok(rx)
}
