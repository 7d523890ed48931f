//! What a pair bed runs: forwarding, checks, each director's lvs.cf and programs.

use super::*;
use std::fmt;
use std::path::Path;
/// How the directors forward to the real servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Direct routing: real servers on the client's subnet with the VIP on `lo`.
    Direct,
    /// Masquerading: real servers on a subnet of their own behind the floating `nat_router`.
    Nat,
    /// IP-in-IP tunnelling (LVS-TUN): real servers on a subnet of their own behind a router,
    /// each with the VIP on its `tunl0` and `rp_filter` relaxed; they answer the client
    /// directly, through the router.
    Tunnel,
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

    pub(super) fn index(self) -> usize {
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
    /// An IPv6 service: the VIP [`VIP6`] and real servers 2001:db8::21..23 (with
    /// [`Routing::Direct`] only; heartbeats stay on IPv4).
    pub ipv6: bool,
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
            ipv6: false,
        }
    }
}

impl PairConfig {
    /// The real servers' addresses.
    pub fn server_addrs(&self) -> [&'static str; 3] {
        match self.routing {
            Routing::Direct if self.ipv6 => ["2001:db8::21", "2001:db8::22", "2001:db8::23"],
            Routing::Direct => ["10.0.0.21", "10.0.0.22", "10.0.0.23"],
            Routing::Nat => ["10.0.1.21", "10.0.1.22", "10.0.1.23"],
            Routing::Tunnel => ["10.0.2.21", "10.0.2.22", "10.0.2.23"],
        }
    }

    /// The virtual IP: [`VIP`], or [`VIP6`] for an IPv6 service.
    pub fn vip(&self) -> &'static str {
        if self.ipv6 { VIP6 } else { VIP }
    }

    /// The VIP and port as a socket address.
    pub fn vip_port(&self) -> std::net::SocketAddr {
        let ip: std::net::IpAddr = self.vip().parse().expect("VIP");
        (ip, PORT).into()
    }

    /// A real server's `ADDR:PORT` as `ipvsadm -Ln` and lvsd print it (`[v6]:port`).
    pub fn server_port(&self, addr: &str) -> String {
        if addr.contains(':') {
            format!("[{addr}]:{PORT}")
        } else {
            format!("{addr}:{PORT}")
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
            Routing::Tunnel => line("network = tunnel"),
        }
        line(&format!("syncdaemon = {}", u8::from(self.syncdaemon)));
        if let Some(k) = key {
            line(&format!("heartbeat_key = {}", k.display()));
        }
        line("virtual web {");
        line("     active = 1");
        line(&format!("     address = {} eth0:1", self.vip()));
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
