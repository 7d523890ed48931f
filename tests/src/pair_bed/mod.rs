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

mod config;
mod failover;
mod servers;
mod table;
mod timeline;
mod traffic;

pub use config::{Check, Director, PairConfig, Routing, binary};
pub use failover::Failover;
pub use servers::Session;
pub use table::{dest_counters, normalize_table};
pub use timeline::{Timeline, log_lines, parse_rfc3339};
pub use traffic::{
    Outage, Record, Traffic, failures, first_ok_after, longest_outage, ms_between, outages,
    per_server,
};

use crate::lvs_bed::{Server, in_ns};
use crate::netns::{Topology, children, ip, ip_cmd, must, spawn_logged, wait_for};
use servers::serve_http;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, SystemTime};

/// The virtual IP the pair serves.
pub const VIP: &str = "10.0.0.100";
/// The virtual IP of an IPv6 pair ([`PairConfig::ipv6`]).
pub const VIP6: &str = "2001:db8::100";
/// The router between the client's subnet and the real servers' of [`Routing::Tunnel`]
/// (its address on the client's subnet).
pub const TUN_ROUTER: &str = "10.0.0.1";
/// The virtual service's port.
pub const PORT: u16 = 80;
/// The floating NAT router address of [`Routing::Nat`] (on the real servers' subnet).
pub const NAT_ROUTER: &str = "10.0.1.254";
/// The names of the real servers (also what each one answers).
pub const SERVERS: [&str; 3] = ["rs1", "rs2", "rs3"];

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
    /// Declared last: dropped after the processes are killed.
    topology: Topology,
}

impl PairBed {
    /// Builds the namespaces, starts the web servers and writes lvs.cf (the directors are
    /// started by [`start`](Self::start)). Binaries: `PULSE_PULSE`, `PULSE_LVSD`,
    /// `PULSE_PULSECTL`.
    pub fn new(config: PairConfig) -> Self {
        let topology = Topology::new("pp");
        let prefix = topology.prefix.clone();
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
            topology,
        };
        bed.build_network();
        if bed.config.ipv6 {
            bed.topology.wait_for_dad(Duration::from_secs(10));
        }
        let mut ipb = Command::new(ip_cmd())
            .args(["-n", &bed.ns("br"), "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ip -batch: {e}"));
        let stdin = ipb.stdin.take().expect("piped stdin");
        bed.links = Some((ipb, stdin));
        for (i, name) in SERVERS.iter().enumerate() {
            let server = serve_http(&bed.ns(&format!("rs{}", i + 1)), name, bed.config.ipv6);
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

    fn build_network(&mut self) {
        let routing = self.config.routing;
        let nat = routing == Routing::Nat;
        let tun = routing == Routing::Tunnel;
        let t = &mut self.topology;
        t.namespace("br");
        let bridges: &[&str] = if nat || tun {
            &["br0", "br1"]
        } else {
            &["br0"]
        };
        for b in bridges {
            t.bridge("br", b);
        }
        // (namespace suffix, its interface, bridge port name, bridge, address/prefix)
        let mut ports = vec![
            ("d1", "eth0", "d1", "br0", "10.0.0.11/24".to_string()),
            ("d2", "eth0", "d2", "br0", "10.0.0.12/24".to_string()),
            ("cl", "eth0", "cl", "br0", "10.0.0.50/24".to_string()),
        ];
        if nat {
            ports.push(("d1", "eth1", "d1n", "br1", "10.0.1.11/24".to_string()));
            ports.push(("d2", "eth1", "d2n", "br1", "10.0.1.12/24".to_string()));
        }
        if tun {
            ports.push(("rt", "eth0", "rt", "br0", format!("{TUN_ROUTER}/24")));
            ports.push(("rt", "eth1", "rtn", "br1", "10.0.2.1/24".to_string()));
        }
        let rs_bridge = if nat || tun { "br1" } else { "br0" };
        let rs_names = ["rs1", "rs2", "rs3"];
        let prefix = if self.config.ipv6 { 64 } else { 24 };
        for (name, a) in rs_names.iter().zip(self.config.server_addrs()) {
            ports.push((name, "eth0", name, rs_bridge, format!("{a}/{prefix}")));
        }
        let mut hosts = vec!["d1", "d2", "cl", "rs1", "rs2", "rs3"];
        if tun {
            hosts.push("rt");
        }
        for s in hosts {
            t.namespace(s);
        }
        for (host, ifname, port, bridge, cidr) in ports {
            let mac = match (host, ifname) {
                ("d1", "eth0") => Some(Director::D1.mac()),
                ("d2", "eth0") => Some(Director::D2.mac()),
                _ => None,
            };
            // An IPv6 real server gets no IPv4 address; the others are on IPv4.
            let v6_rs = self.config.ipv6 && host.starts_with("rs");
            let addrs: Vec<&str> = if v6_rs { vec![] } else { vec![&cidr] };
            t.plug(host, ifname, port, ("br", bridge), mac, &addrs);
            if v6_rs {
                must(&[
                    "-n",
                    &t.ns(host),
                    "-6",
                    "addr",
                    "add",
                    &cidr,
                    "dev",
                    ifname,
                    "nodad",
                ]);
            }
        }
        if self.config.ipv6 {
            // The directors and the client on the IPv6 LAN too (nodad: usable at once).
            for (host, a) in [
                ("d1", "2001:db8::11"),
                ("d2", "2001:db8::12"),
                ("cl", "2001:db8::50"),
            ] {
                let cidr = format!("{a}/64");
                must(&[
                    "-n",
                    &self.ns(host),
                    "-6",
                    "addr",
                    "add",
                    &cidr,
                    "dev",
                    "eth0",
                    "nodad",
                ]);
            }
        }
        self.sysctl("cl", "net/ipv4/conf/all/arp_accept", "1");
        self.sysctl("cl", "net/ipv4/conf/eth0/arp_accept", "1");
        for rs in rs_names {
            match routing {
                Routing::Direct if self.config.ipv6 => {
                    // The ARP problem has no IPv6 twin: Linux answers a neighbour solicitation
                    // only for addresses on the interface it arrived on (`ndisc_recv_ns`), so
                    // the VIP on `lo` stays silent on `eth0` without any sysctl.
                    let vip = format!("{VIP6}/128");
                    must(&[
                        "-n",
                        &self.ns(rs),
                        "-6",
                        "addr",
                        "add",
                        &vip,
                        "dev",
                        "lo",
                        "nodad",
                    ]);
                }
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
                Routing::Tunnel => {
                    // docs/lvs.cf.md "The real servers": the VIP on the IP-in-IP device (the
                    // `ipip` module's catch-all `tunl0`), answers straight to the client via
                    // the router, and reverse-path filtering off for the tunnel: a packet from
                    // the client arrives on `tunl0`, while the route back to it leaves by
                    // `eth0`, so strict `rp_filter` (1) would drop it (the kernel takes the
                    // larger of `all` and the device's value, so both go to 0).
                    let ns = self.ns(rs);
                    let has_tunl0 = ip(&["-n", &ns, "link", "show", "tunl0"]).status.success();
                    if !has_tunl0 {
                        must(&["-n", &ns, "tunnel", "add", "tunl0", "mode", "ipip"]);
                    }
                    must(&["-n", &ns, "link", "set", "tunl0", "up"]);
                    must(&[
                        "-n",
                        &ns,
                        "addr",
                        "add",
                        &format!("{VIP}/32"),
                        "dev",
                        "tunl0",
                    ]);
                    must(&["-n", &ns, "route", "add", "default", "via", "10.0.2.1"]);
                    for conf in ["all", "tunl0"] {
                        self.sysctl(rs, &format!("net/ipv4/conf/{conf}/rp_filter"), "0");
                    }
                }
            }
        }
        if nat {
            for d in Director::BOTH {
                self.sysctl(d.name(), "net/ipv4/ip_forward", "1");
            }
        }
        if tun {
            // The directors reach the real servers' subnet through the router; so do the
            // servers' answers to the client, whose source is the VIP: the router must not
            // drop them as spoofed (its rp_filter off; a real router's anti-spoofing filter
            // must let the VIP out of the servers' network too).
            for d in Director::BOTH {
                must(&[
                    "-n",
                    &self.ns(d.name()),
                    "route",
                    "add",
                    "10.0.2.0/24",
                    "via",
                    TUN_ROUTER,
                ]);
            }
            self.sysctl("rt", "net/ipv4/ip_forward", "1");
            for conf in ["all", "eth0", "eth1"] {
                self.sysctl("rt", &format!("net/ipv4/conf/{conf}/rp_filter"), "0");
            }
        }
    }

    /// The full name of the namespace with suffix `s` (`br`, `d1`, `d2`, `cl`, `rs1`..`rs3`).
    pub fn ns(&self, s: &str) -> String {
        self.topology.ns(s)
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
        let mut vips = vec![self.config.vip()];
        if self.config.routing == Routing::Nat {
            vips.push(NAT_ROUTER);
        }
        for v in vips {
            for dev in ["eth0", "eth1"] {
                let len = if v.contains(':') { 128 } else { 32 };
                let (ns, cidr) = (self.ns(d.name()), format!("{v}/{len}"));
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
        let o = ip(&[
            "-n",
            &self.ns(d.name()),
            "-o",
            "addr",
            "show",
            "to",
            self.config.vip(),
        ]);
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

    /// The client's neighbour-table MAC for the VIP (ARP, or IPv6 neighbour discovery), if any.
    pub fn client_vip_mac(&self) -> Option<String> {
        let o = ip(&["-n", &self.ns("cl"), "neigh", "show", self.config.vip()]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let mut words = text.split_whitespace();
        words.find(|w| *w == "lladdr")?;
        words.next().map(str::to_string)
    }

    /// The lines of director `d`'s log containing `needle` with their timestamps (lines
    /// without one are skipped).
    pub fn log_lines(&self, d: Director, needle: &str) -> Vec<(SystemTime, String)> {
        timeline::log_lines(&self.log(d), needle)
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
        timeline.add_log_events(&d.to_string(), &self.log(d), since, needles);
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
            let o = self.exec(d.name(), "ipvsadm", &["-Ln", "--stats"]);
            s.push_str(&format!(
                "--- {d} ipvsadm -Ln --stats:\n{}",
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        // Each host's neighbour table: who a packet would be sent to, and which entries never
        // resolved (the first thing to look at when some requests time out).
        for host in ["d1", "d2", "cl", "rs1", "rs2", "rs3"] {
            let o = self.exec(host, "ip", &["neigh", "show", "nud", "all"]);
            s.push_str(&format!(
                "--- {host} neighbours (both families):\n{}",
                String::from_utf8_lossy(&o.stdout)
            ));
        }
        s
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
        // The topology then kills what is left in the namespaces and deletes them.
        if std::env::var_os("PULSE_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::time::UNIX_EPOCH;

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
