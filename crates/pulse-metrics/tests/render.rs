//! The exposition of known snapshots: names, labels, values, and the OpenMetrics framing.

use pulse_control::{LvsStatus, Status};
use pulse_metrics::{Lvsd, render};
use std::collections::BTreeMap;

fn status() -> Status {
    serde_json::from_str(
        r#"{
        "role": "backup", "state": "active", "since_unix": 1700000000.5,
        "link_failed": false, "lvsd_failed": false, "heartbeat_mode": "authenticated",
        "partner": {"configured": true, "alive": false, "state": "inactive",
                    "config": null, "config_mismatch": false},
        "links": [
            {"local": "192.0.2.12:539", "peer": "192.0.2.11:539", "last_heard_ms_ago": 1500,
             "heartbeats_sent": 40, "heartbeats_received": 31, "heartbeats_rejected": 2},
            {"local": "198.51.100.12:539", "peer": "198.51.100.11:539", "last_heard_ms_ago": null,
             "heartbeats_sent": 40, "heartbeats_received": 0, "heartbeats_rejected": 0}
        ],
        "vips_held": ["192.0.2.100/32 eth0:1"],
        "counters": {"heartbeats_sent": 80, "heartbeats_received": 31, "heartbeats_rejected": 2,
                     "takeovers": 1, "releases": 0, "arps_sent": 5},
        "rejected_by_reason": {"bad_mac": 2},
        "lvsd_running": true,
        "config": {"serial_no": 7, "digest": "00"}
    }"#,
    )
    .expect("status JSON")
}

fn lvs() -> LvsStatus {
    serde_json::from_str(
        r#"{
        "config_path": "/etc/sysconfig/ha/lvs.cf", "serial_no": 7, "loaded_unix": 1700000000.0,
        "mode": "kernel", "reloads": 3, "reloads_refused": 1, "last_reload_error": null,
        "services": [{
            "name": "web", "key": "TCP 192.0.2.100:80", "scheduler": "wlc", "check": "tcp",
            "sorry_active": false, "in_kernel": true,
            "traffic": {"conns": 9, "in_packets": 90, "out_packets": 0, "in_bytes": 9000, "out_bytes": 0},
            "servers": [
                {"name": "rs1", "address": "10.0.0.21:80", "health": "up", "since_unix": null,
                 "weight": 2, "kernel_weight": 2, "active_conns": 3, "inactive_conns": 4,
                 "last_check_ms_ago": 100, "last_error": null,
                 "traffic": {"conns": 6, "in_packets": 60, "out_packets": 0, "in_bytes": 6000, "out_bytes": 0},
                 "checks": {"passed": 10, "failed": 1, "seconds_total": 0.25, "last_seconds": 0.002}},
                {"name": "rs2", "address": "10.0.0.22:80", "health": "down", "since_unix": null,
                 "weight": 1, "kernel_weight": null, "active_conns": 0, "inactive_conns": 0,
                 "last_check_ms_ago": null, "last_error": "refused"}
            ]
        }]
    }"#,
    )
    .expect("lvs JSON")
}

/// `name{labels}` → value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("a sample line is `series value`");
            (k.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn pulse_and_lvsd_metrics() {
    let text = render(status(), Lvsd::Status(Box::new(lvs())));
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let s = samples(&text);
    let expect = [
        ("pulse_active", 1.0),
        ("pulse_transitions_total{to=\"active\"}", 1.0),
        ("pulse_transitions_total{to=\"inactive\"}", 0.0),
        ("pulse_partner_alive", 0.0),
        ("pulse_lvsd_up", 1.0),
        ("pulse_vips_held", 1.0),
        ("pulse_config_serial_no", 7.0),
        ("pulse_state_since_timestamp_seconds", 1_700_000_000.5),
        (
            "pulse_heartbeats_sent_total{local=\"192.0.2.12:539\",peer=\"192.0.2.11:539\"}",
            40.0,
        ),
        (
            "pulse_heartbeats_received_total{local=\"198.51.100.12:539\",peer=\"198.51.100.11:539\"}",
            0.0,
        ),
        (
            "pulse_heartbeat_last_heard_seconds{local=\"192.0.2.12:539\",peer=\"192.0.2.11:539\"}",
            1.5,
        ),
        ("pulse_heartbeats_rejected_total{reason=\"bad_mac\"}", 2.0),
        ("pulse_heartbeats_rejected_total{reason=\"replay\"}", 0.0),
        ("pulse_gratuitous_arps_sent_total", 5.0),
        ("lvs_reloads_total{result=\"applied\"}", 2.0),
        ("lvs_reloads_total{result=\"refused\"}", 1.0),
        (
            "lvs_virtual_service_in_kernel{virtual=\"web\",service=\"TCP 192.0.2.100:80\"}",
            1.0,
        ),
        (
            "lvs_virtual_service_connections_total{virtual=\"web\",service=\"TCP 192.0.2.100:80\"}",
            9.0,
        ),
        (
            "lvs_real_server_health{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\",state=\"up\"}",
            1.0,
        ),
        (
            "lvs_real_server_health{virtual=\"web\",server=\"rs2\",address=\"10.0.0.22:80\",state=\"down\"}",
            1.0,
        ),
        (
            "lvs_real_server_health{virtual=\"web\",server=\"rs2\",address=\"10.0.0.22:80\",state=\"up\"}",
            0.0,
        ),
        (
            "lvs_real_server_weight{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            2.0,
        ),
        (
            "lvs_real_server_kernel_weight{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            2.0,
        ),
        (
            "lvs_real_server_active_connections{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            3.0,
        ),
        (
            "lvs_real_server_in_bytes_total{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            6000.0,
        ),
        (
            "lvs_checks_total{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\",result=\"failed\"}",
            1.0,
        ),
        (
            "lvs_check_seconds_total{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            0.25,
        ),
        (
            "lvs_check_last_duration_seconds{virtual=\"web\",server=\"rs1\",address=\"10.0.0.21:80\"}",
            0.002,
        ),
    ];
    for (k, v) in expect {
        assert_eq!(s.get(k), Some(&v), "{k} in:\n{text}");
    }
    // Never heard: no age. Not in the kernel: no kernel weight. Never checked: no duration.
    assert!(!s.contains_key(
        "pulse_heartbeat_last_heard_seconds{local=\"198.51.100.12:539\",peer=\"198.51.100.11:539\"}"
    ));
    assert!(
        !s.keys()
            .any(|k| k.starts_with("lvs_real_server_kernel_weight") && k.contains("rs2"))
    );
    assert!(
        !s.keys()
            .any(|k| k.starts_with("lvs_check_last_duration_seconds") && k.contains("rs2"))
    );
    assert!(
        text.contains("pulse_info{role=\"backup\",heartbeat_mode=\"authenticated\",version=\"")
    );
    assert!(text.contains("# TYPE pulse_transitions counter\n"));
    assert!(text.contains("# TYPE lvs_real_server_health gauge\n"));
}

#[test]
fn without_lvsd_only_pulse_metrics() {
    for lvsd in [Lvsd::NotRunning, Lvsd::Unreachable] {
        let text = render(status(), lvsd);
        let s = samples(&text);
        assert_eq!(s.get("pulse_lvsd_up"), Some(&0.0));
        assert!(!s.keys().any(|k| k.starts_with("lvs_")), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}

#[test]
fn label_values_are_escaped() {
    let mut l = lvs();
    l.services[0].servers[0].name = "a \"quoted\"\\name\nx".into();
    let text = render(status(), Lvsd::Status(Box::new(l)));
    assert!(text.contains(r#"server="a \"quoted\"\\name\nx""#), "{text}");
    // Every sample line still splits into one series and one number.
    samples(&text);
}

#[test]
fn failover_services_have_a_state_and_restarts() {
    let mut st = status();
    st.failover = vec![pulse_control::FailoverStatus {
        name: "web".into(),
        address: "192.0.2.100:80".into(),
        state: "running".into(),
        restarts: 1,
        restarts_total: 4,
        last_error: None,
    }];
    let text = render(st, Lvsd::NotRunning);
    let s = samples(&text);
    assert_eq!(
        s.get("pulse_failover_state{service=\"web\",state=\"running\"}"),
        Some(&1.0),
        "{text}"
    );
    assert_eq!(
        s.get("pulse_failover_state{service=\"web\",state=\"gave_up\"}"),
        Some(&0.0)
    );
    assert_eq!(
        s.get("pulse_failover_restarts_total{service=\"web\"}"),
        Some(&4.0)
    );
    // LVS mode: no failover series.
    let lvs = render(status(), Lvsd::NotRunning);
    assert!(!lvs.contains("pulse_failover_state{"), "{lvs}");
}

#[test]
fn the_ecmp_group_view_has_a_series_per_director() {
    let mut st = status();
    st.ecmp_group = Some(
        serde_json::from_str(
            r#"{"directors":[
            {"address":"10.1.0.11","this":true,"last_heard_ms_ago":0,"stale":false,"config":null,
             "config_mismatch":false,"released":false,"announced":["10.0.0.100"],"withdrawn":[],
             "announced_count":1},
            {"address":"10.1.0.12","this":false,"last_heard_ms_ago":1500,"stale":true,"config":null,
             "config_mismatch":true,"released":false,"announced":null,"withdrawn":null,
             "announced_count":3},
            {"address":"10.1.0.13","this":false,"last_heard_ms_ago":null,"stale":true,"config":null,
             "config_mismatch":false,"released":false,"announced":null,"withdrawn":null,
             "announced_count":null}],
            "stale_after_ms":600,"sent":9,"received":4,"rejected_by_reason":{"bad_mac":5}}"#,
        )
        .expect("group JSON"),
    );
    let text = render(st, Lvsd::NotRunning);
    let s = samples(&text);
    let get = |k: &str| s.get(k).copied();
    assert_eq!(
        get(r#"pulse_ecmp_director_heard{director="10.1.0.11"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        get(r#"pulse_ecmp_director_heard{director="10.1.0.12"}"#),
        Some(0.0)
    );
    assert_eq!(
        get(r#"pulse_ecmp_director_last_heard_seconds{director="10.1.0.12"}"#),
        Some(1.5)
    );
    assert_eq!(
        get(r#"pulse_ecmp_director_last_heard_seconds{director="10.1.0.13"}"#),
        None
    );
    assert_eq!(
        get(r#"pulse_ecmp_director_announced_vips{director="10.1.0.12"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"pulse_ecmp_director_config_mismatch{director="10.1.0.12"}"#),
        Some(1.0)
    );
    assert_eq!(
        get(r#"pulse_ecmp_group_datagrams_rejected_total{reason="bad_mac"}"#),
        Some(5.0)
    );
    assert_eq!(
        get(r#"pulse_ecmp_group_datagrams_rejected_total{reason="queue_full"}"#),
        Some(0.0)
    );
    // Outside `ecmp = 1`: no group series.
    let plain = render(status(), Lvsd::NotRunning);
    assert!(!plain.contains("pulse_ecmp_"), "{plain}");
}
