//! Large generated lvs.cf files for benchmarks, in the format piranha's GUI writes (global keys,
//! then `virtual` blocks with their `server` blocks). Deterministic: the same shape always gives
//! the same bytes.

use std::fmt::Write;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Number of `virtual` blocks.
    pub virtuals: usize,
    /// Number of `server` blocks over all virtuals (spread evenly: each virtual gets
    /// `servers / virtuals`, the first `servers % virtuals` one more).
    pub servers: usize,
    /// Virtual ports, used in turn (a port 53 virtual is UDP).
    pub ports: Vec<u16>,
    /// Check period (`timeout`).
    pub timeout: u32,
    /// Real-server addresses: `None` gives every server its own address (10.100.0.1 onwards);
    /// `Some(pool)` takes server `i` of each virtual from `pool[i % pool.len()]` (address and
    /// port), so a handful of listeners answer every check.
    pub pool: Option<Vec<(String, u16)>>,
    /// Added to the virtual's index to make its VIP ([`Shape::vip`]), to keep VIPs out of a
    /// test bed's own addresses.
    pub vip_offset: usize,
}

impl Shape {
    /// The largest published keepalived configuration's size: 2,277 virtuals, 37,205 servers.
    pub fn large() -> Self {
        Self {
            virtuals: 2_277,
            servers: 37_205,
            ports: vec![80, 443, 8080, 25, 53],
            timeout: 6,
            pool: None,
            vip_offset: 0,
        }
    }

    /// Servers in virtual `v`.
    pub fn servers_in(&self, v: usize) -> usize {
        self.servers / self.virtuals + usize::from(v < self.servers % self.virtuals)
    }

    /// The VIP of virtual `v`: 10.0.x.y, distinct per virtual.
    pub fn vip(v: usize) -> String {
        format!("10.{}.{}.{}", v / 65_536, (v / 254) % 256, v % 254 + 1)
    }

    /// The lvs.cf text.
    pub fn generate(&self) -> String {
        let mut s = String::with_capacity(self.servers * 140 + self.virtuals * 400);
        s.push_str(
            "serial_no = 31\n\
             primary = 172.16.0.2\n\
             primary_private = 172.16.2.2\n\
             service = lvs\n\
             backup_active = 1\n\
             backup = 172.16.0.3\n\
             backup_private = 172.16.2.3\n\
             heartbeat = 1\n\
             heartbeat_port = 539\n\
             keepalive = 2\n\
             deadtime = 6\n\
             network = direct\n\
             debug_level = NONE\n\
             monitor_links = 0\n\
             syncdaemon = 0\n",
        );
        let schedulers = ["wlc", "lc", "rr", "wrr", "sh", "dh", "lblc"];
        let mut server = 0usize;
        for v in 0..self.virtuals {
            let vip = Self::vip(v + self.vip_offset);
            let port = self.ports[v % self.ports.len()];
            let protocol = if port == 53 { "udp" } else { "tcp" };
            let _ = write!(
                s,
                "virtual VS{v:04} {{\n     \
                 active = 1\n     \
                 address = {vip} eth0:{alias}\n     \
                 vip_nmask = 255.255.255.255\n     \
                 port = {port}\n     \
                 send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n     \
                 expect = \"HTTP\"\n     \
                 use_regex = 0\n     \
                 load_monitor = none\n     \
                 scheduler = {sched}\n     \
                 protocol = {protocol}\n     \
                 timeout = {timeout}\n     \
                 reentry = 15\n     \
                 quiesce_server = 0\n",
                alias = v + 1,
                sched = schedulers[v % schedulers.len()],
                timeout = self.timeout,
            );
            for r in 0..self.servers_in(v) {
                let (rip, rport) = match &self.pool {
                    Some(pool) => pool[r % pool.len()].clone(),
                    None => (
                        format!(
                            "10.{}.{}.{}",
                            100 + server / 65_024,
                            (server / 254) % 256,
                            server % 254 + 1
                        ),
                        port,
                    ),
                };
                let _ = write!(
                    s,
                    "     server RS{r:02} {{\n         \
                     address = {rip}\n         \
                     active = 1\n         \
                     port = {rport}\n         \
                     weight = {weight}\n     \
                     }}\n",
                    weight = 1 + server % 5,
                );
                server += 1;
            }
            s.push_str("}\n");
        }
        s
    }
}
