//! The client's traffic through the VIP and what it measured: outages, answers per server.

use super::PairBed;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
/// One request of [`Traffic`].
#[derive(Clone, Debug)]
pub struct Record {
    /// When it was sent.
    pub sent: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// The server that answered, or why none did.
    pub result: Result<String, ErrorKind>,
}

/// A client sending one HTTP GET to the VIP every `interval`, each on a thread of its own
/// (so a lost request does not delay the next), with a connect/read timeout.
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    /// The probes' connect and read timeout.
    pub const TIMEOUT: Duration = Duration::from_millis(200);

    /// Starts sending from the bed's client.
    pub fn start(bed: &PairBed, interval: Duration) -> Self {
        Self::start_to(&bed.ns("cl"), bed.config.vip_port(), interval)
    }

    /// Starts sending from namespace `client_ns` to `to` (any bed's client, any VIP).
    pub fn start_to(client_ns: &str, to: SocketAddr, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let path = format!("/var/run/netns/{client_ns}");
        let (flag, recs) = (stop.clone(), records.clone());
        let thread = std::thread::spawn(move || {
            // Threads spawned from here share this thread's network namespace.
            crate::lvs_bed::enter(&path);
            let start = Instant::now();
            let mut workers = Vec::new();
            let mut k: u32 = 0;
            while !flag.load(Ordering::Relaxed) {
                let recs = recs.clone();
                workers.push(std::thread::spawn(move || {
                    let sent = SystemTime::now();
                    let t = Instant::now();
                    let result = request(to);
                    let r = Record {
                        sent,
                        took: t.elapsed(),
                        result,
                    };
                    recs.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }));
                workers.retain(|w| !w.is_finished());
                k += 1;
                let next = start + interval * k;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Self {
            stop,
            records,
            thread: Some(thread),
        }
    }

    /// How many requests have finished so far.
    pub fn count(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A copy of the finished requests so far, by time sent.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut r = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        r.sort_by_key(|r| r.sent);
        r
    }

    /// Stops sending, waits for the requests in flight; all records by time sent.
    pub fn stop(mut self) -> Vec<Record> {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One HTTP/1.0 GET; the answering server's name (the body, trimmed).
fn request(to: SocketAddr) -> Result<String, ErrorKind> {
    // A read timeout is `WouldBlock` on Linux: call it what it is.
    let kind = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock => ErrorKind::TimedOut,
        k => k,
    };
    let mut s = TcpStream::connect_timeout(&to, Traffic::TIMEOUT).map_err(kind)?;
    s.set_read_timeout(Some(Traffic::TIMEOUT)).map_err(kind)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(kind)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(kind)?;
    if buf.is_empty() {
        // Connected, but the server closed without an answer (the request was lost).
        return Err(ErrorKind::UnexpectedEof);
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ErrorKind::InvalidData)?;
    // The bed's servers answer HTTP/1.0; busybox httpd (the fos services) HTTP/1.1.
    if !(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")) {
        return Err(ErrorKind::InvalidData);
    }
    Ok(body.trim().to_string())
}

/// A stretch of failed requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The last success before it (if any).
    pub last_ok: Option<SystemTime>,
    /// The first failed request.
    pub first_failure: SystemTime,
    /// The next successful request (`None`: none came).
    pub next_ok: Option<SystemTime>,
    /// How many requests failed.
    pub failures: usize,
}

impl Outage {
    /// From the first failed request to the next successful one (to `end` if none came).
    pub fn duration(&self, end: SystemTime) -> Duration {
        self.next_ok
            .unwrap_or(end)
            .duration_since(self.first_failure)
            .unwrap_or_default()
    }

    /// From the last success before it to the next one: an upper bound of the service gap.
    pub fn upper_bound(&self, end: SystemTime) -> Duration {
        self.next_ok
            .unwrap_or(end)
            .duration_since(self.last_ok.unwrap_or(self.first_failure))
            .unwrap_or_default()
    }
}

/// Every stretch of failures in `records` (sorted by time sent).
pub fn outages(records: &[Record]) -> Vec<Outage> {
    let mut out: Vec<Outage> = Vec::new();
    let mut last_ok = None;
    let mut current: Option<Outage> = None;
    for r in records {
        match (&r.result, current.as_mut()) {
            (Ok(_), Some(o)) => {
                o.next_ok = Some(r.sent);
                out.extend(current.take());
                last_ok = Some(r.sent);
            }
            (Ok(_), None) => last_ok = Some(r.sent),
            (Err(_), Some(o)) => o.failures += 1,
            (Err(_), None) => {
                current = Some(Outage {
                    last_ok,
                    first_failure: r.sent,
                    next_ok: None,
                    failures: 1,
                })
            }
        }
    }
    out.extend(current);
    out
}

/// The longest stretch of failures in `records` (by [`Outage::duration`]).
pub fn longest_outage(records: &[Record]) -> Option<Outage> {
    let end = records.last().map(|r| r.sent)?;
    outages(records).into_iter().max_by_key(|o| o.duration(end))
}

/// How many requests each server answered.
pub fn per_server(records: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Ok(s) = &r.result {
            *m.entry(s.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// How many requests failed, by kind.
pub fn failures(records: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Err(e) = &r.result {
            *m.entry(format!("{e:?}")).or_insert(0) += 1;
        }
    }
    m
}

/// The first successful request sent at or after `t`.
pub fn first_ok_after(records: &[Record], t: SystemTime) -> Option<&Record> {
    records.iter().find(|r| r.sent >= t && r.result.is_ok())
}

/// Milliseconds between two times (0 if `b` is before `a`).
pub fn ms_between(a: SystemTime, b: SystemTime) -> u128 {
    b.duration_since(a).unwrap_or_default().as_millis()
}
