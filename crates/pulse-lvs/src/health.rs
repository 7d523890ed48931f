//! Real-server health: piranha's nanny counting (docs/reference/piranha.md §6.5), sans-IO.
//!
//! - One failed check takes a server out (no retry count), as piranha.
//! - Coming back needs `max(1, reentry / timeout)` consecutive successful checks (integer
//!   division: defaults 180 / 10 ⇒ 18 checks ≈ 3 min).
//! - The very first result decides at once: piranha starts `count` at the threshold, so a
//!   server that answers its first check is admitted immediately.
//!
//! Unlike nanny, the state starts [`Health::Unknown`], which the reconcile core reads as "leave the
//! kernel's entry as it is": a restarted lvsd adopts the running table instead of removing every
//! server until its first check.

use serde::Serialize;
use std::time::Instant;

/// What the checks say about a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No check has finished yet.
    Unknown,
    /// In service.
    Up,
    /// Out of service (removed, or weight 0 with `quiesce_server`).
    Down,
}

/// A change of [`Health`] caused by one check result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// `[ active ] making RIP:PORT available`.
    Up,
    /// `[inactive] shutting down RIP:PORT due to connection failure`.
    Down,
}

/// The check state of one real server of one virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServerHealth {
    health: Health,
    /// Consecutive successes (piranha's `count`).
    successes: u32,
    /// Successes needed to come back (piranha's `count_thresh`, at least 1).
    threshold: u32,
    since: Option<Instant>,
    last_error: Option<String>,
    last_check: Option<Instant>,
}

impl RealServerHealth {
    /// A server not checked yet, for a virtual service with these `timeout` and `reentry`
    /// (seconds).
    pub fn new(timeout: u32, reentry: u32) -> Self {
        let threshold = Self::threshold(timeout, reentry);
        Self {
            health: Health::Unknown,
            successes: threshold,
            threshold,
            since: None,
            last_error: None,
            last_check: None,
        }
    }

    /// `max(1, reentry / timeout)`; a zero timeout (rejected by the lvs.cf checker) counts as 1.
    pub fn threshold(timeout: u32, reentry: u32) -> u32 {
        (reentry / timeout.max(1)).max(1)
    }

    /// Carries the state over to new `timeout`/`reentry` values (a reload): the health and its
    /// history stay; only the threshold changes.
    pub fn retime(&mut self, timeout: u32, reentry: u32) {
        self.threshold = Self::threshold(timeout, reentry);
    }

    /// Records one check result at `now`; returns the transition it causes, if any.
    pub fn record(&mut self, now: Instant, result: Result<(), &str>) -> Option<Transition> {
        self.last_check = Some(now);
        match result {
            Ok(()) => {
                self.successes = self.successes.saturating_add(1);
                if self.health != Health::Up && self.successes >= self.threshold {
                    self.health = Health::Up;
                    self.since = Some(now);
                    return Some(Transition::Up);
                }
                None
            }
            Err(e) => {
                self.successes = 0;
                if self.last_error.as_deref() != Some(e) {
                    self.last_error = Some(e.to_string());
                }
                if self.health != Health::Down {
                    self.health = Health::Down;
                    self.since = Some(now);
                    return Some(Transition::Down);
                }
                None
            }
        }
    }

    /// Forces a state (an operator's override, like nanny's SIGUSR1/SIGUSR2).
    pub fn force(&mut self, now: Instant, health: Health) {
        if self.health != health {
            self.health = health;
            self.since = Some(now);
        }
        self.successes = if health == Health::Up {
            self.threshold
        } else {
            0
        };
    }

    /// Current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// When the current health began (`None` while unknown).
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// When the last check finished.
    pub fn last_check(&self) -> Option<Instant> {
        self.last_check
    }

    /// The most recent failure's message (kept after recovery, for status).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Consecutive successes so far, and how many are needed to come back.
    pub fn progress(&self) -> (u32, u32) {
        (self.successes.min(self.threshold), self.threshold)
    }
}
