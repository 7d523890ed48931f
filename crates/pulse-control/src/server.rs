//! The daemons' side of the control socket: `pulsectl` talks to a running `pulse` or `lvsd` here.
//!
//! Clients cannot hurt the daemon. Each connection is its own task, so a slow one delays only
//! itself; it has [`Limits::client_timeout`] to send its request line (at most
//! [`Limits::max_request`] bytes). Taking the answer is bounded by progress, not by one fixed
//! time, because lvsd's status grows with the table (18 MB of JSON for 40,000 real servers): a
//! client that takes nothing for [`Limits::client_timeout`] is cut off, and so is one that has
//! not taken the whole answer after [`Limits::answer_write_time`] (the client timeout plus the
//! answer's size at [`Limits::min_answer_rate`]), so a client reading a byte now and then holds
//! its slot no longer than one reading slowly but steadily. At most
//! [`Limits::max_connections`] are open at once ([`ConnectionSlots`]): at the limit a new
//! connection displaces the oldest one that has not sent its request yet, so idle connections
//! can never lock `pulsectl` out, and is closed at once only when every slot is serving a
//! request. Accept errors (out of file descriptors: `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`)
//! pause the accept loop ([`AcceptBackoff`]) instead of retrying at once: the pending connection
//! stays in the kernel's queue and the socket stays readable, so an immediate retry would spin
//! (and pulse runs under `SCHED_FIFO`). The metrics endpoint uses the same two pieces.

use crate::{Request, Response};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// A request and where its answer goes.
pub type Call = (Request, oneshot::Sender<Response>);

/// What one listener allows its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// A client has this long to send its whole request line; taking the answer, it may go
    /// this long without taking a byte.
    pub client_timeout: Duration,
    /// Longest request line, in bytes, newline included.
    pub max_request: usize,
    /// The daemon has this long to answer; every client gives up well before (pulsectl after
    /// 5 s), so a later answer would only hold a slot.
    pub answer_timeout: Duration,
    /// The slowest a client may take its answer, in bytes per second, on top of
    /// `client_timeout` ([`Limits::answer_write_time`]).
    pub min_answer_rate: u64,
}

impl Limits {
    /// The longest a client may take to read an answer of `len` bytes: `client_timeout`, plus
    /// `len` at `min_answer_rate`. A fixed deadline would cut off a large status answer to a
    /// client reading at full speed on a busy daemon; this one still bounds a slow reader.
    pub fn answer_write_time(&self, len: usize) -> Duration {
        let rate = self.min_answer_rate.max(1);
        self.client_timeout + Duration::from_secs_f64(len as f64 / rate as f64)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Far above what operators and the partner daemon open at once, far below the
            // default 1,024-descriptor limit.
            max_connections: 64,
            client_timeout: Duration::from_secs(5),
            max_request: 4096,
            answer_timeout: Duration::from_secs(30),
            // 256 KiB/s (a 2 Mbit/s link): pulsectl reads a local socket orders of magnitude
            // faster; lvsd's 18 MB status of 40,000 real servers gets 5 s + 69 s, a small
            // answer barely more than 5 s. A client that stops is still cut off after 5 s.
            min_answer_rate: 256 << 10,
        }
    }
}

/// Listens on `path` (mode 0600, root only) with the default [`Limits`]; requests come out of
/// the returned channel. Must be called inside a tokio runtime.
pub fn listen(path: &Path) -> std::io::Result<mpsc::Receiver<Call>> {
    listen_with(path, Limits::default())
}

/// [`listen`] with other limits. The listener stops when the returned receiver is dropped.
pub fn listen_with(path: &Path, limits: Limits) -> std::io::Result<mpsc::Receiver<Call>> {
    // A socket file left by a killed pulse would make bind fail.
    let _ = std::fs::remove_file(path);
    let context = |what: &str, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
    };
    let listener = UnixListener::bind(path).map_err(|e| context("listen on", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| context("restrict", e))?;
    let (tx, rx) = mpsc::channel::<Call>(8);
    let slots = ConnectionSlots::new("control socket", limits.max_connections);
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::new("control socket");
        loop {
            let accepted = tokio::select! {
                biased;
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    stream
                }
                Err(e) => {
                    tokio::time::sleep(backoff.failed(&e)).await;
                    continue;
                }
            };
            // Dropping a refused stream closes it: the client reads EOF at once.
            if let Some(slot) = slots.admit() {
                tokio::spawn(serve_one(stream, slot, tx.clone(), limits));
            }
        }
    });
    Ok(rx)
}

/// One connection: a request line, the daemon's answer, close.
async fn serve_one(stream: UnixStream, mut slot: Slot, tx: mpsc::Sender<Call>, limits: Limits) {
    let (read, mut write) = stream.into_split();
    // One byte more than allowed, to tell a full-length line from a longer one.
    let mut reader = BufReader::new(read.take(limits.max_request as u64 + 1));
    let mut line = Vec::new();
    let read = tokio::select! {
        read = tokio::time::timeout(limits.client_timeout, reader.read_until(b'\n', &mut line)) => read,
        () = slot.evicted() => {
            debug!("idle control connection closed to make room for a new one");
            return;
        }
    };
    slot.busy();
    let answer = match read {
        Err(_) => {
            debug!(timeout = ?limits.client_timeout, "control client sent no request in time");
            return;
        }
        Ok(Ok(0)) => return, // connected and closed: nothing to answer
        Ok(Err(e)) => Response::Error {
            message: format!("bad request: {e}"),
        },
        Ok(Ok(_)) if line.len() > limits.max_request => Response::Error {
            message: format!("bad request: longer than {} bytes", limits.max_request),
        },
        Ok(Ok(_)) => match serde_json::from_slice::<Request>(line.trim_ascii()) {
            Ok(req) => ask(&tx, req, limits.answer_timeout).await,
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
        },
    };
    let mut out = serde_json::to_vec(&answer).unwrap_or_default();
    out.push(b'\n');
    write_answer(&mut write, &out, limits).await;
}

/// Writes `out` to the client, giving up when it takes nothing for `client_timeout` or has not
/// taken everything within [`Limits::answer_write_time`]; dropping the stream then closes it.
async fn write_answer<W: AsyncWrite + Unpin>(write: &mut W, out: &[u8], limits: Limits) {
    let whole = limits.answer_write_time(out.len());
    let deadline = tokio::time::Instant::now() + whole;
    let mut taken = 0;
    while taken < out.len() {
        let step = tokio::time::timeout(limits.client_timeout, write.write(&out[taken..]));
        match tokio::time::timeout_at(deadline, step).await {
            Ok(Ok(Ok(0))) => {
                debug!("control client went away");
                return;
            }
            Ok(Ok(Ok(n))) => taken += n,
            Ok(Ok(Err(e))) => {
                debug!(error = %e, taken, len = out.len(), "control client went away");
                return;
            }
            Ok(Err(_)) => {
                debug!(timeout = ?limits.client_timeout, taken, len = out.len(), "control client stopped taking its answer");
                return;
            }
            Err(_) => {
                debug!(timeout = ?whole, taken, len = out.len(), "control client did not take its answer in time");
                return;
            }
        }
    }
}

/// Hands `req` to the daemon and waits for its answer.
async fn ask(tx: &mpsc::Sender<Call>, req: Request, within: Duration) -> Response {
    let shutting_down = || Response::Error {
        message: "the daemon is shutting down".into(),
    };
    let (otx, orx) = oneshot::channel();
    let asked = async {
        if tx.send((req, otx)).await.is_err() {
            return shutting_down();
        }
        orx.await.unwrap_or_else(|_| shutting_down())
    };
    tokio::time::timeout(within, asked)
        .await
        .unwrap_or_else(|_| Response::Error {
            message: format!("the daemon did not answer within {within:?}"),
        })
}

/// How often a listener at its connection limit says so.
const LIMIT_REPORT_EVERY: Duration = Duration::from_secs(10);

/// The open connections of one listener, at most `max`. A connection holds a [`Slot`] from
/// accept to close; it is *idle* until it calls [`Slot::busy`] (its request has arrived). At
/// the limit, [`ConnectionSlots::admit`] takes the slot of the oldest idle connection (which
/// sees [`Slot::evicted`] and closes); with none idle, it refuses. File descriptors held: at
/// most `max` plus the displaced connections whose tasks have not run yet.
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    table: Arc<Mutex<SlotTable>>,
}

#[derive(Debug)]
struct SlotTable {
    listener: &'static str,
    max: usize,
    /// Slots taken (displaced connections no longer count).
    open: usize,
    next_id: u64,
    /// Idle connections, oldest first, with the sender that displaces each.
    idle: VecDeque<(u64, oneshot::Sender<()>)>,
    totals: SlotStats,
    /// Counts since the last report, and when it was.
    unreported: SlotStats,
    reported_at: Option<Instant>,
}

/// What a listener's limit did since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// New connections closed at once: every slot was serving a request.
    pub refused: u64,
    /// Idle connections closed to make room for a new one.
    pub displaced: u64,
}

impl ConnectionSlots {
    /// Slots for `max` connections (at least one) of the listener named `listener` in logs.
    pub fn new(listener: &'static str, max: usize) -> Self {
        Self {
            table: Arc::new(Mutex::new(SlotTable {
                listener,
                max: max.max(1),
                open: 0,
                next_id: 0,
                idle: VecDeque::new(),
                totals: SlotStats::default(),
                unreported: SlotStats::default(),
                reported_at: None,
            })),
        }
    }

    /// A slot for a connection just accepted, or `None`: close it.
    pub fn admit(&self) -> Option<Slot> {
        let mut t = lock(&self.table);
        if t.open >= t.max {
            match t.idle.pop_front() {
                Some((_, displace)) => {
                    let _ = displace.send(());
                    t.open -= 1;
                    t.totals.displaced += 1;
                    t.unreported.displaced += 1;
                }
                None => {
                    t.totals.refused += 1;
                    t.unreported.refused += 1;
                }
            }
            t.report();
            if t.open >= t.max {
                return None;
            }
        }
        let id = t.next_id;
        t.next_id += 1;
        t.open += 1;
        let (displace, displaced) = oneshot::channel();
        t.idle.push_back((id, displace));
        Some(Slot {
            id,
            table: Arc::clone(&self.table),
            displaced,
            was_displaced: false,
            displaced_closed: false,
        })
    }

    /// Connections open now (displaced ones not counted).
    pub fn open(&self) -> usize {
        lock(&self.table).open
    }

    /// Refusals and displacements since start.
    pub fn stats(&self) -> SlotStats {
        lock(&self.table).totals
    }
}

impl SlotTable {
    /// One warning per [`LIMIT_REPORT_EVERY`] at most, with the counts since the last.
    fn report(&mut self) {
        let now = Instant::now();
        if self
            .reported_at
            .is_some_and(|at| now.duration_since(at) < LIMIT_REPORT_EVERY)
        {
            return;
        }
        warn!(
            listener = self.listener,
            limit = self.max,
            refused = self.unreported.refused,
            idle_closed = self.unreported.displaced,
            "connection limit reached: closing idle connections, refusing new ones while all are busy"
        );
        self.unreported = SlotStats::default();
        self.reported_at = Some(now);
    }
}

fn lock(table: &Mutex<SlotTable>) -> std::sync::MutexGuard<'_, SlotTable> {
    // Nothing panics while holding it; if something did, the counts are still usable.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection's place in its listener's [`ConnectionSlots`]; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    table: Arc<Mutex<SlotTable>>,
    displaced: oneshot::Receiver<()>,
    was_displaced: bool,
    /// `displaced` answered that its sender is gone ([`Slot::busy`]).
    displaced_closed: bool,
}

impl Slot {
    /// Resolves when a newer connection took this idle one's place: close it. Never resolves
    /// after [`Slot::busy`]. Race it against reading the request.
    pub async fn evicted(&mut self) {
        if self.was_displaced {
            return;
        }
        // A oneshot receiver must not be polled again once it has answered.
        if !self.displaced_closed {
            if (&mut self.displaced).await.is_ok() {
                self.was_displaced = true;
                return;
            }
            self.displaced_closed = true;
        }
        std::future::pending::<()>().await;
    }

    /// The request arrived: from now on this connection is not displaced (its own timeouts
    /// bound it).
    pub fn busy(&mut self) {
        let mut t = lock(&self.table);
        t.idle.retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = lock(&self.table);
        // Displacement sends under the lock and already gave the place up.
        let displaced =
            self.was_displaced || (!self.displaced_closed && self.displaced.try_recv().is_ok());
        if !displaced {
            t.open = t.open.saturating_sub(1);
            t.idle.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The pause before the next `accept` after one failed: 100 ms, doubling to 1 s, back to none
/// after a success.
#[derive(Debug)]
pub struct AcceptBackoff {
    listener: &'static str,
    pause: Duration,
    failures: u64,
}

/// The first pause.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// The longest pause: a connection waits at most this long after descriptors free up.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

impl AcceptBackoff {
    /// No pause yet, for the listener named `listener` in logs.
    pub fn new(listener: &'static str) -> Self {
        Self {
            listener,
            pause: Duration::ZERO,
            failures: 0,
        }
    }

    /// An accept succeeded.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            info!(
                listener = self.listener,
                failures = self.failures,
                "accepting connections again"
            );
        }
        self.pause = Duration::ZERO;
        self.failures = 0;
    }

    /// An accept failed with `e`: how long to wait before the next. Errors that consumed the
    /// pending connection (the client gave up; a signal) cannot spin: no pause for them.
    pub fn failed(&mut self, e: &std::io::Error) -> Duration {
        if matches!(
            e.kind(),
            ErrorKind::ConnectionAborted | ErrorKind::Interrupted
        ) {
            debug!(listener = self.listener, error = %e, "accept: connection gone before it was taken");
            return Duration::ZERO;
        }
        self.pause = (self.pause * 2).clamp(BACKOFF_FIRST, BACKOFF_MAX);
        self.failures += 1;
        if self.failures == 1 {
            warn!(
                listener = self.listener,
                error = %e,
                pause_ms = self.pause.as_millis() as u64,
                "cannot accept connections (out of file descriptors?); pausing, then retrying"
            );
        } else {
            debug!(listener = self.listener, error = %e, pause_ms = self.pause.as_millis() as u64, "accept still failing");
        }
        self.pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_deadline_grows_with_the_answer() {
        let l = Limits::default();
        assert_eq!(l.answer_write_time(0), Duration::from_secs(5));
        // 6 MiB at 256 KiB/s: 24 s more.
        assert_eq!(l.answer_write_time(6 << 20), Duration::from_secs(29));
        let zero = Limits {
            min_answer_rate: 0,
            ..l
        };
        assert!(zero.answer_write_time(1 << 20) > Duration::from_secs(1000));
    }

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::new("test");
        let emfile = std::io::Error::from_raw_os_error(24);
        let pauses: Vec<u64> = (0..6)
            .map(|_| b.failed(&emfile).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
        let aborted = std::io::Error::from(ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&aborted), Duration::ZERO);
        b.succeeded();
        assert_eq!(b.failed(&emfile), Duration::from_millis(100));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_oldest_idle_connection_makes_room_and_busy_ones_do_not() {
        let slots = ConnectionSlots::new("test", 2);
        let mut first = slots.admit().expect("room");
        let mut second = slots.admit().expect("room");
        second.busy();
        // Full: the third displaces the oldest idle one (the first), not the busy second.
        let third = slots.admit().expect("room made");
        tokio::time::timeout(Duration::from_secs(1), first.evicted())
            .await
            .expect("the first is told to close");
        assert_eq!(slots.open(), 2);
        drop(first);
        assert_eq!(slots.open(), 2, "a displaced slot is not freed twice");
        let mut third = third;
        third.busy();
        // Both busy: refused.
        assert!(slots.admit().is_none());
        assert_eq!(
            slots.stats(),
            SlotStats {
                refused: 1,
                displaced: 1
            }
        );
        // A busy one is never displaced.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.evicted())
                .await
                .is_err()
        );
        drop(third);
        assert_eq!(slots.open(), 1);
        assert!(slots.admit().is_some());
    }
}
