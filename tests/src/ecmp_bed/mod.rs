//! `ecmp = 1` on real IPVS (inside the VM, `tests/vm/`): a router namespace running BIRD with
//! ECMP over three directors, each running pulse (with its real lvsd) and BIRD with the example
//! configurations of `etc/bird/`, three direct-routing real servers and a client behind the
//! router (the recipe's topology, `../shared/reference/anycast/`). Used by
//! `tests/tests/ecmp_vm.rs` and by the lab (`pulse-lab --ecmp`).
//!
//! Namespace `{p}br` holds bridges `br0` (10.1.0.0/24: the router 10.1.0.1, directors
//! `d1`..`d3` 10.1.0.11..13, real servers `rs1`..`rs3` 10.1.0.21..23 with the VIP on `lo`) and
//! `br1` (192.0.2.0/24: the router 192.0.2.1, the client 192.0.2.2). Each real server answers
//! every request of a connection with its name until the client closes, so a long-lived flow
//! shows which server it reaches. Every address is a test address inside the bed's
//! namespaces; dropping the bed kills its processes and deletes its namespaces.
//!
//! [`EcmpBed::event`] runs one event (drain, addition, kill, restart of a director) under
//! long-lived flows asking every 500 ms and new connections every 50 ms ([`traffic`]), and
//! returns what they measured ([`Event`], with the bounds of issue 17's "Must show").

mod event;
pub mod traffic;

pub use event::{Event, EventKind, FLOWS, MAX_PAUSE, Measured, measure, owner, parse_conns};

use crate::bird::{Birds, example, next_hops};
use crate::lvs_bed::{Server, serve_connections};
use crate::netns::{Topology, ip_cmd, kill_all_in};
use crate::pair_bed::binary;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The virtual IP the directors share.
pub const VIP: &str = "10.0.0.100";
/// The niceness of the BIRDs. In the emulated VM the test's own traffic (the client and the
/// real servers: other machines in reality) competes with them for two vCPUs; BFD (100 ms ×
/// 3) is the one deadline that cannot wait.
pub const NICE: i32 = -10;

/// How many directors the bed has (`d1`..`d3`).
pub const DIRECTORS: usize = 3;

/// Director `d`'s address (1-based).
pub fn director_ip(d: usize) -> String {
    format!("10.1.0.1{d}")
}

/// Director `d`'s name (1-based): `d1`.
pub fn director_name(d: usize) -> String {
    format!("d{d}")
}

/// The director of next-hop address `hop`, if it is one.
pub fn director_of(hop: &str) -> Option<usize> {
    (1..=DIRECTORS).find(|d| director_ip(*d) == hop)
}

/// The bed; `Drop` tears it down.
#[derive(Debug)]
pub struct EcmpBed {
    /// Scratch directory: configurations, logs, sockets (removed when dropped).
    pub dir: PathBuf,
    pulse: String,
    lvsd: String,
    pulsectl: String,
    /// pulse of each director (index d - 1), while it runs.
    pulses: Vec<Option<Child>>,
    /// How often each director was started (names the BIRD files of a restart).
    starts: Vec<u32>,
    /// Which directors should be announcing (not released, not killed).
    announcing: Vec<bool>,
    /// The real servers, serving until dropped.
    _servers: Vec<Server>,
    birds: Birds,
    /// Declared last: dropped after everything that runs in it.
    topo: Topology,
}

impl EcmpBed {
    /// Builds the whole bed and starts BIRD on the router and BIRD + pulse on every director
    /// (pulse from env `PULSE_PULSE`, lvsd `PULSE_LVSD`, pulsectl `PULSE_PULSECTL`).
    pub fn new() -> Self {
        crate::bird::require_bird();
        let mut topo = Topology::new("ev");
        topo.namespace("br");
        topo.bridge("br", "br0");
        topo.bridge("br", "br1");
        let rt = topo.namespace("rt");
        topo.plug("rt", "eth0", "prt", ("br", "br0"), None, &["10.1.0.1/24"]);
        topo.plug("rt", "eth1", "prt1", ("br", "br1"), None, &["192.0.2.1/24"]);
        let cl = topo.namespace("cl");
        topo.plug("cl", "eth0", "pcl", ("br", "br1"), None, &["192.0.2.2/24"]);
        sh(&cl, "ip route add default via 192.0.2.1");
        // The recipe's pitfall 1: policy 3 with the 5-tuple fields, not policy 1, in a netns lab.
        sh(
            &rt,
            "echo 1 > /proc/sys/net/ipv4/ip_forward; \
             echo 3 > /proc/sys/net/ipv4/fib_multipath_hash_policy; \
             echo 0x37 > /proc/sys/net/ipv4/fib_multipath_hash_fields",
        );
        let dir = std::env::temp_dir().join(format!("ecmp-bed-{}", topo.prefix));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let mut birds = Birds::new(&dir);
        // BIRD's events (sessions up and down, BFD) in its log: the dump and the timelines.
        let router = format!(
            "log stderr all;\ntimeformat log \"%F %T.%3f\";\ndebug protocols {{ states }};\n{}",
            example("router.conf")
        );
        birds.start_niced(&rt, &router, "router", NICE);
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
            servers.push(serve_named(&ns, n));
        }
        for d in 1..=DIRECTORS {
            let n = director_name(d);
            let ns = topo.namespace(&n);
            topo.plug(
                &n,
                "eth0",
                &format!("p{n}"),
                ("br", "br0"),
                None,
                &[&format!("{}/24", director_ip(d))],
            );
            sh(
                &ns,
                "echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; \
                 echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce",
            );
        }
        let mut bed = Self {
            dir,
            pulse: binary("PULSE_PULSE", "pulse"),
            lvsd: binary("PULSE_LVSD", "lvsd"),
            pulsectl: binary("PULSE_PULSECTL", "pulsectl"),
            pulses: (0..DIRECTORS).map(|_| None).collect(),
            starts: vec![0; DIRECTORS],
            announcing: vec![false; DIRECTORS],
            _servers: servers,
            birds,
            topo,
        };
        let cf = bed.lvs_cf();
        for d in 1..=DIRECTORS {
            std::fs::write(bed.cf(d), cf.replace("PRIMARY", &director_ip(d))).expect("lvs.cf");
            bed.start_director(d);
        }
        bed
    }

    /// The lvs.cf every director reads (`PRIMARY`: its own address).
    pub fn lvs_cf(&self) -> String {
        let mut cf = String::from(
            "serial_no = 1\nprimary = PRIMARY\nnetwork = direct\necmp = 1\nvirtual web {\n    \
             active = 1\n    address = 10.0.0.100 lo\n    port = 80\n    timeout = 1\n    \
             reentry = 1\n",
        );
        for i in 1..=3 {
            cf.push_str(&format!(
                "    server rs{i} {{\n        address = 10.1.0.2{i}\n        active = 1\n    }}\n"
            ));
        }
        cf.push_str("}\n");
        cf
    }

    /// Director `d`'s lvs.cf.
    pub fn cf(&self, d: usize) -> PathBuf {
        self.dir.join(format!("{}.cf", director_name(d)))
    }

    /// The namespace of `suffix` (`rt`, `cl`, `d1`, `rs1`, ...).
    pub fn ns(&self, suffix: &str) -> String {
        self.topo.ns(suffix)
    }

    /// Director `d`'s namespace.
    pub fn director_ns(&self, d: usize) -> String {
        self.ns(&director_name(d))
    }

    /// Director `d`'s pulse log (appended to across restarts).
    pub fn log_path(&self, d: usize) -> PathBuf {
        self.dir.join(format!("{}.log", director_name(d)))
    }

    /// Director `d`'s pulse log.
    pub fn log(&self, d: usize) -> String {
        std::fs::read_to_string(self.log_path(d)).unwrap_or_default()
    }

    /// Director `d`'s control socket.
    pub fn socket(&self, d: usize) -> PathBuf {
        self.dir.join(format!("{}.sock", director_name(d)))
    }

    /// Director `d`'s lvsd control socket.
    pub fn lvsd_socket(&self, d: usize) -> PathBuf {
        self.dir.join(format!("{}-lvsd.sock", director_name(d)))
    }

    /// Starts BIRD and pulse on director `d` (BIRD's files named `dN` the first time, `dN-K`
    /// on the K-th restart); pulse logs at `info` to [`log_path`](Self::log_path).
    pub fn start_director(&mut self, d: usize) {
        let i = d - 1;
        assert!(self.pulses[i].is_none(), "d{d} runs already");
        let (name, ns, ip) = (director_name(d), self.director_ns(d), director_ip(d));
        let bird_name = match self.starts[i] {
            0 => name.clone(),
            k => format!("{name}-{k}"),
        };
        self.starts[i] += 1;
        self.birds.start_niced(
            &ns,
            &example("director.conf").replace("10.1.0.11", &ip),
            &bird_name,
            NICE,
        );
        // A SIGKILLed pulse leaves its sockets behind.
        let _ = std::fs::remove_file(self.socket(d));
        let _ = std::fs::remove_file(self.lvsd_socket(d));
        let state = self.dir.join(format!("{name}.state"));
        std::fs::create_dir_all(&state).expect("state dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(d))
            .expect("log");
        let child = Command::new(ip_cmd())
            .args(["netns", "exec", &ns, &self.pulse, "-n", "-c"])
            .arg(self.cf(d))
            .args(["--no-realtime", "--lvsd", &self.lvsd, "--control"])
            .arg(self.socket(d))
            .arg("--lvsd-socket")
            .arg(self.lvsd_socket(d))
            .arg("--state-dir")
            .arg(&state)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("pulse");
        self.pulses[i] = Some(child);
        self.announcing[i] = true;
    }

    /// The first half of a director's death: its cable pulled (the router's BFD notices).
    pub fn pull_cable(&mut self, d: usize) {
        self.set_link(d, false);
        self.announcing[d - 1] = false;
    }

    /// The second half: SIGKILL of everything in its namespace (pulse, lvsd, BIRD); returns
    /// when they are gone (up to 2 s). Takes no `self`, so it can run on a thread while the
    /// traffic is measured; [`reap`](Self::reap) collects the children afterwards.
    pub fn kill_all(ns: &str) {
        kill_all_in(ns);
    }

    /// Collects director `d`'s killed pulse.
    pub fn reap(&mut self, d: usize) {
        if let Some(mut c) = self.pulses[d - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Brings a killed director back as a rebooted host comes back: without the IPVS table
    /// and the announcement route it had (a reboot forgets both), then the cable, then BIRD
    /// and pulse. (Not a restart over the old table: the dying lvsd saw every real server
    /// fail once the cable was out and left them all at weight 0, and a pulse adopting the
    /// route over that table lets BIRD announce it before lvsd has checked a server again.)
    pub fn restart_director(&mut self, d: usize) {
        self.reap(d);
        let ns = self.director_ns(d);
        sh(&ns, "ipvsadm -C; ip route flush table 100");
        self.set_link(d, true);
        self.start_director(d);
    }

    fn set_link(&self, d: usize, up: bool) {
        let o = Command::new(ip_cmd())
            .args(["-n", &self.director_ns(d), "link", "set", "eth0"])
            .arg(if up { "up" } else { "down" })
            .output()
            .expect("ip");
        assert!(o.status.success(), "link of d{d}: {o:?}");
    }

    /// `pulsectl ARGS --socket` director `d`'s socket.
    pub fn pulsectl(&self, d: usize, args: &[&str]) -> Output {
        Command::new(&self.pulsectl)
            .args(args)
            .arg("--socket")
            .arg(self.socket(d))
            .output()
            .expect("pulsectl")
    }

    /// `pulsectl release` (`up = false`) or `takeover` on director `d`, which must succeed.
    pub fn announce(&mut self, d: usize, up: bool) {
        let cmd = if up { "takeover" } else { "release" };
        let o = self.pulsectl(d, &[cmd]);
        assert!(o.status.success(), "pulsectl {cmd} on d{d}: {o:?}");
        self.announcing[d - 1] = up;
    }

    /// `pulsectl server disable web SERVER --runtime` on director `d` (weight 0, in place).
    pub fn quiesce(&self, d: usize, server: &str) {
        let o = Command::new(&self.pulsectl)
            .args([
                "server",
                "disable",
                "web",
                server,
                "--runtime",
                "--lvsd-socket",
            ])
            .arg(self.lvsd_socket(d))
            .output()
            .expect("pulsectl");
        assert!(o.status.success(), "disable {server} on d{d}: {o:?}");
    }

    /// The directors that should be announcing the VIP, as the router's next hops (sorted).
    pub fn expected_hops(&self) -> Vec<String> {
        (1..=DIRECTORS)
            .filter(|d| self.announcing[d - 1])
            .map(director_ip)
            .collect()
    }

    /// The router's next hops for the VIP (sorted addresses).
    pub fn next_hops(&self) -> Vec<String> {
        next_hops(&self.ns("rt"), VIP)
    }

    /// Waits until the router's next hops are [`expected_hops`](Self::expected_hops)
    /// (asking every 100 ms: each asking spawns `ip`, costly in the emulated VM).
    pub fn wait_routes(&self, limit: Duration) -> Option<Duration> {
        let (rt, want) = (self.ns("rt"), self.expected_hops());
        let start = std::time::Instant::now();
        loop {
            if next_hops(&rt, VIP) == want {
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `program ARGS` in namespace `suffix` and waits for it.
    pub fn exec(&self, suffix: &str, program: &str, args: &[&str]) -> Output {
        Command::new(ip_cmd())
            .args(["netns", "exec", &self.ns(suffix), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// `ipvsadm ARGS` in director `d`'s namespace (stdout).
    pub fn ipvsadm(&self, d: usize, args: &[&str]) -> String {
        let o = Command::new(ip_cmd())
            .args(["netns", "exec", &self.director_ns(d), "ipvsadm"])
            .args(args)
            .output()
            .expect("ipvsadm");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Director `d`'s IPVS connection entries: (client port, seconds to expiry).
    pub fn conns(&self, d: usize) -> Vec<(u16, u32)> {
        parse_conns(&self.ipvsadm(d, &["-Lnc"]))
    }

    /// Which director each client port's flow goes through now ([`owner`]: every director's
    /// connection table read twice, 1.5 s apart; the flows ask every 500 ms).
    pub fn owners(&self, ports: &[u16]) -> Vec<Option<usize>> {
        let read = || -> Vec<Vec<(u16, u32)>> { (1..=DIRECTORS).map(|d| self.conns(d)).collect() };
        let first = read();
        std::thread::sleep(Duration::from_millis(1500));
        let second = read();
        ports.iter().map(|p| owner(&first, &second, *p)).collect()
    }

    /// The router's BIRD log lines since `since` where a session stops or comes up (`d2:
    /// State changed to stop`), with their times (BIRD logs UTC in the VM: `2026-12-06 22:06:50.123`).
    pub fn router_events(
        &self,
        since: std::time::SystemTime,
    ) -> Vec<(std::time::SystemTime, String)> {
        let log = std::fs::read_to_string(self.dir.join("router.bird.log")).unwrap_or_default();
        log.lines()
            // A session's teardown also logs flush, down and start: its stop is the moment.
            .filter(|l| l.contains("State changed to stop") || l.contains("State changed to up"))
            .filter_map(|l| {
                let mut w = l.splitn(3, ' ');
                let (date, time, rest) = (w.next()?, w.next()?, w.next()?);
                let t = crate::pair_bed::parse_rfc3339(&format!("{date}T{time}Z"))?;
                Some((t, rest.trim().to_string()))
            })
            .filter(|(t, _)| *t >= since)
            .collect()
    }

    /// Every director's pulse log, and BIRD's, for a failure message.
    pub fn dump(&self) -> String {
        let mut s = format!("router's next hops: {:?}\n", self.next_hops());
        for d in 1..=DIRECTORS {
            s.push_str(&format!("==== d{d} pulse log\n{}\n", self.log(d)));
        }
        let bird = std::fs::read_to_string(self.dir.join("router.bird.log")).unwrap_or_default();
        let lines: Vec<&str> = bird.lines().collect();
        s.push_str(&format!(
            "==== the router's BIRD log (its last 60 lines)\n{}\n",
            lines[lines.len().saturating_sub(60)..].join("\n")
        ));
        s
    }
}

impl Default for EcmpBed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for EcmpBed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
        for c in self.pulses.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The real servers, BIRDs and topology go next (field order); the files now.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real server in namespace `ns` on port 80: every request of a connection is answered
/// with `HTTP/1.0 200 OK` and `name` until the client closes (lvsd's default check is a web
/// check: a status line first), so long-lived flows can ask again and again.
fn serve_named(ns: &str, name: String) -> Server {
    serve_connections(ns, "0.0.0.0:80".parse().expect("addr"), move |s, _| {
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
    })
}

/// `bash -c SCRIPT` in namespace `ns`, which must succeed.
pub fn sh(ns: &str, script: &str) {
    let o = Command::new(ip_cmd())
        .args(["netns", "exec", ns, "bash", "-c", script])
        .output()
        .expect("bash");
    assert!(o.status.success(), "{ns}: {script}: {o:?}");
}
