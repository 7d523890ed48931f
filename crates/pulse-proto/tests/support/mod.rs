//! The simulated network and clock shared by the heartbeat tests: two directors, each link
//! delivering after `latency` unless it is cut or the receiving node is down.
//!
//! Node 0 is the primary (192.0.2.11, private 198.51.100.11), node 1 the backup (.12).

#![allow(dead_code)] // each test crate uses part of it

use pulse_proto::fsm::{Command, Config, Event, Heartbeat, Link, Rejection, WireMode};
use pulse_proto::wire::HeartbeatKey;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) const KEEPALIVE: Duration = Duration::from_millis(1000);
pub(crate) const DEADTIME: Duration = Duration::from_millis(3000);

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

pub(crate) fn links(node: usize) -> Vec<Link> {
    let (me, peer) = if node == 0 { (11, 12) } else { (12, 11) };
    vec![
        Link {
            local: addr(&format!("192.0.2.{me}:539")),
            peer: addr(&format!("192.0.2.{peer}:539")),
        },
        Link {
            local: addr(&format!("198.51.100.{me}:539")),
            peer: addr(&format!("198.51.100.{peer}:539")),
        },
    ]
}

pub(crate) fn key() -> HeartbeatKey {
    HeartbeatKey::new(b"0123456789abcdef0123456789abcdef").expect("key")
}

pub(crate) fn config(node: usize, mode: WireMode) -> Config {
    Config {
        primary: node == 0,
        links: links(node),
        keepalive: KEEPALIVE,
        deadtime: DEADTIME,
        mode,
        force_active: false,
        serial_no: 7,
        digest: [1; 8],
        boot_id: 100 + node as u64,
        wall_clock_us: 1_000_000_000,
        replay_floor: 0,
        drain_on_release: false,
    }
}

pub(crate) struct Packet {
    pub(crate) at: Instant,
    pub(crate) to: usize,
    pub(crate) link: usize,
    pub(crate) from: SocketAddr,
    pub(crate) data: Vec<u8>,
}

pub(crate) struct Sim {
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) nodes: [Option<Heartbeat>; 2],
    pub(crate) configs: [Config; 2],
    pub(crate) latency: Duration,
    pub(crate) cut: [bool; 2],
    pub(crate) in_flight: Vec<Packet>,
    /// (time since t0, node, event)
    pub(crate) log: Vec<(Duration, usize, Event)>,
    /// Everything a node sent, for replay attacks.
    pub(crate) sent: Vec<(usize, usize, Vec<u8>)>,
}

impl Sim {
    pub(crate) fn new(mode: WireMode) -> Self {
        let t0 = Instant::now();
        let configs = [config(0, mode.clone()), config(1, mode)];
        Self {
            t0,
            now: t0,
            nodes: [
                Some(Heartbeat::new(configs[0].clone(), t0)),
                Some(Heartbeat::new(configs[1].clone(), t0)),
            ],
            configs,
            latency: Duration::from_millis(1),
            cut: [false; 2],
            in_flight: Vec::new(),
            log: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Authenticated, with `drain_on_release` on both nodes.
    pub(crate) fn draining() -> Self {
        let mut sim = Self::new(WireMode::Authenticated(key()));
        for n in 0..2 {
            sim.configs[n].drain_on_release = true;
            sim.nodes[n] = Some(Heartbeat::new(sim.configs[n].clone(), sim.t0));
        }
        sim
    }

    pub(crate) fn events(&self, n: usize) -> Vec<Event> {
        self.log
            .iter()
            .filter(|(_, node, _)| *node == n)
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    pub(crate) fn legacy() -> Self {
        Self::new(WireMode::Legacy { fos: false })
    }

    pub(crate) fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub(crate) fn active(&self, n: usize) -> bool {
        self.nodes[n].as_ref().is_some_and(Heartbeat::is_active)
    }

    pub(crate) fn node(&mut self, n: usize) -> &mut Heartbeat {
        self.nodes[n].as_mut().expect("node is up")
    }

    /// Move outputs of every node into the network and the log.
    pub(crate) fn drain(&mut self) {
        for n in 0..2 {
            let Some(hb) = self.nodes[n].as_mut() else {
                continue;
            };
            while let Some(t) = hb.poll_transmit() {
                self.sent.push((n, t.link, t.payload().to_vec()));
                if !self.cut[t.link] {
                    let from = self.configs[n].links[t.link].local;
                    self.in_flight.push(Packet {
                        at: self.now + self.latency,
                        to: 1 - n,
                        link: t.link,
                        from,
                        data: t.payload().to_vec(),
                    });
                }
            }
            while let Some(e) = hb.poll_event() {
                self.log.push((self.now - self.t0, n, e));
            }
        }
    }

    /// Run until `until` (absolute ms since start).
    pub(crate) fn run_until(&mut self, until_ms: u64) {
        let until = self.at(until_ms);
        loop {
            self.drain();
            let next_timer = self
                .nodes
                .iter()
                .flatten()
                .filter_map(Heartbeat::poll_timeout)
                .min();
            let next_packet = self.in_flight.iter().map(|p| p.at).min();
            let Some(next) = [next_timer, next_packet].into_iter().flatten().min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = next;
            let now = self.now;
            let (due, later): (Vec<Packet>, Vec<Packet>) = std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|p| p.at <= now);
            self.in_flight = later;
            for p in due {
                if let Some(hb) = self.nodes[p.to].as_mut() {
                    hb.handle_datagram(now, p.link, p.from, &p.data);
                }
            }
            for hb in self.nodes.iter_mut().flatten() {
                if hb.poll_timeout().is_some_and(|t| t <= now) {
                    hb.handle_timeout(now);
                }
            }
        }
        self.now = until;
        self.drain();
    }

    pub(crate) fn command(
        &mut self,
        n: usize,
        cmd: Command,
    ) -> Result<(), pulse_proto::CommandError> {
        let now = self.now;
        let r = self.node(n).handle_command(now, cmd);
        self.drain();
        r
    }

    /// A crash: the node stops existing (no final heartbeat).
    pub(crate) fn kill(&mut self, n: usize) {
        self.nodes[n] = None;
        self.in_flight.retain(|p| p.to != n);
    }

    pub(crate) fn restart(&mut self, n: usize) {
        self.restart_with(n, |_| {});
    }

    /// A restart with a new boot id and the wall clock moved on, then changed by `change`.
    pub(crate) fn restart_with(&mut self, n: usize, change: impl FnOnce(&mut Config)) {
        let mut cfg = self.configs[n].clone();
        cfg.boot_id += 1000;
        cfg.wall_clock_us += u64::try_from((self.now - self.t0).as_micros()).expect("fits");
        change(&mut cfg);
        self.nodes[n] = Some(Heartbeat::new(cfg, self.now));
    }

    /// Start node `n` again from `configs[n]` (to change a configuration before anything ran).
    pub(crate) fn rebuild(&mut self, n: usize) {
        self.nodes[n] = Some(Heartbeat::new(self.configs[n].clone(), self.now));
    }

    /// An attacker's datagram: `data` delivered to node `n` on `link`, its source spoofed as the
    /// partner's address on that link. Returns what node `n` made of it.
    pub(crate) fn inject(&mut self, n: usize, link: usize, data: &[u8]) -> Vec<Event> {
        let from = self.configs[n].links[link].peer;
        let now = self.now;
        let before = self.log.len();
        self.node(n).handle_datagram(now, link, from, data);
        self.drain();
        self.log[before..]
            .iter()
            .filter(|(_, node, _)| *node == n)
            .map(|(_, _, e)| e.clone())
            .collect()
    }

    /// Everything node `n` sent so far, with the link it went on.
    pub(crate) fn sent_by(&self, n: usize) -> Vec<(usize, Vec<u8>)> {
        self.sent
            .iter()
            .filter(|(node, _, _)| *node == n)
            .map(|(_, l, d)| (*l, d.clone()))
            .collect()
    }

    /// Activation and deactivation events of node `n`, with their times in ms.
    pub(crate) fn transitions(&self, n: usize) -> Vec<(u64, String)> {
        self.log
            .iter()
            .filter(|(_, node, e)| {
                *node == n && matches!(e, Event::Activate(_) | Event::Deactivate(_))
            })
            .map(|(t, _, e)| (t.as_millis() as u64, format!("{e:?}")))
            .collect()
    }

    pub(crate) fn rejected(&self, n: usize) -> Vec<Rejection> {
        self.log
            .iter()
            .filter_map(|(_, node, e)| match e {
                Event::Rejected { why, .. } if *node == n => Some(*why),
                _ => None,
            })
            .collect()
    }
}

/// The usual start: both up; they settle with the primary active.
pub(crate) fn settled(mut sim: Sim) -> Sim {
    sim.run_until(10_000);
    assert!(
        sim.active(0) && !sim.active(1),
        "primary should hold the service after start"
    );
    sim
}
