//! The JSON on the control socket is a contract with every `pulsectl`, script and monitoring
//! check that reads it: these strings were produced by the protocol as it was when its enum
//! fields were still `String`s, and must not change.

use pulse_control::*;

/// `pulse`'s answer to `status`, byte for byte as before the fields were typed.
const STATUS_JSON: &str = r#"{"result":"ok","status":{"role":"backup","state":"inactive","since_unix":1700000000.5,"link_failed":false,"lvsd_failed":true,"heartbeat_mode":"piranha","partner":{"configured":true,"alive":true,"state":"active","config":{"serial_no":7,"digest":"ab"},"config_mismatch":false},"links":[{"local":"192.0.2.12:539","peer":"192.0.2.11:539","last_heard_ms_ago":120,"heartbeats_sent":3,"heartbeats_received":2,"heartbeats_rejected":1}],"vips_held":[],"vips_unclaimed":["192.0.2.100/32 eth0:1: EPERM (2 attempts)"],"vip_claim_failures":2,"counters":{"heartbeats_sent":3,"heartbeats_received":2,"heartbeats_rejected":1,"takeovers":0,"releases":1,"arps_sent":0},"rejected_by_reason":{"malformed":1},"lvsd_running":true,"releasing":false,"config":{"serial_no":7,"digest":"ab"}}}"#;

/// `lvsd`'s answer to `lvs`, byte for byte as before the fields were typed.
const LVS_JSON: &str = r#"{"result":"lvs","lvs":{"config_path":"/etc/sysconfig/ha/lvs.cf","serial_no":7,"loaded_unix":1700000000.25,"mode":"test","reloads":1,"reloads_refused":0,"last_reload_error":null,"services":[{"name":"web","key":"TCP 192.0.2.100:80","scheduler":"wlc","check":"tcp connect","sorry_active":false,"in_kernel":true,"servers":[{"name":"a","address":"10.0.0.2:80","health":"up","since_unix":null,"weight":1,"kernel_weight":1,"active_conns":0,"inactive_conns":0,"last_check_ms_ago":null,"last_error":null,"traffic":{"conns":0,"in_packets":0,"out_packets":0,"in_bytes":0,"out_bytes":0},"checks":{"passed":0,"failed":0,"seconds_total":0.0,"last_seconds":null}},{"name":"b","address":"10.0.0.2:80","health":"down","since_unix":null,"weight":1,"kernel_weight":1,"active_conns":0,"inactive_conns":0,"last_check_ms_ago":null,"last_error":null,"traffic":{"conns":0,"in_packets":0,"out_packets":0,"in_bytes":0,"out_bytes":0},"checks":{"passed":0,"failed":0,"seconds_total":0.0,"last_seconds":null}},{"name":"c","address":"10.0.0.2:80","health":"unknown","since_unix":null,"weight":1,"kernel_weight":1,"active_conns":0,"inactive_conns":0,"last_check_ms_ago":null,"last_error":null,"traffic":{"conns":0,"in_packets":0,"out_packets":0,"in_bytes":0,"out_bytes":0},"checks":{"passed":0,"failed":0,"seconds_total":0.0,"last_seconds":null}}],"traffic":{"conns":0,"in_packets":0,"out_packets":0,"in_bytes":0,"out_bytes":0}}]}}"#;

fn status() -> Response {
    let identity = ConfigIdentity {
        serial_no: 7,
        digest: "ab".into(),
    };
    Response::Ok {
        status: Box::new(Status {
            role: Role::Backup,
            state: NodeState::Inactive,
            since_unix: 1700000000.5,
            link_failed: false,
            lvsd_failed: true,
            heartbeat_mode: HeartbeatMode::Piranha,
            partner: Partner {
                configured: true,
                alive: true,
                state: Some(NodeState::Active),
                config: Some(identity.clone()),
                config_mismatch: false,
            },
            links: vec![LinkStatus {
                local: "192.0.2.12:539".into(),
                peer: "192.0.2.11:539".into(),
                last_heard_ms_ago: Some(120),
                heartbeats_sent: 3,
                heartbeats_received: 2,
                heartbeats_rejected: 1,
            }],
            vips_held: vec![],
            vips_unclaimed: vec!["192.0.2.100/32 eth0:1: EPERM (2 attempts)".into()],
            vip_claim_failures: 2,
            counters: Counters {
                heartbeats_sent: 3,
                heartbeats_received: 2,
                heartbeats_rejected: 1,
                takeovers: 0,
                releases: 1,
                arps_sent: 0,
            },
            rejected_by_reason: [("malformed".to_string(), 1)].into(),
            lvsd_running: true,
            releasing: false,
            failover: Vec::new(),
            transitions: Vec::new(),
            ecmp: Vec::new(),
            ecmp_group: None,
            config: identity,
        }),
    }
}

fn lvs() -> Response {
    let server = |name: &str, health: Health| ServerStatus {
        name: name.into(),
        address: "10.0.0.2:80".into(),
        health,
        since_unix: None,
        weight: 1,
        kernel_weight: Some(1),
        active_conns: 0,
        inactive_conns: 0,
        last_check_ms_ago: None,
        last_error: None,
        traffic: Traffic::default(),
        checks: CheckCounters::default(),
        admin: Default::default(),
    };
    Response::Lvs {
        lvs: Box::new(LvsStatus {
            config_path: "/etc/sysconfig/ha/lvs.cf".into(),
            serial_no: 7,
            loaded_unix: 1700000000.25,
            mode: LvsdMode::Test,
            reloads: 1,
            reloads_refused: 0,
            last_reload_error: None,
            services: vec![VirtualStatus {
                name: "web".into(),
                key: "TCP 192.0.2.100:80".into(),
                scheduler: "wlc".into(),
                check: "tcp connect".into(),
                sorry_active: false,
                in_kernel: true,
                servers: vec![
                    server("a", Health::Up),
                    server("b", Health::Down),
                    server("c", Health::Unknown),
                ],
                traffic: Traffic::default(),
            }],
        }),
    }
}

#[test]
fn status_json_is_unchanged() {
    assert_eq!(serde_json::to_string(&status()).unwrap(), STATUS_JSON);
    assert_eq!(
        serde_json::from_str::<Response>(STATUS_JSON).unwrap(),
        status()
    );
}

#[test]
fn lvs_json_is_unchanged() {
    assert_eq!(serde_json::to_string(&lvs()).unwrap(), LVS_JSON);
    assert_eq!(serde_json::from_str::<Response>(LVS_JSON).unwrap(), lvs());
}

/// Every value of every typed field, with the exact string it had as a `String`.
#[test]
fn every_value_keeps_its_name() {
    fn names<T: serde::Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| serde_json::to_string(v).unwrap())
            .collect()
    }
    assert_eq!(names(Role::ALL), [r#""primary""#, r#""backup""#]);
    assert_eq!(names(NodeState::ALL), [r#""active""#, r#""inactive""#]);
    assert_eq!(
        names(HeartbeatMode::ALL),
        [r#""authenticated""#, r#""piranha""#]
    );
    assert_eq!(names(Health::ALL), [r#""up""#, r#""down""#, r#""unknown""#]);
    assert_eq!(names(LvsdMode::ALL), [r#""kernel""#, r#""test""#]);
    for h in Health::ALL {
        assert_eq!(format!("\"{h}\""), serde_json::to_string(h).unwrap());
        assert_eq!(*h, h.as_str());
    }
    assert!(
        serde_json::from_str::<Health>(r#""Up""#).is_err(),
        "names are case-sensitive"
    );
}

#[test]
fn reload_request_is_pinned() {
    // `pulsectl config push|receive` send this to pulse after writing lvs.cf.
    let req = pulse_control::Request::Reload;
    assert_eq!(
        serde_json::to_string(&req).expect("json"),
        r#"{"cmd":"reload"}"#
    );
    let back: pulse_control::Request = serde_json::from_str(r#"{"cmd":"reload"}"#).expect("parse");
    assert_eq!(back, req);
}

#[test]
fn a_server_override_is_on_the_wire_only_when_set() {
    let Response::Lvs { mut lvs } = lvs() else {
        unreachable!()
    };
    lvs.services[0].servers[0].admin = pulse_control::Admin::Draining;
    let json = serde_json::to_string(&lvs).unwrap();
    assert_eq!(json.matches(r#""admin":"draining""#).count(), 1, "{json}");
    assert!(!json.contains(r#""admin":"enabled""#), "{json}");
    let back: LvsStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(back, *lvs);
    let req = pulse_control::Request::Server {
        virtual_name: "web".into(),
        server: "a".into(),
        admin: pulse_control::Admin::Disabled,
    };
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        r#"{"cmd":"server","virtual":"web","server":"a","admin":"disabled"}"#
    );
}

/// `ecmp = 1`'s group view: pinned as `pulsectl status --json` and scripts read it.
#[test]
fn ecmp_group_json_is_pinned() {
    const JSON: &str = r#"{"directors":[{"address":"10.1.0.11","this":true,"last_heard_ms_ago":0,"stale":false,"config":{"serial_no":7,"digest":"ab"},"config_mismatch":false,"released":false,"announced":["10.0.0.100"],"withdrawn":["10.0.0.101"],"announced_count":1},{"address":"10.1.0.12","this":false,"last_heard_ms_ago":null,"stale":true,"config":null,"config_mismatch":false,"released":false,"announced":null,"withdrawn":null,"announced_count":null}],"stale_after_ms":300,"sent":4,"received":0,"rejected_by_reason":{"bad_mac":2}}"#;
    let g = EcmpGroupStatus {
        directors: vec![
            EcmpDirectorStatus {
                address: "10.1.0.11".into(),
                this: true,
                last_heard_ms_ago: Some(0),
                stale: false,
                config: Some(ConfigIdentity {
                    serial_no: 7,
                    digest: "ab".into(),
                }),
                config_mismatch: false,
                released: false,
                announced: Some(vec!["10.0.0.100".into()]),
                withdrawn: Some(vec!["10.0.0.101".into()]),
                announced_count: Some(1),
            },
            EcmpDirectorStatus {
                address: "10.1.0.12".into(),
                this: false,
                last_heard_ms_ago: None,
                stale: true,
                config: None,
                config_mismatch: false,
                released: false,
                announced: None,
                withdrawn: None,
                announced_count: None,
            },
        ],
        stale_after_ms: 300,
        sent: 4,
        received: 0,
        rejected_by_reason: [("bad_mac".to_string(), 2)].into(),
    };
    assert_eq!(serde_json::to_string(&g).unwrap(), JSON);
    assert_eq!(serde_json::from_str::<EcmpGroupStatus>(JSON).unwrap(), g);
    // A status without it (outside `ecmp = 1`) stays as it was: `STATUS_JSON` above.
}
