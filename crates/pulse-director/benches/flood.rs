//! What a flood of datagrams costs the heartbeat loop: nanoseconds of `Director::handle_datagram`
//! per packet, for junk on piranha's wire, forged and reflected authenticated packets, and genuine
//! heartbeats. At 50,000 packets/s, N ns per packet is N/200 % of one core.
//!
//! `cargo bench -p pulse-director --bench flood` prints a markdown table.

use pulse_director::{Director, Plan, Settings, VipClaim};
use pulse_proto::fsm::{Config, Link, WireMode};
use pulse_proto::wire::HeartbeatKey;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PACKETS: u32 = 200_000;

/// A table row: its name, the key (authenticated) or none (piranha's wire), the packets.
type Row = (&'static str, Option<HeartbeatKey>, Vec<Vec<u8>>);

fn link(node: usize) -> Link {
    let (me, peer) = if node == 0 { (11, 12) } else { (12, 11) };
    Link {
        local: format!("192.0.2.{me}:539").parse().expect("addr"),
        peer: format!("192.0.2.{peer}:539").parse().expect("addr"),
    }
}

fn director(node: usize, key: Option<HeartbeatKey>, now: Instant) -> Director {
    let plan = Plan {
        primary: node == 0,
        links: vec![link(node)],
        vips: vec![VipClaim {
            addr: "192.0.2.100".parse().expect("vip"),
            prefix: 32,
            device: "eth0:1".into(),
            base: "eth0".into(),
        }],
        keepalive: Duration::from_millis(200),
        deadtime: Duration::from_millis(600),
        garp: (3, Duration::from_millis(100)),
        fos: None,
    };
    let settings = Settings {
        warm_standby: true,
        syncdaemon: false,
        syncd_iface: String::new(),
        syncd_id: 0,
        active_cmd: None,
        inactive_cmd: None,
        run_lvsd: false,
        monitor_links: false,
        serial_no: 1,
        digest: [0; 8],
        restart_only: String::new(),
    };
    let cfg = Config {
        primary: node == 0,
        links: vec![link(node)],
        keepalive: plan.keepalive,
        deadtime: plan.deadtime,
        mode: key.map_or(WireMode::Legacy { fos: false }, WireMode::Authenticated),
        force_active: false,
        serial_no: 1,
        digest: [0; 8],
        boot_id: 100 + node as u64,
        wall_clock_us: 1_000_000_000,
        replay_floor: 0,
        drain_on_release: false,
    };
    Director::new(cfg, plan, settings, now)
}

fn key() -> HeartbeatKey {
    HeartbeatKey::new(b"0123456789abcdef0123456789abcdef").expect("key")
}

/// One genuine heartbeat of node `from` (its first round).
fn heartbeat(from: usize, key: Option<HeartbeatKey>, now: Instant) -> Vec<u8> {
    let mut d = director(from, key, now);
    d.handle_timeout(now + Duration::from_millis(200));
    d.poll_transmit().expect("a heartbeat").payload().to_vec()
}

/// ns per packet of feeding `packets` (cycled) to a fresh node 0, and what it counted.
fn measure(key: Option<HeartbeatKey>, packets: &[Vec<u8>]) -> (f64, u64) {
    let t0 = Instant::now();
    let mut d = director(0, key, t0);
    let from: SocketAddr = link(1).local;
    let mut now = t0;
    let start = Instant::now();
    for i in 0..PACKETS {
        now += Duration::from_micros(20);
        let p = &packets[i as usize % packets.len()];
        d.handle_datagram(now, 0, from, p);
        while d.poll_action().is_some() {}
        while d.poll_transmit().is_some() {}
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(PACKETS);
    let rejected = d.status().rejected_by_reason.values().sum();
    (ns, rejected)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let now = Instant::now();
    let junk: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes().to_vec())
        .collect();
    let mut forged = heartbeat(1, Some(key()), now);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let reflected = heartbeat(0, Some(key()), now);
    let genuine_legacy = heartbeat(1, None, now);
    println!("| packet (200,000 each) | ns per packet | % of a core at 50k/s | rejected |");
    println!("|---|---:|---:|---:|");
    let rows: [Row; 4] = [
        ("random 4-byte junk, piranha's wire", None, junk),
        ("genuine piranha heartbeat", None, vec![genuine_legacy]),
        ("forged authenticated (bad MAC)", Some(key()), vec![forged]),
        (
            "reflected authenticated (our own)",
            Some(key()),
            vec![reflected],
        ),
    ];
    for (name, key, packets) in rows {
        let (ns, rejected) = measure(key, &packets);
        println!(
            "| {name} | {ns:.0} | {:.2} | {rejected} |",
            ns * 50_000.0 / 1e9 * 100.0
        );
    }
}
