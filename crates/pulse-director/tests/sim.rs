//! Two directors and their lvsds on one simulated clock and network: every decision of
//! `Director` as an operator would see its effects — who holds the VIP, when, what was
//! announced, which lvsd runs — without root, namespaces or a kernel.
//!
//! Node 0 is the primary (192.0.2.11), node 1 the backup (.12), one heartbeat link each way.
//! The "kernel" of each node is a set of held addresses; claims succeed after 1 ms unless the
//! node's VIP interface is missing; lvsd starts after 1 ms and stops 5 ms after SIGTERM.

use proptest::prelude::*;
use pulse_director::{
    Action, Director, FosAction, FosPlan, FosService, FosState, Plan, Reload, Settings, SyncRole,
    VipClaim, Which,
};
use pulse_proto::fsm::{Command, Config, Link, WireMode};
use pulse_proto::wire::HeartbeatKey;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const KEEPALIVE: Duration = Duration::from_millis(200);
const DEADTIME: Duration = Duration::from_millis(600);
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101));
/// Every world is dual-stack: an IPv6 VIP moves with the IPv4 one.
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));

fn vip(addr: IpAddr, n: u8) -> VipClaim {
    VipClaim {
        addr,
        prefix: if addr.is_ipv4() { 32 } else { 128 },
        device: format!("eth0:{n}"),
        base: "eth0".into(),
    }
}

fn link(node: usize) -> Link {
    let (me, peer) = if node == 0 { (11, 12) } else { (12, 11) };
    Link {
        local: format!("192.0.2.{me}:539").parse().expect("addr"),
        peer: format!("192.0.2.{peer}:539").parse().expect("addr"),
    }
}

fn plan(node: usize, vips: Vec<VipClaim>) -> Plan {
    Plan {
        primary: node == 0,
        links: vec![link(node)],
        vips,
        keepalive: KEEPALIVE,
        deadtime: DEADTIME,
        garp: (3, Duration::from_millis(100)),
        fos: None,
    }
}

/// `service = fos`: two failover services (on VIP and VIP2), checked every second, two
/// restarts before giving up.
const FOS_TIMEOUT: Duration = Duration::from_secs(1);
const FOS_RESTARTS: u32 = 2;
/// How long the simulated `start_cmd` and `stop_cmd` take.
const CMD_TIME: Duration = Duration::from_millis(10);

fn fos_plan(node: usize) -> Plan {
    let svc = |name: &str, vip: IpAddr, port: u16| FosService {
        name: name.into(),
        vip,
        port,
        timeout: FOS_TIMEOUT,
        start_cmd: format!("/etc/init.d/{name} start"),
        stop_cmd: format!("/etc/init.d/{name} stop"),
    };
    Plan {
        fos: Some(FosPlan {
            services: vec![svc("web", VIP, 80), svc("dns", VIP2, 53)],
            restarts: FOS_RESTARTS,
            command_timeout: Duration::from_secs(5),
            ping_target: None,
        }),
        ..plan(node, vec![vip(VIP, 1), vip(VIP2, 2)])
    }
}

fn settings() -> Settings {
    Settings {
        warm_standby: true,
        syncdaemon: true,
        syncd_iface: "eth0".into(),
        syncd_id: 0,
        active_cmd: Some("/bin/on".into()),
        inactive_cmd: Some("/bin/off".into()),
        run_lvsd: true,
        monitor_links: true,
        serial_no: 1,
        digest: [7; 8],
        restart_only: "127.0.0.1:0".into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Legacy,
    Key,
}

/// `wall_clock_us`: the node's wall clock at its start, in µs.
fn hb_config(node: usize, auth: Auth, boot: u64, wall_clock_us: u64) -> Config {
    Config {
        primary: node == 0,
        links: vec![link(node)],
        keepalive: KEEPALIVE,
        deadtime: DEADTIME,
        mode: match auth {
            Auth::Legacy => WireMode::Legacy { fos: false },
            Auth::Key => WireMode::Authenticated(
                HeartbeatKey::new(b"0123456789abcdef0123456789abcdef").expect("key"),
            ),
        },
        force_active: false,
        serial_no: 1,
        digest: [7; 8],
        boot_id: boot,
        wall_clock_us,
        replay_floor: 0,
        drain_on_release: auth == Auth::Key,
    }
}

/// Something the world reports back to a director later.
#[derive(Debug)]
enum Report {
    Claimed(VipClaim, Result<(), String>),
    LvsdStarted,
    LvsdExited(&'static str),
    DrainProgress(Result<u64, String>),
    FosDone(usize, Which),
    FosCheck(usize, u64),
    FosPing,
}

#[derive(Default)]
struct Node {
    director: Option<Director>,
    /// Addresses in this node's kernel.
    held: BTreeSet<IpAddr>,
    /// The VIP interface is missing: claims fail.
    no_interface: bool,
    /// lvsd processes running (must never exceed 1).
    lvsds: u32,
    /// lvsd dies right after starting.
    lvsd_broken: bool,
    /// (when, addresses) of every gratuitous ARP round.
    announced: Vec<(Instant, Vec<IpAddr>)>,
    commands: Vec<String>,
    sync: Vec<SyncRole>,
    lvsd_reloads: u32,
    reports: Vec<(Instant, Report)>,
    cable_cut: bool,
    /// How often lvsd was asked during drains.
    drain_polls: u32,
    drain: DrainBehaviour,
    /// `service = fos`: each failover service's process runs on this node.
    fos_running: [bool; 2],
    /// `start_cmd` of service 0 succeeds but the service dies at once.
    fos_broken: bool,
    /// Every `start_cmd`/`stop_cmd` run, in order: (service, which).
    fos_commands: Vec<(usize, Which, Instant)>,
    /// This node's uplink is cut: it reaches neither the partner's VIPs nor its ping target
    /// (heartbeats still flow over the private link).
    uplink_cut: bool,
    /// Clients cannot reach this node's VIPs (its client-facing side broke), but it can.
    unreachable_from_outside: bool,
}

/// What a node's lvsd answers while draining.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum DrainBehaviour {
    #[default]
    Finishes,
    Stuck,
    Broken,
}

struct World {
    t0: Instant,
    now: Instant,
    auth: Auth,
    fos: bool,
    nodes: [Node; 2],
    packets: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    /// How many times each node was started (boot ids).
    boots: [u64; 2],
}

impl World {
    fn new(auth: Auth) -> Self {
        Self::with_mode(auth, false)
    }

    fn with_mode(auth: Auth, fos: bool) -> Self {
        let t0 = Instant::now();
        let mut w = Self {
            t0,
            now: t0,
            auth,
            fos,
            nodes: [Node::default(), Node::default()],
            packets: Vec::new(),
            boots: [0, 0],
        };
        w.start(0);
        w.start(1);
        w
    }

    fn vips() -> Vec<VipClaim> {
        vec![vip(VIP, 1), vip(VIP6, 3)]
    }

    fn start(&mut self, n: usize) {
        self.boots[n] += 1;
        let boot = self.boots[n] * 10 + n as u64;
        let mut hb = hb_config(n, self.auth, boot, self.wall_clock_us());
        let plan = if self.fos {
            if self.auth == Auth::Legacy {
                hb.mode = WireMode::Legacy { fos: true };
            }
            fos_plan(n)
        } else {
            plan(n, Self::vips())
        };
        let d = Director::new(hb, plan, settings(), self.now);
        self.nodes[n].director = Some(d);
        self.pump(n);
    }

    /// The machine dies: its processes and addresses are gone.
    fn crash(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.director = None;
        node.held.clear();
        node.lvsds = 0;
        node.reports.clear();
        node.fos_running = [false; 2];
    }

    /// Whether node `n`'s check of service `s` at its VIP succeeds now.
    fn fos_check_ok(&self, n: usize, s: usize) -> bool {
        let addr = [VIP, VIP2][s];
        let Some(holder) = (0..2).find(|&h| self.nodes[h].held.contains(&addr)) else {
            return false;
        };
        if holder != n && (self.nodes[n].uplink_cut || self.nodes[holder].unreachable_from_outside)
        {
            return false;
        }
        self.nodes[holder].fos_running[s]
    }

    /// Settles a `service = fos` pair: node 0 (primary) runs both services.
    fn fos_settled(auth: Auth) -> Self {
        let mut w = Self::with_mode(auth, true);
        w.run_for(Duration::from_secs(3));
        assert!(w.holds(0) && !w.holds(1), "primary serves after start");
        assert_eq!(w.nodes[0].fos_running, [true, true]);
        assert_eq!(w.nodes[1].fos_running, [false, false]);
        w
    }

    /// `start_cmd`s of service `s` run on node `n` since `t`.
    fn starts_since(&self, n: usize, s: usize, t: Instant) -> usize {
        self.nodes[n]
            .fos_commands
            .iter()
            .filter(|c| c.0 == s && c.1 == Which::Start && c.2 >= t)
            .count()
    }

    fn fos_state(&mut self, n: usize, s: usize) -> FosState {
        self.d(n).status().failover[s].state
    }

    /// Both nodes' wall clocks agree: µs since an epoch long before t0.
    fn wall_clock_us(&self) -> u64 {
        1_000_000_000 + u64::try_from(self.elapsed().as_micros()).expect("µs")
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn d(&mut self, n: usize) -> &mut Director {
        self.nodes[n].director.as_mut().expect("running")
    }

    fn holds(&self, n: usize) -> bool {
        self.nodes[n].held.contains(&VIP)
    }

    fn holders(&self) -> usize {
        (0..2).filter(|&n| self.holds(n)).count()
    }

    /// Carry out the director's actions and send its heartbeats.
    fn pump(&mut self, n: usize) {
        let now = self.now;
        loop {
            let Some(d) = self.nodes[n].director.as_mut() else {
                return;
            };
            let Some(a) = d.poll_action() else { break };
            let active = d.is_active();
            let partner_held = self.nodes[1 - n]
                .director
                .as_ref()
                .map_or(0, |d| d.status().vips_held.len());
            let node = &mut self.nodes[n];
            if std::env::var_os("SIM_TRACE").is_some() {
                eprintln!("node {n} {:?}: {a:?}", now - self.t0);
            }
            match a {
                Action::ClaimVip(v) => {
                    let result = if node.no_interface {
                        Err("no such interface eth0".to_string())
                    } else {
                        node.held.insert(v.addr);
                        Ok(())
                    };
                    node.reports
                        .push((now + Duration::from_millis(1), Report::Claimed(v, result)));
                }
                Action::ReleaseVip { vip, .. } => {
                    node.held.remove(&vip.addr);
                }
                Action::Announce(v) => {
                    for a in &v {
                        assert!(
                            node.held.contains(&a.addr),
                            "node {n} announced {} not held at {:?}",
                            a.addr,
                            now
                        );
                    }
                    node.announced
                        .push((now, v.into_iter().map(|v| v.addr).collect()));
                }
                Action::RunCommand { line, .. } => node.commands.push(line),
                Action::ReapStrayLvsd => {}
                Action::StartLvsd { .. } => {
                    node.lvsds += 1;
                    assert!(node.lvsds <= 1, "two lvsds on node {n}");
                    node.reports
                        .push((now + Duration::from_millis(1), Report::LvsdStarted));
                    if node.lvsd_broken {
                        node.reports.push((
                            now + Duration::from_millis(2),
                            Report::LvsdExited("exit status: 1"),
                        ));
                    }
                }
                Action::StopLvsd => node.reports.push((
                    now + Duration::from_millis(5),
                    Report::LvsdExited("stopped"),
                )),
                Action::ReloadLvsd => node.lvsd_reloads += 1,
                Action::SetSyncRole { role, .. } => node.sync.push(role),
                Action::Drain { .. } => {
                    // New connections go to the partner from now: it must have every VIP on
                    // its interface (its claims reported), or they would be dropped there.
                    if node.drain_polls == 0 {
                        assert_eq!(
                            partner_held,
                            Self::vips().len(),
                            "node {n} drains towards a partner that holds {partner_held} VIPs at {:?}",
                            now - self.t0
                        );
                    }
                    // Two connections left at first, one, then none: lvsd is polled. A stuck
                    // drain always has five left; a broken lvsd cannot drain.
                    node.drain_polls += 1;
                    let answer = match node.drain {
                        DrainBehaviour::Finishes => {
                            Ok(3u64.saturating_sub(u64::from(node.drain_polls)))
                        }
                        DrainBehaviour::Stuck => Ok(5),
                        DrainBehaviour::Broken => Err("connection refused".to_string()),
                    };
                    node.reports.push((
                        now + Duration::from_millis(1),
                        Report::DrainProgress(answer),
                    ));
                }
                Action::EndHandoff => {
                    // A deactivated director takes its table back only after its VIP releases
                    // (queued first, carried out in order): while it holds a VIP, a new
                    // connection must still go on to the partner.
                    assert!(
                        active || node.held.is_empty(),
                        "node {n} ended the handoff while still holding {:?} at {:?}",
                        node.held,
                        now - self.t0
                    );
                }
                Action::PersistReplayFloor(_) => {}
                Action::Fos(FosAction::Run { service, which, .. }) => {
                    node.fos_commands.push((service, which, now));
                    node.reports
                        .push((now + CMD_TIME, Report::FosDone(service, which)));
                }
                Action::Fos(FosAction::Check { service, id }) => node.reports.push((
                    now + Duration::from_millis(2),
                    Report::FosCheck(service, id),
                )),
                Action::Fos(FosAction::CheckConnectivity) => node
                    .reports
                    .push((now + Duration::from_millis(5), Report::FosPing)),
            }
        }
        let other = 1 - n;
        while let Some(t) = self.nodes[n]
            .director
            .as_mut()
            .and_then(Director::poll_transmit)
        {
            if !self.nodes[n].cable_cut {
                self.packets.push((
                    now + Duration::from_millis(1),
                    other,
                    link(n).local,
                    t.payload().to_vec(),
                ));
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let mut t: Vec<Instant> = self.packets.iter().map(|p| p.0).collect();
        for node in &self.nodes {
            t.extend(node.reports.iter().map(|r| r.0));
            if let Some(d) = &node.director
                && let Some(x) = d.poll_timeout()
            {
                t.push(x);
            }
        }
        t.into_iter().min()
    }

    /// Runs until `until` after t0, checking `invariant` after every step.
    fn run_until(&mut self, until: Duration, mut invariant: impl FnMut(&Self)) {
        let end = self.t0 + until;
        while let Some(t) = self.next_time().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.step();
            invariant(self);
        }
        self.now = self.now.max(end);
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.elapsed() + d;
        self.run_until(until, |_| {});
    }

    fn step(&mut self) {
        let now = self.now;
        // Packets due.
        let due: Vec<_> = {
            let (due, later) = std::mem::take(&mut self.packets)
                .into_iter()
                .partition(|p| p.0 <= now);
            self.packets = later;
            due
        };
        for (_, to, from, data) in due {
            if self.nodes[to].cable_cut {
                continue;
            }
            if let Some(d) = self.nodes[to].director.as_mut() {
                d.handle_datagram(now, 0, from, &data);
                self.pump(to);
            }
        }
        for n in 0..2 {
            let reports: Vec<_> = {
                let (due, later) = std::mem::take(&mut self.nodes[n].reports)
                    .into_iter()
                    .partition(|r| r.0 <= now);
                self.nodes[n].reports = later;
                due
            };
            for (_, r) in reports {
                let no_interface = self.nodes[n].no_interface;
                let Some(d) = self.nodes[n].director.as_mut() else {
                    continue;
                };
                match r {
                    Report::Claimed(v, result) => {
                        let _ = no_interface;
                        d.handle_claim_result(now, &v, result);
                    }
                    Report::LvsdStarted => d.handle_lvsd_started(now, Ok(())),
                    Report::LvsdExited(how) => {
                        self.nodes[n].lvsds = self.nodes[n].lvsds.saturating_sub(1);
                        let d = self.nodes[n].director.as_mut().expect("running");
                        d.handle_lvsd_exited(now, how);
                    }
                    Report::DrainProgress(answer) => d.handle_drain_progress(now, answer),
                    Report::FosDone(s, which) => {
                        let node = &mut self.nodes[n];
                        node.fos_running[s] = which == Which::Start && !(s == 0 && node.fos_broken);
                        let d = node.director.as_mut().expect("running");
                        d.handle_fos_command_done(now, s, which, Ok(()));
                    }
                    Report::FosCheck(s, id) => {
                        let ok = self.fos_check_ok(n, s);
                        let result = if ok {
                            Ok(())
                        } else {
                            Err("connection refused".to_string())
                        };
                        let d = self.nodes[n].director.as_mut().expect("running");
                        d.handle_fos_check(now, s, id, result);
                    }
                    Report::FosPing => {
                        let result = if self.nodes[n].uplink_cut {
                            Err("192.0.2.1: no answer to 3 pings".to_string())
                        } else {
                            Ok("192.0.2.1".to_string())
                        };
                        let d = self.nodes[n].director.as_mut().expect("running");
                        d.handle_fos_connectivity(now, result);
                    }
                }
                self.pump(n);
            }
            if let Some(d) = self.nodes[n].director.as_mut()
                && d.poll_timeout().is_some_and(|t| t <= now)
            {
                d.handle_timeout(now);
                self.pump(n);
            }
        }
    }

    /// Settles the pair after a start: node 0 (primary) serves.
    fn settled() -> Self {
        let mut w = Self::new(Auth::Legacy);
        w.run_for(Duration::from_secs(2));
        assert!(w.holds(0) && !w.holds(1), "primary serves after start");
        w
    }
}

#[test]
fn start_primary_serves_both_lvsds_run_backup_in_sync_backup() {
    let w = World::settled();
    assert_eq!(w.nodes[0].lvsds, 1);
    assert_eq!(w.nodes[1].lvsds, 1, "warm standby");
    assert_eq!(w.nodes[0].sync.last(), Some(&SyncRole::Master));
    // Both start inactive at the same instant and each hears the other's STOPPED: both
    // activate for one network trip, then the backup yields to the primary (piranha's tie).
    assert_eq!(w.nodes[1].sync.last(), Some(&SyncRole::Backup));
    // inactive_cmd at start, active_cmd at the activation (and again with the re-announcement
    // after the tie, as piranha does).
    assert_eq!(w.nodes[0].commands[..2], ["/bin/off", "/bin/on"]);
    assert_eq!(
        w.nodes[0].commands.last().map(String::as_str),
        Some("/bin/on")
    );
    assert_eq!(
        w.nodes[1].commands.last().map(String::as_str),
        Some("/bin/off")
    );
    // piranha's schedule: garp_repeat (3) announcements, the first as soon as the VIP is held.
    // (Each VIP's first round goes out when its own claim is reported.)
    for a in [VIP, VIP6] {
        let rounds = w.nodes[0].announced.iter().filter(|(_, v)| v.contains(&a));
        assert_eq!(rounds.count(), 3, "{a}: {:?}", w.nodes[0].announced);
    }
    assert!(w.nodes[1].announced.is_empty());
}

#[test]
fn crash_of_the_active_director_moves_the_vip_within_deadtime() {
    let mut w = World::settled();
    let at = w.now;
    w.crash(0);
    let mut took = None;
    w.run_until(w.elapsed() + Duration::from_secs(3), |w| {
        if took.is_none() && w.holds(1) {
            took = Some(w.now - at);
        }
        assert!(w.holders() <= 1);
    });
    let took = took.expect("the backup took over");
    assert!(took <= DEADTIME + KEEPALIVE, "took {took:?}");
    assert_eq!(w.nodes[1].sync.last(), Some(&SyncRole::Master));
    assert_eq!(w.nodes[1].lvsds, 1, "the warm lvsd is kept, not restarted");
    assert!(!w.nodes[1].announced.is_empty());
    assert!(w.nodes[1].held.contains(&VIP6), "the IPv6 VIP moved too");
    // Each address is announced as soon as it is held, then on the GARP schedule with the
    // others: as often for the IPv6 VIP as for the IPv4 one.
    let rounds = |a: IpAddr| {
        w.nodes[1]
            .announced
            .iter()
            .filter(|(_, v)| v.contains(&a))
            .count()
    };
    assert_eq!(rounds(VIP6), rounds(VIP), "{:?}", w.nodes[1].announced);
    assert!(rounds(VIP6) >= 3, "{:?}", w.nodes[1].announced);
    // The crashed primary comes back: no failback, its stale VIP is released at start.
    w.nodes[0].held.insert(VIP);
    w.nodes[0].held.insert(VIP6);
    w.start(0);
    // Throughout, not only at the end: node 1 keeps the VIP, and node 0, once its stale copy
    // is gone, never takes it back.
    let mut released = false;
    w.run_until(w.elapsed() + Duration::from_secs(3), |w| {
        assert!(w.holds(1), "node 1 lost the VIP at {:?}", w.elapsed());
        released |= !w.holds(0);
        assert!(!(released && w.holds(0)), "failback at {:?}", w.elapsed());
    });
    assert!(w.holds(1) && !w.holds(0), "no failback; stale VIP gone");
    assert!(!w.nodes[0].held.contains(&VIP6), "stale IPv6 VIP gone");
}

#[test]
fn a_draining_release_never_leaves_the_vip_unheld_and_announces_only_after_the_handover() {
    let mut w = World::new(Auth::Key);
    w.run_for(Duration::from_secs(2));
    assert!(w.holds(0) && !w.holds(1));
    let now = w.now;
    w.d(0)
        .handle_command(now, Command::Release)
        .expect("release");
    w.pump(0);
    let mut prepared_unannounced = false;
    w.run_until(w.elapsed() + Duration::from_secs(3), |w| {
        assert!(w.holders() >= 1, "nobody held the VIP at {:?}", w.elapsed());
        if w.holds(0) && w.holds(1) && w.nodes[1].announced.is_empty() {
            prepared_unannounced = true;
        }
    });
    assert!(
        prepared_unannounced,
        "the partner held the VIP unannounced while we drained"
    );
    assert!(w.holds(1) && !w.holds(0), "handed over");
    assert!(
        !w.nodes[1].announced.is_empty(),
        "announced after the handover"
    );
    assert_eq!(w.nodes[0].lvsds, 1, "warm standby keeps the releasing lvsd");
    assert_eq!(
        w.nodes[0].drain_polls, 3,
        "lvsd polled until its connections were done"
    );
}

/// Releases node 0 with its lvsd draining as `drain`; returns how long the release took.
fn release_with(drain: DrainBehaviour) -> (World, Duration) {
    let mut w = World::new(Auth::Key);
    w.run_for(Duration::from_secs(2));
    w.nodes[0].drain = drain;
    let now = w.now;
    w.d(0)
        .handle_command(now, Command::Release)
        .expect("release");
    w.pump(0);
    let mut done = None;
    w.run_until(w.elapsed() + Duration::from_secs(6), |w| {
        assert!(w.holders() >= 1, "nobody held the VIP at {:?}", w.elapsed());
        if done.is_none() && !w.holds(0) {
            done = Some(w.now - now);
        }
    });
    (w, done.expect("released"))
}

#[test]
fn a_drain_that_never_finishes_hands_over_after_three_seconds() {
    let (w, took) = release_with(DrainBehaviour::Stuck);
    assert!(w.holds(1));
    assert!(
        took >= pulse_director::DRAIN_MAX && took < pulse_director::DRAIN_MAX + DEADTIME,
        "{took:?}"
    );
    // Polled every 10 ms meanwhile, not more.
    let polls = w.nodes[0].drain_polls;
    assert!((250..=310).contains(&polls), "{polls} polls");
}

#[test]
fn an_lvsd_that_cannot_drain_only_shortens_the_release() {
    let (w, took) = release_with(DrainBehaviour::Broken);
    assert!(w.holds(1));
    assert_eq!(w.nodes[0].drain_polls, 1);
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
fn lvsd_death_on_the_active_director_hands_over_and_restarts_it_as_standby() {
    let mut w = World::settled();
    let now = w.now;
    w.nodes[0].lvsds = 0;
    w.d(0).handle_lvsd_exited(now, "signal: 9 (SIGKILL)");
    w.pump(0);
    w.run_for(Duration::from_millis(100));
    assert!(w.holds(1) && !w.holds(0), "the partner serves");
    w.run_for(Duration::from_millis(1100));
    assert_eq!(w.nodes[0].lvsds, 1, "restarted after 1 s as a standby");
    w.run_for(Duration::from_secs(5));
    assert!(w.holds(1) && !w.holds(0), "no failback");
}

#[test]
fn a_standby_lvsd_that_keeps_dying_is_restarted_with_a_doubling_pause() {
    let mut w = World::settled();
    w.nodes[1].lvsd_broken = true;
    let now = w.now;
    w.nodes[1].lvsds = 0;
    w.d(1).handle_lvsd_exited(now, "exit status: 1");
    w.pump(1);
    let mut starts = Vec::new();
    let mut last = w.nodes[1].lvsds;
    let t = w.now;
    w.run_until(w.elapsed() + Duration::from_secs(20), |w| {
        if w.nodes[1].lvsds > last {
            starts.push(w.now - t);
        }
        last = w.nodes[1].lvsds;
    });
    let secs: Vec<u64> = starts.iter().map(|d| d.as_millis() as u64 / 100).collect();
    // 1 s, then 1+2, 1+2+4, 1+2+4+8 (in tenths of a second, start latency aside).
    assert_eq!(secs, vec![10, 30, 70, 150], "{starts:?}");
    assert!(
        w.holds(0) && !w.holds(1),
        "the active director is not affected"
    );
}

#[test]
fn a_failed_claim_is_retried_and_the_vip_is_held_soon_after_the_interface_appears() {
    let mut w = World::settled();
    w.nodes[1].no_interface = true;
    w.crash(0);
    w.run_for(DEADTIME + KEEPALIVE);
    assert!(!w.holds(1));
    let st = w.d(1).status();
    assert!(st.heartbeat.active);
    assert_eq!(
        st.vips_unclaimed.len(),
        2,
        "status shows the failed claims (IPv4 and IPv6)"
    );
    assert!(st.vips_unclaimed[0].1.contains("no such interface"));
    assert!(st.claim_failures >= 2, "retried: {}", st.claim_failures);
    // The interface appears before deadtime ran out.
    w.nodes[1].no_interface = false;
    let at = w.now;
    let mut held = None;
    w.run_until(w.elapsed() + Duration::from_secs(1), |w| {
        if held.is_none() && w.holds(1) {
            held = Some(w.now - at);
        }
    });
    let held = held.expect("claimed");
    assert!(held <= Duration::from_millis(401), "held after {held:?}");
    assert!(w.d(1).status().vips_unclaimed.is_empty());
    assert!(
        w.nodes[1]
            .announced
            .last()
            .is_some_and(|(t, _)| *t - at <= Duration::from_millis(402)),
        "announced once held"
    );
}

#[test]
fn a_vip_that_cannot_be_held_for_deadtime_gives_the_service_to_the_partner() {
    let mut w = World::settled();
    // Node 0 serves; its interface goes (a bond being recreated) and a takeover by node 1 is
    // not needed: make node 0 lose the VIP by a reload that moves it to a missing interface.
    w.nodes[0].no_interface = true;
    let now = w.now;
    let moved = vec![vip(VIP, 1), vip(VIP2, 2)];
    let reload = Reload {
        plan: plan(0, moved),
        settings: settings(),
    };
    w.d(0).handle_reload(now, Ok(reload));
    w.pump(0);
    let at = w.now;
    let mut taken = None;
    w.run_until(w.elapsed() + Duration::from_secs(3), |w| {
        assert!(w.holders() <= 1);
        if taken.is_none() && w.holds(1) {
            taken = Some(w.now - at);
        }
    });
    assert!(!w.holds(0), "gave up");
    assert!(w.holds(1), "the partner holds the VIP");
    // Given up only once the claim had failed for deadtime, not at the first failure, and
    // handed over promptly then.
    let taken = taken.expect("taken over");
    assert!(
        taken >= DEADTIME && taken <= DEADTIME + 4 * KEEPALIVE,
        "the partner took over {taken:?} after the reload (deadtime {DEADTIME:?})"
    );
}

#[test]
fn a_reload_claims_new_vips_releases_removed_ones_and_reloads_lvsd() {
    let mut w = World::settled();
    let now = w.now;
    let reload = Reload {
        plan: plan(0, vec![vip(VIP2, 2)]),
        settings: settings(),
    };
    w.d(0).handle_reload(now, Ok(reload));
    w.pump(0);
    w.run_for(Duration::from_millis(10));
    assert!(!w.holds(0), "removed VIP released");
    assert!(w.nodes[0].held.contains(&VIP2), "new VIP claimed");
    assert!(
        w.nodes[0]
            .announced
            .last()
            .is_some_and(|(_, a)| a == &vec![VIP2]),
        "and announced"
    );
    assert_eq!(w.nodes[0].lvsd_reloads, 1);
    // A bad file changes nothing.
    let now = w.now;
    w.d(0).handle_reload(now, Err("error parsing".into()));
    w.pump(0);
    assert_eq!(w.nodes[0].lvsd_reloads, 1);
    assert!(w.nodes[0].held.contains(&VIP2));
    // warm_standby turned off: the standby's lvsd goes; the active one's stays.
    for n in 0..2 {
        let now = w.now;
        let mut s = settings();
        s.warm_standby = false;
        let vips = if n == 0 {
            vec![vip(VIP2, 2)]
        } else {
            World::vips()
        };
        w.d(n).handle_reload(
            now,
            Ok(Reload {
                plan: plan(n, vips),
                settings: s,
            }),
        );
        w.pump(n);
    }
    w.run_for(Duration::from_millis(20));
    assert_eq!((w.nodes[0].lvsds, w.nodes[1].lvsds), (1, 0));
}

#[test]
fn a_healed_partition_leaves_the_primary_serving() {
    let mut w = World::settled();
    w.nodes[1].cable_cut = true;
    w.run_for(Duration::from_secs(2));
    assert!(w.holds(0) && w.holds(1), "split during the partition");
    w.nodes[1].cable_cut = false;
    w.run_for(Duration::from_secs(2));
    assert!(w.holds(0) && !w.holds(1), "the primary wins a tie");
}

#[test]
fn link_loss_with_monitor_links_hands_over_without_failback() {
    let mut w = World::settled();
    let now = w.now;
    w.d(0).watch_links(now, vec![(2, "eth0".into(), true)]);
    w.d(0).handle_link(now, 2, false);
    w.pump(0);
    w.run_for(Duration::from_millis(100));
    assert!(w.holds(1) && !w.holds(0));
    let now = w.now;
    w.d(0).handle_link(now, 2, true);
    w.pump(0);
    w.run_for(Duration::from_secs(3));
    assert!(
        w.holds(1) && !w.holds(0),
        "no failback when the link returns"
    );
}

#[test]
fn shutdown_releases_stops_lvsd_and_the_partner_takes_over_at_once() {
    let mut w = World::settled();
    let now = w.now;
    w.d(0).handle_shutdown(now);
    w.pump(0);
    assert!(!w.holds(0));
    w.run_for(Duration::from_millis(20));
    assert_eq!(w.nodes[0].lvsds, 0, "lvsd stopped");
    assert!(w.holds(1), "the partner heard STOPPED and took over");
}

#[test]
fn lvsd_stopped_as_asked_is_no_failure_and_starts_again_when_wanted() {
    // `ecmp = 1`: a drained release stops lvsd (`set_lvsd_wanted(false)`), a rejoin starts it.
    let mut w = World::settled();
    let now = w.now;
    w.d(0).set_lvsd_wanted(now, false);
    w.pump(0);
    w.run_for(Duration::from_secs(30));
    assert_eq!(w.nodes[0].lvsds, 0, "stopped, and not restarted");
    assert!(
        w.holds(0) && !w.holds(1),
        "no failover: the stop was asked for"
    );
    assert!(!w.d(0).status().lvsd_running);
    let now = w.now;
    w.d(0).set_lvsd_wanted(now, true);
    w.pump(0);
    w.run_for(Duration::from_millis(20));
    assert_eq!(w.nodes[0].lvsds, 1);
    assert!(w.d(0).status().lvsd_running);
    // Wanted again while it is stopping: started once the stop is done.
    let now = w.now;
    w.d(0).set_lvsd_wanted(now, false);
    w.pump(0);
    w.d(0).set_lvsd_wanted(now, true);
    w.pump(0);
    assert_eq!(w.nodes[0].lvsds, 1, "not two at once");
    w.run_for(Duration::from_millis(20));
    assert_eq!(w.nodes[0].lvsds, 1, "started again after the stop");
    assert!(w.holds(0) && !w.holds(1));
}

#[test]
fn lvsd_is_started_once_with_stray_reaping_first() {
    let mut hb = hb_config(1, Auth::Legacy, 1, 0);
    hb.links.clear();
    let mut d = Director::new(hb, plan(1, World::vips()), settings(), Instant::now());
    let actions: Vec<Action> = std::iter::from_fn(|| d.poll_action()).collect();
    let reap = actions.iter().position(|a| *a == Action::ReapStrayLvsd);
    let start = actions
        .iter()
        .position(|a| matches!(a, Action::StartLvsd { .. }));
    assert!(reap.is_some() && reap < start, "{actions:?}");
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::StartLvsd { .. }))
            .count(),
        1
    );
}

#[test]
fn test_mode_runs_no_lvsd_and_no_commands() {
    let mut s = settings();
    s.run_lvsd = false;
    let mut d = Director::new(
        hb_config(0, Auth::Legacy, 1, 0),
        plan(0, World::vips()),
        s,
        Instant::now(),
    );
    let actions: Vec<Action> = std::iter::from_fn(|| d.poll_action()).collect();
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::StartLvsd { .. } | Action::RunCommand { .. } | Action::ReapStrayLvsd
        )),
        "{actions:?}"
    );
}

#[test]
fn a_flood_of_junk_is_counted_but_logged_once_per_reason_per_period() {
    use std::sync::{Arc, Mutex};
    use tracing::subscriber::with_default;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || LineSink(sink.clone()))
        .with_ansi(false)
        .finish();
    let mut w = World::settled();
    let from: SocketAddr = "192.0.2.12:539".parse().expect("addr");
    with_default(subscriber, || {
        for i in 0..100_000u32 {
            // Every packet a different value: a limiter keyed on the text would log each.
            w.now += Duration::from_micros(20);
            let now = w.now;
            w.d(0).handle_datagram(now, 0, from, &i.to_le_bytes());
        }
    });
    let logged = lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|l| l.contains("heartbeat"))
        .count();
    // 2 s of flood: the first line, then none within the 10 s period.
    assert_eq!(logged, 1, "{:?}", lines.lock().expect("lines"));
    let st = w.d(0).status();
    assert!(st.rejected_by_reason.values().sum::<u64>() >= 100_000);
}

struct LineSink(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl std::io::Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("lines")
            .push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One thing that can happen to the pair.
#[derive(Clone, Debug)]
enum Fault {
    Crash(usize),
    Restart(usize),
    Cut(usize),
    Heal(usize),
    LvsdDies(usize),
    NoInterface(usize, bool),
    Release(usize),
    Takeover(usize),
    Wait(u16),
}

fn fault() -> impl Strategy<Value = Fault> {
    let n = 0usize..2;
    prop_oneof![
        n.clone().prop_map(Fault::Crash),
        n.clone().prop_map(Fault::Restart),
        n.clone().prop_map(Fault::Cut),
        n.clone().prop_map(Fault::Heal),
        n.clone().prop_map(Fault::LvsdDies),
        (n.clone(), any::<bool>()).prop_map(|(n, b)| Fault::NoInterface(n, b)),
        n.clone().prop_map(Fault::Release),
        n.prop_map(Fault::Takeover),
        (1u16..2000).prop_map(Fault::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// From any reachable state, once both directors run and the network and interfaces are
    /// healthy for long enough, at most one holds the VIP, and never two lvsds on one node.
    #[test]
    fn after_any_faults_a_healthy_pair_settles_to_at_most_one_holder(
        faults in proptest::collection::vec(fault(), 0..25),
        auth in prop_oneof![Just(Auth::Legacy), Just(Auth::Key)],
    ) {
        let mut w = World::new(auth);
        w.run_for(Duration::from_secs(1));
        for f in faults {
            match f {
                Fault::Crash(n) => w.crash(n),
                Fault::Restart(n) => {
                    if w.nodes[n].director.is_none() {
                        w.start(n);
                    }
                }
                Fault::Cut(n) => w.nodes[n].cable_cut = true,
                Fault::Heal(n) => w.nodes[n].cable_cut = false,
                Fault::LvsdDies(n) => {
                    if w.nodes[n].lvsds > 0 && w.nodes[n].director.is_some() {
                        w.nodes[n].lvsds -= 1;
                        let now = w.now;
                        w.d(n).handle_lvsd_exited(now, "signal: 9");
                        w.pump(n);
                    }
                }
                Fault::NoInterface(n, b) => w.nodes[n].no_interface = b,
                Fault::Release(n) | Fault::Takeover(n) if w.nodes[n].director.is_some() => {
                    let cmd = if matches!(f, Fault::Release(_)) { Command::Release } else { Command::Takeover };
                    let now = w.now;
                    let _ = w.d(n).handle_command(now, cmd);
                    w.pump(n);
                }
                Fault::Release(_) | Fault::Takeover(_) => {}
                Fault::Wait(ms) => w.run_for(Duration::from_millis(u64::from(ms))),
            }
        }
        for n in 0..2 {
            w.nodes[n].cable_cut = false;
            w.nodes[n].no_interface = false;
            if w.nodes[n].director.is_none() {
                w.start(n);
            }
        }
        // Healthy for deadtime plus the slowest recovery: a release's hold-off and a claim
        // retry pause are each below a second; a split heals at the next heartbeat.
        w.run_for(DEADTIME * 2 + Duration::from_secs(2));
        let settled = w.elapsed();
        w.run_until(settled + Duration::from_secs(5), |w| {
            assert!(w.holders() <= 1, "both hold the VIP at {:?}", w.elapsed());
            for node in &w.nodes {
                assert!(node.lvsds <= 1);
            }
        });
    }
}

// ---- service = fos -------------------------------------------------------------------------

#[test]
fn fos_start_runs_stop_then_start_on_the_primary_only_after_the_vips() {
    let w = World::fos_settled(Auth::Legacy);
    let cmds: Vec<(usize, Which)> = w.nodes[0].fos_commands.iter().map(|c| (c.0, c.1)).collect();
    // piranha's fos --active: stop_cmd ("Stopping local services (if any)"), then start_cmd.
    let first_start = cmds
        .iter()
        .position(|c| c.1 == Which::Start)
        .expect("a start");
    assert!(cmds[..first_start].contains(&(0, Which::Stop)));
    // Both ran every stop_cmd at start (a service left by a killed pulse must not serve).
    for n in 0..2 {
        let first: Vec<(usize, Which)> = w.nodes[n].fos_commands[..2]
            .iter()
            .map(|c| (c.0, c.1))
            .collect();
        assert_eq!(first, [(0, Which::Stop), (1, Which::Stop)], "node {n}");
    }
    assert_eq!(w.nodes[0].lvsds, 0, "fos runs no lvsd");
    assert_eq!(w.nodes[1].lvsds, 0);
}

#[test]
fn fos_local_failure_is_restarted_within_timeout_plus_the_restart() {
    let mut w = World::fos_settled(Auth::Legacy);
    let at = w.now;
    w.nodes[0].fos_running[0] = false;
    let mut back = None;
    w.run_until(w.elapsed() + Duration::from_secs(5), |w| {
        if back.is_none() && w.nodes[0].fos_running[0] {
            back = Some(w.now - at);
        }
        assert!(w.holds(0) && !w.holds(1), "the VIP stays");
    });
    let back = back.expect("restarted");
    // Found by the next check (≤ timeout + its 2 ms), stop_cmd then start_cmd (10 ms each).
    assert!(
        back <= FOS_TIMEOUT + Duration::from_millis(25),
        "took {back:?}"
    );
    assert_eq!(w.starts_since(0, 0, at), 1);
    assert_eq!(
        w.starts_since(0, 1, at),
        0,
        "only the failed service restarts"
    );
    assert_eq!(w.fos_state(0, 0), FosState::Running);
    assert_eq!(w.d(0).status().failover[0].restarts_total, 1);
}

#[test]
fn fos_local_failure_that_restarts_cannot_fix_gives_up_and_the_partner_serves_both() {
    let mut w = World::fos_settled(Auth::Legacy);
    let at = w.now;
    w.nodes[0].fos_broken = true;
    w.nodes[0].fos_running[0] = false;
    let mut moved = None;
    w.run_until(w.elapsed() + Duration::from_secs(8), |w| {
        if moved.is_none() && w.nodes[1].fos_running == [true, true] && w.holds(1) {
            moved = Some(w.now - at);
        }
        assert!(w.holders() <= 1);
    });
    let moved = moved.expect("the partner took over");
    // (restarts + 1) failed checks, the restarts' commands, then the partner hears STOPPED at
    // once and runs stop_cmd and start_cmd.
    let bound = FOS_TIMEOUT * (FOS_RESTARTS + 1) + DEADTIME + Duration::from_millis(100);
    assert!(moved <= bound, "took {moved:?}, bound {bound:?}");
    assert_eq!(
        w.starts_since(0, 0, at),
        FOS_RESTARTS as usize,
        "bounded restarts"
    );
    assert!(!w.holds(0));
    assert_eq!(
        w.nodes[0].fos_running,
        [false, false],
        "stop_cmd of every service"
    );
    assert_eq!(w.fos_state(0, 0), FosState::GaveUp);
    assert_eq!(w.fos_state(1, 0), FosState::Running);
    // No ping-pong: node 0 stays inactive while node 1 serves.
    w.run_for(Duration::from_secs(10));
    assert!(w.holds(1) && !w.holds(0));
}

fn remote_failure_takes_over(auth: Auth) {
    let mut w = World::fos_settled(auth);
    let at = w.now;
    // Node 0 still runs its services and heartbeats, but clients cannot reach them.
    w.nodes[0].unreachable_from_outside = true;
    let mut moved = None;
    w.run_until(w.elapsed() + Duration::from_secs(10), |w| {
        if moved.is_none() && w.holds(1) && w.nodes[1].fos_running == [true, true] {
            moved = Some(w.now - at);
        }
    });
    let moved = moved.expect("node 1 took over");
    let bound = FOS_TIMEOUT * (FOS_RESTARTS + 2) + Duration::from_millis(100);
    assert!(moved <= bound, "took {moved:?}, bound {bound:?}");
    // Told to stop (STOPME), node 0 stopped its services and let the VIPs go, and stays so.
    assert!(!w.holds(0), "the partner was told to stop");
    assert_eq!(w.nodes[0].fos_running, [false, false]);
    assert_eq!(
        w.starts_since(0, 0, at),
        0,
        "node 0 did not restart anything"
    );
    w.run_for(Duration::from_secs(5));
    assert!(w.holds(1) && !w.holds(0));
}

#[test]
fn fos_remote_failure_while_the_partner_heartbeats_takes_over_legacy_wire() {
    remote_failure_takes_over(Auth::Legacy);
}

#[test]
fn fos_remote_failure_while_the_partner_heartbeats_takes_over_authenticated() {
    remote_failure_takes_over(Auth::Key);
}

#[test]
fn fos_remote_failure_with_our_own_network_down_does_not_take_over() {
    let mut w = World::fos_settled(Auth::Legacy);
    w.nodes[1].uplink_cut = true;
    w.run_until(w.elapsed() + Duration::from_secs(15), |w| {
        assert!(
            w.holds(0) && !w.holds(1),
            "no takeover at {:?}",
            w.elapsed()
        );
    });
    assert_eq!(w.nodes[0].fos_running, [true, true]);
    assert_eq!(w.nodes[1].fos_running, [false, false]);
    assert_eq!(w.fos_state(1, 0), FosState::PartnerDown);
    // The uplink comes back: the partner's services answer again.
    w.nodes[1].uplink_cut = false;
    w.run_for(Duration::from_secs(3));
    assert_eq!(w.fos_state(1, 0), FosState::PartnerUp);
}

#[test]
fn fos_a_flapping_service_gets_bounded_restarts_then_gives_up() {
    let mut w = World::fos_settled(Auth::Legacy);
    let at = w.now;
    // The service comes up after each restart, then dies again 1.5 s later.
    let mut last_kill = w.now;
    w.nodes[0].fos_running[0] = false;
    let mut kills = 1;
    while w.elapsed() < Duration::from_secs(40) && w.holds(0) {
        w.run_for(Duration::from_millis(100));
        if w.nodes[0].fos_running[0] && w.now - last_kill >= Duration::from_millis(1500) {
            w.nodes[0].fos_running[0] = false;
            last_kill = w.now;
            kills += 1;
        }
    }
    assert!(w.holds(1) && !w.holds(0), "gave up after {kills} kills");
    assert_eq!(w.starts_since(0, 0, at), FOS_RESTARTS as usize);
}

#[test]
fn fos_a_service_that_fails_rarely_is_restarted_every_time() {
    let mut w = World::fos_settled(Auth::Legacy);
    let at = w.now;
    // One failure every 70 s: each restart is followed by 60 s of passed checks, which
    // restores the budget.
    for _ in 0..4 {
        w.nodes[0].fos_running[0] = false;
        w.run_for(Duration::from_secs(70));
        assert!(w.holds(0), "still serving");
    }
    assert_eq!(w.starts_since(0, 0, at), 4);
}

#[test]
fn fos_crash_of_the_active_node_starts_the_services_on_the_partner() {
    let mut w = World::fos_settled(Auth::Key);
    let at = w.now;
    w.crash(0);
    let mut moved = None;
    w.run_until(w.elapsed() + Duration::from_secs(3), |w| {
        if moved.is_none() && w.nodes[1].fos_running == [true, true] {
            moved = Some(w.now - at);
        }
    });
    let moved = moved.expect("moved");
    assert!(
        moved <= DEADTIME + KEEPALIVE + 3 * CMD_TIME,
        "took {moved:?}"
    );
}

#[test]
fn fos_shutdown_stops_the_services_and_the_partner_starts_them() {
    let mut w = World::fos_settled(Auth::Legacy);
    let now = w.now;
    w.d(0).handle_shutdown(now);
    assert!(w.d(0).fos_busy(), "stop_cmds pending");
    w.pump(0);
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.nodes[0].fos_running, [false, false]);
    assert_eq!(w.nodes[1].fos_running, [true, true]);
    assert!(!w.d(0).fos_busy());
}

#[test]
fn fos_release_and_takeover_move_the_services() {
    let mut w = World::fos_settled(Auth::Key);
    let now = w.now;
    w.d(0)
        .handle_command(now, Command::Release)
        .expect("release");
    w.pump(0);
    w.run_until(w.elapsed() + Duration::from_secs(2), |w| {
        assert!(w.holders() >= 1, "nobody held the VIP at {:?}", w.elapsed());
    });
    assert!(w.holds(1) && !w.holds(0));
    assert_eq!(w.nodes[1].fos_running, [true, true]);
    assert_eq!(w.nodes[0].fos_running, [false, false]);
    // The primary takes it back: the backup yields to its RUNNING and stops its services.
    w.run_for(DEADTIME);
    let now = w.now;
    w.d(0)
        .handle_command(now, Command::Takeover)
        .expect("takeover");
    w.pump(0);
    w.run_for(Duration::from_secs(2));
    assert!(w.holds(0) && !w.holds(1));
    assert_eq!(w.nodes[0].fos_running, [true, true]);
    assert_eq!(w.nodes[1].fos_running, [false, false]);
}

#[derive(Clone, Debug)]
enum FosFault {
    Crash(usize),
    Restart(usize),
    Cut(usize, bool),
    KillService(usize, usize),
    Broken(usize, bool),
    UplinkCut(usize, bool),
    Unreachable(usize, bool),
    Release(usize),
    Takeover(usize),
    Wait(u16),
}

fn fos_fault() -> impl Strategy<Value = FosFault> {
    let n = 0usize..2;
    prop_oneof![
        n.clone().prop_map(FosFault::Crash),
        n.clone().prop_map(FosFault::Restart),
        (n.clone(), any::<bool>()).prop_map(|(n, b)| FosFault::Cut(n, b)),
        (n.clone(), 0usize..2).prop_map(|(n, s)| FosFault::KillService(n, s)),
        (n.clone(), any::<bool>()).prop_map(|(n, b)| FosFault::Broken(n, b)),
        (n.clone(), any::<bool>()).prop_map(|(n, b)| FosFault::UplinkCut(n, b)),
        (n.clone(), any::<bool>()).prop_map(|(n, b)| FosFault::Unreachable(n, b)),
        n.clone().prop_map(FosFault::Release),
        n.prop_map(FosFault::Takeover),
        (1u16..4000).prop_map(FosFault::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `service = fos`: from any reachable state (crashes, partitions, killed and broken
    /// services, cut uplinks, releases, takeovers), once everything is healthy again the pair
    /// settles with one node holding both VIPs and running both services, and the other
    /// running none.
    #[test]
    fn fos_after_any_faults_one_node_serves_both_services(
        faults in proptest::collection::vec(fos_fault(), 0..20),
        auth in prop_oneof![Just(Auth::Legacy), Just(Auth::Key)],
    ) {
        let mut w = World::with_mode(auth, true);
        w.run_for(Duration::from_secs(3));
        for f in faults {
            match f {
                FosFault::Crash(n) => w.crash(n),
                FosFault::Restart(n) => {
                    if w.nodes[n].director.is_none() {
                        w.start(n);
                    }
                }
                FosFault::Cut(n, b) => w.nodes[n].cable_cut = b,
                FosFault::KillService(n, s) => w.nodes[n].fos_running[s] = false,
                FosFault::Broken(n, b) => w.nodes[n].fos_broken = b,
                FosFault::UplinkCut(n, b) => w.nodes[n].uplink_cut = b,
                FosFault::Unreachable(n, b) => w.nodes[n].unreachable_from_outside = b,
                FosFault::Release(n) | FosFault::Takeover(n) if w.nodes[n].director.is_some() => {
                    let cmd = if matches!(f, FosFault::Release(_)) { Command::Release } else { Command::Takeover };
                    let now = w.now;
                    let _ = w.d(n).handle_command(now, cmd);
                    w.pump(n);
                }
                FosFault::Release(_) | FosFault::Takeover(_) => {}
                FosFault::Wait(ms) => w.run_for(Duration::from_millis(u64::from(ms))),
            }
        }
        for n in 0..2 {
            let node = &mut w.nodes[n];
            node.cable_cut = false;
            node.fos_broken = false;
            node.uplink_cut = false;
            node.unreachable_from_outside = false;
            if node.director.is_none() {
                w.start(n);
            }
        }
        // Long enough for the slowest recovery: a node that gave up retries after deadtime
        // doubling (at most 64 × 0.6 s) when nobody serves.
        w.run_for(Duration::from_secs(60));
        let holder = (0..2).find(|&n| w.holds(n));
        prop_assert!(holder.is_some(), "nobody holds the VIP");
        let h = holder.unwrap_or(0);
        let other = 1 - h;
        prop_assert!(w.nodes[h].held.contains(&VIP2), "split VIPs");
        prop_assert!(!w.holds(other) && !w.nodes[other].held.contains(&VIP2), "both hold VIPs");
        prop_assert_eq!(w.nodes[h].fos_running, [true, true]);
        prop_assert_eq!(w.nodes[other].fos_running, [false, false]);
    }
}
