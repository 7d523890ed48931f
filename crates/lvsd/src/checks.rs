//! The check tasks: one tokio task per distinct check (the same probe of the same address and
//! port with the same period is run once, however many virtual services list that server), each
//! reporting its results to the daemon loop. Which checks exist is `pulse_lvs::Supervisor`'s
//! decision; this module only runs them.
//!
//! Timing: the first check runs after a random delay below `min(period, 1 s)` — soon, because a
//! freshly activated director needs its servers admitted, but not all at the same instant. The
//! second check is placed at a random phase between half a period and one and a half periods
//! later, and every later one a period after that, so that a large table settles into an even
//! spread instead of a burst every period (piranha's nannies all started together).
//!
//! TLS checks (`check_tls`) take one of [`TLS_IN_FLIGHT`] slots for the whole probe, waiting
//! for it before the probe's own timeout starts: a handshake costs about 200 µs of CPU where a
//! TCP check costs 20, and at start 40,000 first checks fall within one second. Without the
//! cap they all connected at once, overflowed the servers' accept queues and lvsd's descriptor
//! limit and held 500 MB of TLS buffers, and most timed out (docs/benchmarks.md, issue 14).
//! Waiting is not failing: a slow turn delays a check, it never counts against the server.

use pulse_check::CheckSpec;
use pulse_lvs::CheckKey;
use rustc_hash::FxHashMap as HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// TLS probes running at once, at most. Each holds a socket and rustls's buffers (≈ 25 KB);
/// at ≈ 200 µs of CPU per handshake, 1,024 in flight is far more than two threads can keep busy
/// against servers that answer, and leaves room for as many that hang until their timeout.
pub(crate) const TLS_IN_FLIGHT: usize = 1024;

/// One finished check.
#[derive(Debug)]
pub(crate) struct CheckResult {
    pub(crate) key: CheckKey,
    pub(crate) result: Result<(), String>,
    /// How long the probe took.
    pub(crate) took: Duration,
}

/// The running check tasks, by the supervisor's key. Which checks run is the supervisor's
/// decision (`pulse_lvs::CheckChange`); this only starts and stops tasks.
#[derive(Debug)]
pub(crate) struct Checks {
    tasks: HashMap<CheckKey, JoinHandle<()>>,
    tx: mpsc::Sender<CheckResult>,
    jitter: std::hash::RandomState,
    tls_slots: Arc<tokio::sync::Semaphore>,
}

impl Checks {
    pub(crate) fn new(tx: mpsc::Sender<CheckResult>) -> Self {
        Self {
            tasks: HashMap::default(),
            tx,
            jitter: std::hash::RandomState::new(),
            tls_slots: Arc::new(tokio::sync::Semaphore::new(TLS_IN_FLIGHT)),
        }
    }

    /// Starts probing `key.target` with `spec` every `key.period`, first after a random delay
    /// below `min(period, 1 s)`. A check already running keeps its schedule.
    pub(crate) fn start(&mut self, key: CheckKey, spec: Arc<CheckSpec>) {
        if self.tasks.contains_key(&key) {
            return;
        }
        let (first, phase) = self.delays(&key);
        let slots = spec.tls().is_some().then(|| self.tls_slots.clone());
        let handle = tokio::spawn(run(key, spec, first, phase, self.tx.clone(), slots));
        self.tasks.insert(key, handle);
    }

    /// Stops a check (a result it already sent is still delivered; the supervisor ignores it).
    pub(crate) fn stop(&mut self, key: &CheckKey) {
        if let Some(h) = self.tasks.remove(key) {
            h.abort();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(crate) fn stop_all(&mut self) {
        for (_, h) in self.tasks.drain() {
            h.abort();
        }
    }

    /// (first delay, phase of the second check) for a check.
    fn delays(&self, key: &CheckKey) -> (Duration, Duration) {
        let h = self.jitter.hash_one(key);
        let frac = |bits: u64| (bits & 0xffff_ffff) as f64 / 4_294_967_296.0;
        let first = key.period.min(Duration::from_secs(1)).mul_f64(frac(h));
        let phase = key.period.mul_f64(0.5 + frac(h >> 32));
        (first, phase)
    }
}

async fn run(
    key: CheckKey,
    spec: Arc<CheckSpec>,
    first: Duration,
    phase: Duration,
    tx: mpsc::Sender<CheckResult>,
    slots: Option<Arc<tokio::sync::Semaphore>>,
) {
    let CheckKey { target, period, .. } = key;
    let start = Instant::now();
    tokio::time::sleep_until(start + first).await;
    let mut next = start + first + phase;
    // TLS sessions of this target, resumed from one check to the next (pulse_check::tls).
    let mut resume = pulse_check::Resume::default();
    loop {
        // The probe's own timeout is the period (docs/reference/piranha.md §6.3: `timeout` is both). Boxed:
        // a probe's future holds its read buffers (kilobytes), which an idle task between
        // checks should not (40,000 tasks).
        // (never closed, so acquiring only waits)
        let slot = match &slots {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let began = Instant::now();
        let result = Box::pin(pulse_check::probe::run_resuming(
            &spec,
            target,
            period,
            Some(&mut resume),
        ))
        .await
        .map_err(|e| e.to_string());
        let took = began.elapsed();
        drop(slot);
        if tx.send(CheckResult { key, result, took }).await.is_err() {
            return; // the daemon is gone
        }
        let now = Instant::now();
        if next < now {
            next = now; // a probe that took the whole period: check again at once, no backlog
        }
        tokio::time::sleep_until(next).await;
        next += period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// More TLS checks than slots, against a server that accepts and never answers: exactly
    /// `TLS_IN_FLIGHT` connections are open at once, and none of the waiting checks fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_probes_in_flight_are_capped() {
        // About 2,300 descriptors (both ends of 1,024 connections, the waiting checks' none):
        // raise a 1,024 soft limit as far as the hard one allows.
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        if soft < 4096 {
            setrlimit(Resource::RLIMIT_NOFILE, hard.min(4096), hard).unwrap();
        }
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicUsize::new(0));
        let counter = open.clone();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                held.push(s);
            }
        });
        let src = "serial_no = 1\nprimary = 192.0.2.1\nvirtual w {\n active = 1\n \
                   address = 192.0.2.9 eth0:1\n port = 443\n check_tls = 1\n \
                   check_tls_verify = 0\n}\n";
        let parsed = pulse_lvscf::parse(src);
        let mut spec = CheckSpec::from_virtual(&parsed.config.virtuals[0]).unwrap();
        pulse_check::prepare(&mut spec, "w").unwrap();
        let spec = Arc::new(spec);
        let (tx, mut rx) = mpsc::channel(4096);
        let mut checks = Checks::new(tx);
        let n = TLS_IN_FLIGHT + 200;
        for i in 0..n {
            // 127.0.x.y: all of 127/8 reaches the one listener, each a target of its own.
            let ip = std::net::Ipv4Addr::new(127, 0, (i / 250) as u8, (i % 250 + 1) as u8);
            let key = CheckKey {
                probe: 1,
                target: (ip, port).into(),
                period: Duration::from_secs(30),
            };
            checks.start(key, spec.clone());
        }
        // First checks start within a second; give the connects time to land.
        let settled = tokio::time::timeout(Duration::from_secs(20), async {
            while open.load(Ordering::Relaxed) < TLS_IN_FLIGHT {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            settled.is_ok(),
            "only {} connected",
            open.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(open.load(Ordering::Relaxed), TLS_IN_FLIGHT);
        assert!(
            rx.try_recv().is_err(),
            "a check finished (failed) while waiting"
        );
        checks.stop_all();
        server.abort();
    }
}
