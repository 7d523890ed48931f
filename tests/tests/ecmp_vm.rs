//! `ecmp = 1` in the VM (real IPVS): a router namespace running BIRD with ECMP over three
//! directors, each running pulse (real lvsd) and BIRD with the example configurations of
//! `etc/bird/`, three direct-routing real servers and a client behind the router (the
//! recipe's topology, `../shared/reference/anycast/`). Shows: 300 new connections spread over
//! the directors and the real servers (each ≥ 20 %); 100 fixed 5-tuples reach the same real
//! server through each director alone; with 36 long-lived flows open, draining a director
//! (`pulsectl release`), adding it back and killing another (link down + SIGKILL) lose no flow
//! and fail no new connection; a real server quiesced on every director refuses none. Run by
//! `tests/vm/run-tests.sh --ecmp`.

use pulse_e2e::bird::{Birds, example, next_hops};
use pulse_e2e::lvs_bed::{in_vm, serve_connections};
use pulse_e2e::netns::{Topology, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VIP: &str = "10.0.0.100";

fn sh(ns: &str, script: &str) {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "bash", "-c", script])
        .output()
        .expect("bash");
    assert!(o.status.success(), "{ns}: {script}: {o:?}");
}

/// A scratch directory, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One connection from the client to the VIP: the real server's name, or the error.
fn fetch(from: u16) -> Result<String, String> {
    let sock = socket2_connect(from)?;
    let mut s = sock;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    ask(&mut s)
}

/// One request on an open connection: the real server's name.
fn ask(s: &mut TcpStream) -> Result<String, String> {
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("closed".into());
    }
    let out = String::from_utf8_lossy(&buf[..n]).into_owned();
    let body = out.rsplit("\r\n\r\n").next().unwrap_or_default();
    Ok(body.trim().to_string())
}

/// Connects to the VIP; the kernel picks the source port (`from` only labels errors).
fn socket2_connect(from: u16) -> Result<TcpStream, String> {
    let vip: SocketAddr = format!("{VIP}:80").parse().expect("vip");
    TcpStream::connect_timeout(&vip, Duration::from_secs(5)).map_err(|e| format!("#{from}: {e}"))
}

/// One connection from 192.0.2.2:`port` to the VIP, closed with RST (no TIME_WAIT, so the
/// same 5-tuple can go again through another director): the real server's name.
fn fetch_from(port: u16) -> Result<String, String> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .map_err(|e| e.to_string())?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| e.to_string())?;
    bind(fd.as_raw_fd(), &SockaddrIn::new(192, 0, 2, 2, port))
        .map_err(|e| format!(":{port}: {e}"))?;
    connect(fd.as_raw_fd(), &SockaddrIn::new(10, 0, 0, 100, 80))
        .map_err(|e| format!(":{port}: {e}"))?;
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(&fd, sockopt::Linger, &linger).map_err(|e| e.to_string())?;
    let mut s = TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    ask(&mut s)
}

fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns");
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("thread")
}

fn pulsectl(dir: &std::path::Path, d: &str, cmd: &str) {
    let bin = std::env::var("PULSE_PULSECTL").expect("PULSE_PULSECTL");
    let o = Command::new(bin)
        .args([cmd, "--socket"])
        .arg(dir.join(format!("{d}.sock")))
        .output()
        .expect("pulsectl");
    assert!(o.status.success(), "pulsectl {cmd} on {d}: {o:?}");
}

fn ipvs_conns(ns: &str) -> usize {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "ipvsadm", "-Lnc"])
        .output()
        .expect("ipvsadm");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("TCP"))
        .count()
}

#[test]
#[ignore = "needs the VM with IPVS and bird; tests/vm/run-tests.sh --ecmp runs it"]
fn three_directors_share_new_connections_and_send_one_5_tuple_to_one_real_server() {
    assert!(in_vm(), "run tests/vm/run-tests.sh --ecmp");
    let pulse = std::env::var("PULSE_PULSE").expect("PULSE_PULSE");
    let lvsd = std::env::var("PULSE_LVSD").expect("PULSE_LVSD");
    let mut topo = Topology::new("ev");
    topo.namespace("br");
    topo.bridge("br", "br0");
    topo.bridge("br", "br1");
    topo.namespace("rt");
    topo.plug("rt", "eth0", "prt", ("br", "br0"), None, &["10.1.0.1/24"]);
    topo.plug("rt", "eth1", "prt1", ("br", "br1"), None, &["192.0.2.1/24"]);
    topo.namespace("cl");
    topo.plug("cl", "eth0", "pcl", ("br", "br1"), None, &["192.0.2.2/24"]);
    let (rt, cl) = (topo.ns("rt"), topo.ns("cl"));
    sh(&cl, "ip route add default via 192.0.2.1");
    // The recipe's pitfall 1: policy 3 with the 5-tuple fields, not policy 1, in a netns lab.
    sh(
        &rt,
        "echo 1 > /proc/sys/net/ipv4/ip_forward; \
         echo 3 > /proc/sys/net/ipv4/fib_multipath_hash_policy; \
         echo 0x37 > /proc/sys/net/ipv4/fib_multipath_hash_fields",
    );
    let dir = Scratch(std::env::temp_dir().join(format!("ecmp-vm-{}", topo.prefix)));
    std::fs::create_dir_all(dir.path()).expect("scratch dir");
    let mut birds = Birds::new(dir.path());
    birds.start(&rt, &example("router.conf"), "router");
    let mut servers = Vec::new();
    for i in 1..=3 {
        let n = format!("rs{i}");
        let ns = topo.namespace(&n);
        topo.plug(
            &n,
            "eth0",
            &format!("p{n}"),
            ("br", "br0"),
            None,
            &[&format!("10.1.0.2{i}/24")],
        );
        sh(
            &ns,
            &format!(
                "ip addr add {VIP}/32 dev lo; ip route add default via 10.1.0.1; \
                 echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; \
                 echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce"
            ),
        );
        let name = n.clone();
        servers.push(serve_connections(
            &ns,
            "0.0.0.0:80".parse().expect("addr"),
            move |s, _| {
                // Every request is answered (lvsd's default check is a web check: a status
                // line first) until the client closes: long-lived flows ask again and again.
                let name = name.clone();
                std::thread::spawn(move || {
                    let mut s = s;
                    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
                    let mut buf = [0u8; 512];
                    while let Ok(n) = s.read(&mut buf) {
                        let answer = format!("HTTP/1.0 200 OK\r\n\r\n{name}");
                        if n == 0 || s.write_all(answer.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            },
        ));
    }
    let mut cf = String::from(
        "serial_no = 1\nprimary = PRIMARY\nnetwork = direct\necmp = 1\nvirtual web {\n    \
         active = 1\n    address = 10.0.0.100 lo\n    port = 80\n    timeout = 1\n    reentry = 1\n",
    );
    for i in 1..=3 {
        cf.push_str(&format!(
            "    server rs{i} {{\n        address = 10.1.0.2{i}\n        active = 1\n    }}\n"
        ));
    }
    cf.push_str("}\n");
    let mut procs = Procs(Vec::new());
    for i in 1..=3 {
        let n = format!("d{i}");
        let ip = format!("10.1.0.1{i}");
        let ns = topo.namespace(&n);
        topo.plug(
            &n,
            "eth0",
            &format!("p{n}"),
            ("br", "br0"),
            None,
            &[&format!("{ip}/24")],
        );
        sh(
            &ns,
            "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; \
             echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce",
        );
        birds.start(&ns, &example("director.conf").replace("10.1.0.11", &ip), &n);
        let path = dir.path().join(format!("{n}.cf"));
        std::fs::write(&path, cf.replace("PRIMARY", &ip)).expect("lvs.cf");
        let log = std::fs::File::create(dir.path().join(format!("{n}.log"))).expect("log");
        procs.0.push(
            Command::new("ip")
                .args(["netns", "exec", &ns, &pulse, "-n", "-c"])
                .arg(&path)
                .args(["--no-realtime", "--lvsd", &lvsd, "--control"])
                .arg(dir.path().join(format!("{n}.sock")))
                .arg("--lvsd-socket")
                .arg(dir.path().join(format!("{n}-lvsd.sock")))
                .arg("--state-dir")
                .arg(dir.path())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("pulse"),
        );
    }
    let all = vec!["10.1.0.11", "10.1.0.12", "10.1.0.13"];
    let rt2 = rt.clone();
    let t = wait_for(Duration::from_secs(60), move || next_hops(&rt2, VIP) == all);
    assert!(
        t.is_some(),
        "no ECMP route over the three directors: {:?}\n{}",
        next_hops(&rt, VIP),
        std::fs::read_to_string(dir.path().join("d1.log")).unwrap_or_default()
    );
    eprintln!(
        "ECMP over three directors after {:?}",
        t.unwrap_or_default()
    );

    // 300 new connections from the client.
    let path = format!("/var/run/netns/{cl}");
    let results: Vec<Result<String, String>> = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("netns");
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        (0..300u16).map(fetch).collect()
    })
    .join()
    .expect("client");
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
    let per_director: Vec<usize> = (1..=3)
        .map(|i| ipvs_conns(&topo.ns(&format!("d{i}"))))
        .collect();
    eprintln!("per director: {per_director:?}; per real server: {per_server:?}");
    assert_eq!(per_director.iter().sum::<usize>(), 300, "{per_director:?}");
    for d in &per_director {
        assert!(*d >= 60, "a director got under 20 %: {per_director:?}");
    }
    assert_eq!(per_server.len(), 3, "{per_server:?}");
    for n in per_server.values() {
        assert!(*n >= 60, "a real server got under 20 %: {per_server:?}");
    }

    // Fixed source ports above the ephemeral range (32768-60999), so no TIME_WAIT of the
    // connections above is in the way.
    // The same 5-tuples through each director alone (the others released): the same real
    // server every time.
    let dirs = ["d1", "d2", "d3"];
    let mut picks: Vec<Vec<String>> = Vec::new();
    for (i, alone) in dirs.iter().enumerate() {
        for d in dirs {
            pulsectl(
                dir.path(),
                d,
                if d == *alone { "takeover" } else { "release" },
            );
        }
        let want = vec![format!("10.1.0.1{}", i + 1)];
        let rt2 = rt.clone();
        assert!(
            wait_for(Duration::from_secs(30), move || next_hops(&rt2, VIP)
                == want)
            .is_some(),
            "the router did not settle on {alone} alone: {:?}",
            next_hops(&rt, VIP)
        );
        let got: Vec<Result<String, String>> =
            in_ns(&cl, || (61000..61100u16).map(fetch_from).collect());
        let got: Vec<String> = got
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("through {alone}: {e}")))
            .collect();
        picks.push(got);
    }
    let same = (0..100)
        .filter(|&k| picks[0][k] == picks[1][k] && picks[1][k] == picks[2][k])
        .count();
    eprintln!("same real server through d1, d2 and d3 alone: {same} of 100 5-tuples");
    assert_eq!(same, 100);

    // Drain under traffic: 36 long-lived flows over all three directors, d1 released; every
    // flow still answers afterwards, and new connections during the drain all succeed.
    for d in dirs {
        pulsectl(dir.path(), d, "takeover");
    }
    let all = vec!["10.1.0.11", "10.1.0.12", "10.1.0.13"];
    let rt2 = rt.clone();
    assert!(wait_for(Duration::from_secs(30), move || next_hops(&rt2, VIP) == all).is_some());
    let release_dir = dir.path().to_path_buf();
    let d1_ns = topo.ns("d1");
    let (rt3, d2_ns) = (rt.clone(), topo.ns("d2"));
    let (lost, new_failed, via_d1, added_lost, killed) = in_ns(&cl, move || {
        let before = ipvs_conns(&d1_ns);
        let mut flows: Vec<(TcpStream, String)> = (0..36)
            .map(|i| {
                let mut s = socket2_connect(i).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let who = ask(&mut s).expect("first answer");
                (s, who)
            })
            .collect();
        let via_d1 = ipvs_conns(&d1_ns).saturating_sub(before);
        pulsectl(&release_dir, "d1", "release");
        let mut new_failed = 0;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if fetch(0).is_err() {
                new_failed += 1;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let lost = flows
            .iter_mut()
            .map(|(s, who)| ask(s).as_deref() != Ok(who.as_str()))
            .filter(|lost| *lost)
            .count();
        // d1 back: the router moves some flows onto it.
        pulsectl(&release_dir, "d1", "takeover");
        let all = vec!["10.1.0.11", "10.1.0.12", "10.1.0.13"];
        let rt4 = rt3.clone();
        assert!(wait_for(Duration::from_secs(30), move || next_hops(&rt4, VIP) == all).is_some());
        let added_lost = flows
            .iter_mut()
            .map(|(s, who)| ask(s).as_deref() != Ok(who.as_str()))
            .filter(|lost| *lost)
            .count();
        // d2 dies: link down and every process in it SIGKILLed.
        let o = Command::new("ip")
            .args(["-n", &d2_ns, "link", "set", "eth0", "down"])
            .output()
            .expect("ip");
        assert!(o.status.success());
        // On a thread: it waits up to 2 s for the processes to be gone, and the probes must
        // start at once.
        let ns = d2_ns.clone();
        let killer = std::thread::spawn(move || pulse_e2e::netns::kill_all_in(&ns));
        let killed_at = std::time::Instant::now();
        let mut kill_new_failed = 0;
        let mut slowest_new = Duration::ZERO;
        while killed_at.elapsed() < Duration::from_secs(3) {
            let t = std::time::Instant::now();
            if fetch(0).is_err() {
                kill_new_failed += 1;
            }
            slowest_new = slowest_new.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = killer.join();
        let mut kill_lost = 0;
        let mut longest = Duration::ZERO;
        for (s, who) in &mut flows {
            let t = std::time::Instant::now();
            if ask(s).as_deref() != Ok(who.as_str()) {
                kill_lost += 1;
            }
            longest = longest.max(t.elapsed());
        }
        (
            lost,
            new_failed,
            via_d1,
            added_lost,
            (kill_lost, kill_new_failed, slowest_new, longest),
        )
    });
    eprintln!(
        "drain of d1: {lost} of 36 long-lived flows lost ({via_d1} went through d1), \
         {new_failed} new connections failed during the drain"
    );
    assert_eq!((lost, new_failed), (0, 0));
    eprintln!("d1 added back: {added_lost} of 36 flows lost");
    assert_eq!(added_lost, 0);
    let (kill_lost, kill_new_failed, slowest_new, longest) = killed;
    eprintln!(
        "d2 killed (link down + SIGKILL): {kill_lost} of 36 flows lost, {kill_new_failed} new \
         connections failed (slowest {slowest_new:?}); the first request on each flow after \
         the kill took at most {longest:?}"
    );
    assert_eq!((kill_lost, kill_new_failed), (0, 0));

    // Quiesce rs2 on every director left (d1, d3): weight 0, in place; `mh-fallback` sends
    // its share to the others, and no new connection is refused.
    let bin = std::env::var("PULSE_PULSECTL").expect("PULSE_PULSECTL");
    for d in ["d1", "d3"] {
        let o = Command::new(&bin)
            .args([
                "server",
                "disable",
                "web",
                "rs2",
                "--runtime",
                "--lvsd-socket",
            ])
            .arg(dir.path().join(format!("{d}-lvsd.sock")))
            .output()
            .expect("pulsectl");
        assert!(o.status.success(), "disable rs2 on {d}: {o:?}");
    }
    let got: Vec<Result<String, String>> = in_ns(&cl, || (0..100u16).map(fetch).collect());
    let refused = got.iter().filter(|r| r.is_err()).count();
    let to_rs2 = got.iter().filter(|r| r.as_deref() == Ok("rs2")).count();
    eprintln!(
        "rs2 quiesced on every director: {refused} of 100 new connections refused, {to_rs2} reached rs2"
    );
    assert_eq!((refused, to_rs2), (0, 0));
    drop(procs);
    drop(birds);
}
