//! How long one scrape's exposition takes for a large table: `cargo bench -p pulse-metrics`.
//! Prints a table (virtual services × real servers, series, bytes, milliseconds per render).

use pulse_control::{CheckCounters, LvsStatus, ServerStatus, Status, Traffic, VirtualStatus};
use pulse_metrics::{Lvsd, render};
use std::time::Instant;

fn pulse_status() -> Status {
    serde_json::from_str(
        r#"{"role": "primary", "state": "active", "since_unix": 1.0, "link_failed": false,
            "lvsd_failed": false, "heartbeat_mode": "authenticated",
            "partner": {"configured": true, "alive": true, "state": "inactive", "config": null,
                        "config_mismatch": false},
            "links": [{"local": "192.0.2.11:539", "peer": "192.0.2.12:539",
                       "last_heard_ms_ago": 100}],
            "vips_held": [], "counters": {"heartbeats_sent": 1, "heartbeats_received": 1,
            "heartbeats_rejected": 0, "takeovers": 1, "releases": 0, "arps_sent": 5},
            "config": {"serial_no": 1, "digest": "00"}}"#,
    )
    .expect("status")
}

fn lvs(services: usize, per: usize) -> LvsStatus {
    let traffic = Traffic {
        conns: 123_456,
        in_packets: 9_876_543,
        out_packets: 0,
        in_bytes: 1 << 33,
        out_bytes: 0,
    };
    LvsStatus {
        config_path: "/etc/sysconfig/ha/lvs.cf".into(),
        serial_no: 7,
        loaded_unix: 1.0,
        mode: pulse_control::LvsdMode::Kernel,
        reloads: 1,
        reloads_refused: 0,
        last_reload_error: None,
        services: (0..services)
            .map(|v| VirtualStatus {
                name: format!("vs{v}"),
                key: format!("TCP 10.{}.{}.1:80", v / 250, v % 250),
                scheduler: "wlc".into(),
                check: "tcp".into(),
                sorry_active: false,
                in_kernel: true,
                traffic,
                servers: (0..per)
                    .map(|s| ServerStatus {
                        name: format!("rs{s}"),
                        address: format!("172.16.{}.{}:80", s / 250, s % 250 + 1),
                        health: pulse_control::Health::Up,
                        since_unix: Some(1.0),
                        weight: 1,
                        kernel_weight: Some(1),
                        active_conns: 12,
                        inactive_conns: 40,
                        last_check_ms_ago: Some(100),
                        last_error: None,
                        traffic,
                        checks: CheckCounters {
                            passed: 1000,
                            failed: 2,
                            seconds_total: 1.5,
                            last_seconds: Some(0.001),
                        },
                        admin: Default::default(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn main() {
    let st = pulse_status();
    println!("| virtual services × real servers | series | bytes | ms per scrape (median of 5) |");
    println!("|---|---:|---:|---:|");
    for (services, per) in [(1, 3), (100, 4), (2_500, 4), (10_000, 4)] {
        let l = lvs(services, per);
        let mut times = Vec::new();
        let mut out = String::new();
        for _ in 0..5 {
            // (The snapshots are cloned outside the timing: a scrape owns them already.)
            let (st, l) = (st.clone(), Box::new(l.clone()));
            let t = Instant::now();
            out = render(st, Lvsd::Status(l));
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let series = out.lines().filter(|l| !l.starts_with('#')).count();
        println!(
            "| {services} × {per} | {series} | {} | {:.1} |",
            out.len(),
            times[2]
        );
    }
}
