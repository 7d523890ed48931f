//! Two directors on a simulated network with a simulated clock: every scenario of piranha's state
//! table (docs/reference/piranha.md §4.5) and the failures the issue names, in milliseconds of real time.
//!
//! Node 0 is the primary (192.0.2.11, private 198.51.100.11), node 1 the backup (.12). Each link
//! delivers after `latency` unless it is cut or the receiving node is down.

mod support;

use proptest::prelude::*;
use pulse_proto::fsm::{
    ActivateReason as A, Command, DeactivateReason as D, Event, Heartbeat, Rejection,
    TRANSITIONS_KEPT, WireMode,
};
use pulse_proto::wire::{AuthHeartbeat, HeartbeatKey, LinkPath};
use std::time::{Duration, Instant};
use support::{DEADTIME, KEEPALIVE, Sim, addr, config, key, settled};

#[test]
fn simultaneous_start_settles_on_the_primary_within_one_network_trip() {
    let mut sim = Sim::legacy();
    sim.run_until(10_000);
    // Both send STOPPED at 1 s and both activate on hearing it (piranha's behaviour)…
    assert_eq!(
        sim.transitions(0),
        [(1001, "Activate(PartnerInactive)".to_string())]
    );
    // …each says RUNNING at once, and the backup yields on the primary's, one network trip
    // later (piranha waited for the next keepalive).
    assert_eq!(
        sim.transitions(1),
        [
            (1001, "Activate(PartnerInactive)".to_string()),
            (1002, "Deactivate(PartnerActive)".to_string())
        ]
    );
    // The backup's extra RUNNING made the primary re-announce over the backup's ARPs.
    assert!(
        sim.log
            .iter()
            .any(|(t, n, e)| *n == 0 && *e == Event::Reannounce && t.as_millis() == 1003),
        "{:?}",
        sim.log
    );
}

#[test]
fn partner_death_activates_after_deadtime() {
    let mut sim = settled(Sim::legacy());
    let last_heard = 10_001; // the primary's last heartbeat before the crash reached the backup at 10.001 s
    sim.kill(0);
    sim.run_until(20_000);
    let t = sim.transitions(1);
    assert_eq!(
        t.last(),
        Some(&(last_heard + 3000, "Activate(PartnerDead)".to_string())),
        "{t:?}"
    );
    assert!(sim.active(1));
    // The status' timeline (the web console's Pair page) says when and why.
    let st = sim.nodes[1].as_ref().expect("backup runs").status();
    let last = st.transitions.last().expect("a transition kept");
    assert_eq!(
        (
            last.at.duration_since(sim.t0).as_millis() as u64,
            last.active,
            last.reason
        ),
        (last_heard + 3000, true, "partner silent for deadtime")
    );
    // The returning primary does not take the service back (no failback)…
    sim.restart(0);
    sim.run_until(40_000);
    assert!(!sim.active(0) && sim.active(1), "{:?}", sim.transitions(0));
}

/// A flapping pair keeps only the newest transitions in its status.
#[test]
fn the_status_keeps_the_last_transitions_only() {
    let mut sim = settled(Sim::legacy());
    let mut t = 10_000;
    for _ in 0..TRANSITIONS_KEPT {
        t += 500;
        sim.run_until(t);
        sim.command(0, Command::Release).expect("release");
        t += 500;
        sim.run_until(t);
        sim.command(0, Command::Takeover).expect("takeover");
    }
    sim.run_until(t + 5000);
    let st = sim.nodes[0].as_ref().expect("primary runs").status();
    assert_eq!(
        st.transitions.len(),
        TRANSITIONS_KEPT,
        "{:?}",
        st.transitions
    );
    assert!(
        st.transitions.windows(2).all(|w| w[0].at <= w[1].at),
        "oldest first: {:?}",
        st.transitions
    );
    assert_eq!(
        st.transitions.last().map(|x| (x.active, x.reason)),
        Some((true, "pulsectl takeover"))
    );
}

#[test]
fn graceful_shutdown_hands_over_without_waiting_for_deadtime() {
    let mut sim = settled(Sim::legacy());
    sim.run_until(10_500);
    sim.command(0, Command::Shutdown).expect("shutdown");
    assert!(!sim.active(0));
    sim.run_until(10_502);
    assert_eq!(
        sim.transitions(1).last(),
        Some(&(10_501, "Activate(PartnerInactive)".to_string()))
    );
}

#[test]
fn partition_and_heal_leave_exactly_one_active_within_one_keepalive() {
    let mut sim = settled(Sim::legacy());
    sim.cut = [true, true];
    sim.run_until(20_000);
    assert!(
        sim.active(0) && sim.active(1),
        "both active while partitioned (no quorum in LVS mode)"
    );
    sim.cut = [false, false];
    let healed = 20_000;
    sim.run_until(healed + KEEPALIVE.as_millis() as u64 + 2);
    assert!(sim.active(0) && !sim.active(1), "{:?}", sim.transitions(1));
    let (t, e) = sim.transitions(1).last().cloned().expect("backup yielded");
    assert!(
        t <= healed + 1002 && e == "Deactivate(PartnerActive)",
        "{t} {e}"
    );
    // And so it stays: no transition on either side since (not only the state at the end).
    let seen = [sim.transitions(0).len(), sim.transitions(1).len()];
    sim.run_until(60_000);
    assert!(sim.active(0) && !sim.active(1));
    assert_eq!(
        [sim.transitions(0).len(), sim.transitions(1).len()],
        seen,
        "{:?} {:?}",
        sim.transitions(0),
        sim.transitions(1)
    );
}

#[test]
fn one_dead_link_changes_nothing_all_dead_links_fail_over() {
    let mut sim = settled(Sim::legacy());
    sim.cut = [true, false];
    sim.run_until(60_000);
    assert_eq!(
        sim.transitions(1).len(),
        2,
        "a single lost link must not cause a failover"
    );
    assert!(sim.active(0) && !sim.active(1));
    // Per-link counters: the cut link stopped counting, the other carried on.
    let before = sim.node(1).status().links;
    sim.run_until(61_000);
    let after = sim.node(1).status().links;
    assert_eq!(after[0].counters.received, before[0].counters.received);
    assert!(after[1].counters.received > before[1].counters.received);
    assert!(
        after[0].counters.sent > before[0].counters.sent,
        "we still send on it"
    );
    sim.cut = [true, true];
    sim.run_until(70_000);
    assert!(
        sim.active(1),
        "every link silent for deadtime is a dead partner"
    );
}

#[test]
fn flapping_link_causes_no_failover() {
    let mut sim = settled(Sim::legacy());
    // The public link flaps every 700 ms; the private link is fine.
    for i in 0..100 {
        sim.cut[0] = i % 2 == 0;
        sim.run_until(10_000 + 700 * (i + 1));
    }
    assert_eq!(sim.transitions(0).len(), 1);
    assert_eq!(sim.transitions(1).len(), 2);
    // Both links flapping such that some heartbeat always gets through within deadtime: no
    // failover either.
    for i in 0..100 {
        sim.cut = [i % 2 == 0, i % 2 == 1];
        sim.run_until(80_000 + 1500 * (i + 1));
    }
    assert!(sim.active(0) && !sim.active(1));
    assert_eq!(sim.transitions(1).len(), 2);
}

#[test]
fn lvsd_death_moves_the_service_and_does_not_flap_back() {
    let mut sim = settled(Sim::legacy());
    sim.command(0, Command::ChildExited).expect("child exited");
    sim.run_until(10_002);
    assert_eq!(
        sim.transitions(0).last(),
        Some(&(10_000, "Deactivate(ChildFailed)".to_string()))
    );
    assert_eq!(
        sim.transitions(1).last(),
        Some(&(10_001, "Activate(PartnerInactive)".to_string()))
    );
    sim.run_until(60_000);
    assert!(
        !sim.active(0) && sim.active(1),
        "the primary stays inactive: no failback"
    );
    // Not even for a moment in between.
    assert_eq!(
        sim.transitions(0).last(),
        Some(&(10_000, "Deactivate(ChildFailed)".to_string()))
    );
    assert_eq!(
        sim.transitions(1).last(),
        Some(&(10_001, "Activate(PartnerInactive)".to_string()))
    );
    // The backup's RUNNING cleared the primary's CHILDFAIL: if the backup dies now, the primary
    // takes over again.
    sim.kill(1);
    sim.run_until(70_000);
    assert!(sim.active(0));
}

#[test]
fn link_failure_deactivates_and_recovery_does_not_preempt() {
    let mut sim = settled(Sim::legacy());
    sim.command(0, Command::LinkDown).expect("link down");
    sim.run_until(10_002);
    assert!(!sim.active(0) && sim.active(1));
    let seen = [sim.transitions(0).len(), sim.transitions(1).len()];
    sim.command(0, Command::LinkUp).expect("link up");
    sim.run_until(30_000);
    assert!(!sim.active(0) && sim.active(1));
    // No preemption at any moment, not only at the end.
    assert_eq!(
        [sim.transitions(0).len(), sim.transitions(1).len()],
        seen,
        "{:?} {:?}",
        sim.transitions(0),
        sim.transitions(1)
    );
}

#[test]
fn release_and_takeover() {
    let mut sim = settled(Sim::legacy());
    // The backup may not grab the service from an active primary: it would not yield.
    assert_eq!(
        sim.command(1, Command::Takeover),
        Err(pulse_proto::CommandError::PrimaryActive)
    );
    assert_eq!(
        sim.command(1, Command::Release),
        Err(pulse_proto::CommandError::NotActive)
    );
    sim.command(0, Command::Release).expect("release");
    // piranha's wire too: STOPPED goes out, but the VIPs stay until the backup says RUNNING.
    assert!(sim.active(0));
    sim.run_until(10_002);
    assert!(!sim.active(0) && sim.active(1));
    let (t_on, t_off) = (sim.transitions(1)[0].0, sim.transitions(0)[1].0);
    assert!(t_on <= t_off, "make before break: {t_on} {t_off}");
    sim.run_until(30_000);
    assert!(
        !sim.active(0) && sim.active(1),
        "the released primary stays out"
    );
    // The primary can take it back: the active backup yields to its RUNNING.
    sim.command(0, Command::Takeover).expect("takeover");
    sim.run_until(30_002);
    assert!(sim.active(0) && !sim.active(1));
}

#[test]
fn authenticated_release_is_make_before_break() {
    let mut sim = settled(Sim::new(WireMode::Authenticated(key())));
    let released_at = 10_000;
    sim.command(0, Command::Release).expect("release");
    // Still serving, and saying so with the handover flag, until the partner serves.
    assert!(sim.active(0) && sim.node(0).status().releasing);
    sim.run_until(10_050);
    assert!(!sim.active(0) && sim.active(1));
    let (on, off) = (sim.transitions(1), sim.transitions(0));
    let (t_on, t_off) = (
        on.last().expect("backup on").0,
        off.last().expect("primary off").0,
    );
    assert!(on.last().expect("on").1.contains("Handover"), "{on:?}");
    assert!(off.last().expect("off").1.contains("Release"), "{off:?}");
    // The backup took the service before the primary let go, within two network trips.
    assert!(
        released_at <= t_on && t_on <= t_off && t_off <= released_at + 5,
        "{on:?} {off:?}"
    );
    sim.run_until(30_000);
    assert!(
        !sim.active(0) && sim.active(1),
        "the released primary stays out"
    );
    assert!(!sim.node(0).status().releasing);
}

#[test]
fn a_draining_release_prepares_the_partner_drains_then_hands_over() {
    let mut sim = settled(Sim::draining());
    sim.command(0, Command::Release).expect("release");
    sim.run_until(10_010);
    // The partner holds the VIPs unannounced; we drain (the daemon forwards new connections).
    assert!(sim.active(0) && !sim.active(1));
    assert!(sim.events(1).contains(&Event::Prepare), "{:?}", sim.log);
    assert!(sim.events(0).contains(&Event::Drain), "{:?}", sim.log);
    // Draining takes as long as the daemon needs: nothing moves meanwhile.
    sim.run_until(12_000);
    assert!(sim.active(0) && !sim.active(1) && sim.node(0).status().releasing);
    sim.command(0, Command::DrainDone).expect("drained");
    sim.run_until(12_010);
    assert!(!sim.active(0) && sim.active(1));
    let (t_on, t_off) = (
        sim.transitions(1).last().expect("on").0,
        sim.transitions(0).last().expect("off").0,
    );
    assert!(t_on <= t_off, "make before break: {t_on} {t_off}");
    assert!(!sim.events(1).contains(&Event::Unprepare), "{:?}", sim.log);
    sim.run_until(30_000);
    assert!(!sim.active(0) && sim.active(1));
}

#[test]
fn an_undrained_release_is_abandoned_and_the_partner_lets_the_vips_go() {
    let mut sim = settled(Sim::draining());
    sim.command(0, Command::Release).expect("release");
    // No DrainDone ever: deadtime + the drain limit later the release is abandoned.
    sim.run_until(24_000);
    assert!(sim.active(0) && !sim.active(1));
    assert!(
        sim.events(0).contains(&Event::ReleaseFailed),
        "{:?}",
        sim.log
    );
    assert!(sim.events(1).contains(&Event::Unprepare), "{:?}", sim.log);
    assert!(!sim.node(0).status().releasing);
}

#[test]
fn a_release_the_partner_cannot_take_keeps_the_service() {
    let mut sim = settled(Sim::new(WireMode::Authenticated(key())));
    // The backup's own link is down: it may not activate.
    sim.command(1, Command::LinkDown).expect("link down");
    sim.command(0, Command::Release).expect("release");
    sim.run_until(13_100); // deadtime is 3 s
    assert!(
        sim.active(0) && !sim.active(1),
        "nobody may be left serving"
    );
    assert!(!sim.node(0).status().releasing);
    assert!(
        sim.log
            .iter()
            .any(|(_, n, e)| *n == 0 && *e == Event::ReleaseFailed),
        "{:?}",
        sim.log
    );
    assert_eq!(sim.transitions(0).len(), 1, "the primary never let go");
}

#[test]
fn forced_active_backup_keeps_the_service() {
    let mut sim = Sim::legacy();
    sim.configs[1].force_active = true;
    sim.nodes[1] = Some(Heartbeat::new(sim.configs[1].clone(), sim.now));
    sim.run_until(10_000);
    // docs/reference/piranha.md §4.5: forced on the backup, the inactive primary never preempts it.
    assert!(sim.active(1) && !sim.active(0));
}

#[test]
fn without_a_partner_the_primary_activates_and_retries_after_lvsd_dies() {
    let mut cfg = config(0, WireMode::Legacy { fos: false });
    cfg.links.clear();
    let t0 = Instant::now();
    let mut hb = Heartbeat::new(cfg, t0);
    assert_eq!(hb.poll_timeout(), Some(t0 + DEADTIME));
    hb.handle_timeout(t0 + DEADTIME);
    assert_eq!(hb.poll_event(), Some(Event::Activate(A::PartnerDead)));
    assert_eq!(hb.poll_transmit(), None);
    hb.handle_command(t0 + DEADTIME * 2, Command::ChildExited)
        .expect("exit");
    assert_eq!(hb.poll_event(), Some(Event::Deactivate(D::ChildFailed)));
    // piranha would stay down until restarted; Pulse tries again after deadtime.
    hb.handle_timeout(t0 + DEADTIME * 3);
    assert_eq!(hb.poll_event(), Some(Event::Activate(A::Retry)));
    assert_eq!(
        hb.handle_command(t0 + DEADTIME * 4, Command::Release),
        Err(pulse_proto::CommandError::NoPartner)
    );
}

#[test]
fn authenticated_pair_behaves_the_same() {
    let mut sim = settled(Sim::new(WireMode::Authenticated(key())));
    sim.kill(0);
    sim.run_until(20_000);
    assert!(sim.active(1));
    assert!(sim.rejected(1).is_empty());
}

#[test]
fn forged_and_replayed_packets_change_nothing() {
    let mut sim = settled(Sim::new(WireMode::Authenticated(key())));
    let before = (sim.transitions(0), sim.transitions(1));
    let from_primary = addr("192.0.2.11:539");
    // 1. Replays of everything the primary sent so far (its old STOPPED ones would make the
    //    backup activate if accepted).
    let replays: Vec<Vec<u8>> = sim
        .sent
        .iter()
        .filter(|(n, l, _)| *n == 0 && *l == 0)
        .map(|(_, _, d)| d.clone())
        .collect();
    assert!(replays.len() >= 10);
    let now = sim.now;
    for d in &replays {
        sim.node(1).handle_datagram(now, 0, from_primary, d);
    }
    // 2. A forged STOPPED with the wrong key, and a piranha-style STOPPED.
    let forged = AuthHeartbeat {
        primary: true,
        active: false,
        handover: true,
        prepare: false,
        ready: false,
        stop_me: false,
        link_failed: false,
        child_failed: false,
        boot_id: 1,
        seq: u64::MAX,
        serial_no: 7,
        digest: [1; 8],
        keepalive_ms: 1000,
        deadtime_ms: 3000,
        challenge: 0,
        echo: 0,
    }
    .encode(
        &HeartbeatKey::new(&[0xee; 32]).expect("key"),
        LinkPath::between(true, from_primary.ip(), addr("192.0.2.12:539").ip()),
    );
    sim.node(1).handle_datagram(now, 0, from_primary, &forged);
    sim.node(1)
        .handle_datagram(now, 0, from_primary, &[0xbd, 0xda, 0xbd, 0xad]);
    // 3. A correctly signed packet from a third address.
    let signed = replays.last().expect("one").clone();
    sim.node(1)
        .handle_datagram(now, 0, addr("192.0.2.66:539"), &signed);
    sim.drain();
    sim.run_until(30_000);
    assert_eq!(
        (sim.transitions(0), sim.transitions(1)),
        before,
        "state changed"
    );
    let r = sim.rejected(1);
    assert_eq!(
        r.iter().filter(|w| **w == Rejection::Replay).count(),
        replays.len()
    );
    assert!(r.contains(&Rejection::Decode(pulse_proto::DecodeError::BadMac)));
    assert!(r.contains(&Rejection::Incompatible));
    assert!(r.contains(&Rejection::NotFromPartner));
    assert_eq!(sim.node(1).status().counters.rejected, r.len() as u64);
    // Everything was injected on link 0: link 1 saw only the primary's good heartbeats.
    let links = sim.node(1).status().links;
    assert_eq!(links[0].counters.rejected, r.len() as u64);
    assert_eq!(links[1].counters.rejected, 0);
    let reasons: std::collections::BTreeSet<&str> = r.iter().map(Rejection::reason).collect();
    assert_eq!(
        reasons.into_iter().collect::<Vec<_>>(),
        ["bad_mac", "incompatible", "not_from_partner", "replay"]
    );
}

#[test]
fn replay_protection_survives_a_sender_restart() {
    let mut sim = settled(Sim::new(WireMode::Authenticated(key())));
    let old: Vec<Vec<u8>> = sim
        .sent
        .iter()
        .filter(|(n, l, _)| *n == 0 && *l == 0)
        .map(|(_, _, d)| d.clone())
        .collect();
    sim.kill(0);
    sim.run_until(11_000);
    sim.restart(0);
    sim.run_until(30_000);
    assert!(
        sim.log
            .iter()
            .any(|(_, n, e)| *n == 1 && *e == Event::PartnerRestarted)
    );
    let now = sim.now;
    for d in &old {
        sim.node(1)
            .handle_datagram(now, 0, addr("192.0.2.11:539"), d);
    }
    sim.drain();
    assert!(
        sim.rejected(1).iter().all(|w| *w == Rejection::Replay)
            && sim.rejected(1).len() == old.len()
    );
}

#[test]
fn serial_mismatch_is_reported_both_ways() {
    let mut sim = Sim::new(WireMode::Authenticated(key()));
    sim.configs[1].serial_no = 6;
    sim.nodes[1] = Some(Heartbeat::new(sim.configs[1].clone(), sim.now));
    sim.run_until(5_000);
    for n in 0..2 {
        let other = if n == 0 { 6 } else { 7 };
        let reports: Vec<_> = sim
            .log
            .iter()
            .filter(|(_, node, e)| *node == n && matches!(e, Event::ConfigMismatch { .. }))
            .collect();
        assert_eq!(
            reports.len(),
            1,
            "node {n}: reported once, not per heartbeat"
        );
        assert_eq!(
            reports[0].2,
            Event::ConfigMismatch {
                serial_no: other,
                digest: [1; 8]
            }
        );
        let p = sim.node(n).status().partner.expect("partner seen");
        assert_eq!(p.config, Some((other, [1; 8])));
    }
    let now = sim.now;
    sim.node(1)
        .handle_command(
            now,
            Command::Reconfigure {
                keepalive: KEEPALIVE,
                deadtime: DEADTIME,
                serial_no: 7,
                digest: [1; 8],
            },
        )
        .expect("reconfigure");
    sim.run_until(8_000);
    assert!(
        sim.log
            .iter()
            .any(|(_, n, e)| *n == 0 && *e == Event::ConfigMatch)
    );
}

#[test]
fn legacy_node_talks_exactly_like_piranha() {
    let mut sim = Sim::legacy();
    sim.run_until(900);
    assert!(sim.sent.is_empty(), "first heartbeat after one keepalive");
    sim.run_until(1000);
    // Inactive: `bd da bd ad` on both links (docs/reference/piranha.md §4.3 capture).
    assert_eq!(
        sim.sent
            .iter()
            .filter(|(n, _, _)| *n == 0)
            .map(|(_, l, d)| (*l, d.clone()))
            .collect::<Vec<_>>(),
        [
            (0, vec![0xbd, 0xda, 0xbd, 0xad]),
            (1, vec![0xbd, 0xda, 0xbd, 0xad])
        ]
    );
    sim.run_until(2000);
    assert!(
        sim.sent
            .iter()
            .any(|(n, _, d)| *n == 0 && d == &[0xda, 0xdb, 0xad, 0xbd]),
        "active: `da db ad bd`"
    );
}

#[test]
fn sub_second_timers() {
    let mut sim = Sim::legacy();
    for c in &mut sim.configs {
        c.keepalive = Duration::from_millis(10);
        c.deadtime = Duration::from_millis(30);
    }
    sim.nodes = [
        Some(Heartbeat::new(sim.configs[0].clone(), sim.now)),
        Some(Heartbeat::new(sim.configs[1].clone(), sim.now)),
    ];
    sim.run_until(1000);
    assert!(sim.active(0) && !sim.active(1));
    sim.kill(0);
    sim.run_until(1040);
    assert!(sim.active(1), "{:?}", sim.transitions(1));
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=N for a longer run.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random cuts, crashes and restarts for a minute; then everything heals. Within one
    /// keepalive plus a deadtime exactly one node is active, and it stays that way.
    #[test]
    fn any_schedule_heals_to_exactly_one_active(
        steps in prop::collection::vec((0u8..6, 100u64..4000), 1..40),
        auth in any::<bool>(),
    ) {
        let mode = if auth { WireMode::Authenticated(key()) } else { WireMode::Legacy { fos: false } };
        let mut sim = Sim::new(mode);
        let mut t = 0;
        let mut lvsd_died = false;
        for (action, dt) in steps {
            match action {
                0 => sim.cut[0] = !sim.cut[0],
                1 => sim.cut[1] = !sim.cut[1],
                2 => { let n = (dt % 2) as usize; if sim.nodes[n].is_some() { sim.kill(n) } else { sim.restart(n) } }
                3 => { let n = (dt % 2) as usize; if sim.nodes[n].is_some() { lvsd_died = true; let _ = sim.command(n, Command::ChildExited); } }
                4 => { let n = (dt % 2) as usize; if sim.nodes[n].is_some() { let _ = sim.command(n, Command::Release); } }
                _ => { let n = (dt % 2) as usize; if sim.nodes[n].is_some() { let _ = sim.command(n, Command::Takeover); } }
            }
            t += dt;
            sim.run_until(t);
        }
        sim.cut = [false, false];
        for n in 0..2 {
            if sim.nodes[n].is_none() {
                sim.restart(n);
            }
        }
        // Settle: a deadtime for a silent partner to be noticed, then a keepalive for the
        // tie-break, plus a deadtime for a release holdoff to end; after lvsd failures, the
        // longest retry pause (64 deadtimes) too.
        let retry = if lvsd_died { DEADTIME * 64 } else { Duration::ZERO };
        t += (DEADTIME * 2 + KEEPALIVE + retry).as_millis() as u64 + 10;
        sim.run_until(t);
        let active: Vec<bool> = (0..2).map(|n| sim.active(n)).collect();
        prop_assert_eq!(active.iter().filter(|a| **a).count(), 1, "after healing: {:?}", active);
        let winner = active.iter().position(|a| *a);
        sim.run_until(t + 30_000);
        prop_assert_eq!((0..2).map(|n| sim.active(n)).position(|a| a), winner, "it stays");
    }
}

proptest! {
    /// Arbitrary datagrams on either link, in either mode, never panic and never change state.
    #[test]
    fn garbage_datagrams_change_nothing(
        packets in prop::collection::vec((0usize..3, prop::collection::vec(any::<u8>(), 0..100)), 1..50),
        auth in any::<bool>(),
    ) {
        let mode = if auth { WireMode::Authenticated(key()) } else { WireMode::Legacy { fos: false } };
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(config(1, mode), t0);
        for (link, data) in &packets {
            // Legacy magics that happen to be valid would be real heartbeats; skip those.
            if data.len() == 4 && pulse_proto::LegacyMagic::decode(data).is_ok() {
                continue;
            }
            hb.handle_datagram(t0 + Duration::from_millis(10), *link, addr("192.0.2.11:539"), data);
        }
        while let Some(e) = hb.poll_event() {
            prop_assert!(matches!(e, Event::Rejected { .. }), "{:?}", e);
        }
        prop_assert!(!hb.is_active());
        prop_assert_eq!(hb.status().partner, None);
    }
}
