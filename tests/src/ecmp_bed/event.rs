//! One event under traffic (drain, addition, kill, restart of a director), what it measured,
//! and the bounds issue 17's "Must show" puts on it.

use super::traffic::{Attempt, FlowEnd, Flows, NewConns, RouteWatch};
use super::{EcmpBed, director_of};
use crate::pair_bed::Timeline;
use std::fmt;
use std::time::{Duration, SystemTime};

/// How many long-lived flows each event runs under.
pub const FLOWS: usize = 36;
/// The longest a flow may pause during an event.
pub const MAX_PAUSE: Duration = Duration::from_millis(1500);

/// What happens to the event's director.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `pulsectl release`: the route withdrawn, the flows moved away.
    Drain,
    /// `pulsectl takeover` after a drain: announced again, some flows move onto it.
    Add,
    /// Cable pulled, then SIGKILL of pulse, lvsd and BIRD.
    Kill,
    /// A killed director back: cable in, BIRD and pulse started (an addition too).
    Restart,
}

impl EventKind {
    /// The name in the machine-readable line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drain => "drain",
            Self::Add => "add",
            Self::Kill => "kill",
            Self::Restart => "restart",
        }
    }

    /// Does the event take the director's route away (else it brings it)?
    pub fn removes(self) -> bool {
        matches!(self, Self::Drain | Self::Kill)
    }
}

/// The numbers of one event ([`fmt::Display`]: one machine-readable line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// Which repetition (1-based).
    pub run: usize,
    /// The event.
    pub kind: EventKind,
    /// Its director (1-based).
    pub director: usize,
    /// When the router's route gained or lost the director, after the event started.
    pub route: Option<Duration>,
    /// Long-lived flows open during the event.
    pub flows: usize,
    /// Of those, through the event's director just before.
    pub on_director: usize,
    /// Of those, lost.
    pub lost_on_director: usize,
    /// Lost among the flows through the other directors.
    pub lost_elsewhere: usize,
    /// Flows through another director afterwards than before (a lost one counts when its
    /// director was the event's: it had to move).
    pub moved: usize,
    /// The longest pause of any flow: the longest a request waited for its answer (each flow
    /// asks every 500 ms).
    pub pause: Duration,
    /// The longest pause of a moved flow.
    pub pause_moved: Duration,
    /// New connections opened during the event.
    pub new: usize,
    /// Of those, failed.
    pub new_failed: usize,
    /// The slowest new connection (connect and answer).
    pub slowest_new: Duration,
}

impl Measured {
    /// The bounds this event breaks (empty: it passed): the route changed; no flow lost on
    /// the other directors; through the event's director none lost, or for a kill at most
    /// 5 %; no flow paused longer than [`MAX_PAUSE`]; no new connection failed.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let what = format!("run {} {} d{}", self.run, self.kind.name(), self.director);
        if self.route.is_none() {
            v.push(format!("{what}: the router's route did not change"));
        }
        if self.lost_elsewhere > 0 {
            v.push(format!(
                "{what}: {} flows lost through the other directors",
                self.lost_elsewhere
            ));
        }
        let allowed = if self.kind == EventKind::Kill {
            self.on_director / 20
        } else {
            0
        };
        if self.lost_on_director > allowed {
            v.push(format!(
                "{what}: {} of {} flows through d{} lost (at most {allowed})",
                self.lost_on_director, self.on_director, self.director
            ));
        }
        if self.pause > MAX_PAUSE {
            v.push(format!(
                "{what}: a flow paused {} ms (at most {} ms)",
                self.pause.as_millis(),
                MAX_PAUSE.as_millis()
            ));
        }
        if self.new_failed > 0 {
            v.push(format!(
                "{what}: {} of {} new connections failed",
                self.new_failed, self.new
            ));
        }
        v
    }
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = self
            .route
            .map_or_else(|| "none".to_string(), |r| r.as_millis().to_string());
        write!(
            f,
            "ECMP-EVENT run={} event={} director=d{} route_ms={route} flows={} on_director={} \
             lost_on_director={} lost_elsewhere={} moved={} pause_ms={} pause_moved_ms={} \
             new={} new_failed={} slowest_new_ms={}",
            self.run,
            self.kind.name(),
            self.director,
            self.flows,
            self.on_director,
            self.lost_on_director,
            self.lost_elsewhere,
            self.moved,
            self.pause.as_millis(),
            self.pause_moved.as_millis(),
            self.new,
            self.new_failed,
            self.slowest_new.as_millis()
        )
    }
}

/// An event and everything measured during it.
#[derive(Debug)]
pub struct Event {
    /// The numbers.
    pub measured: Measured,
    /// When the event started (t = 0 of its timeline).
    pub t0: SystemTime,
    /// What happened when: the event, the router's route, the longest pause of a moved flow,
    /// the first and last failed new connection, the director's pulse log.
    pub timeline: Timeline,
    /// Each flow's end.
    pub flows: Vec<FlowEnd>,
    /// The director of each flow before and after (None: no entry found).
    pub owners: (Vec<Option<usize>>, Vec<Option<usize>>),
    /// Every new connection.
    pub attempts: Vec<Attempt>,
}

/// The (client port, seconds to expiry) of every TCP entry of `ipvsadm -Lnc`'s output
/// (`TCP 14:59  ESTABLISHED 192.0.2.2:39128 10.0.0.100:80 10.1.0.22:80`).
pub fn parse_conns(text: &str) -> Vec<(u16, u32)> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.first() != Some(&"TCP") || w.len() < 4 {
                return None;
            }
            let (m, s) = w[1].split_once(':')?;
            let expire = m.parse::<u32>().ok()? * 60 + s.parse::<u32>().ok()?;
            let port = w[3].rsplit_once(':')?.1.parse().ok()?;
            Some((port, expire))
        })
        .collect()
}

/// The director (1-based) a flow (client port `port`) goes through, from two reads of every
/// director's connection table a little apart (`first`, `second`): the one whose entry the
/// flow refreshed in between (each packet resets its time to expiry, while an entry the router
/// moved the flow away from counts down; the timeouts differ by state, so one read cannot
/// tell); among several, or none, the longest time to expiry.
pub fn owner(first: &[Vec<(u16, u32)>], second: &[Vec<(u16, u32)>], port: u16) -> Option<usize> {
    let expiry = |t: &Vec<(u16, u32)>| t.iter().filter(|(p, _)| *p == port).map(|(_, e)| *e).max();
    let candidates: Vec<(bool, u32, usize)> = second
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let e2 = expiry(t)?;
            let refreshed = first.get(i).and_then(expiry).is_none_or(|e1| e2 >= e1);
            Some((refreshed, e2, i + 1))
        })
        .collect();
    candidates
        .iter()
        .max_by_key(|(refreshed, e, d)| (*refreshed, *e, std::cmp::Reverse(*d)))
        .map(|(_, _, d)| *d)
}

/// The numbers of an event from its records (pure: see [`Measured`]).
pub fn measure(
    run: usize,
    kind: EventKind,
    director: usize,
    route: Option<Duration>,
    flows: &[FlowEnd],
    owners: &(Vec<Option<usize>>, Vec<Option<usize>>),
    attempts: &[Attempt],
) -> Measured {
    let (before, after) = owners;
    let mut m = Measured {
        run,
        kind,
        director,
        route,
        flows: flows.len(),
        on_director: 0,
        lost_on_director: 0,
        lost_elsewhere: 0,
        moved: 0,
        pause: Duration::ZERO,
        pause_moved: Duration::ZERO,
        new: attempts.len(),
        new_failed: attempts.iter().filter(|a| a.result.is_err()).count(),
        slowest_new: attempts.iter().map(|a| a.took).max().unwrap_or_default(),
    };
    for (i, f) in flows.iter().enumerate() {
        let (b, a) = (
            before.get(i).copied().flatten(),
            after.get(i).copied().flatten(),
        );
        let on = b == Some(director);
        let lost = f.lost.is_some();
        if on {
            m.on_director += 1;
            m.lost_on_director += usize::from(lost);
        } else {
            m.lost_elsewhere += usize::from(lost);
        }
        // A drained or killed director's flows had to move (its entries may still look
        // freshest when it is dead and nothing refreshes the others yet).
        let moved = (kind.removes() && on) || (b.is_some() && a.is_some() && a != b);
        m.pause = m.pause.max(f.longest_wait);
        if moved {
            m.moved += 1;
            m.pause_moved = m.pause_moved.max(f.longest_wait);
        }
    }
    m
}

impl EcmpBed {
    /// Runs `kind` on director `d` under [`FLOWS`] long-lived flows (opened just before) and
    /// new connections: the event at t = 0, then traffic until the router's route has
    /// changed (up to `route_limit`) and `after` longer. A route that did not change within
    /// the limit is reported, not a panic: [`Measured::route`] is `None`, one of
    /// [`Measured::violations`].
    pub fn event(
        &mut self,
        run: usize,
        kind: EventKind,
        d: usize,
        route_limit: Duration,
        after: Duration,
    ) -> Event {
        let cl = self.ns("cl");
        let flows = Flows::open(&cl, FLOWS);
        std::thread::sleep(Duration::from_millis(500));
        let before = self.owners(&flows.ports);
        let watch = RouteWatch::start(&self.ns("rt"));
        let new = NewConns::start(&cl);
        std::thread::sleep(Duration::from_millis(300));
        let mut timeline = Timeline::new();
        let name = super::director_name(d);
        let label = match kind {
            EventKind::Drain => format!("pulsectl release on {name}"),
            EventKind::Add => format!("pulsectl takeover on {name}"),
            EventKind::Kill => {
                format!("{name} dies: its cable pulled, then SIGKILL of its pulse, lvsd and BIRD")
            }
            EventKind::Restart => format!("{name} comes back: cable in, BIRD and pulse started"),
        };
        flows.measure();
        let t0 = timeline.add(label);
        let mut killer = None;
        match kind {
            EventKind::Drain => self.announce(d, false),
            EventKind::Add => self.announce(d, true),
            EventKind::Kill => {
                self.pull_cable(d);
                // On a thread: it waits up to 2 s for the processes to go, and the traffic
                // goes on meanwhile.
                let ns = self.director_ns(d);
                killer = Some(std::thread::spawn(move || Self::kill_all(&ns)));
            }
            EventKind::Restart => self.restart_director(d),
        }
        let routed = watch.wait(&self.expected_hops(), route_limit);
        std::thread::sleep(after);
        // Read while the flows still ask: closing them resets their entries' times to expiry.
        let owners = (before, self.owners(&flows.ports));
        let attempts = new.stop();
        let ends = flows.stop();
        let changes = watch.stop();
        if let Some(k) = killer {
            let _ = k.join();
            self.reap(d);
        }
        let hop = super::director_ip(d);
        let route_at = changes
            .iter()
            .find(|(t, hops)| *t >= t0 && hops.contains(&hop) != kind.removes())
            .map(|(t, _)| *t);
        let route = routed
            .and(route_at)
            .map(|t| t.duration_since(t0).unwrap_or_default());
        for (t, hops) in changes.iter().filter(|(t, _)| *t >= t0) {
            let names: Vec<String> = hops
                .iter()
                .map(|h| director_of(h).map_or(h.clone(), super::director_name))
                .collect();
            let label = if names.is_empty() {
                "router: no route to the VIP left".to_string()
            } else {
                format!("router: ECMP route via {}", names.join(", "))
            };
            timeline.add_at(*t, label);
        }
        for (t, line) in self.router_events(t0) {
            timeline.add_at(t, format!("router's BIRD: {line}"));
        }
        let measured = measure(run, kind, d, route, &ends, &owners, &attempts);
        add_traffic_events(&mut timeline, &ends, &owners, kind, d, &attempts);
        timeline.add_log_events(
            &name,
            &self.log(d),
            t0,
            &[
                "ecmp: release",
                "ecmp: rejoining",
                "ecmp: withdrawn",
                "ecmp: announced",
                "drain over",
                "released and drained",
                "started lvsd",
                "lvsd stopped",
            ],
        );
        Event {
            measured,
            t0,
            timeline,
            flows: ends,
            owners,
            attempts,
        }
    }
}

/// The traffic's part of the timeline: the longest pause of a moved flow (its start and
/// end), the first and last failed new connection, the slowest one.
fn add_traffic_events(
    timeline: &mut Timeline,
    flows: &[FlowEnd],
    owners: &(Vec<Option<usize>>, Vec<Option<usize>>),
    kind: EventKind,
    d: usize,
    attempts: &[Attempt],
) {
    let moved = |i: usize| {
        let (b, a) = (owners.0[i], owners.1[i]);
        (kind.removes() && b == Some(d)) || (b.is_some() && a.is_some() && a != b)
    };
    let longest = flows
        .iter()
        .enumerate()
        .filter(|(i, _)| moved(*i))
        .max_by_key(|(_, f)| f.longest_wait);
    if let Some((i, f)) = longest
        && let Some(end) = f.wait_end
    {
        let from = owners.0[i].map_or("?".into(), super::director_name);
        let to = owners.1[i].map_or("?".into(), super::director_name);
        timeline.add_at(
            end - f.longest_wait,
            format!("longest pause of a moved flow ({from} to {to}) starts: a request sent"),
        );
        timeline.add_at(
            end,
            format!(
                "  ... it ends: the answer comes ({} ms later)",
                f.longest_wait.as_millis()
            ),
        );
    }
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_err()).collect();
    if let (Some(first), Some(last)) = (failed.first(), failed.last()) {
        timeline.add_at(
            first.sent,
            format!("client: first failed new connection ({:?})", first.result),
        );
        if failed.len() > 1 {
            timeline.add_at(
                last.sent,
                format!(
                    "client: last failed new connection ({} failed)",
                    failed.len()
                ),
            );
        }
    }
    if let Some(slow) = attempts.iter().max_by_key(|a| a.took)
        && slow.took > Duration::from_millis(500)
    {
        timeline.add_at(
            slow.sent,
            format!(
                "client: the slowest new connection opens ({} ms)",
                slow.took.as_millis()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "IPVS connection entries\n\
        pro expire state       source             virtual            destination\n\
        TCP 14:59  ESTABLISHED 192.0.2.2:39128    10.0.0.100:80      10.1.0.22:80\n\
        TCP 01:58  TIME_WAIT   192.0.2.2:39130    10.0.0.100:80      10.1.0.21:80\n\
        UDP 04:00  UDP         192.0.2.2:5353     10.0.0.100:53      10.1.0.21:53\n";

    #[test]
    fn ipvsadm_connection_entries_give_port_and_expiry() {
        assert_eq!(parse_conns(TABLE), vec![(39128, 899), (39130, 118)]);
    }

    #[test]
    fn a_flow_belongs_to_the_director_that_refreshed_its_entry_in_between() {
        let first = vec![
            vec![(1, 880), (2, 899)],
            vec![(1, 58), (4, 899)],
            vec![(3, 10)],
        ];
        let second = vec![
            vec![(1, 878), (2, 899)],
            vec![(1, 59), (4, 897)],
            vec![(3, 9)],
        ];
        // Port 1 moved from d1 (899 s when established, counting down) to d2 (a 60 s state).
        assert_eq!(owner(&first, &second, 1), Some(2));
        assert_eq!(owner(&first, &second, 2), Some(1));
        // Nobody refreshed: the longest time to expiry.
        assert_eq!(owner(&first, &second, 3), Some(3));
        assert_eq!(owner(&first, &second, 4), Some(2));
        assert_eq!(owner(&first, &second, 5), None);
        // A new entry in the second read counts as refreshed.
        assert_eq!(
            owner(
                &[vec![], vec![(6, 899)]],
                &[vec![(6, 50)], vec![(6, 898)]],
                6
            ),
            Some(1)
        );
    }

    fn flow(lost: bool, wait_ms: u64) -> FlowEnd {
        FlowEnd {
            port: 0,
            server: "rs1".into(),
            lost: lost.then(|| "timed out".into()),
            longest_gap: Duration::from_millis(wait_ms + 500),
            gap_end: None,
            longest_wait: Duration::from_millis(wait_ms),
            wait_end: None,
            answers: 10,
        }
    }

    fn attempt(ok: bool, ms: u64) -> Attempt {
        Attempt {
            sent: SystemTime::UNIX_EPOCH,
            took: Duration::from_millis(ms),
            result: if ok {
                Ok("rs1".into())
            } else {
                Err("refused".into())
            },
        }
    }

    #[test]
    fn a_kill_counts_the_dead_directors_flows_apart_and_as_moved() {
        let flows = vec![
            flow(false, 60),
            flow(false, 800),
            flow(true, 60),
            flow(false, 55),
        ];
        // Flows 1 and 2 went through d2 (killed); flow 3 moved from d1 to d3.
        let owners = (
            vec![Some(1), Some(2), Some(2), Some(1)],
            vec![Some(1), Some(2), Some(2), Some(3)],
        );
        let m = measure(
            1,
            EventKind::Kill,
            2,
            Some(Duration::from_millis(400)),
            &flows,
            &owners,
            &[attempt(true, 1040), attempt(true, 3)],
        );
        assert_eq!(
            (m.on_director, m.lost_on_director, m.lost_elsewhere),
            (2, 1, 0)
        );
        assert_eq!(m.moved, 3);
        assert_eq!(m.pause_moved, Duration::from_millis(800));
        assert_eq!((m.new, m.new_failed), (2, 0));
        assert_eq!(m.slowest_new, Duration::from_millis(1040));
        // 1 of 2 lost is over 5 %.
        assert_eq!(m.violations().len(), 1, "{:?}", m.violations());
        assert!(m.to_string().starts_with(
            "ECMP-EVENT run=1 event=kill director=d2 route_ms=400 flows=4 on_director=2 \
             lost_on_director=1 lost_elsewhere=0 moved=3 pause_ms=800"
        ));
    }

    #[test]
    fn every_bound_is_checked() {
        let flows = vec![flow(true, 1600)];
        let owners = (vec![Some(1)], vec![Some(1)]);
        let m = measure(
            2,
            EventKind::Drain,
            3,
            None,
            &flows,
            &owners,
            &[attempt(false, 5)],
        );
        let v = m.violations();
        assert_eq!(v.len(), 4, "{v:?}");
        let ok = measure(
            2,
            EventKind::Add,
            3,
            Some(Duration::from_millis(50)),
            &[flow(false, 70)],
            &owners,
            &[attempt(true, 5)],
        );
        assert!(ok.violations().is_empty());
    }
}
