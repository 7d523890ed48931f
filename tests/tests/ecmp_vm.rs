//! `ecmp = 1` in the VM (real IPVS), on [`EcmpBed`]: a router namespace running BIRD with ECMP
//! over three directors, each running pulse (real lvsd) and BIRD with the example
//! configurations of `etc/bird/`, three direct-routing real servers and a client behind the
//! router. Shows: 300 new connections spread over the directors and the real servers (each ≥
//! 20 %); 100 fixed 5-tuples reach the same real server through each director alone; three
//! runs of drain (`pulsectl release`), addition (`pulsectl takeover`), kill (link down +
//! SIGKILL) and restart of a director, each under 36 long-lived flows asking every 500 ms and
//! new connections every 50 ms, within issue 17's bounds (no flow lost on the other directors,
//! ≥ 95 % of the killed director's flows survive and none of a drained one's, no flow pauses
//! longer than 1.5 s, no new connection fails; one `ECMP-EVENT` line per event on stdout, the
//! table of docs/benchmarks.md); a real server quiesced on every director refuses none. Run by
//! `tests/vm/run-tests.sh --ecmp`.

use pulse_e2e::ecmp_bed::traffic::{fetch, fetch_from};
use pulse_e2e::ecmp_bed::{DIRECTORS, EcmpBed, EventKind};
use pulse_e2e::lvs_bed::{in_ns, in_vm};
use std::time::Duration;

#[test]
#[ignore = "needs the VM with IPVS and bird; tests/vm/run-tests.sh --ecmp runs it"]
fn three_directors_share_flows_and_survive_drain_addition_kill_and_restart() {
    assert!(in_vm(), "run tests/vm/run-tests.sh --ecmp");
    let mut bed = EcmpBed::new();
    let t = bed.wait_routes(Duration::from_secs(60));
    assert!(
        t.is_some(),
        "no ECMP route over the three directors\n{}",
        bed.dump()
    );
    eprintln!(
        "ECMP over three directors after {:?}",
        t.unwrap_or_default()
    );
    let cl = bed.ns("cl");

    // 300 new connections from the client.
    let results: Vec<Result<String, String>> = in_ns(&cl, || (0..300).map(|_| fetch()).collect());
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let mut per_server = std::collections::BTreeMap::new();
    for r in results.iter().flatten() {
        *per_server.entry(r.clone()).or_insert(0usize) += 1;
    }
    let per_director: Vec<usize> = (1..=DIRECTORS).map(|d| bed.conns(d).len()).collect();
    eprintln!("per director: {per_director:?}; per real server: {per_server:?}");
    assert_eq!(per_director.iter().sum::<usize>(), 300, "{per_director:?}");
    for d in &per_director {
        assert!(*d >= 60, "a director got under 20 %: {per_director:?}");
    }
    assert_eq!(per_server.len(), 3, "{per_server:?}");
    for n in per_server.values() {
        assert!(*n >= 60, "a real server got under 20 %: {per_server:?}");
    }

    // The same 5-tuples through each director alone (the others released): the same real
    // server every time. Fixed source ports above the ephemeral range (32768-60999), so no
    // TIME_WAIT of the connections above is in the way.
    let mut picks: Vec<Vec<String>> = Vec::new();
    for alone in 1..=DIRECTORS {
        for d in 1..=DIRECTORS {
            bed.announce(d, d == alone);
        }
        assert!(
            bed.wait_routes(Duration::from_secs(30)).is_some(),
            "the router did not settle on d{alone} alone: {:?}",
            bed.next_hops()
        );
        let got: Vec<Result<String, String>> =
            in_ns(&cl, || (61000..61100u16).map(fetch_from).collect());
        let got: Vec<String> = got
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("through d{alone}: {e}")))
            .collect();
        picks.push(got);
    }
    let same = (0..100)
        .filter(|&k| picks[0][k] == picks[1][k] && picks[1][k] == picks[2][k])
        .count();
    eprintln!("same real server through d1, d2 and d3 alone: {same} of 100 5-tuples");
    assert_eq!(same, 100);
    for d in 1..=DIRECTORS {
        bed.announce(d, true);
    }
    assert!(
        bed.wait_routes(Duration::from_secs(30)).is_some(),
        "{:?}",
        bed.next_hops()
    );

    // Three runs of drain, addition, kill and restart, each run on other directors.
    let mut broken = Vec::new();
    for run in 1..=3 {
        let drained = run;
        let killed = run % DIRECTORS + 1;
        for (kind, d, limit) in [
            (EventKind::Drain, drained, 30),
            (EventKind::Add, drained, 30),
            (EventKind::Kill, killed, 30),
            (EventKind::Restart, killed, 90),
        ] {
            let e = bed.event(
                run,
                kind,
                d,
                Duration::from_secs(limit),
                Duration::from_secs(3),
            );
            // All on stdout, in order: the timeline, lost flows, the machine-readable line.
            print!("{}", e.timeline);
            for f in e.flows.iter().filter(|f| f.lost.is_some()) {
                println!("  flow :{} lost: {:?}", f.port, f.lost);
            }
            println!("{}", e.measured);
            let v = e.measured.violations();
            if e.measured.route.is_none() {
                panic!("{v:?}");
            }
            broken.extend(v);
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");

    // Quiesce rs2 on every director: weight 0, in place; `mh-fallback` sends its share to
    // the others, and no new connection is refused.
    for d in 1..=DIRECTORS {
        bed.quiesce(d, "rs2");
    }
    let got: Vec<Result<String, String>> = in_ns(&cl, || (0..100).map(|_| fetch()).collect());
    let refused = got.iter().filter(|r| r.is_err()).count();
    let to_rs2 = got.iter().filter(|r| r.as_deref() == Ok("rs2")).count();
    eprintln!(
        "rs2 quiesced on every director: {refused} of 100 new connections refused, {to_rs2} reached rs2"
    );
    assert_eq!((refused, to_rs2), (0, 0));
}
