//! `ecmp = 1`'s routing contract against a real BIRD 2: a router and two directors in network
//! namespaces, each running BIRD with the example configurations shipped in `etc/bird/`
//! (BGP + BFD, `merge paths`). Pulse's route calls (`pulse_sys::Rtnl::replace_host_route` /
//! `delete_host_route` in table 100 of a director) make the VIP's next hop appear in and leave
//! the router's ECMP route; Pulse never talks to BIRD. Needs root and `bird` (tests/install-deps.sh).

use pulse_e2e::netns::{Topology, require_netns, wait_for};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VIP: &str = "10.0.0.100";

fn etc(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../etc/bird")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// BIRD processes, killed and reaped when dropped (the topology then removes the namespaces).
struct Birds(Vec<Child>);

impl Drop for Birds {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_bird(ns: &str, conf: &str, dir: &Path, name: &str) -> Child {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns, "bird", "-f", "-c"])
        .arg(&path)
        .arg("-s")
        .arg(dir.join(format!("{name}.ctl")))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("bird: {e}"))
}

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
            // `lo` is interface 1 in every namespace.
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

/// The router's next hops for the VIP.
fn next_hops(ns: &str) -> Vec<String> {
    let o = Command::new("ip")
        .args(["-n", ns, "route", "show", VIP])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut hops: Vec<String> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops
}

#[test]
#[ignore = "needs root, network namespaces and bird (tests/run-all.sh runs it)"]
fn pulse_routes_in_table_100_appear_in_and_leave_the_routers_ecmp_route() {
    require_netns();
    assert!(
        Command::new("bird").arg("--version").output().is_ok(),
        "needs bird (tests/install-deps.sh installs bird2)"
    );
    let mut topo = Topology::new("eb");
    topo.namespace("br");
    topo.bridge("br", "br0");
    let dir = tempfile_dir(&topo.prefix);
    topo.namespace("rt");
    topo.plug("rt", "eth0", "prt", ("br", "br0"), None, &["10.1.0.1/24"]);
    let mut birds = Birds(Vec::new());
    birds.0.push(start_bird(
        &topo.ns("rt"),
        &etc("router.conf"),
        &dir,
        "router",
    ));
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
        let conf = etc("director.conf").replace("10.1.0.11", ip);
        birds.0.push(start_bird(&topo.ns(n), &conf, &dir, n));
    }
    let (rt, d1, d2) = (topo.ns("rt"), topo.ns("d1"), topo.ns("d2"));
    let limit = Duration::from_secs(30);
    let hops = |want: &[&str]| {
        let want: Vec<String> = want.iter().map(ToString::to_string).collect();
        let rt = rt.clone();
        wait_for(limit, move || next_hops(&rt) == want)
    };
    // Nothing announced yet: no route at the router, even once the sessions are up.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(next_hops(&rt), Vec::<String>::new());

    announce(&d1, true);
    let t = hops(&["10.1.0.11"]).unwrap_or_else(|| {
        panic!(
            "d1's route never reached the router; logs in {}",
            dir.display()
        )
    });
    eprintln!("d1 announced: at the router after {t:?} (includes BGP session setup)");
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
