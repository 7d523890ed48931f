//! `ecmp = 1`'s routing contract against a real BIRD 2: a router and two directors in network
//! namespaces, each running BIRD with the example configurations shipped in `etc/bird/`
//! (BGP + BFD, `merge paths`). Pulse's route calls (`pulse_sys::Rtnl::replace_host_route` /
//! `delete_host_route` in table 100 of a director) make the VIP's next hop appear in and leave
//! the router's ECMP route; Pulse never talks to BIRD. Needs root and `bird` (tests/install-deps.sh).

use pulse_e2e::bird::{Birds, example, next_hops, require_bird};
use pulse_e2e::netns::{Topology, require_netns, wait_for};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const VIP: &str = "10.0.0.100";

/// Runs `f` on a thread inside namespace `ns` (a network namespace is per thread), as pulse
/// would run there.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

fn announce(ns: &str, on: bool) {
    in_ns(ns, move || {
        let rtnl = pulse_sys::Rtnl::connect().unwrap();
        let vip: IpAddr = VIP.parse().unwrap();
        if on {
            // `lo` is interface 1 in every namespace; replacing twice is harmless.
            rtnl.replace_host_route(100, vip, 1).unwrap();
            rtnl.replace_host_route(100, vip, 1).unwrap();
            assert_eq!(rtnl.host_routes(100).unwrap(), vec![vip]);
        } else {
            assert!(rtnl.delete_host_route(100, vip).unwrap());
            assert!(!rtnl.delete_host_route(100, vip).unwrap());
            assert!(rtnl.host_routes(100).unwrap().is_empty());
        }
    });
}

#[test]
#[ignore = "needs root, network namespaces and bird (tests/run-all.sh runs it)"]
fn pulse_routes_in_table_100_appear_in_and_leave_the_routers_ecmp_route() {
    require_netns();
    require_bird();
    let mut topo = Topology::new("eb");
    topo.namespace("br");
    topo.bridge("br", "br0");
    let dir = tempfile_dir(&topo.prefix);
    topo.namespace("rt");
    topo.plug("rt", "eth0", "prt", ("br", "br0"), None, &["10.1.0.1/24"]);
    let mut birds = Birds::new(&dir);
    birds.start(&topo.ns("rt"), &example("router.conf"), "router");
    for (n, ip) in [("d1", "10.1.0.11"), ("d2", "10.1.0.12")] {
        topo.namespace(n);
        topo.plug(
            n,
            "eth0",
            &format!("p{n}"),
            ("br", "br0"),
            None,
            &[&format!("{ip}/24")],
        );
        let conf = example("director.conf").replace("10.1.0.11", ip);
        birds.start(&topo.ns(n), &conf, n);
    }
    let (rt, d1, d2) = (topo.ns("rt"), topo.ns("d1"), topo.ns("d2"));
    let limit = Duration::from_secs(30);
    let hops = |want: &[&str]| {
        let want: Vec<String> = want.iter().map(ToString::to_string).collect();
        let rt = rt.clone();
        wait_for(limit, move || next_hops(&rt, VIP) == want)
    };
    // Nothing announced yet: no route at the router, even once the sessions are up.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(next_hops(&rt, VIP), Vec::<String>::new());

    announce(&d1, true);
    let t = hops(&["10.1.0.11"]).unwrap_or_else(|| {
        panic!(
            "d1's route never reached the router; logs in {}",
            dir.display()
        )
    });
    eprintln!("d1 announced: at the router after {t:?}");
    announce(&d2, true);
    let t = hops(&["10.1.0.11", "10.1.0.12"]).expect("no ECMP route over d1 and d2");
    eprintln!("d2 announced: ECMP over both after {t:?}");
    let start = Instant::now();
    announce(&d1, false);
    let t = hops(&["10.1.0.12"]).expect("d1's withdrawal never reached the router");
    eprintln!(
        "d1 withdrew: gone from the router after {t:?} ({:?} since the call)",
        start.elapsed()
    );
    announce(&d2, false);
    hops(&[]).expect("d2's withdrawal never reached the router");
    drop(birds);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(prefix: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ecmp-bird-{prefix}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
