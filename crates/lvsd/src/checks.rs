//! The check tasks: one tokio task per distinct check (the same probe of the same address and
//! port with the same period is run once, however many virtual services list that server), each
//! reporting its results to the daemon loop.
//!
//! Timing: the first check runs after a random delay below `min(period, 1 s)` — soon, because a
//! freshly activated director needs its servers admitted, but not all at the same instant. The
//! second check is placed at a random phase between half a period and one and a half periods
//! later, and every later one a period after that, so that a large table settles into an even
//! spread instead of a burst every period (piranha's nannies all started together).

use pulse_check::CheckSpec;
use rustc_hash::FxHashMap as HashMap;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What makes two checks the same check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CheckKey {
    /// A fingerprint of the probe (of `CheckSpec`'s `Debug` spelling: regexes are not `Hash`).
    pub(crate) spec: u64,
    pub(crate) target: SocketAddr,
    pub(crate) period: Duration,
}

/// One finished check.
#[derive(Debug)]
pub(crate) struct CheckResult {
    pub(crate) id: u64,
    pub(crate) result: Result<(), String>,
    /// How long the probe took.
    pub(crate) took: Duration,
}

/// Who listens to a check: an index into the daemon's table of tracked real servers (one per
/// virtual service × real server), rebuilt at every load.
pub(crate) type Subscriber = usize;

#[derive(Debug)]
struct Task {
    handle: JoinHandle<()>,
    subscribers: Vec<Subscriber>,
}

/// A check wanted by the current configuration.
#[derive(Debug)]
pub(crate) struct Wanted {
    pub(crate) key: CheckKey,
    pub(crate) spec: Arc<CheckSpec>,
    pub(crate) subscribers: Vec<Subscriber>,
}

#[derive(Debug)]
pub(crate) struct Checks {
    /// Running tasks by id: a result's subscribers are one integer lookup away (40,000 results
    /// every 10 s).
    tasks: HashMap<u64, Task>,
    by_key: HashMap<CheckKey, u64>,
    next_id: u64,
    tx: mpsc::Sender<CheckResult>,
    jitter: std::hash::RandomState,
}

impl Checks {
    pub(crate) fn new(tx: mpsc::Sender<CheckResult>) -> Self {
        Self {
            tasks: HashMap::default(),
            by_key: HashMap::default(),
            next_id: 1,
            tx,
            jitter: std::hash::RandomState::new(),
        }
    }

    /// Makes the running tasks match `wanted`: unchanged checks keep running on their schedule
    /// (a reload does not re-check everything at once), removed ones stop, new ones start.
    /// Returns (started, stopped).
    pub(crate) fn sync(&mut self, wanted: Vec<Wanted>) -> (usize, usize) {
        let mut by_key = HashMap::with_capacity_and_hasher(wanted.len(), Default::default());
        let mut tasks = HashMap::with_capacity_and_hasher(wanted.len(), Default::default());
        let mut started = 0;
        for w in wanted {
            if let Some(id) = self.by_key.remove(&w.key)
                && let Some(mut t) = self.tasks.remove(&id)
            {
                t.subscribers = w.subscribers;
                tasks.insert(id, t);
                by_key.insert(w.key, id);
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let (first, phase) = self.delays(&w.key);
            let handle = tokio::spawn(run(
                id,
                w.spec,
                w.key.target,
                w.key.period,
                first,
                phase,
                self.tx.clone(),
            ));
            tasks.insert(
                id,
                Task {
                    handle,
                    subscribers: w.subscribers,
                },
            );
            by_key.insert(w.key, id);
            started += 1;
        }
        let stopped = self.tasks.len();
        for (_, t) in self.tasks.drain() {
            t.handle.abort();
        }
        self.tasks = tasks;
        self.by_key = by_key;
        (started, stopped)
    }

    /// Who listens to check `id` (empty for a check stopped since it reported).
    pub(crate) fn subscribers(&self, id: u64) -> &[Subscriber] {
        self.tasks.get(&id).map_or(&[], |t| &t.subscribers)
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(crate) fn stop_all(&mut self) {
        self.sync(Vec::new());
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
    id: u64,
    spec: Arc<CheckSpec>,
    target: SocketAddr,
    period: Duration,
    first: Duration,
    phase: Duration,
    tx: mpsc::Sender<CheckResult>,
) {
    let start = Instant::now();
    tokio::time::sleep_until(start + first).await;
    let mut next = start + first + phase;
    loop {
        // The probe's own timeout is the period (piranha.md §6.3: `timeout` is both). Boxed:
        // a probe's future holds its read buffers (kilobytes), which an idle task between
        // checks should not (40,000 tasks).
        let began = Instant::now();
        let result = Box::pin(pulse_check::probe::run(&spec, target, period))
            .await
            .map_err(|e| e.to_string());
        let took = began.elapsed();
        if tx.send(CheckResult { id, result, took }).await.is_err() {
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
