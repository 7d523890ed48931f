//! `pulse-lab`: the whole director pair on real IPVS, for a human (run as root by
//! `tests/lab/demo.sh`, in the VM when the host kernel has no IPVS). Builds a [`PairBed`]
//! (direct routing, authenticated heartbeats), starts both directors, shows both tables and the
//! requests spread over the real servers, crashes the active director under traffic and prints
//! the failover timeline; then brings the dead director back as a standby and switches back to
//! it with `pulsectl release` under the same traffic (a draining release), with its timeline.
//! Exits 1 with a message when the failover or the switchover does not happen. `pulse-lab
//! --nat` runs the same with `network = nat` (the real servers behind the floating
//! `nat_router`; the switchover is then make-before-break without the drain).

use pulse_e2e::netns::wait_for;
use pulse_e2e::pair_bed::{
    PairBed, PairConfig, Routing, Timeline, Traffic, failures, ms_between, per_server,
};
use std::process::ExitCode;
use std::time::Duration;

fn say(s: &str) {
    println!("\n\x1b[1m## {s}\x1b[0m");
}

fn show(out: &std::process::Output) {
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
}

fn main() -> ExitCode {
    if let Some(why) = pulse_e2e::netns::unavailable() {
        eprintln!("pulse-lab: {why}");
        return ExitCode::FAILURE;
    }
    let nat = std::env::args().skip(1).any(|a| a == "--nat");
    let config = PairConfig {
        routing: if nat { Routing::Nat } else { Routing::Direct },
        heartbeat_key: true,
        scheduler: "wrr".into(),
        weights: [1, 2, 3],
        ..PairConfig::default()
    };
    let mut bed = PairBed::new(config);
    say(&format!(
        "lvs.cf of both directors (authenticated heartbeats, 200 ms keepalive, 600 ms deadtime, {} routing)",
        if nat { "NAT" } else { "direct" }
    ));
    print!("{}", std::fs::read_to_string(bed.cf()).unwrap_or_default());

    say("both directors start pulse, each with its lvsd (warm standby)");
    bed.start();
    let active = bed.wait_active(Duration::from_secs(30));
    let standby = active.other();
    println!(
        "{active} is active and holds the VIP; {standby} stands by with the same table programmed"
    );
    say(&format!("pulsectl status on {active}"));
    show(&bed.pulsectl(active, &["status"]));
    say(&format!("ipvsadm -Ln on {active}"));
    print!("{}", bed.ipvsadm(active));
    let before = bed.table(active);
    say(&format!(
        "ipvsadm -Ln on {standby} (standing by: no VIP, so no traffic)"
    ));
    print!("{}", bed.ipvsadm(standby));

    say("the client sends a request to 10.0.0.100:80 every 10 ms (weights 1:2:3, wrr)");
    let traffic = Traffic::start(&bed, Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(2));
    let steady = traffic.snapshot();
    println!(
        "{} requests in 2 s: {:?}, failed: {:?}",
        steady.len(),
        per_server(&steady),
        failures(&steady)
    );

    say(&format!(
        "crash: SIGKILL {active}'s pulse and lvsd, pull its cable; traffic goes on for 3 s"
    ));
    let mut failover = bed.crash(active, Duration::from_secs(3));
    let records = traffic.stop();
    let outage = failover.add_traffic(&records);
    let survivor = failover.survivor;
    say("failover timeline");
    print!("{}", failover.timeline);
    let after: Vec<_> = records
        .iter()
        .filter(|r| r.sent >= failover.killed_at)
        .cloned()
        .collect();
    println!(
        "\nafter the kill: {} requests, answered by {:?}, failed: {:?}",
        after.len(),
        per_server(&after),
        failures(&after)
    );
    let end = records.last().map(|r| r.sent);
    match (&outage, end) {
        (Some(o), Some(end)) => println!(
            "outage: {} ms ({} failed requests; {} ms counting from the last success before)",
            o.duration(end).as_millis(),
            o.failures,
            o.upper_bound(end).as_millis()
        ),
        _ => println!("outage: none (no request failed)"),
    }

    say(&format!("ipvsadm -Ln on the survivor ({survivor})"));
    print!("{}", bed.ipvsadm(survivor));
    let after_table = bed.table(survivor);
    println!(
        "same service, real servers and weights as {active} had: {}",
        if after_table == before { "yes" } else { "NO" }
    );

    let failed_over = bed.active() == Some(survivor)
        && outage.as_ref().is_none_or(|o| o.next_ok.is_some())
        && after_table == before;
    if !failed_over {
        eprintln!(
            "pulse-lab: the failover did not complete within 3 s\n{}",
            bed.dump()
        );
        return ExitCode::FAILURE;
    }
    if let Some(t) = failover.timeline.find("activating lvs") {
        println!(
            "\n{survivor} decided {} ms after the kill (deadtime {} ms)",
            ms_between(failover.killed_at, t),
            (bed.config.deadtime * 1000.0) as u64
        );
    }

    say(&format!(
        "{active} comes back (cable in, pulse started): it stands by, no failback"
    ));
    bed.revive(active);
    let standing_by = wait_for(Duration::from_secs(20), || {
        bed.table(active) == before && bed.active() == Some(survivor)
    });
    if standing_by.is_none() {
        eprintln!(
            "pulse-lab: {active} did not come back as a warm standby\n{}",
            bed.dump()
        );
        return ExitCode::FAILURE;
    }
    println!("{active} stands by with the table programmed; {survivor} keeps the VIP");

    say(&format!(
        "planned switchover back: pulsectl release on {survivor}, under the same traffic"
    ));
    let traffic = Traffic::start(&bed, Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(1));
    let mut timeline = Timeline::new();
    let t0 = timeline.add(format!("pulsectl release on {survivor}"));
    show(&bed.pulsectl(survivor, &["release"]));
    let moved = wait_for(Duration::from_secs(10), || bed.active() == Some(active));
    std::thread::sleep(Duration::from_secs(1));
    let records = traffic.stop();
    bed.log_events(
        &mut timeline,
        survivor,
        t0,
        &[
            "release: draining",
            "handing over: new connections",
            "release: drained",
            "deactivating",
            "released VIP",
            "handover done",
        ],
    );
    bed.log_events(
        &mut timeline,
        active,
        t0,
        &["partner is handing over", "activating lvs", "claimed VIP"],
    );
    say("switchover timeline");
    print!("{timeline}");
    println!(
        "\n{} requests around the switchover: {:?}, failed: {:?}",
        records.len(),
        per_server(&records),
        failures(&records)
    );
    if moved.is_none() {
        eprintln!(
            "pulse-lab: the release did not move the service\n{}",
            bed.dump()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
