//! Reading lvsd's log in tests and benchmarks: its stable, greppable lines
//! (`ipvs table updated changes=N failed=F ms=T`, `configuration reloaded … ms=T`).

use crate::netns::{signal, wait_for};
use std::path::Path;
use std::time::Duration;

/// `key=VALUE` of a log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// (total changes, total ms) over the `ipvs table updated` lines of `log`.
pub fn updates(log: &str) -> (usize, f64) {
    log.lines()
        .filter(|l| l.contains("ipvs table updated"))
        .fold((0, 0.0), |(c, ms), l| {
            (
                c + field(l, "changes")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0),
                ms + field(l, "ms")
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0),
            )
        })
}

/// Writes `text` to `cfg`, sends lvsd (`pid`, logging to `log`) SIGHUP and waits for the
/// reload to finish; returns its duration as lvsd logs it (ms) and the kernel changes made
/// since (after `settle`, so changes that follow the reload, like a new server's first check,
/// are counted).
pub fn reload(pid: u32, log: &Path, cfg: &Path, text: &str, settle: Duration) -> (f64, usize) {
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    let before = read();
    let n = before.matches("configuration reloaded").count();
    let changes0 = updates(&before).0;
    std::fs::write(cfg, text).expect("write lvs.cf");
    signal(pid, "HUP");
    wait_for(Duration::from_secs(120), || {
        read().matches("configuration reloaded").count() > n
    })
    .unwrap_or_else(|| panic!("lvsd did not reload:\n{}", read()));
    std::thread::sleep(settle);
    let after = read();
    let line = after
        .lines()
        .filter(|l| l.contains("configuration reloaded"))
        .nth(n)
        .expect("reload line");
    let ms = field(line, "ms")
        .and_then(|v| v.parse().ok())
        .expect("ms= in the reload line");
    (ms, updates(&after).0 - changes0)
}

/// Min, median and max of some timings.
pub fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

/// Benchmark rows (markdown) for three reloads of a large file written by
/// [`Shape::large`](crate::big_config::Shape::large): identical bytes, only `serial_no`
/// changed (a full parse, plan and reconcile that finds nothing to do), one weight changed.
pub fn large_reload_rows(pid: u32, log: &Path, cfg: &Path, text: &str, place: &str) -> Vec<String> {
    let settle = Duration::from_millis(200);
    let identical: Vec<f64> = (0..7)
        .map(|_| {
            let (ms, changes) = reload(pid, log, cfg, text, settle);
            assert_eq!(changes, 0);
            ms
        })
        .collect();
    let bumped: Vec<f64> = (0..7)
        .map(|i| {
            let t = text.replacen("serial_no = 31", &format!("serial_no = {}", 100 + i), 1);
            let (ms, changes) = reload(pid, log, cfg, &t, settle);
            assert_eq!(changes, 0);
            ms
        })
        .collect();
    let changed = text.replacen("weight = 1\n", "weight = 9\n", 1);
    let (one, changes) = reload(pid, log, cfg, &changed, settle);
    assert_eq!(changes, 1);
    let (a, b, c) = spread(identical);
    let (d, e, f) = spread(bumped);
    vec![
        format!(
            "| no-change reload (identical file), 2,277 services / 37,205 real servers ({place}) | {b:.1} ms | median of 7 (min {a:.1}, max {c:.1}); 0 changes; keepalived 2.3 reports 240 ms |"
        ),
        format!(
            "| no-change reload (only `serial_no` bumped: parse, plan, compare) ({place}) | {e:.1} ms | median of 7 (min {d:.1}, max {f:.1}); 0 changes |"
        ),
        format!(
            "| one-line-change reload (one weight) ({place}) | {one:.1} ms | exactly 1 change |"
        ),
    ]
}
