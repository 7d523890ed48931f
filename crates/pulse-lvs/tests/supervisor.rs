//! The supervisor on a simulated clock and an in-memory kernel: every decision lvsd makes,
//! without a socket, a task or a real second.

use pulse_ipvs::{Dest, DestKey, Forward, IpvsOp, Protocol, ServiceKey};
use pulse_lvs::{
    Admin, AdminError, CheckChange, CheckKey, Event, HANDOFF_MAX, Health, ObservedService, Plan,
    Supervisor, Table, Unreadable,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// One virtual service `web` (192.0.2.10:80, checks every 10 s, back after 30 s = 3 checks)
/// with servers a (10.0.0.1, weight 3) and b (10.0.0.2, weight 2); `extra` goes into the
/// virtual block, `servers` after a and b.
fn cf(extra: &str, servers: &str) -> String {
    format!(
        "serial_no = 1
network = direct
virtual web {{
    active = 1
    address = 192.0.2.10 eth0:1
    port = 80
    timeout = 10
    reentry = 30
{extra}
    server a {{
        address = 10.0.0.1
        active = 1
        weight = 3
    }}
    server b {{
        address = 10.0.0.2
        active = 1
        weight = 2
    }}
{servers}
}}
"
    )
}

fn plan(src: &str) -> Plan {
    let parsed = pulse_lvscf::parse(src);
    assert!(parsed.is_valid(), "{src}\n{:?}", parsed.diagnostics);
    let (plan, problems) = Plan::new(&parsed.config, &mut |_| None);
    assert!(problems.is_empty(), "{problems:?}");
    plan
}

/// Every service's probe is the same probe: checks are told apart by target and period.
fn probes(plan: &Plan) -> Vec<u64> {
    vec![7; plan.services.len()]
}

fn web() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.10"),
        port: 80,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn dkey(addr: &str) -> DestKey {
    DestKey {
        addr: ip(addr),
        port: 80,
    }
}

fn dest(addr: &str, weight: i32) -> Dest {
    Dest {
        key: dkey(addr),
        forward: Forward::Route,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

/// A supervisor, the kernel's table it drives, the checks it runs and what it logged.
struct Sim {
    sup: Supervisor,
    now: Instant,
    kernel: Table,
    checks: BTreeSet<CheckKey>,
    events: Vec<Event>,
    /// The kernel refuses every op (IPVS in trouble).
    refuse: bool,
}

impl Sim {
    fn new(src: &str) -> Self {
        Self::adopting(src, Table::default())
    }

    /// Starts over a kernel that already holds `kernel` (a restarted lvsd).
    fn adopting(src: &str, kernel: Table) -> Self {
        let plan = plan(src);
        let probes = probes(&plan);
        Self {
            sup: Supervisor::new(plan, probes, kernel.clone()),
            now: Instant::now(),
            kernel,
            checks: BTreeSet::new(),
            events: Vec::new(),
            refuse: false,
        }
    }

    /// Carries out what the supervisor asks, as lvsd's loop does; returns the ops sent.
    fn step(&mut self) -> Vec<IpvsOp> {
        for c in self.sup.poll_check_changes() {
            match c {
                CheckChange::Start(k) => assert!(self.checks.insert(k), "{k:?} started twice"),
                CheckChange::Stop(k) => assert!(self.checks.remove(&k), "{k:?} not running"),
            }
        }
        self.drain_events();
        let ops = self.sup.poll_ops();
        for op in &ops {
            if !self.refuse {
                self.kernel.apply(op);
            }
            self.sup.handle_op_result(op, !self.refuse);
        }
        if self.sup.poll_read_back() {
            self.sup.handle_table(self.kernel.clone());
        }
        self.drain_events();
        ops
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.sup.poll_event() {
            self.events.push(e);
        }
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The running check of `addr`:80.
    fn check(&self, addr: &str) -> CheckKey {
        let target = SocketAddr::new(ip(addr), 80);
        let found: Vec<_> = self.checks.iter().filter(|k| k.target == target).collect();
        assert_eq!(found.len(), 1, "checks of {addr}: {found:?}");
        *found[0]
    }

    /// One check result for `addr` now, then a step; returns the ops.
    fn result(&mut self, addr: &str, ok: bool) -> Vec<IpvsOp> {
        let key = self.check(addr);
        let r = if ok { Ok(()) } else { Err("connect: refused") };
        self.sup
            .handle_result(self.now, &key, r, Duration::from_millis(2));
        self.step()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.sup.poll_timeout().is_some_and(|t| t <= self.now) {
            self.sup.handle_timeout(self.now);
        }
    }

    fn reload(&mut self, src: &str) -> (bool, Vec<IpvsOp>) {
        let plan = plan(src);
        let probes = probes(&plan);
        let r = self.sup.handle_reload(self.now, plan, probes);
        (r.same_plan, self.step())
    }

    /// The kernel's weights of `web`'s destinations, by address.
    fn weights(&self) -> BTreeMap<String, i32> {
        self.kernel.services[&web()]
            .dests
            .values()
            .map(|d| (d.key.addr.to_string(), d.weight))
            .collect()
    }
}

fn weights(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
    pairs.iter().map(|(a, w)| (a.to_string(), *w)).collect()
}

#[test]
fn start_adds_the_service_and_starts_one_check_per_server_but_no_server_before_its_check() {
    let mut sim = Sim::new(&cf("", ""));
    let ops = sim.step();
    assert!(
        matches!(ops.as_slice(), [IpvsOp::AddService(s)] if s.key == web()),
        "{ops:?}"
    );
    assert_eq!(sim.checks.len(), 2);
    assert_eq!(sim.check("10.0.0.1").period, Duration::from_secs(10));
    assert_eq!(sim.weights(), weights(&[]));
    assert_eq!(sim.sup.poll_timeout(), None);
}

#[test]
fn the_first_check_decides_at_once() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    assert_eq!(
        sim.result("10.0.0.1", true),
        vec![IpvsOp::AddDest(web(), dest("10.0.0.1", 3))]
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::ServerUp {
            service: web(),
            server: dkey("10.0.0.1")
        }]
    );
    // A first failure: down at once, and the server was never added.
    assert_eq!(sim.result("10.0.0.2", false), vec![]);
    assert_eq!(sim.sup.health_of(&web(), &dkey("10.0.0.2")), Health::Down);
    assert_eq!(
        sim.take_events(),
        vec![Event::ServerDown {
            service: web(),
            server: dkey("10.0.0.2"),
            error: "connect: refused".into()
        }]
    );
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3)]));
}

#[test]
fn one_failure_takes_a_server_out_and_reentry_successes_bring_it_back() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    sim.result("10.0.0.2", true);
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.result("10.0.0.1", false),
        vec![IpvsOp::DeleteDest(web(), dkey("10.0.0.1"))]
    );
    // reentry 30 / timeout 10: the third consecutive success brings it back, not before.
    for _ in 0..2 {
        sim.advance(Duration::from_secs(10));
        assert_eq!(sim.result("10.0.0.1", true), vec![]);
    }
    // A failure in between starts the count again.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.result("10.0.0.1", false), vec![]);
    for _ in 0..2 {
        sim.advance(Duration::from_secs(10));
        assert_eq!(sim.result("10.0.0.1", true), vec![]);
    }
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.result("10.0.0.1", true),
        vec![IpvsOp::AddDest(web(), dest("10.0.0.1", 3))]
    );
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3), ("10.0.0.2", 2)]));
}

#[test]
fn quiesce_keeps_a_failed_server_with_weight_zero_instead_of_removing_it() {
    let mut sim = Sim::new(&cf("    quiesce_server = 1", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    assert_eq!(
        sim.result("10.0.0.1", false),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.1", 0))]
    );
    // A server whose first check fails is added quiesced.
    assert_eq!(
        sim.result("10.0.0.2", false),
        vec![IpvsOp::AddDest(web(), dest("10.0.0.2", 0))]
    );
    for _ in 0..3 {
        sim.advance(Duration::from_secs(10));
        sim.result("10.0.0.1", true);
    }
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3), ("10.0.0.2", 0)]));
}

#[test]
fn the_sorry_server_stands_in_while_no_server_is_up_or_unknown() {
    let mut sim = Sim::new(&cf("    sorry_server = 10.0.0.99", ""));
    // Unknown counts as alive: no sorry server at start.
    sim.step();
    assert_eq!(sim.weights(), weights(&[]));
    sim.result("10.0.0.1", false);
    // b is still unknown: still no sorry server.
    assert_eq!(sim.weights(), weights(&[]));
    assert_eq!(
        sim.result("10.0.0.2", false),
        vec![IpvsOp::AddDest(web(), dest("10.0.0.99", 1))]
    );
    let events = sim.take_events();
    assert_eq!(
        events.last(),
        Some(&Event::SorryIn {
            virtual_name: "web".into(),
            sorry: ip("10.0.0.99")
        }),
        "{events:?}"
    );
    // a's first success after being down needs 3.
    for _ in 0..3 {
        sim.advance(Duration::from_secs(10));
        sim.result("10.0.0.1", true);
    }
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3)]));
    let events = sim.take_events();
    assert_eq!(
        events.last(),
        Some(&Event::SorryOut {
            virtual_name: "web".into(),
            sorry: ip("10.0.0.99"),
            up: 1
        }),
        "{events:?}"
    );
}

#[test]
fn a_reload_keeps_the_health_of_unchanged_servers_and_touches_only_what_changed() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", false);
    sim.result("10.0.0.2", true);
    sim.take_events();
    // b's weight changes, c is added, a is unchanged (and down).
    let c = "    server c {\n        address = 10.0.0.3\n        active = 1\n    }";
    let next = cf("", c).replace("weight = 2", "weight = 5");
    let (same, ops) = sim.reload(&next);
    assert!(!same);
    // a stays out (down carries over), c waits for its first check.
    assert_eq!(ops, vec![IpvsOp::EditDest(web(), dest("10.0.0.2", 5))]);
    assert_eq!(sim.sup.health_of(&web(), &dkey("10.0.0.1")), Health::Down);
    assert_eq!(
        sim.sup.health_of(&web(), &dkey("10.0.0.3")),
        Health::Unknown
    );
    assert_eq!(sim.checks.len(), 3, "only c's check started");
    assert_eq!(
        sim.result("10.0.0.3", true),
        vec![IpvsOp::AddDest(web(), dest("10.0.0.3", 1))]
    );
    // b removed: its entry alone goes, and its check stops.
    let without_b = cf("", c).replace(
        "    server b {\n        address = 10.0.0.2\n        active = 1\n        weight = 2\n    }\n",
        "",
    );
    let (_, ops) = sim.reload(&without_b);
    assert_eq!(ops, vec![IpvsOp::DeleteDest(web(), dkey("10.0.0.2"))]);
    assert!(
        !sim.checks.iter().any(|k| k.target.ip() == ip("10.0.0.2")),
        "{:?}",
        sim.checks
    );
    assert_eq!(sim.weights(), weights(&[("10.0.0.3", 1)]));
}

#[test]
fn a_reload_of_an_identical_plan_changes_nothing() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    let checks = sim.checks.clone();
    // Only serial_no differs: the same plan.
    let (same, ops) = sim.reload(&cf("", "").replace("serial_no = 1", "serial_no = 2"));
    assert!(same);
    assert_eq!(ops, vec![]);
    assert_eq!(sim.sup.poll_check_changes(), vec![]);
    assert_eq!(sim.checks, checks);
    assert_eq!(sim.sup.health_of(&web(), &dkey("10.0.0.1")), Health::Up);
}

#[test]
fn a_reload_that_changes_a_check_restarts_only_that_check_and_keeps_health() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    let before = sim.check("10.0.0.1");
    let (same, ops) = sim.reload(&cf("", "").replace("timeout = 10", "timeout = 5"));
    assert!(!same);
    assert_eq!(ops, vec![]);
    let after = sim.check("10.0.0.1");
    assert_ne!(before, after);
    assert_eq!(after.period, Duration::from_secs(5));
    assert_eq!(sim.sup.health_of(&web(), &dkey("10.0.0.1")), Health::Up);
}

#[test]
fn handoff_sets_every_weight_to_zero_and_adds_the_partner_then_none_restores() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    sim.result("10.0.0.2", true);
    sim.take_events();
    sim.sup.handle_handoff(sim.now, Some(ip("192.0.2.12")));
    sim.step();
    let partner = DestKey {
        addr: ip("192.0.2.12"),
        port: 80,
    };
    assert_eq!(
        sim.weights(),
        weights(&[("10.0.0.1", 0), ("10.0.0.2", 0), ("192.0.2.12", 1)])
    );
    assert_eq!(
        sim.kernel.services[&web()].dests[&partner].forward,
        Forward::Route
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::HandoffStarted {
            partner: ip("192.0.2.12")
        }]
    );
    // Health checks go on during the handoff: a failing server still leaves.
    sim.result("10.0.0.2", false);
    assert_eq!(
        sim.weights(),
        weights(&[("10.0.0.1", 0), ("192.0.2.12", 1)])
    );
    // Asking again changes nothing.
    sim.sup.handle_handoff(sim.now, Some(ip("192.0.2.12")));
    assert_eq!(sim.step(), vec![]);
    sim.sup.handle_handoff(sim.now, None);
    // The end is reported before the partner's entry goes, so its connections can be counted.
    assert_eq!(
        sim.sup.poll_event(),
        Some(Event::HandoffEnded {
            partner: ip("192.0.2.12"),
            expired: false
        })
    );
    sim.step();
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3)]));
    assert_eq!(sim.sup.poll_timeout(), None);
}

#[test]
fn a_handoff_pulse_never_ends_ends_by_itself_after_sixty_seconds() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    let started = sim.now;
    sim.sup.handle_handoff(started, Some(ip("192.0.2.12")));
    sim.step();
    assert_eq!(sim.sup.poll_timeout(), Some(started + HANDOFF_MAX));
    assert_eq!(HANDOFF_MAX, Duration::from_secs(60));
    sim.take_events();
    sim.advance(Duration::from_secs(59));
    assert_eq!(sim.step(), vec![]);
    assert_eq!(sim.sup.handoff(), Some(ip("192.0.2.12")));
    sim.advance(Duration::from_secs(1));
    sim.step();
    assert_eq!(sim.sup.handoff(), None);
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3)]));
    assert_eq!(
        sim.take_events(),
        vec![Event::HandoffEnded {
            partner: ip("192.0.2.12"),
            expired: true
        }]
    );
    assert_eq!(sim.sup.poll_timeout(), None);
}

#[test]
fn an_adopted_table_keeps_unknown_servers_as_they_are_until_their_first_check() {
    let p = plan(&cf("", ""));
    let stray = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: ip("192.0.2.99"),
        port: 53,
    };
    let mut kernel = Table::default();
    for service in [p.services[0].service.clone(), {
        let mut s = p.services[0].service.clone();
        s.key = stray;
        s
    }] {
        kernel.services.insert(
            service.key,
            ObservedService {
                service,
                dests: BTreeMap::new(),
            },
        );
    }
    // a is there with another weight (quiesced by a previous lvsd); b is not.
    kernel.apply(&IpvsOp::AddDest(web(), dest("10.0.0.1", 0)));
    let mut sim = Sim::adopting(&cf("", ""), kernel);
    // Only the service lvs.cf does not name goes; a keeps its kernel weight.
    assert_eq!(sim.step(), vec![IpvsOp::DeleteService(stray)]);
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 0)]));
    // Its first check decides.
    assert_eq!(
        sim.result("10.0.0.1", true),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.1", 3))]
    );
    let mut kernel = sim.kernel.clone();
    kernel.apply(&IpvsOp::AddDest(web(), dest("10.0.0.2", 2)));
    let mut sim = Sim::adopting(&cf("", ""), kernel);
    assert_eq!(sim.step(), vec![]);
    assert_eq!(
        sim.result("10.0.0.2", false),
        vec![IpvsOp::DeleteDest(web(), dkey("10.0.0.2"))]
    );
}

#[test]
fn a_refused_op_asks_for_the_table_and_hard_shutdown_decides_when_it_is_unreadable() {
    let mut sim = Sim::new(&cf("", ""));
    sim.step();
    sim.refuse = true;
    sim.sup
        .handle_result(sim.now, &sim.check("10.0.0.1"), Ok(()), Duration::ZERO);
    let ops = sim.sup.poll_ops();
    assert_eq!(ops.len(), 1);
    sim.sup.handle_op_result(&ops[0], false);
    assert!(sim.sup.poll_read_back());
    assert!(!sim.sup.poll_read_back(), "asked once");
    assert_eq!(sim.sup.handle_table_unreadable(), Unreadable::Exit);
    let sim =
        Sim::new(&cf("", "").replace("network = direct", "network = direct\nhard_shutdown = 0"));
    assert_eq!(sim.sup.handle_table_unreadable(), Unreadable::GoOn);
}

#[test]
fn shutdown_removes_only_the_managed_services_and_stops_every_check() {
    let src = format!(
        "{}virtual dns {{\n    active = 1\n    address = 192.0.2.11 eth0:2\n    protocol = udp\n    port = 53\n    server d {{\n        address = 10.0.0.4\n        active = 1\n    }}\n}}\n",
        cf("", "")
    );
    let mut sim = Sim::new(&src);
    sim.step();
    let mut other = sim.kernel.services[&web()].clone();
    other.service.key = ServiceKey::Fwmark {
        family: pulse_ipvs::Family::V4,
        mark: 9,
    };
    sim.kernel.services.insert(other.service.key, other);
    sim.sup.handle_shutdown();
    sim.sup
        .handle_result(sim.now, &sim.check("10.0.0.1"), Ok(()), Duration::ZERO);
    let ops = sim.step();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(ops.iter().all(|o| matches!(o, IpvsOp::DeleteService(_))));
    assert!(sim.checks.is_empty());
    assert_eq!(sim.kernel.services.len(), 1, "the unmanaged service stays");
    let names: Vec<_> = sim
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ServiceRemoved { virtual_name, .. } => Some(virtual_name),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["web", "dns"]);
}

#[test]
fn a_server_in_two_services_is_checked_once_and_one_result_decides_both() {
    let src = format!(
        "{}virtual web2 {{\n    active = 1\n    address = 192.0.2.11 eth0:2\n    port = 80\n    timeout = 10\n    server a2 {{\n        address = 10.0.0.1\n        active = 1\n    }}\n}}\n",
        cf("", "")
    );
    let mut sim = Sim::new(&src);
    sim.step();
    assert_eq!(sim.checks.len(), 2);
    let ops = sim.result("10.0.0.1", true);
    assert_eq!(ops.len(), 2, "one AddDest per service: {ops:?}");
    // Both transitions and their ops come out of one batch.
    sim.sup.handle_result(
        sim.now,
        &sim.check("10.0.0.1"),
        Err("timeout"),
        Duration::ZERO,
    );
    sim.sup
        .handle_result(sim.now, &sim.check("10.0.0.2"), Ok(()), Duration::ZERO);
    let ops = sim.step();
    assert_eq!(ops.len(), 3, "{ops:?}");
}

#[test]
fn connection_timeouts_are_set_when_configured_and_again_only_when_they_change() {
    let src = cf("", "").replace("network = direct", "network = direct\ntcp_timeout = 900");
    let mut sim = Sim::new(&src);
    assert_eq!(sim.sup.poll_connection_timeouts().map(|t| t.tcp), Some(900));
    assert_eq!(sim.sup.poll_connection_timeouts(), None);
    sim.reload(&src.replace("weight = 3", "weight = 4"));
    assert_eq!(sim.sup.poll_connection_timeouts(), None);
    sim.reload(&src.replace("900", "600"));
    assert_eq!(sim.sup.poll_connection_timeouts().map(|t| t.tcp), Some(600));
    let mut plain = Sim::new(&cf("", ""));
    assert_eq!(plain.sup.poll_connection_timeouts(), None);
}

#[test]
fn the_status_snapshot_shows_health_counters_and_kernel_weights() {
    let mut sim = Sim::new(&cf("    quiesce_server = 1", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    sim.result("10.0.0.2", false);
    let status = sim.sup.status();
    assert_eq!(status.len(), 1);
    let s = &status[0];
    assert!(s.in_kernel);
    assert!(!s.sorry_active);
    let a = &s.servers[0];
    assert_eq!(
        (a.name, a.kernel_weight, a.health.health()),
        ("a", Some(3), Health::Up)
    );
    assert_eq!((a.checks.passed, a.checks.failed), (1, 0));
    let b = &s.servers[1];
    assert_eq!(
        (b.name, b.kernel_weight, b.health.health()),
        ("b", Some(0), Health::Down)
    );
    assert_eq!(b.health.last_error(), Some("connect: refused"));
    assert_eq!(b.checks.failed, 1);
}

#[test]
fn drain_zeroes_the_weight_disable_removes_enable_restores_and_a_reload_keeps_the_override() {
    let mut sim = Sim::new(&cf("    sorry_server = 10.0.0.99", ""));
    sim.step();
    sim.result("10.0.0.1", true);
    sim.result("10.0.0.2", true);
    sim.take_events();
    // Drain: an edit to weight 0, the entry stays (its connections finish).
    sim.sup
        .handle_admin(sim.now, "web", "a", Admin::Draining)
        .expect("drain");
    assert_eq!(
        sim.step(),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.1", 0))]
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::AdminChanged {
            virtual_name: "web".into(),
            server_name: "a".into(),
            server: dkey("10.0.0.1"),
            admin: Admin::Draining,
        }]
    );
    // Asking again changes nothing.
    sim.sup
        .handle_admin(sim.now, "web", "a", Admin::Draining)
        .expect("drain again");
    assert!(sim.step().is_empty());
    assert!(sim.take_events().is_empty());
    // Checks go on while drained: a failure and a recovery do not bring the weight back.
    sim.result("10.0.0.1", false);
    for _ in 0..3 {
        sim.advance(Duration::from_secs(10));
        sim.result("10.0.0.1", true);
    }
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 0), ("10.0.0.2", 2)]));
    // A reload that keeps a carries the override over.
    let (_, ops) =
        sim.reload(&cf("    sorry_server = 10.0.0.99", "").replace("weight = 2", "weight = 4"));
    assert_eq!(ops, vec![IpvsOp::EditDest(web(), dest("10.0.0.2", 4))]);
    assert_eq!(sim.sup.admin_of(&web(), &dkey("10.0.0.1")), Admin::Draining);
    // Disable: out of the table. With b disabled too, nothing is alive: the sorry server.
    sim.sup
        .handle_admin(sim.now, "web", "a", Admin::Disabled)
        .expect("disable");
    assert_eq!(
        sim.step(),
        vec![IpvsOp::DeleteDest(web(), dkey("10.0.0.1"))]
    );
    sim.sup
        .handle_admin(sim.now, "web", "b", Admin::Disabled)
        .expect("disable b");
    sim.step();
    assert_eq!(sim.weights(), weights(&[("10.0.0.99", 1)]));
    // Enable: back at once, its checks having passed all along; the sorry server leaves.
    sim.sup
        .handle_admin(sim.now, "web", "a", Admin::Enabled)
        .expect("enable");
    sim.sup
        .handle_admin(sim.now, "web", "b", Admin::Enabled)
        .expect("enable b");
    sim.step();
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3), ("10.0.0.2", 4)]));
    // An enabled server that is down stays out until its checks pass.
    sim.sup
        .handle_admin(sim.now, "web", "b", Admin::Disabled)
        .expect("disable b");
    sim.step();
    sim.result("10.0.0.2", false);
    sim.sup
        .handle_admin(sim.now, "web", "b", Admin::Enabled)
        .expect("enable b");
    sim.step();
    assert_eq!(sim.weights(), weights(&[("10.0.0.1", 3)]));
    // Unknown names are refused with the name.
    assert_eq!(
        sim.sup.handle_admin(sim.now, "mail", "a", Admin::Disabled),
        Err(AdminError::NoVirtual("mail".into()))
    );
    assert_eq!(
        sim.sup.handle_admin(sim.now, "web", "z", Admin::Disabled),
        Err(AdminError::NoServer {
            virtual_name: "web".into(),
            server: "z".into()
        })
    );
}

/// `ecmp = 1` with the servers written in `order` (names a/b/c at 10.0.0.1/2/3).
fn ecmp_cf(order: &[&str]) -> String {
    let servers: String = order
        .iter()
        .map(|n| {
            let last = match *n {
                "a" => 1,
                "b" => 2,
                _ => 3,
            };
            format!(
                "    server {n} {{\n        address = 10.0.0.{last}\n        active = 1\n    }}\n"
            )
        })
        .collect();
    format!(
        "serial_no = 1\nnetwork = direct\necmp = 1\nvirtual web {{\n    active = 1\n    \
         address = 192.0.2.10 lo\n    port = 80\n    scheduler = wlc\n    timeout = 10\n    \
         reentry = 30\n{servers}}}\n"
    )
}

#[test]
fn ecmp_programs_mh_with_port_and_fallback_and_every_server_at_once_in_one_order() {
    let mut first = Sim::new(&ecmp_cf(&["a", "b", "c"]));
    let mut second = Sim::new(&ecmp_cf(&["c", "a", "b"]));
    let ops = first.step();
    // Whatever `scheduler` says, and before any check: the kernel's destination list is
    // built in one batch, in the same order on every director whatever the file's order.
    assert_eq!(ops, second.step());
    let [IpvsOp::AddService(s), adds @ ..] = ops.as_slice() else {
        panic!("{ops:?}")
    };
    assert_eq!(s.scheduler, "mh");
    assert_eq!(
        s.flags.0,
        pulse_ipvs::ServiceFlags::SCHED1 | pulse_ipvs::ServiceFlags::SCHED2
    );
    assert_eq!(
        adds,
        [
            IpvsOp::AddDest(web(), dest("10.0.0.1", 1)),
            IpvsOp::AddDest(web(), dest("10.0.0.2", 1)),
            IpvsOp::AddDest(web(), dest("10.0.0.3", 1)),
        ]
    );
    assert!(first.sup.plan().ecmp);
}

#[test]
fn ecmp_quiesces_instead_of_deleting_so_the_order_never_changes() {
    let mut sim = Sim::new(&ecmp_cf(&["a", "b", "c"]));
    sim.step();
    sim.result("10.0.0.1", true);
    sim.result("10.0.0.3", true);
    assert_eq!(
        sim.result("10.0.0.2", false),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.2", 0))]
    );
    sim.sup
        .handle_admin(sim.now, "web", "c", Admin::Disabled)
        .unwrap();
    assert_eq!(
        sim.step(),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.3", 0))]
    );
    assert_eq!(
        sim.weights(),
        weights(&[("10.0.0.1", 1), ("10.0.0.2", 0), ("10.0.0.3", 0)])
    );
    sim.sup
        .handle_admin(sim.now, "web", "c", Admin::Enabled)
        .unwrap();
    assert_eq!(
        sim.step(),
        vec![IpvsOp::EditDest(web(), dest("10.0.0.3", 1))]
    );
}
