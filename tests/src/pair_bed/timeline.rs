//! What the test did, polled and read in the daemons' logs, on one time axis.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// Parses tracing's timestamps: `2026-11-22T04:28:00.123456Z`.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits: String = frac.chars().take(9).collect();
    let nanos = digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(
        UNIX_EPOCH
            + Duration::from_secs(days * 86_400 + hh * 3600 + mm * 60 + ss)
            + Duration::from_nanos(nanos),
    )
}

/// Events on one time axis, printed relative to the first.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    events: Vec<(SystemTime, String)>,
}

/// The lines of a daemon's log containing `needle`, with their timestamps (lines without one
/// are skipped).
pub fn log_lines(log: &str, needle: &str) -> Vec<(SystemTime, String)> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            let (stamp, rest) = l.split_once(' ')?;
            Some((parse_rfc3339(stamp)?, rest.trim().to_string()))
        })
        .collect()
}

impl Timeline {
    /// Adds the first line of `log` at or after `since` containing each needle, labelled
    /// `WHO log: LINE`.
    pub fn add_log_events(&mut self, who: &str, log: &str, since: SystemTime, needles: &[&str]) {
        for n in needles {
            if let Some((t, line)) = log_lines(log, n).into_iter().find(|(t, _)| *t >= since) {
                let line = line.trim_start_matches("INFO").trim();
                self.add_at(t, format!("{who} log: {line}"));
            }
        }
    }

    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `label` now.
    pub fn add(&mut self, label: impl Into<String>) -> SystemTime {
        let now = SystemTime::now();
        self.add_at(now, label);
        now
    }

    /// Records `label` at `t`.
    pub fn add_at(&mut self, t: SystemTime, label: impl Into<String>) {
        self.events.push((t, label.into()));
    }

    /// The events, sorted by time.
    pub fn events(&self) -> Vec<(SystemTime, String)> {
        let mut e = self.events.clone();
        e.sort_by_key(|(t, _)| *t);
        e
    }

    /// Time of the first event whose label contains `needle`.
    pub fn find(&self, needle: &str) -> Option<SystemTime> {
        self.events()
            .into_iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| t)
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = self.events();
        let Some((t0, _)) = events.first() else {
            return Ok(());
        };
        for (t, label) in &events {
            let ms = t.duration_since(*t0).unwrap_or_default().as_millis();
            writeln!(f, "  +{ms:>6} ms  {label}")?;
        }
        Ok(())
    }
}
