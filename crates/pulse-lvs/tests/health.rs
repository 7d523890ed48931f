//! Real-server health on a simulated clock: piranha's counting (docs/reference/piranha.md §6.5).

use pulse_lvs::{Health, RealServerHealth, Transition};
use std::time::{Duration, Instant};

/// Runs one check every `timeout` seconds with the given results; returns (check index,
/// transition) pairs.
fn run(
    timeout: u32,
    reentry: u32,
    results: &[bool],
) -> (RealServerHealth, Vec<(usize, Transition)>) {
    let base = Instant::now();
    let mut h = RealServerHealth::new(timeout, reentry);
    let mut seen = Vec::new();
    for (i, ok) in results.iter().enumerate() {
        let now = base + Duration::from_secs(u64::from(timeout) * i as u64);
        let r = if *ok {
            Ok(())
        } else {
            Err("CONNECT to 10.0.0.2:80 timed out")
        };
        if let Some(t) = h.record(now, r) {
            seen.push((i, t));
        }
    }
    (h, seen)
}

#[test]
fn first_success_admits_at_once() {
    let (h, seen) = run(10, 180, &[true]);
    assert_eq!(seen, vec![(0, Transition::Up)]);
    assert_eq!(h.health(), Health::Up);
}

#[test]
fn first_failure_is_down_at_once() {
    let (h, seen) = run(10, 180, &[false]);
    assert_eq!(seen, vec![(0, Transition::Down)]);
    assert_eq!(h.last_error(), Some("CONNECT to 10.0.0.2:80 timed out"));
}

#[test]
fn one_failure_takes_it_out_and_reentry_over_timeout_successes_bring_it_back() {
    // timeout 2, reentry 6 ⇒ 3 consecutive successes after a failure.
    let (h, seen) = run(2, 6, &[true, true, false, true, true, true, true]);
    assert_eq!(
        seen,
        vec![
            (0, Transition::Up),
            (2, Transition::Down),
            (5, Transition::Up)
        ]
    );
    let base_since = h.since().unwrap();
    assert!(base_since > Instant::now() - Duration::from_secs(1));
}

#[test]
fn a_failure_during_reentry_restarts_the_count() {
    let (_, seen) = run(2, 6, &[false, true, true, false, true, true, true]);
    assert_eq!(seen, vec![(0, Transition::Down), (6, Transition::Up)]);
}

#[test]
fn piranha_defaults_need_eighteen_checks() {
    let mut results = vec![false];
    results.extend(std::iter::repeat_n(true, 18));
    let (_, seen) = run(10, 180, &results);
    assert_eq!(seen, vec![(0, Transition::Down), (18, Transition::Up)]);
}

#[test]
fn reentry_shorter_than_timeout_needs_one_success() {
    assert_eq!(RealServerHealth::threshold(10, 5), 1);
    assert_eq!(RealServerHealth::threshold(0, 5), 5);
    let (_, seen) = run(10, 0, &[false, true]);
    assert_eq!(seen, vec![(0, Transition::Down), (1, Transition::Up)]);
}

#[test]
fn repeated_results_cause_no_transitions() {
    let (_, seen) = run(1, 1, &[true, true, true, false, false, false]);
    assert_eq!(seen, vec![(0, Transition::Up), (3, Transition::Down)]);
}

#[test]
fn retime_keeps_the_state() {
    let base = Instant::now();
    let mut h = RealServerHealth::new(1, 3);
    h.record(base, Err("x"));
    h.retime(1, 1);
    assert_eq!(h.health(), Health::Down);
    assert_eq!(
        h.record(base + Duration::from_secs(1), Ok(())),
        Some(Transition::Up)
    );
}
