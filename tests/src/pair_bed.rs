//! The whole director pair on real IPVS (inside the VM, `tests/vm/`): two `pulse` directors
//! (each starting its own `lvsd`), three web servers and a client, each host in its own network
//! namespace. IPVS tables are per namespace, so one VM holds the whole topology.
//!
//! Namespace `{p}br` holds bridge `br0` (10.0.0.0/24: directors `eth0` 10.0.0.11 and .12, the
//! client 10.0.0.50, VIP 10.0.0.100:80) and, for [`Routing::Nat`], bridge `br1` (10.0.1.0/24:
//! directors `eth1` 10.0.1.11 and .12, the floating NAT router 10.0.1.254). Real servers
//! `{p}rs1`..`{p}rs3` are 10.0.0.21..23 on `br0` with the VIP on `lo` ([`Routing::Direct`]), or
//! 10.0.1.21..23 on `br1` routed via 10.0.1.254 ([`Routing::Nat`]). Each answers HTTP on port
//! 80 with its own name (`rs1\n`); a connection whose first bytes are not `GET` is a
//! long-lived line session instead: every line gets the name back ([`Session`]). Each director
//! reads its own copy of lvs.cf ([`PairBed::director_cf`]). Every address is a test address inside the bed's
//! namespaces; dropping the bed kills its processes and deletes its namespaces, also on panic
//! (and then prints the directors' logs).
//!
//! [`Traffic`] is a client sending one HTTP request to the VIP every few milliseconds;
//! [`Timeline`] puts what the test did, what it polled and what the daemons logged on one
//! time axis.

use crate::lvs_bed::{Server, in_ns, serve_connections};
use crate::netns::{children, ip, ip_cmd, must, spawn_logged, unique_prefix, wait_for};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The virtual IP the pair serves.
pub const VIP: &str = "10.0.0.100";
/// The virtual service's port.
pub const PORT: u16 = 80;
/// The floating NAT router address of [`Routing::Nat`] (on the real servers' subnet).
pub const NAT_ROUTER: &str = "10.0.1.254";
/// The names of the real servers (also what each one answers).
pub const SERVERS: [&str; 3] = ["rs1", "rs2", "rs3"];

/// How the directors forward to the real servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Direct routing: real servers on the client's subnet with the VIP on `lo`.
    Direct,
    /// Masquerading: real servers on a subnet of their own behind the floating `nat_router`.
    Nat,
}

/// How lvsd checks the real servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A plain TCP connect (no `send`/`expect`).
    Connect,
    /// `send = "GET / HTTP/1.0\r\n\r\n"`, `expect = "HTTP"`.
    Web,
}

/// One of the two directors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Director {
    /// The primary, 10.0.0.11.
    D1,
    /// The backup, 10.0.0.12.
    D2,
}

impl Director {
    /// Both directors.
    pub const BOTH: [Self; 2] = [Self::D1, Self::D2];

    /// `d1` or `d2`: the namespace suffix, bridge port and file-name stem.
    pub fn name(self) -> &'static str {
        match self {
            Self::D1 => "d1",
            Self::D2 => "d2",
        }
    }

    /// The other director.
    pub fn other(self) -> Self {
        match self {
            Self::D1 => Self::D2,
            Self::D2 => Self::D1,
        }
    }

    /// Its heartbeat address (`eth0`).
    pub fn addr(self) -> &'static str {
        match self {
            Self::D1 => "10.0.0.11",
            Self::D2 => "10.0.0.12",
        }
    }

    /// The MAC of its `eth0`, as `ip` prints it.
    pub fn mac(self) -> &'static str {
        match self {
            Self::D1 => "02:00:00:00:01:01",
            Self::D2 => "02:00:00:00:01:02",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::D1 => 0,
            Self::D2 => 1,
        }
    }
}

impl fmt::Display for Director {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the bed's lvs.cf says; [`Default`] gives the usual pair.
#[derive(Clone, Debug)]
pub struct PairConfig {
    /// Forwarding method.
    pub routing: Routing,
    /// `keepalive`, seconds (sub-second values are Pulse's extension).
    pub keepalive: f64,
    /// `deadtime`, seconds.
    pub deadtime: f64,
    /// Generate a key with `pulsectl key generate` and set `heartbeat_key`.
    pub heartbeat_key: bool,
    /// `syncdaemon = 1`.
    pub syncdaemon: bool,
    /// The virtual service's `scheduler`.
    pub scheduler: String,
    /// The weights of rs1..rs3.
    pub weights: [u32; 3],
    /// The virtual service's `timeout` (seconds between checks).
    pub timeout: u32,
    /// The virtual service's `reentry`.
    pub reentry: u32,
    /// The health check.
    pub check: Check,
}

impl Default for PairConfig {
    fn default() -> Self {
        Self {
            routing: Routing::Direct,
            keepalive: 0.2,
            deadtime: 0.6,
            heartbeat_key: false,
            syncdaemon: false,
            scheduler: "wlc".into(),
            weights: [1, 1, 1],
            timeout: 1,
            reentry: 1,
            check: Check::Web,
        }
    }
}

impl PairConfig {
    /// The real servers' addresses.
    pub fn server_addrs(&self) -> [&'static str; 3] {
        match self.routing {
            Routing::Direct => ["10.0.0.21", "10.0.0.22", "10.0.0.23"],
            Routing::Nat => ["10.0.1.21", "10.0.1.22", "10.0.1.23"],
        }
    }

    /// The lvs.cf text (`key` is the heartbeat key file, when there is one).
    pub fn lvs_cf(&self, key: Option<&Path>) -> String {
        let mut s = String::new();
        let mut line = |l: &str| {
            s.push_str(l);
            s.push('\n');
        };
        line("serial_no = 1");
        line("primary = 10.0.0.11");
        line("service = lvs");
        line("backup_active = 1");
        line("backup = 10.0.0.12");
        line("heartbeat = 1");
        line("heartbeat_port = 539");
        line(&format!("keepalive = {}", self.keepalive));
        line(&format!("deadtime = {}", self.deadtime));
        match self.routing {
            Routing::Direct => line("network = direct"),
            Routing::Nat => {
                line("network = nat");
                line(&format!("nat_router = {NAT_ROUTER} eth1:1"));
            }
        }
        line(&format!("syncdaemon = {}", u8::from(self.syncdaemon)));
        if let Some(k) = key {
            line(&format!("heartbeat_key = {}", k.display()));
        }
        line("virtual web {");
        line("     active = 1");
        line(&format!("     address = {VIP} eth0:1"));
        line("     vip_nmask = 255.255.255.255");
        line(&format!("     port = {PORT}"));
        if self.check == Check::Web {
            line(r#"     send = "GET / HTTP/1.0\r\n\r\n""#);
            line(r#"     expect = "HTTP""#);
        }
        line(&format!("     scheduler = {}", self.scheduler));
        line("     protocol = tcp");
        line(&format!("     timeout = {}", self.timeout));
        line(&format!("     reentry = {}", self.reentry));
        for ((name, addr), weight) in SERVERS.iter().zip(self.server_addrs()).zip(self.weights) {
            line(&format!("     server {name} {{"));
            line(&format!("         address = {addr}"));
            line("         active = 1");
            line(&format!("         port = {PORT}"));
            line(&format!("         weight = {weight}"));
            line("     }");
        }
        line("}");
        s
    }
}

/// A binary under test: env `var`, else `name` next to the running executable (or one
/// directory up, as cargo lays out test binaries in `deps/`).
pub fn binary(var: &str, name: &str) -> String {
    if let Ok(v) = std::env::var(var) {
        return v;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {name} binary: set {var}"))
        .display()
        .to_string()
}

/// The pair bed; `Drop` tears it down.
#[derive(Debug)]
pub struct PairBed {
    /// The namespace-name prefix.
    pub prefix: String,
    /// What lvs.cf says.
    pub config: PairConfig,
    /// Where lvs.cf, the sockets, state and logs live.
    pub dir: PathBuf,
    pulse: String,
    lvsd: String,
    pulsectl: String,
    pulses: [Option<Child>; 2],
    killed: [bool; 2],
    /// `ip -batch -` in the bridge namespace: pulls a cable within a millisecond (no process
    /// start, which takes up to hundreds of ms under TCG).
    links: Option<(Child, std::process::ChildStdin)>,
    /// rs1..rs3's responders (`None`: stopped by [`stop_server`](Self::stop_server)).
    servers: Vec<Option<Server>>,
}

impl PairBed {
    /// Builds the namespaces, starts the web servers and writes lvs.cf (the directors are
    /// started by [`start`](Self::start)). Binaries: `PULSE_PULSE`, `PULSE_LVSD`,
    /// `PULSE_PULSECTL`.
    pub fn new(config: PairConfig) -> Self {
        let prefix = unique_prefix("pp");
        let dir = std::env::temp_dir().join(format!("pulse-pair-{prefix}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let pulse = binary("PULSE_PULSE", "pulse");
        let mut bed = Self {
            prefix,
            config,
            dir,
            pulse,
            lvsd: binary("PULSE_LVSD", "lvsd"),
            pulsectl: binary("PULSE_PULSECTL", "pulsectl"),
            pulses: [None, None],
            killed: [false, false],
            links: None,
            servers: Vec::new(),
        };
        bed.build_network();
        let mut ipb = Command::new(ip_cmd())
            .args(["-n", &bed.ns("br"), "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ip -batch: {e}"));
        let stdin = ipb.stdin.take().expect("piped stdin");
        bed.links = Some((ipb, stdin));
        for (i, name) in SERVERS.iter().enumerate() {
            let server = serve_http(&bed.ns(&format!("rs{}", i + 1)), name);
            bed.servers.push(Some(server));
        }
        let key = bed.config.heartbeat_key.then(|| {
            let k = bed.dir.join("heartbeat.key");
            let o = Command::new(&bed.pulsectl)
                .args(["key", "generate"])
                .arg(&k)
                .output()
                .unwrap_or_else(|e| panic!("pulsectl key generate: {e}"));
            assert!(
                o.status.success(),
                "pulsectl key generate: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            k
        });
        let cf = bed.config.lvs_cf(key.as_deref());
        let paths = [
            bed.cf(),
            bed.director_cf(Director::D1),
            bed.director_cf(Director::D2),
        ];
        for path in paths {
            std::fs::write(&path, &cf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        bed
    }

    fn build_network(&self) {
        let br = self.ns("br");
        let nat = self.config.routing == Routing::Nat;
        must(&["netns", "add", &br]);
        must(&["-n", &br, "link", "set", "lo", "up"]);
        let bridges: &[&str] = if nat { &["br0", "br1"] } else { &["br0"] };
        for b in bridges {
            must(&["-n", &br, "link", "add", b, "type", "bridge"]);
            must(&["-n", &br, "link", "set", b, "up"]);
        }
        // (namespace suffix, its interface, bridge port name, bridge, address/prefix)
        let mut ports = vec![
            ("d1", "eth0", "d1", "br0", "10.0.0.11/24"),
            ("d2", "eth0", "d2", "br0", "10.0.0.12/24"),
            ("cl", "eth0", "cl", "br0", "10.0.0.50/24"),
        ];
        if nat {
            ports.push(("d1", "eth1", "d1n", "br1", "10.0.1.11/24"));
            ports.push(("d2", "eth1", "d2n", "br1", "10.0.1.12/24"));
        }
        let rs_bridge = if nat { "br1" } else { "br0" };
        let rs_cidrs: Vec<String> = self
            .config
            .server_addrs()
            .iter()
            .map(|a| format!("{a}/24"))
            .collect();
        let rs_names = ["rs1", "rs2", "rs3"];
        for (name, cidr) in rs_names.iter().zip(&rs_cidrs) {
            ports.push((name, "eth0", name, rs_bridge, cidr));
        }
        for s in ["d1", "d2", "cl", "rs1", "rs2", "rs3"] {
            let ns = self.ns(s);
            must(&["netns", "add", &ns]);
            must(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        for (host, ifname, port, bridge, cidr) in ports {
            let ns = self.ns(host);
            must(&[
                "link", "add", ifname, "netns", &ns, "type", "veth", "peer", "name", port, "netns",
                &br,
            ]);
            must(&["-n", &br, "link", "set", port, "master", bridge, "up"]);
            if ifname == "eth0" && (host == "d1" || host == "d2") {
                let d = if host == "d1" {
                    Director::D1
                } else {
                    Director::D2
                };
                must(&["-n", &ns, "link", "set", "eth0", "address", d.mac()]);
            }
            must(&["-n", &ns, "link", "set", ifname, "up"]);
            must(&["-n", &ns, "addr", "add", cidr, "dev", ifname]);
        }
        self.sysctl("cl", "net/ipv4/conf/all/arp_accept", "1");
        self.sysctl("cl", "net/ipv4/conf/eth0/arp_accept", "1");
        for rs in rs_names {
            match self.config.routing {
                Routing::Direct => {
                    must(&[
                        "-n",
                        &self.ns(rs),
                        "addr",
                        "add",
                        &format!("{VIP}/32"),
                        "dev",
                        "lo",
                    ]);
                    for conf in ["all", "eth0"] {
                        self.sysctl(rs, &format!("net/ipv4/conf/{conf}/arp_ignore"), "1");
                        self.sysctl(rs, &format!("net/ipv4/conf/{conf}/arp_announce"), "2");
                    }
                }
                Routing::Nat => {
                    must(&[
                        "-n",
                        &self.ns(rs),
                        "route",
                        "add",
                        "default",
                        "via",
                        NAT_ROUTER,
                    ]);
                    // Learn the new router's MAC from the survivor's gratuitous ARP.
                    self.sysctl(rs, "net/ipv4/conf/all/arp_accept", "1");
                    self.sysctl(rs, "net/ipv4/conf/eth0/arp_accept", "1");
                }
            }
        }
        if nat {
            for d in Director::BOTH {
                self.sysctl(d.name(), "net/ipv4/ip_forward", "1");
            }
        }
    }

    /// The full name of the namespace with suffix `s` (`br`, `d1`, `d2`, `cl`, `rs1`..`rs3`).
    pub fn ns(&self, s: &str) -> String {
        format!("{}{s}", self.prefix)
    }

    /// The bed's lvs.cf as generated (each director reads its own copy of it,
    /// [`director_cf`](Self::director_cf)).
    pub fn cf(&self) -> PathBuf {
        self.dir.join("lvs.cf")
    }

    /// Director `d`'s lvs.cf (`d1.lvs.cf`): written identically for both at the start, edited
    /// separately, as on two hosts.
    pub fn director_cf(&self, d: Director) -> PathBuf {
        self.dir.join(format!("{d}.lvs.cf"))
    }

    /// Director `d`'s pulse control socket.
    pub fn socket(&self, d: Director) -> PathBuf {
        self.dir.join(format!("{d}.sock"))
    }

    /// Director `d`'s lvsd control socket (`pulse --lvsd-socket`: the directors share a file
    /// system).
    pub fn lvsd_socket(&self, d: Director) -> PathBuf {
        self.dir.join(format!("{d}-lvsd.sock"))
    }

    /// Director `d`'s log (pulse's, and the lvsd it starts, which inherits its stderr).
    pub fn log_path(&self, d: Director) -> PathBuf {
        self.dir.join(format!("{d}.log"))
    }

    /// Director `d`'s log so far.
    pub fn log(&self, d: Director) -> String {
        std::fs::read_to_string(self.log_path(d)).unwrap_or_default()
    }

    /// Writes a sysctl (`net/ipv4/...`) inside namespace suffix `s`.
    pub fn sysctl(&self, s: &str, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        let value = value.to_string();
        in_ns(&self.ns(s), move || std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("sysctl {key} in {s}: {e}"));
    }

    /// Runs a command in namespace suffix `s` and waits for it.
    pub fn exec(&self, s: &str, program: &str, args: &[&str]) -> Output {
        Command::new(ip_cmd())
            .args(["netns", "exec", &self.ns(s), program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Starts pulse on both directors (d1 first).
    pub fn start(&mut self) {
        for d in Director::BOTH {
            self.start_director(d);
        }
    }

    /// Starts pulse on director `d` (logging to [`log_path`](Self::log_path), `RUST_LOG=info`).
    pub fn start_director(&mut self, d: Director) {
        assert!(self.pulses[d.index()].is_none(), "{d} runs already");
        let cf = self.director_cf(d).display().to_string();
        let control = self.socket(d).display().to_string();
        let state = self.dir.join(format!("{d}.state")).display().to_string();
        let lvsd_socket = self.lvsd_socket(d).display().to_string();
        let args = vec![
            "-c",
            &cf,
            "--nodaemon",
            "--lvsd",
            &self.lvsd,
            "--control",
            &control,
            "--state-dir",
            &state,
            "--lvsd-socket",
            lvsd_socket.as_str(),
        ];
        let child = spawn_logged(
            &self.ns(d.name()),
            &self.pulse,
            &args,
            &[("RUST_LOG", "info")],
            &self.log_path(d),
        );
        self.pulses[d.index()] = Some(child);
        self.killed[d.index()] = false;
    }

    /// Brings director `d` back after [`kill_director`](Self::kill_director), as a rebooted host
    /// comes back: without the VIPs it held (a reboot forgets them; pulse would remove them at
    /// start, but only after the cable is in, when a stale ARP answer could already go out),
    /// then the cable, then pulse.
    pub fn revive(&mut self, d: Director) {
        let mut vips = vec![VIP];
        if self.config.routing == Routing::Nat {
            vips.push(NAT_ROUTER);
        }
        for v in vips {
            for dev in ["eth0", "eth1"] {
                let (ns, cidr) = (self.ns(d.name()), format!("{v}/32"));
                let _ = ip(&["-n", &ns, "addr", "del", &cidr, "dev", dev]);
            }
        }
        self.set_link(d, true);
        self.start_director(d);
    }

    /// pulse's pid on director `d`, while it runs.
    pub fn pulse_pid(&self, d: Director) -> Option<u32> {
        self.pulses[d.index()].as_ref().map(Child::id)
    }

    /// Does director `d` hold the VIP?
    pub fn has_vip(&self, d: Director) -> bool {
        let o = ip(&["-n", &self.ns(d.name()), "-o", "addr", "show", "to", VIP]);
        !String::from_utf8_lossy(&o.stdout).trim().is_empty()
    }

    /// The director that holds the VIP, if exactly one live director does (a killed one keeps
    /// its addresses but is cut off).
    pub fn active(&self) -> Option<Director> {
        let holders: Vec<Director> = Director::BOTH
            .into_iter()
            .filter(|d| !self.killed[d.index()] && self.has_vip(*d))
            .collect();
        match holders[..] {
            [d] => Some(d),
            _ => None,
        }
    }

    /// `ipvsadm -Ln` in director `d`'s namespace.
    pub fn ipvsadm(&self, d: Director) -> String {
        self.ipvsadm_with(d, &["-Ln"])
    }

    /// `ipvsadm ARGS` in director `d`'s namespace (e.g. `-Lnc`: the connection table).
    pub fn ipvsadm_with(&self, d: Director, args: &[&str]) -> String {
        let o = self.exec(d.name(), "ipvsadm", args);
        assert!(
            o.status.success(),
            "ipvsadm {args:?} on {d}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Stops real server `name`'s responder (`rs1`..`rs3`): its port 80 then refuses
    /// connections (its line sessions end too).
    pub fn stop_server(&mut self, name: &str) {
        let i = SERVERS
            .iter()
            .position(|s| *s == name)
            .unwrap_or_else(|| panic!("no real server {name}"));
        let server = self.servers[i]
            .take()
            .unwrap_or_else(|| panic!("{name} is stopped already"));
        drop(server);
    }

    /// Sends SIGHUP to director `d`'s pulse: it rereads its lvs.cf and has its lvsd reload.
    pub fn reload(&self, d: Director) {
        let pid = self
            .pulse_pid(d)
            .unwrap_or_else(|| panic!("{d} does not run"));
        signal(pid, nix::sys::signal::Signal::SIGHUP);
    }

    /// Director `d`'s IPVS table without the counters: service lines, then each service's real
    /// servers as `-> ADDR:PORT FORWARD WEIGHT`, sorted.
    pub fn table(&self, d: Director) -> Vec<String> {
        normalize_table(&self.ipvsadm(d))
    }

    /// Waits until exactly one director holds the VIP and its IPVS table has the virtual
    /// service with all three real servers; returns it.
    pub fn wait_active(&self, limit: Duration) -> Director {
        let mut active = None;
        let ok = wait_for(limit, || {
            active = self.active();
            active
                .is_some_and(|d| self.table(d).iter().filter(|l| l.starts_with("->")).count() == 3)
        });
        match (ok, active) {
            (Some(_), Some(d)) => d,
            _ => panic!(
                "no director became active with a programmed table within {limit:?}\n{}",
                self.dump()
            ),
        }
    }

    /// A dead host: takes director `d`'s bridge ports down, then SIGKILLs its pulse and lvsd
    /// (its child). The cable goes first: until the ports are down the director's kernel would
    /// go on forwarding (IPVS needs no process), and under TCG that can take hundreds of ms;
    /// with pulse silenced only after it, the partner's deadtime starts when the host is gone.
    pub fn kill_director(&mut self, d: Director) {
        let mut child = self.pulses[d.index()]
            .take()
            .unwrap_or_else(|| panic!("{d} does not run"));
        let pid = child.id();
        self.set_link(d, false);
        for p in std::iter::once(pid).chain(children(pid)) {
            sigkill(p);
        }
        let _ = child.wait();
        self.killed[d.index()] = true;
    }

    /// Takes director `d`'s bridge ports down (cable pulled) or up.
    pub fn set_link(&mut self, d: Director, up: bool) {
        let mut ports = vec![d.name().to_string()];
        if self.config.routing == Routing::Nat {
            ports.push(format!("{d}n"));
        }
        let state = if up { "up" } else { "down" };
        let cmds: String = ports
            .iter()
            .map(|p| format!("link set {p} {state}\n"))
            .collect();
        let sent = self.links.as_mut().is_some_and(|(_, stdin)| {
            stdin.write_all(cmds.as_bytes()).is_ok() && stdin.flush().is_ok()
        });
        if !sent {
            for p in &ports {
                must(&["-n", &self.ns("br"), "link", "set", p, state]);
            }
        }
        // `ip -batch` acts as it reads; wait until the ports show the state.
        let ok = wait_for(Duration::from_secs(10), || {
            ports.iter().all(|p| {
                let o = ip(&["-n", &self.ns("br"), "-o", "link", "show", p]);
                let text = String::from_utf8_lossy(&o.stdout);
                let is_up = text
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .is_some_and(|(flags, _)| flags.split(',').any(|f| f == "UP"));
                is_up == up
            })
        });
        assert!(ok.is_some(), "{d}'s ports did not go {state}");
    }

    /// `pulsectl ARGS --socket S` for director `d` (`status` also gets `--lvsd-socket`).
    pub fn pulsectl(&self, d: Director, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.pulsectl);
        cmd.args(args).arg("--socket").arg(self.socket(d));
        if args.first() == Some(&"status") {
            cmd.arg("--lvsd-socket").arg(self.lvsd_socket(d));
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.pulsectl))
    }

    /// `pulsectl config set DIRECTOR_CF KEY VALUE`: edits director `d`'s lvs.cf (and bumps
    /// `serial_no`); panics if pulsectl refuses.
    pub fn config_set(&self, d: Director, key: &str, value: &str) {
        let o = Command::new(&self.pulsectl)
            .args(["config", "set"])
            .arg(self.director_cf(d))
            .args([key, value])
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.pulsectl));
        assert!(
            o.status.success(),
            "pulsectl config set {key} {value} on {d}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// The client's neighbour-table MAC for the VIP, if any.
    pub fn client_vip_mac(&self) -> Option<String> {
        let o = ip(&["-n", &self.ns("cl"), "neigh", "show", VIP]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut words = text.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_string)
    }

    /// The lines of director `d`'s log containing `needle` with their timestamps (lines
    /// without one are skipped).
    pub fn log_lines(&self, d: Director, needle: &str) -> Vec<(SystemTime, String)> {
        self.log(d)
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| {
                let (stamp, rest) = l.split_once(' ')?;
                Some((parse_rfc3339(stamp)?, rest.trim().to_string()))
            })
            .collect()
    }

    /// Adds to `timeline` the first line of director `d`'s log at or after `since` containing
    /// each needle, labelled `d: LINE`.
    pub fn log_events(
        &self,
        timeline: &mut Timeline,
        d: Director,
        since: SystemTime,
        needles: &[&str],
    ) {
        for n in needles {
            if let Some((t, line)) = self.log_lines(d, n).into_iter().find(|(t, _)| *t >= since) {
                let line = line.trim_start_matches("INFO").trim();
                timeline.add_at(t, format!("{d} log: {line}"));
            }
        }
    }

    /// Both directors' logs and tables, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for d in Director::BOTH {
            s.push_str(&format!(
                "--- {d} log ({}):\n{}",
                self.log_path(d).display(),
                self.log(d)
            ));
            let o = self.exec(d.name(), "ipvsadm", &["-Ln"]);
            s.push_str(&format!(
                "--- {d} ipvsadm -Ln:\n{}",
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        s
    }
}

/// What [`PairBed::crash`] saw: the timeline of a failover.
#[derive(Clone, Debug)]
pub struct Failover {
    /// The director killed.
    pub killed: Director,
    /// The other one.
    pub survivor: Director,
    /// When it was killed.
    pub killed_at: SystemTime,
    /// The events.
    pub timeline: Timeline,
}

impl PairBed {
    /// What a director's log says when it takes over: the first line after a given time
    /// containing each of these is a timeline event ([`log_events`](Self::log_events)).
    pub fn takeover_log_needles(&self) -> Vec<String> {
        let mut n: Vec<String> = [
            "partner silent for deadtime",
            "activating lvs",
            "claimed VIP",
            "started lvsd",
            "starting virtual service",
            "ipvs table updated",
        ]
        .map(String::from)
        .to_vec();
        if self.config.routing == Routing::Nat {
            n.push(format!("claimed VIP vip={NAT_ROUTER}"));
        }
        for a in self.config.server_addrs() {
            n.push(format!("making {a}:{PORT} available"));
        }
        n
    }

    /// Kills the active director `d` ([`kill_director`](Self::kill_director)) and watches the
    /// other take over for `watch`: polls the client's neighbour entry for the VIP (the
    /// gratuitous ARP arrived; the one thing no log says) and adds the survivor's log lines
    /// ([`takeover_log_needles`](Self::takeover_log_needles)). Polling starts processes, which
    /// is slow under TCG, so it is kept to that one.
    pub fn crash(&mut self, d: Director, watch: Duration) -> Failover {
        let survivor = d.other();
        let mut timeline = Timeline::new();
        let killed_at = timeline.add(format!(
            "{d} dies: its cable pulled (ip -batch), then SIGKILL of its pulse and lvsd"
        ));
        self.kill_director(d);
        timeline.add(format!(
            "{d}'s ports are down and its processes killed (polled)"
        ));
        let deadline = Instant::now() + watch;
        let mut arp = false;
        while Instant::now() < deadline {
            if !arp && self.client_vip_mac().as_deref() == Some(survivor.mac()) {
                arp = true;
                timeline.add(format!(
                    "client's ARP entry for the VIP -> {survivor}'s MAC (gratuitous ARP; polled)"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let needles = self.takeover_log_needles();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        self.log_events(&mut timeline, survivor, killed_at, &needles);
        Failover {
            killed: d,
            survivor,
            killed_at,
            timeline,
        }
    }
}

impl Failover {
    /// Adds the client's view: the first failed request, the first good response after the
    /// kill, and the outage (the longest stretch of failures after the kill). Returns the
    /// outage, if there was one.
    pub fn add_traffic(&mut self, records: &[Record]) -> Option<Outage> {
        let after: Vec<Record> = records
            .iter()
            .filter(|r| r.sent >= self.killed_at)
            .cloned()
            .collect();
        // A request sent just before the kill may fail too: include the one before.
        let from = records
            .iter()
            .rposition(|r| r.sent < self.killed_at)
            .unwrap_or(0);
        let window = &records[from..];
        let end = records.last().map_or(self.killed_at, |r| r.sent);
        let outage = longest_outage(window);
        if let Some(o) = &outage {
            self.timeline
                .add_at(o.first_failure, "client: first failed request");
            if let Some(ok) = o.next_ok {
                let server = records
                    .iter()
                    .find(|r| r.sent == ok)
                    .and_then(|r| r.result.clone().ok())
                    .unwrap_or_default();
                self.timeline.add_at(
                    ok,
                    format!(
                        "client: first good response (via {server}) after {} failed; outage {} ms (first failure to first success; {} ms from the last success before)",
                        o.failures,
                        o.duration(end).as_millis(),
                        o.upper_bound(end).as_millis()
                    ),
                );
            } else {
                self.timeline.add_at(end, "client: no good response since");
            }
        } else if let Some(r) = first_ok_after(&after, self.killed_at) {
            self.timeline.add_at(
                r.sent,
                format!(
                    "client: first response after the kill (via {}); no request failed",
                    r.result.clone().unwrap_or_default()
                ),
            );
        }
        outage
    }
}

/// SIGKILL, at once.
fn sigkill(pid: u32) {
    signal(pid, nix::sys::signal::Signal::SIGKILL);
}

/// Sends `sig` at once (no `kill` process, whose start takes long under TCG).
fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

impl Drop for PairBed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("pair bed {} at failure:\n{}", self.prefix, self.dump());
        }
        for c in self.pulses.iter_mut().flatten() {
            for pid in children(c.id()) {
                sigkill(pid);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.servers.clear();
        if let Some((mut ipb, stdin)) = self.links.take() {
            drop(stdin);
            let _ = ipb.kill();
            let _ = ipb.wait();
        }
        for s in ["cl", "rs3", "rs2", "rs1", "d2", "d1", "br"] {
            crate::netns::kill_all_in(&self.ns(s));
            let _ = ip(&["netns", "del", &self.ns(s)]);
        }
        if std::env::var_os("PULSE_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `ipvsadm -Ln` without the counters: service lines as they are, each service's real servers
/// as `-> ADDR:PORT FORWARD WEIGHT`, sorted; headers dropped.
pub fn normalize_table(ipvsadm: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut dests: Vec<String> = Vec::new();
    for l in ipvsadm.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.first() {
            Some(&"TCP") | Some(&"UDP") | Some(&"FWM") => {
                dests.sort();
                out.append(&mut dests);
                out.push(w.join(" "));
            }
            Some(&"->") if w.get(1) != Some(&"RemoteAddress:Port") => {
                dests.push(w.iter().take(4).copied().collect::<Vec<_>>().join(" "));
            }
            _ => {}
        }
    }
    dests.sort();
    out.append(&mut dests);
    out
}

/// A real server's counters in `ipvsadm -Ln` output: (weight, ActiveConn, InActConn) of the
/// destination `addr` (`10.0.0.21:80`), if listed.
pub fn dest_counters(ipvsadm: &str, addr: &str) -> Option<(u32, u64, u64)> {
    ipvsadm.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            ["->", a, _, weight, active, inact, ..] if a == addr => Some((
                weight.parse().ok()?,
                active.parse().ok()?,
                inact.parse().ok()?,
            )),
            _ => None,
        }
    })
}

/// A web server in namespace `ns` on 0.0.0.0:80 answering every request with `name\n`. A
/// connection whose first bytes are not `GET` is a line session: on a thread of its own, every
/// line (these first bytes included) gets `name\n`, until the client closes or the server
/// stops.
fn serve_http(ns: &str, name: &str) -> Server {
    let body = format!("{name}\n");
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr: SocketAddr = ([0, 0, 0, 0], PORT).into();
    serve_connections(ns, addr, move |mut s, stop| {
        let mut buf = [0u8; 512];
        // A connect-only check sends nothing and closes: read returns 0 at once.
        match s.read(&mut buf) {
            Ok(n) if n > 0 && !buf.starts_with(b"GET") => {
                let (name, stop) = (body.clone(), stop.clone());
                let first = buf[..n].to_vec();
                std::thread::spawn(move || echo_lines(s, &first, &name, &stop));
            }
            Ok(n) if n > 0 => {
                let _ = s.write_all(reply.as_bytes());
            }
            _ => {}
        }
    })
}

/// A line session of [`serve_http`]: `reply` for every newline received (`first`: what the
/// session began with).
fn echo_lines(mut s: TcpStream, first: &[u8], reply: &str, stop: &AtomicBool) {
    let answer = |s: &mut TcpStream, data: &[u8]| {
        let lines = data.iter().filter(|b| **b == b'\n').count();
        s.write_all(reply.repeat(lines).as_bytes())
    };
    if answer(&mut s, first).is_err() {
        return;
    }
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if answer(&mut s, &buf[..n]).is_err() {
                    return;
                }
            }
            // The read timeout: look at `stop` again.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// A long-lived TCP connection from the client to the VIP in the real servers' line mode: each
/// line sent gets the answering server's name back.
#[derive(Debug)]
pub struct Session {
    stream: TcpStream,
    reader: std::io::BufReader<TcpStream>,
    /// The server that answered the first line.
    pub server: String,
}

impl Session {
    /// Opens `n` sessions from the bed's client (sequentially, each with a connect and first
    /// answer timeout of `timeout`); panics if one fails.
    pub fn open(bed: &PairBed, n: usize, timeout: Duration) -> Vec<Self> {
        in_ns(&bed.ns("cl"), move || {
            let to: SocketAddr = (VIP.parse::<std::net::Ipv4Addr>().expect("VIP"), PORT).into();
            (0..n)
                .map(|i| {
                    let stream = TcpStream::connect_timeout(&to, timeout)
                        .unwrap_or_else(|e| panic!("session {i}: connect {to}: {e}"));
                    let reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                    let mut s = Self {
                        stream,
                        reader,
                        server: String::new(),
                    };
                    s.server = s
                        .exchange(timeout)
                        .unwrap_or_else(|e| panic!("session {i}: first line: {e}"));
                    s
                })
                .collect()
        })
    }

    /// Sends one line ([`send`](Self::send)) and waits up to `timeout` for the answer
    /// ([`receive`](Self::receive)).
    pub fn exchange(&mut self, timeout: Duration) -> std::io::Result<String> {
        self.send()?;
        self.receive(timeout)
    }

    /// Sends one line.
    pub fn send(&mut self) -> std::io::Result<()> {
        self.stream.write_all(b"line\n")
    }

    /// Reads one answer line (the server's name) within `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> std::io::Result<String> {
        use std::io::BufRead;
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim().to_string())
    }
}

/// Parses tracing's timestamps: `2026-11-22T04:28:00.123456Z`.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits: String = frac.chars().take(9).collect();
    let nanos = digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(
        UNIX_EPOCH
            + Duration::from_secs(days * 86_400 + hh * 3600 + mm * 60 + ss)
            + Duration::from_nanos(nanos),
    )
}

/// Events on one time axis, printed relative to the first.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    events: Vec<(SystemTime, String)>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `label` now.
    pub fn add(&mut self, label: impl Into<String>) -> SystemTime {
        let now = SystemTime::now();
        self.add_at(now, label);
        now
    }

    /// Records `label` at `t`.
    pub fn add_at(&mut self, t: SystemTime, label: impl Into<String>) {
        self.events.push((t, label.into()));
    }

    /// The events, sorted by time.
    pub fn events(&self) -> Vec<(SystemTime, String)> {
        let mut e = self.events.clone();
        e.sort_by_key(|(t, _)| *t);
        e
    }

    /// Time of the first event whose label contains `needle`.
    pub fn find(&self, needle: &str) -> Option<SystemTime> {
        self.events()
            .into_iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| t)
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events = self.events();
        let Some((t0, _)) = events.first() else {
            return Ok(());
        };
        for (t, label) in &events {
            let ms = t.duration_since(*t0).unwrap_or_default().as_millis();
            writeln!(f, "  +{ms:>6} ms  {label}")?;
        }
        Ok(())
    }
}

/// One request of [`Traffic`].
#[derive(Clone, Debug)]
pub struct Record {
    /// When it was sent.
    pub sent: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// The server that answered, or why none did.
    pub result: Result<String, ErrorKind>,
}

/// A client sending one HTTP GET to the VIP every `interval`, each on a thread of its own
/// (so a lost request does not delay the next), with a connect/read timeout.
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    /// The probes' connect and read timeout.
    pub const TIMEOUT: Duration = Duration::from_millis(200);

    /// Starts sending from the bed's client.
    pub fn start(bed: &PairBed, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let path = format!("/var/run/netns/{}", bed.ns("cl"));
        let (flag, recs) = (stop.clone(), records.clone());
        let thread = std::thread::spawn(move || {
            // Threads spawned from here share this thread's network namespace.
            crate::lvs_bed::enter(&path);
            let to: SocketAddr = (VIP.parse::<std::net::Ipv4Addr>().expect("VIP"), PORT).into();
            let start = Instant::now();
            let mut workers = Vec::new();
            let mut k: u32 = 0;
            while !flag.load(Ordering::Relaxed) {
                let recs = recs.clone();
                workers.push(std::thread::spawn(move || {
                    let sent = SystemTime::now();
                    let t = Instant::now();
                    let result = request(to);
                    let r = Record {
                        sent,
                        took: t.elapsed(),
                        result,
                    };
                    recs.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }));
                workers.retain(|w| !w.is_finished());
                k += 1;
                let next = start + interval * k;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Self {
            stop,
            records,
            thread: Some(thread),
        }
    }

    /// How many requests have finished so far.
    pub fn count(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A copy of the finished requests so far, by time sent.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut r = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        r.sort_by_key(|r| r.sent);
        r
    }

    /// Stops sending, waits for the requests in flight; all records by time sent.
    pub fn stop(mut self) -> Vec<Record> {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One HTTP/1.0 GET; the answering server's name (the body, trimmed).
fn request(to: SocketAddr) -> Result<String, ErrorKind> {
    // A read timeout is `WouldBlock` on Linux: call it what it is.
    let kind = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock => ErrorKind::TimedOut,
        k => k,
    };
    let mut s = TcpStream::connect_timeout(&to, Traffic::TIMEOUT).map_err(kind)?;
    s.set_read_timeout(Some(Traffic::TIMEOUT)).map_err(kind)?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(kind)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(kind)?;
    if buf.is_empty() {
        // Connected, but the server closed without an answer (the request was lost).
        return Err(ErrorKind::UnexpectedEof);
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ErrorKind::InvalidData)?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(ErrorKind::InvalidData);
    }
    Ok(body.trim().to_string())
}

/// A stretch of failed requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The last success before it (if any).
    pub last_ok: Option<SystemTime>,
    /// The first failed request.
    pub first_failure: SystemTime,
    /// The next successful request (`None`: none came).
    pub next_ok: Option<SystemTime>,
    /// How many requests failed.
    pub failures: usize,
}

impl Outage {
    /// From the first failed request to the next successful one (to `end` if none came).
    pub fn duration(&self, end: SystemTime) -> Duration {
        self.next_ok
            .unwrap_or(end)
            .duration_since(self.first_failure)
            .unwrap_or_default()
    }

    /// From the last success before it to the next one: an upper bound of the service gap.
    pub fn upper_bound(&self, end: SystemTime) -> Duration {
        self.next_ok
            .unwrap_or(end)
            .duration_since(self.last_ok.unwrap_or(self.first_failure))
            .unwrap_or_default()
    }
}

/// Every stretch of failures in `records` (sorted by time sent).
pub fn outages(records: &[Record]) -> Vec<Outage> {
    let mut out: Vec<Outage> = Vec::new();
    let mut last_ok = None;
    let mut current: Option<Outage> = None;
    for r in records {
        match (&r.result, current.as_mut()) {
            (Ok(_), Some(o)) => {
                o.next_ok = Some(r.sent);
                out.extend(current.take());
                last_ok = Some(r.sent);
            }
            (Ok(_), None) => last_ok = Some(r.sent),
            (Err(_), Some(o)) => o.failures += 1,
            (Err(_), None) => {
                current = Some(Outage {
                    last_ok,
                    first_failure: r.sent,
                    next_ok: None,
                    failures: 1,
                })
            }
        }
    }
    out.extend(current);
    out
}

/// The longest stretch of failures in `records` (by [`Outage::duration`]).
pub fn longest_outage(records: &[Record]) -> Option<Outage> {
    let end = records.last().map(|r| r.sent)?;
    outages(records).into_iter().max_by_key(|o| o.duration(end))
}

/// How many requests each server answered.
pub fn per_server(records: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Ok(s) = &r.result {
            *m.entry(s.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// How many requests failed, by kind.
pub fn failures(records: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Err(e) = &r.result {
            *m.entry(format!("{e:?}")).or_insert(0) += 1;
        }
    }
    m
}

/// The first successful request sent at or after `t`.
pub fn first_ok_after(records: &[Record], t: SystemTime) -> Option<&Record> {
    records.iter().find(|r| r.sent >= t && r.result.is_ok())
}

/// Milliseconds between two times (0 if `b` is before `a`).
pub fn ms_between(a: SystemTime, b: SystemTime) -> u128 {
    b.duration_since(a).unwrap_or_default().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        let t = parse_rfc3339("1970-01-02T00:00:01.5Z").expect("parses");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after"),
            Duration::from_millis(86_401_500)
        );
        let t = parse_rfc3339("2026-11-22T04:28:00.123456Z").expect("parses");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after").as_micros(),
            1_795_321_680_123_456
        );
        assert!(parse_rfc3339("INFO").is_none());
    }

    #[test]
    fn table_is_normalized() {
        let t = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  10.0.0.100:80 wrr\n  -> 10.0.0.23:80                 Route   3      0          5\n  -> 10.0.0.21:80                 Route   1      1          0\n";
        assert_eq!(
            normalize_table(t),
            [
                "TCP 10.0.0.100:80 wrr",
                "-> 10.0.0.21:80 Route 1",
                "-> 10.0.0.23:80 Route 3"
            ]
        );
    }

    #[test]
    fn dest_counters_are_read() {
        let t = "TCP  10.0.0.100:80 wlc\n  -> 10.0.0.21:80                 Route   5      1          84\n";
        assert_eq!(dest_counters(t, "10.0.0.21:80"), Some((5, 1, 84)));
        assert_eq!(dest_counters(t, "10.0.0.22:80"), None);
    }

    #[test]
    fn outage_spans_failures() {
        let t0 = UNIX_EPOCH;
        let rec = |ms: u64, ok: bool| Record {
            sent: t0 + Duration::from_millis(ms),
            took: Duration::ZERO,
            result: if ok {
                Ok("rs1".into())
            } else {
                Err(ErrorKind::TimedOut)
            },
        };
        let r = [rec(0, true), rec(10, false), rec(20, false), rec(30, true)];
        let o = longest_outage(&r).expect("one");
        assert_eq!(o.failures, 2);
        assert_eq!(o.duration(t0), Duration::from_millis(20));
        assert_eq!(o.upper_bound(t0), Duration::from_millis(30));
        assert_eq!(per_server(&r)["rs1"], 2);
    }
}
