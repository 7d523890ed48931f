//! A network-namespace test bed: two directors and a client on a bridge (docs/reference/testbed.md §1).
//!
//! Namespaces `{p}br` (bridge `br0`), `{p}d1`, `{p}d2`, `{p}cl`, each host with `eth0` on the
//! bridge, fixed MACs `02:00:00:00:00:0N`, addresses from TEST-NET-1: d1 192.0.2.11, d2 .12,
//! client .50. Nothing is created in the caller's namespace and all traffic stays on the bridge.
//! Dropping the bed deletes the namespaces, also when a test fails.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why a bed cannot be built here (the test then skips, saying so).
pub fn unavailable() -> Option<String> {
    if !std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
    {
        return Some("needs root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("needs iproute2 (`ip`)".into()),
    }
}

/// Network namespaces joined by bridges: the one way every test bed (this one, [`LvsBed`],
/// [`PairBed`]) builds its network and tears it down. Namespaces are named `{prefix}{suffix}`;
/// dropping the topology kills every process left in them and deletes them, in reverse order
/// of creation, also when a test fails.
///
/// [`LvsBed`]: crate::lvs_bed::LvsBed
/// [`PairBed`]: crate::pair_bed::PairBed
#[derive(Debug)]
pub struct Topology {
    /// The namespace-name prefix.
    pub prefix: String,
    created: Vec<String>,
}

impl Topology {
    /// A topology with a prefix no other bed of any test process uses (`tag` + pid + counter).
    pub fn new(tag: &str) -> Self {
        Self {
            prefix: unique_prefix(tag),
            created: Vec::new(),
        }
    }

    /// The namespace of `suffix`.
    pub fn ns(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Creates namespace `suffix` with its loopback up; returns its name.
    pub fn namespace(&mut self, suffix: &str) -> String {
        let ns = self.ns(suffix);
        must(&["netns", "add", &ns]);
        self.created.push(ns.clone());
        must(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// A bridge `name`, up, in namespace `suffix`.
    pub fn bridge(&self, suffix: &str, name: &str) {
        let ns = self.ns(suffix);
        must(&["-n", &ns, "link", "add", name, "type", "bridge"]);
        must(&["-n", &ns, "link", "set", name, "up"]);
    }

    /// Plugs host `host` into `bridge` (in namespace `bridge_ns`): a veth pair, `ifname` in the
    /// host (with `mac` if given, up, with `addrs`), `port` enslaved to the bridge.
    pub fn plug(
        &self,
        host: &str,
        ifname: &str,
        port: &str,
        bridge: (&str, &str),
        mac: Option<&str>,
        addrs: &[&str],
    ) {
        let (ns, br_ns) = (self.ns(host), self.ns(bridge.0));
        must(&[
            "link", "add", ifname, "netns", &ns, "type", "veth", "peer", "name", port, "netns",
            &br_ns,
        ]);
        must(&["-n", &br_ns, "link", "set", port, "master", bridge.1, "up"]);
        if let Some(mac) = mac {
            must(&["-n", &ns, "link", "set", ifname, "address", mac]);
        }
        must(&["-n", &ns, "link", "set", ifname, "up"]);
        for a in addrs {
            must(&["-n", &ns, "addr", "add", a, "dev", ifname]);
        }
    }

    /// Waits (up to `limit`) until no namespace of the topology holds a tentative IPv6
    /// address, and panics naming the ones that still do. A veth's link-local address goes
    /// through duplicate address detection when the link comes up (`accept_dad`, one probe
    /// and `retrans_time`, 1 s, later; longer under TCG), and until then the kernel sends no
    /// neighbour solicitation on that link at all: `ndisc_send_ns` takes its source from
    /// `ipv6_get_lladdr`, which skips tentative addresses, and returns without sending. A real
    /// server whose link-local address is still tentative cannot resolve the client's
    /// address, so its direct-routing answers are dropped; an IPv6 bed is ready only after
    /// this (a host that has been up for seconds is, too).
    pub fn wait_for_dad(&self, limit: Duration) {
        let tentative = |ns: &String| {
            let o = ip(&["-n", ns, "-6", "-o", "addr", "show", "tentative"]);
            !o.stdout.is_empty()
        };
        let done = wait_for(limit, || !self.created.iter().any(tentative));
        if done.is_none() {
            let left: Vec<&String> = self.created.iter().filter(|ns| tentative(ns)).collect();
            panic!("IPv6 addresses still tentative after {limit:?} in {left:?}");
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            kill_all_in(ns);
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A bed; `Drop` tears it down.
#[derive(Debug)]
pub struct Bed {
    /// The namespace-name prefix.
    pub prefix: String,
    children: Vec<Child>,
    /// Declared last: dropped after the children are killed.
    topology: Topology,
}

/// The hosts of a bed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// Director 1 (192.0.2.11, 02:00:00:00:00:01).
    D1,
    /// Director 2 (192.0.2.12, 02:00:00:00:00:02).
    D2,
    /// The client (192.0.2.50, 02:00:00:00:00:03).
    Client,
    /// A third namespace on the bridge (192.0.2.66, 02:00:00:00:00:04), for attackers.
    Intruder,
}

impl Host {
    fn suffix(self) -> &'static str {
        match self {
            Self::D1 => "d1",
            Self::D2 => "d2",
            Self::Client => "cl",
            Self::Intruder => "ix",
        }
    }

    /// The host's MAC address as `ip` prints it.
    pub fn mac(self) -> &'static str {
        match self {
            Self::D1 => "02:00:00:00:00:01",
            Self::D2 => "02:00:00:00:00:02",
            Self::Client => "02:00:00:00:00:03",
            Self::Intruder => "02:00:00:00:00:04",
        }
    }

    fn addr(self) -> &'static str {
        match self {
            Self::D1 => "192.0.2.11/24",
            Self::D2 => "192.0.2.12/24",
            Self::Client => "192.0.2.50/24",
            Self::Intruder => "192.0.2.66/24",
        }
    }
}

/// iproute2's `ip` (in the VM, busybox's `ip` comes first on some paths and has no `netns`).
pub(crate) fn ip_cmd() -> &'static str {
    if std::path::Path::new("/usr/sbin/ip").exists() {
        "/usr/sbin/ip"
    } else {
        "ip"
    }
}

pub(crate) fn ip(args: &[&str]) -> Output {
    Command::new(ip_cmd())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

/// `ip ARGS`, which must succeed.
pub(crate) fn must(args: &[&str]) {
    let o = ip(args);
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A namespace-name prefix no other bed of any test process uses: `TAG` + pid + counter.
pub(crate) fn unique_prefix(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Starts `program ARGS` in namespace `ns` (`ip netns exec` execs it in place, so the child's
/// pid is the program's), with `envs` set, stdin closed, stdout and stderr to `log`.
pub(crate) fn spawn_logged(
    ns: &str,
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    log: &std::path::Path,
) -> Child {
    let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
    Command::new(ip_cmd())
        .args(["netns", "exec", ns, program])
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

impl Bed {
    /// Build a bed with the given hosts on one bridge.
    pub fn new(hosts: &[Host]) -> Self {
        let mut topology = Topology::new("pt");
        topology.namespace("br");
        topology.bridge("br", "br0");
        for h in hosts {
            topology.namespace(h.suffix());
            topology.plug(
                h.suffix(),
                "eth0",
                h.suffix(),
                ("br", "br0"),
                Some(h.mac()),
                &[h.addr()],
            );
        }
        Self {
            prefix: topology.prefix.clone(),
            children: Vec::new(),
            topology,
        }
    }

    fn ns_name(&self, suffix: &str) -> String {
        self.topology.ns(suffix)
    }

    /// The namespace of a host.
    pub fn ns(&self, h: Host) -> String {
        self.ns_name(h.suffix())
    }

    /// Run a command inside a host's namespace and wait for it.
    pub fn exec(&self, h: Host, program: &str, args: &[&str]) -> Output {
        Command::new(ip_cmd())
            .args(["netns", "exec", &self.ns(h), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Start a long-running command in a host's namespace; it is killed with the bed.
    pub fn spawn(&mut self, h: Host, program: &str, args: &[&str], log: &std::path::Path) -> u32 {
        let child = spawn_logged(&self.ns(h), program, args, &[], log);
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// `ip -n NS ARGS...` in a host's namespace; panics on failure.
    pub fn ip(&self, h: Host, args: &[&str]) {
        let ns = self.ns(h);
        let mut full = vec!["-n", ns.as_str()];
        full.extend_from_slice(args);
        must(&full);
    }

    /// Take a host's port on the bridge down or up (a cable pulled, or a partition).
    pub fn set_port(&self, h: Host, up: bool) {
        must(&[
            "-n",
            &self.ns_name("br"),
            "link",
            "set",
            h.suffix(),
            if up { "up" } else { "down" },
        ]);
    }

    /// Does `addr` (without prefix; IPv4 or IPv6) sit on the host's `eth0`?
    pub fn has_addr(&self, h: Host, addr: &str) -> bool {
        let o = ip(&["-n", &self.ns(h), "-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }

    /// The MAC the host's neighbour table has for `addr` (IPv4: ARP; IPv6: `ip -6 neigh`), if
    /// any.
    pub fn neighbour(&self, h: Host, addr: &str) -> Option<String> {
        let o = ip(&["-n", &self.ns(h), "neigh", "show", addr]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut words = text.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_string)
    }

    /// Let the host learn neighbours from gratuitous ARP even without a prior entry.
    pub fn accept_gratuitous_arp(&self, h: Host) {
        let o = self.exec(h, "sh", &["-c", "echo 1 > /proc/sys/net/ipv4/conf/all/arp_accept; echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_accept"]);
        assert!(
            o.status.success(),
            "arp_accept: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// For a test that needs root and network namespaces. Such tests are `#[ignore]`d, so a plain
/// `cargo test` lists them as skipped and `tests/run-all.sh` runs them as root; reaching this
/// without namespaces means someone asked for them explicitly, and a silent pass would lie.
pub fn require_netns() {
    if let Some(why) = unavailable() {
        panic!("this test needs root and network namespaces: {why}");
    }
}

/// Poll `cond` every 5 ms until it holds or `limit` passes; returns how long it took.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond().then(|| start.elapsed())
}

/// Poll `cond` every 5 ms for the whole of `period` (a stability check: a fixed wait whose
/// assertion must hold throughout, not only at its end). `Err(t)`: it first failed `t` in.
pub fn holds_throughout(period: Duration, mut cond: impl FnMut() -> bool) -> Result<(), Duration> {
    match wait_for(period, || !cond()) {
        None => Ok(()),
        Some(t) => Err(t),
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The topology then kills what is left in the namespaces and deletes them.
    }
}

/// Kills every process still running in namespace `ns` (`ip netns pids`): what a test started
/// there and anything those started (an lvsd whose pulse was SIGKILLed), whatever the test's
/// outcome. Waits up to 2 s for them to go.
pub fn kill_all_in(ns: &str) {
    let pids = || -> Vec<i32> {
        ip(&["netns", "pids", ns])
            .stdout
            .split(|b| *b == b'\n')
            .filter_map(|l| std::str::from_utf8(l).ok()?.trim().parse().ok())
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = pids();
        if left.is_empty() || Instant::now() >= until {
            return;
        }
        for pid in left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Has the process exited (gone, or a zombie nobody has reaped yet: its sockets are closed)?
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Send a signal (`TERM`, `KILL`, `HUP`, …) to a process.
pub fn signal(pid: u32, sig: &str) {
    let o = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(
        o.status.success(),
        "kill -s {sig} {pid}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Bed {
    /// Send UDP datagrams from inside a host's namespace, from `from` (which must be an address
    /// of that host) to `to`. Runs on a thread of its own, which joins the namespace.
    pub fn send_udp(
        &self,
        h: Host,
        from: std::net::SocketAddr,
        to: std::net::SocketAddr,
        payloads: Vec<Vec<u8>>,
    ) {
        let path = format!("/var/run/netns/{}", self.ns(h));
        let result = std::thread::spawn(move || -> std::io::Result<usize> {
            let ns = std::fs::File::open(&path)?;
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            let sock = std::net::UdpSocket::bind(from)?;
            let mut sent = 0;
            for p in &payloads {
                sent += sock.send_to(p, to)?;
            }
            Ok(sent)
        })
        .join();
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("send from {h:?} {from} to {to}: {e}"),
            Err(_) => panic!("sender thread panicked"),
        }
    }
}

/// The direct children of a process (from `/proc/*/stat`).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // `pid (comm) state ppid ...`; comm may hold blanks, so split after the last ')'.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

impl Bed {
    /// Start `pulse` (the binary at `bin`) on `h` with `cf`, keeping its control socket
    /// (`{h:?}.sock`), its lvsd's (`{h:?}-lvsd.sock`), state (`state-{h:?}`) and log (`{h:?}.log`) in `dir`; `extra` arguments
    /// follow, e.g. `--test-start`.
    pub fn spawn_pulse(
        &mut self,
        bin: &str,
        h: Host,
        cf: &std::path::Path,
        dir: &std::path::Path,
        extra: &[&str],
    ) -> u32 {
        let cf = cf.to_string_lossy().into_owned();
        let sock = dir
            .join(format!("{h:?}.sock"))
            .to_string_lossy()
            .into_owned();
        let state = dir
            .join(format!("state-{h:?}"))
            .to_string_lossy()
            .into_owned();
        let lvsd_sock = dir
            .join(format!("{h:?}-lvsd.sock"))
            .to_string_lossy()
            .into_owned();
        let mut args = vec![
            "-c",
            &cf,
            "--nodaemon",
            "--control",
            &sock,
            "--lvsd-socket",
            &lvsd_sock,
            "--state-dir",
            &state,
        ];
        args.extend_from_slice(extra);
        self.spawn(h, bin, &args, &dir.join(format!("{h:?}.log")))
    }
}

impl Bed {
    /// A second LAN (for a second heartbeat link): bridge `br1` in the bridge namespace and
    /// `eth1` in each of `hosts`, with [`Bed::second_addr`] as its address. Its ports can be
    /// pulled with [`Bed::set_second_port`]; it goes away with the bed.
    pub fn add_second_lan(&self, hosts: &[Host]) {
        let br = self.ns_name("br");
        must(&["-n", &br, "link", "add", "br1", "type", "bridge"]);
        must(&["-n", &br, "link", "set", "br1", "up"]);
        for h in hosts {
            let (ns, port) = (self.ns(*h), format!("{}1", h.suffix()));
            must(&[
                "link", "add", "eth1", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &br,
            ]);
            must(&["-n", &br, "link", "set", &port, "master", "br1", "up"]);
            must(&["-n", &ns, "link", "set", "eth1", "up"]);
            let addr = format!("{}/24", Self::second_addr(*h));
            must(&["-n", &ns, "addr", "add", &addr, "dev", "eth1"]);
        }
    }

    /// A host's address on the second LAN: 198.51.100.N with N as on the first (d1 .11, d2 .12,
    /// client .50, intruder .66).
    pub fn second_addr(h: Host) -> &'static str {
        match h {
            Host::D1 => "198.51.100.11",
            Host::D2 => "198.51.100.12",
            Host::Client => "198.51.100.50",
            Host::Intruder => "198.51.100.66",
        }
    }

    /// Take a host's port on the second LAN down or up.
    pub fn set_second_port(&self, h: Host, up: bool) {
        must(&[
            "-n",
            &self.ns_name("br"),
            "link",
            "set",
            &format!("{}1", h.suffix()),
            if up { "up" } else { "down" },
        ]);
    }
}

impl Host {
    /// The host's IPv6 address on the first LAN (2001:db8::N, N as in its IPv4 address).
    pub fn addr6(self) -> &'static str {
        match self {
            Self::D1 => "2001:db8::11",
            Self::D2 => "2001:db8::12",
            Self::Client => "2001:db8::50",
            Self::Intruder => "2001:db8::66",
        }
    }
}

impl Bed {
    /// Dual-stack the first LAN: [`Host::addr6`]`/64` on each host's `eth0`, added `nodad` so
    /// it is usable (pulse binds its heartbeat to it) at once instead of after a second of
    /// duplicate address detection.
    pub fn add_ipv6(&self, hosts: &[Host]) {
        for h in hosts {
            let a = format!("{}/64", h.addr6());
            self.ip(*h, &["-6", "addr", "add", &a, "dev", "eth0", "nodad"]);
        }
        self.topology.wait_for_dad(Duration::from_secs(10));
    }
}

/// A test service for `service = fos` (and keepalived's side of its benchmark), written as
/// `svc.sh` into a bed's directory: `svc.sh start|stop PORT [ADDR]` runs busybox httpd on
/// `ADDR:PORT` (default `0.0.0.0`; `[::]` serves IPv6 and IPv4), its page naming the namespace
/// and port, its pid in `DIR/NS-PORT.pid`;
/// `start` fails while `DIR/fail-NS` exists (a broken restart) and returns once it listens.
pub const HTTP_SERVICE_SH: &str = r#"#!/bin/bash
D=$(dirname "$0"); P=$2
NS=$(/usr/sbin/ip netns identify $$)
PIDF=$D/$NS-$P.pid; ROOT=$D/www-$NS-$P
case $1 in
start)
    [ -e "$D/fail-$NS" ] && { echo "refusing to start: $D/fail-$NS"; exit 1; }
    mkdir -p "$ROOT"; echo "$NS $P" > "$ROOT/index.html"
    setsid /bin/busybox httpd -f -p "${3:-0.0.0.0}:$P" -h "$ROOT" </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDF"
    for _ in $(seq 100); do
        (: </dev/tcp/127.0.0.1/$P) 2>/dev/null && { echo "listening on $P"; exit 0; }
        sleep 0.01
    done
    exit 1 ;;
stop)
    [ -e "$PIDF" ] && kill "$(cat "$PIDF")" 2>/dev/null
    rm -f "$PIDF"; exit 0 ;;
esac
exit 2
"#;
