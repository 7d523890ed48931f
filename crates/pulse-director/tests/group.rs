//! `ecmp = 1`: one director's announce/withdraw decisions on a simulated clock.

use pulse_director::group::{DRAIN_QUIET, ROUTE_RETRY, START_GRACE};
use pulse_director::{
    Group, GroupAction, GroupPlan, GroupVip, LvsdView, ServerCounts, ServiceTraffic, Why,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Two VIPs: 10.0.0.100 (virtual `web`) and 10.0.0.101 (virtuals `dns` and `ntp`).
fn plan() -> GroupPlan {
    GroupPlan {
        vips: vec![
            GroupVip {
                addr: ip("10.0.0.100"),
                services: vec!["web".into()],
            },
            GroupVip {
                addr: ip("10.0.0.101"),
                services: vec!["dns".into(), "ntp".into()],
            },
        ],
        directors: vec![ip("10.1.0.11"), ip("10.1.0.12"), ip("10.1.0.13")],
        table: 100,
        min_servers: 1,
        drain: Duration::from_secs(5),
    }
}

/// Every service with `up` servers up and `unknown` unchecked.
fn view(up: u32, unknown: u32) -> LvsdView {
    LvsdView {
        programmed: true,
        services: ["web", "dns", "ntp"]
            .iter()
            .map(|s| (s.to_string(), ServerCounts { up, unknown }))
            .collect(),
        ..LvsdView::default()
    }
}

/// Three servers up each, and the kernel's counters of `web`, `dns` and `ntp` (conns, packets in).
fn counted(web: (u64, u64), dns: (u64, u64), ntp: (u64, u64)) -> LvsdView {
    let t = |(conns, in_packets)| ServiceTraffic { conns, in_packets };
    LvsdView {
        traffic: [("web", t(web)), ("dns", t(dns)), ("ntp", t(ntp))]
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect(),
        ..view(3, 0)
    }
}

/// Every service with `n` connections and `10 * n` packets in.
fn traffic(n: u64) -> LvsdView {
    counted((n, 10 * n), (n, 10 * n), (n, 10 * n))
}

/// The shell's poll of lvsd.
const POLL: Duration = Duration::from_millis(500);

/// A director, its kernel table's routes, and the actions it took.
struct Sim {
    g: Group,
    now: Instant,
    table: BTreeSet<IpAddr>,
    /// The kernel refuses route changes.
    refuse: bool,
    stopped: bool,
    log: Vec<GroupAction>,
}

impl Sim {
    fn new(table: &[&str]) -> Self {
        let now = Instant::now();
        let table: BTreeSet<IpAddr> = table.iter().map(|s| ip(s)).collect();
        let mut g = Group::new(now, plan());
        g.handle_routes(now, &table);
        let mut sim = Self {
            g,
            now,
            table,
            refuse: false,
            stopped: false,
            log: Vec::new(),
        };
        sim.step();
        sim
    }

    /// Carries out the actions as the shell does; returns them.
    fn step(&mut self) -> Vec<GroupAction> {
        let mut done = Vec::new();
        while let Some(a) = self.g.poll_action() {
            match a {
                GroupAction::Announce(v) | GroupAction::Withdraw(v) => {
                    let announce = matches!(a, GroupAction::Announce(_));
                    if !self.refuse {
                        if announce {
                            self.table.insert(v);
                        } else {
                            self.table.remove(&v);
                        }
                    }
                    self.g
                        .handle_route_result(self.now, v, announce, !self.refuse);
                }
                GroupAction::StopServing => self.stopped = true,
            }
            done.push(a);
        }
        self.log.extend(done.clone());
        done
    }

    fn advance(&mut self, d: Duration) -> Vec<GroupAction> {
        let end = self.now + d;
        let mut done = Vec::new();
        let mut rounds = 0;
        while let Some(t) = self.g.poll_timeout().filter(|t| *t <= end) {
            rounds += 1;
            assert!(rounds < 1000, "the timer never settles: {done:?}");
            self.now = t.max(self.now);
            self.g.handle_timeout(self.now);
            done.extend(self.step());
        }
        self.now = end;
        done
    }

    fn lvsd(&mut self, v: LvsdView) -> Vec<GroupAction> {
        self.g.handle_lvsd_view(self.now, v);
        self.step()
    }

    /// One poll later, lvsd reports `v`.
    fn poll(&mut self, v: LvsdView) -> Vec<GroupAction> {
        let mut done = self.advance(POLL);
        done.extend(self.lvsd(v));
        done
    }

    /// lvsd reports `v` on every poll until the drain stops (or `limit`); how long that took.
    fn poll_until_stopped(&mut self, limit: Duration, v: impl Fn(u64) -> LvsdView) -> Duration {
        let start = self.now;
        let mut i = 0;
        while !self.stopped && self.now < start + limit {
            i += 1;
            self.poll(v(i));
        }
        self.now - start
    }

    fn table(&self) -> Vec<String> {
        self.table.iter().map(ToString::to_string).collect()
    }
}

fn both() -> Vec<String> {
    vec!["10.0.0.100".into(), "10.0.0.101".into()]
}

/// A director that started from an empty table and serves both VIPs.
fn serving() -> Sim {
    let mut sim = Sim::new(&[]);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    sim.lvsd(view(3, 0));
    assert_eq!(sim.table(), both());
    sim
}

#[test]
fn announces_only_once_lvsd_reports_a_programmed_table_with_servers_up() {
    let mut sim = Sim::new(&[]);
    sim.g.handle_lvsd_started(sim.now);
    assert_eq!(sim.step(), vec![]);
    // Programmed but nothing checked yet: not announced (unknown is not up).
    assert_eq!(sim.lvsd(view(0, 3)), vec![]);
    assert_eq!(
        sim.lvsd(view(1, 2)),
        vec![
            GroupAction::Announce(ip("10.0.0.100")),
            GroupAction::Announce(ip("10.0.0.101"))
        ]
    );
    assert_eq!(sim.table(), both());
    // A steady report changes nothing.
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
}

#[test]
fn lvsd_dying_withdraws_every_vip_at_once() {
    let mut sim = serving();
    sim.g.handle_lvsd_exited(sim.now);
    assert_eq!(
        sim.step(),
        vec![
            GroupAction::Withdraw(ip("10.0.0.100")),
            GroupAction::Withdraw(ip("10.0.0.101"))
        ]
    );
    assert!(sim.table.is_empty());
    // A late report of the dead lvsd does not bring them back.
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
    // Started again: announced once it reports.
    sim.g.handle_lvsd_started(sim.now);
    assert_eq!(sim.step(), vec![]);
    assert_eq!(sim.lvsd(view(3, 0)).len(), 2);
    assert_eq!(sim.table(), both());
}

#[test]
fn all_real_servers_of_a_vip_failing_withdraws_that_vip_only() {
    let mut sim = serving();
    let mut v = view(3, 0);
    v.services
        .insert("ntp".into(), ServerCounts { up: 0, unknown: 0 });
    assert_eq!(sim.lvsd(v), vec![GroupAction::Withdraw(ip("10.0.0.101"))]);
    assert_eq!(sim.table(), vec!["10.0.0.100".to_string()]);
    assert_eq!(
        sim.g.status(sim.now)[1],
        (
            ip("10.0.0.101"),
            false,
            Why::TooFewServers {
                service: "ntp".into(),
                up: 0,
                need: 1
            }
        )
    );
    assert_eq!(
        sim.lvsd(view(1, 0)),
        vec![GroupAction::Announce(ip("10.0.0.101"))]
    );
}

#[test]
fn ipvs_that_cannot_be_programmed_is_never_announced_and_a_failure_withdraws() {
    let mut sim = Sim::new(&[]);
    sim.g.handle_lvsd_started(sim.now);
    let broken = LvsdView {
        programmed: false,
        ..view(3, 0)
    };
    assert_eq!(sim.lvsd(broken.clone()), vec![]);
    assert_eq!(sim.advance(Duration::from_secs(60)), vec![]);
    assert_eq!(sim.lvsd(broken.clone()), vec![]);
    assert!(sim.table.is_empty());
    assert_eq!(sim.g.status(sim.now)[0].2, Why::NotProgrammed);
    // Serving, then the kernel starts refusing: withdrawn.
    let mut sim = serving();
    assert_eq!(sim.lvsd(broken).len(), 2);
    assert!(sim.table.is_empty());
}

#[test]
fn a_restarted_pulse_over_an_intact_table_keeps_its_routes_without_a_flap() {
    let mut sim = Sim::new(&["10.0.0.100", "10.0.0.101"]);
    assert_eq!(sim.log, vec![]);
    // lvsd comes back (adopting the kernel's IPVS table) within the grace…
    sim.advance(START_GRACE / 2);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    // …and reports every server unchecked: still kept (unknown counts as alive for keeping).
    assert_eq!(sim.lvsd(view(0, 3)), vec![]);
    assert_eq!(sim.advance(Duration::from_secs(60)), vec![]);
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
    assert_eq!(sim.log, vec![], "no withdrawal and no re-announcement");
    assert_eq!(sim.table(), both());
    // But checks that then fail withdraw as usual.
    assert_eq!(sim.lvsd(view(0, 0)).len(), 2);
}

#[test]
fn adopted_routes_are_withdrawn_when_lvsd_does_not_report_within_the_grace() {
    let mut sim = Sim::new(&["10.0.0.100"]);
    assert_eq!(sim.advance(START_GRACE - Duration::from_millis(1)), vec![]);
    assert_eq!(
        sim.advance(Duration::from_millis(1)),
        vec![GroupAction::Withdraw(ip("10.0.0.100"))]
    );
    assert!(sim.table.is_empty());
}

#[test]
fn release_withdraws_keeps_serving_for_the_drain_then_stops() {
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    assert_eq!(sim.step().len(), 2);
    assert!(sim.table.is_empty());
    assert!(!sim.stopped);
    assert_eq!(sim.g.status(sim.now)[0].2, Why::Draining);
    // Serving goes on (lvsd is not stopped) for ecmp_drain when lvsd says nothing.
    assert_eq!(sim.advance(Duration::from_millis(4999)), vec![]);
    assert!(!sim.stopped);
    assert_eq!(
        sim.advance(Duration::from_millis(1)),
        vec![GroupAction::StopServing]
    );
    assert_eq!(
        sim.g.status(sim.now)[0],
        (ip("10.0.0.100"), false, Why::Released)
    );
    // Released: a repeated release and the stopping lvsd's last reports change nothing.
    sim.g.handle_release(sim.now);
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
    assert_eq!(sim.advance(Duration::from_secs(60)), vec![]);
    // The rejoin waits for the lvsd started anew (the stopped one's late reports do not count).
    sim.g.handle_rejoin(sim.now);
    assert_eq!(sim.step(), vec![]);
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
    assert_eq!(sim.g.status(sim.now)[0].2, Why::LvsdDown);
    sim.g.handle_lvsd_exited(sim.now);
    sim.g.handle_lvsd_started(sim.now);
    assert_eq!(sim.step(), vec![]);
    assert_eq!(sim.lvsd(view(3, 0)).len(), 2);
    assert_eq!(sim.table(), both());
    assert_eq!(
        sim.log
            .iter()
            .filter(|a| **a == GroupAction::StopServing)
            .count(),
        1
    );
}

#[test]
fn counters_standing_still_after_the_withdrawal_end_the_drain_early() {
    let mut sim = serving();
    sim.lvsd(traffic(500));
    sim.g.handle_release(sim.now);
    sim.step();
    assert!(sim.table.is_empty());
    // The first report after the withdrawal is the starting point; a second later, unchanged:
    // the router sends nothing here.
    let took = sim.poll_until_stopped(Duration::from_secs(10), |_| traffic(500));
    assert_eq!(
        took,
        POLL + DRAIN_QUIET,
        "the first poll, then the quiet window"
    );
    assert_eq!(sim.log.last(), Some(&GroupAction::StopServing));
    assert_eq!(sim.g.status(sim.now)[1].2, Why::Released);
    // Nothing more: no second stop at the bound.
    assert_eq!(sim.advance(Duration::from_secs(10)), vec![]);
}

#[test]
fn traffic_keeps_the_drain_going_until_ecmp_drain() {
    // New packets on one service only (the others stand still), then new connections only.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    let took = sim.poll_until_stopped(Duration::from_secs(10), |i| {
        counted((7, 70 + i), (1, 1), (0, 0))
    });
    assert_eq!(took, Duration::from_secs(5), "ended by ecmp_drain");
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    let took = sim.poll_until_stopped(Duration::from_secs(10), |i| {
        counted((7, 70), (1, 1), (i, 0))
    });
    assert_eq!(took, Duration::from_secs(5), "ended by ecmp_drain");
    // Traffic that stops mid-drain: quiet one window after the last change.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    let took = sim.poll_until_stopped(Duration::from_secs(10), |i| traffic(i.min(4)));
    assert_eq!(took, POLL * 4 + DRAIN_QUIET);
}

#[test]
fn counters_that_go_down_or_start_again_are_neither_traffic_nor_quiet() {
    // A service added anew (a reload) starts its counters again: a new starting point.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.poll(traffic(100));
    sim.poll(traffic(3));
    // One window after the drop, not after the first report (which would be too early)…
    assert_eq!(sim.poll(traffic(3)), vec![]);
    // …and not never: the lower counters standing still are quiet.
    assert_eq!(sim.poll(traffic(3)), vec![GroupAction::StopServing]);

    // Counters that move between services with the same sum are traffic, not quiet.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.poll(counted((10, 100), (0, 0), (0, 0)));
    sim.poll(counted((0, 0), (10, 100), (0, 0)));
    assert_eq!(sim.poll(counted((0, 0), (10, 100), (0, 0))), vec![]);
    assert_eq!(
        sim.poll(counted((0, 0), (10, 100), (0, 0))),
        vec![GroupAction::StopServing]
    );

    // lvsd restarted mid-drain (it crashed; the kernel kept serving): its reports start from
    // zero and the window starts again with the new lvsd's first report.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.poll(traffic(100));
    sim.poll(traffic(100));
    sim.g.handle_lvsd_exited(sim.now);
    assert_eq!(sim.step(), vec![], "nothing left to withdraw");
    // Its last words do not count (it is down), nor does silence while it is away.
    assert_eq!(sim.poll(traffic(100)), vec![]);
    assert_eq!(sim.poll(traffic(100)), vec![]);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    sim.poll(traffic(0));
    assert_eq!(sim.poll(traffic(0)), vec![]);
    assert_eq!(sim.poll(traffic(0)), vec![GroupAction::StopServing]);
    // The bound stays: a restart that keeps lvsd silent still ends at ecmp_drain.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.g.handle_lvsd_exited(sim.now);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    assert_eq!(
        sim.advance(Duration::from_secs(5)),
        vec![GroupAction::StopServing]
    );
}

#[test]
fn quiet_counts_only_once_every_withdrawal_is_done() {
    let mut sim = serving();
    sim.refuse = true;
    sim.g.handle_release(sim.now);
    sim.step();
    // Refused withdrawals: the router still sends flows here whatever the counters say.
    for _ in 0..5 {
        let done = sim.poll(traffic(9));
        assert!(
            !done.contains(&GroupAction::StopServing),
            "quiet before the withdrawal"
        );
    }
    assert_eq!(sim.table(), both());
    // The retry withdraws; that poll's report is the starting point.
    sim.refuse = false;
    sim.poll(traffic(9));
    assert!(sim.table.is_empty());
    let took = sim.poll_until_stopped(Duration::from_secs(10), |_| traffic(9));
    assert!(sim.stopped);
    assert_eq!(took, DRAIN_QUIET, "one window after the withdrawal");
}

#[test]
fn a_repeated_release_restarts_neither_the_bound_nor_the_quiet_window() {
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.poll(traffic(1));
    sim.g.handle_release(sim.now);
    assert_eq!(sim.step(), vec![]);
    sim.poll(traffic(1));
    sim.g.handle_release(sim.now);
    assert_eq!(sim.poll(traffic(1)), vec![GroupAction::StopServing]);
    // Without reports: the bound counts from the first release.
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.advance(Duration::from_secs(3));
    sim.g.handle_release(sim.now);
    assert_eq!(
        sim.advance(Duration::from_secs(2)),
        vec![GroupAction::StopServing]
    );
}

#[test]
fn a_rejoin_mid_drain_announces_at_once_and_lvsd_is_never_stopped() {
    let mut sim = serving();
    sim.g.handle_release(sim.now);
    sim.step();
    sim.poll(traffic(1));
    sim.g.handle_rejoin(sim.now);
    assert_eq!(
        sim.step().len(),
        2,
        "lvsd runs and serves: announced at once"
    );
    assert_eq!(sim.table(), both());
    assert_eq!(sim.poll(traffic(1)), vec![]);
    assert_eq!(sim.advance(Duration::from_secs(10)), vec![]);
    assert!(!sim.stopped);
    assert_eq!(sim.g.status(sim.now)[0].2, Why::Serving);
    // And a later release drains afresh: a full window after its own withdrawal.
    sim.g.handle_release(sim.now);
    assert_eq!(sim.step().len(), 2);
    let took = sim.poll_until_stopped(Duration::from_secs(10), |_| traffic(1));
    assert_eq!(took, POLL + DRAIN_QUIET);
}

#[test]
fn a_pulse_restarted_while_released_rejoins_once_lvsd_serves() {
    // A release lives in the running pulse only (as in an active/backup pair): a pulse started
    // over the drained director's table (no route, lvsd stopped) joins the group like a new one.
    let mut sim = Sim::new(&[]);
    assert_eq!(sim.advance(START_GRACE), vec![]);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    assert_eq!(
        sim.lvsd(view(0, 3)),
        vec![],
        "unchecked servers are not announced"
    );
    assert_eq!(sim.lvsd(view(3, 0)).len(), 2);
    // Killed mid-drain (routes withdrawn, lvsd left serving): the same.
    let mut sim = Sim::new(&[]);
    sim.g.handle_lvsd_started(sim.now);
    sim.step();
    assert_eq!(sim.lvsd(traffic(5)).len(), 2);
    assert!(!sim.stopped);
}

#[test]
fn a_drain_ends_early_once_the_router_is_seen_to_have_moved_new_flows() {
    let mut sim = serving();
    sim.refuse = true;
    sim.g.handle_release(sim.now);
    sim.step();
    // The withdrawals were refused: quiet proves nothing yet.
    sim.g.handle_quiet(sim.now);
    assert_eq!(sim.step(), vec![]);
    sim.refuse = false;
    let retried = sim.advance(ROUTE_RETRY);
    assert_eq!(retried.len(), 2, "{retried:?}");
    assert!(sim.table.is_empty());
    sim.g.handle_quiet(sim.now);
    assert_eq!(sim.step(), vec![GroupAction::StopServing]);
}

#[test]
fn a_refused_announcement_is_retried_and_dropped_if_no_longer_wanted() {
    let mut sim = Sim::new(&[]);
    sim.refuse = true;
    sim.g.handle_lvsd_started(sim.now);
    assert_eq!(sim.lvsd(view(3, 0)).len(), 2);
    assert!(sim.table.is_empty());
    assert!(!sim.g.announced(ip("10.0.0.100")));
    sim.refuse = false;
    assert_eq!(sim.advance(ROUTE_RETRY).len(), 2);
    assert_eq!(sim.table(), both());
    // Refused again on the way down, and by the retry the servers are back: nothing to do.
    sim.refuse = true;
    assert_eq!(sim.lvsd(view(0, 0)).len(), 2);
    assert_eq!(sim.table(), both());
    sim.refuse = false;
    assert_eq!(sim.lvsd(view(3, 0)), vec![]);
    assert_eq!(sim.advance(ROUTE_RETRY * 3), vec![]);
    assert_eq!(sim.table(), both());
}

#[test]
fn the_group_plan_comes_from_lvs_cf_with_one_entry_per_vip() {
    let src = "serial_no = 1\nnetwork = direct\necmp = 1\necmp_director = 10.1.0.11\n\
               ecmp_director = 10.1.0.12\necmp_table = 42\necmp_drain = 2.5\n\
               virtual web {\n active = 1\n address = 10.0.0.100 lo\n port = 80\n}\n\
               virtual tls {\n active = 1\n address = 10.0.0.100 lo\n port = 443\n}\n\
               virtual off {\n active = 0\n address = 10.0.0.102 lo\n}\n";
    let parsed = pulse_lvscf::parse(src);
    assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
    let resolve = |h: &pulse_lvscf::model::Host| match h {
        pulse_lvscf::model::Host::Ip(ip) => Some(*ip),
        pulse_lvscf::model::Host::Name(_) => None,
    };
    let g = GroupPlan::new(&parsed.config, resolve).unwrap().unwrap();
    assert_eq!(
        g.vips,
        vec![GroupVip {
            addr: ip("10.0.0.100"),
            services: vec!["web".into(), "tls".into()]
        }]
    );
    assert_eq!(g.directors, vec![ip("10.1.0.11"), ip("10.1.0.12")]);
    assert_eq!((g.table, g.min_servers), (42, 1));
    assert_eq!(g.drain, Duration::from_millis(2500));
    let plain = pulse_lvscf::parse("serial_no = 1\n");
    assert_eq!(GroupPlan::new(&plain.config, resolve).unwrap(), None);
    // And piranha refuses the mode.
    assert!(
        pulse_lvscf::keywords::lookup("ecmp", pulse_lvscf::keywords::Scope::Global)
            .is_some_and(|k| !k.piranha)
    );
}
