//! The daemon's shell over the `-t` kernel (an in-memory table, `Kernel::Test`): what the
//! supervisor decides reaches the table, through a real probe of a local listener and the
//! control requests pulse sends. The decisions themselves are tested in
//! `crates/pulse-lvs/tests/supervisor.rs`.

use super::*;
use clap::Parser;
use pulse_lvs::Table;
use std::collections::BTreeMap;
use std::time::Duration;

fn table(d: &Lvsd) -> &Table {
    match &d.kernel {
        Kernel::Test(t) => t,
        Kernel::Ipvs(_) => unreachable!("test mode"),
    }
}

/// The weights of the only service's destinations, by address.
fn weights(d: &Lvsd) -> BTreeMap<String, i32> {
    let t = table(d);
    assert_eq!(t.services.len(), 1, "{t:?}");
    t.services
        .values()
        .flat_map(|s| s.dests.values())
        .map(|d| (d.key.addr.to_string(), d.weight))
        .collect()
}

fn handoff(d: &mut Lvsd, to: Option<&str>) -> Response {
    let (response, fatal) = d.control(Request::Handoff {
        to: to.map(str::to_string),
    });
    assert!(fatal.is_none(), "{fatal:?}");
    response
}

#[tokio::test]
async fn a_passing_check_reaches_the_table_and_a_handoff_is_applied_before_it_is_answered() {
    // Not port 80: the probe is a TCP connect, which the listen backlog completes.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("lvs.cf");
    std::fs::write(
        &cf,
        format!(
            "serial_no = 1\nnetwork = direct\nvirtual web {{\n    active = 1\n    address = 192.0.2.10 eth0:1\n    port = {port}\n    timeout = 1\n    server a {{\n        address = 127.0.0.1\n        active = 1\n        weight = 4\n    }}\n}}\n"
        ),
    )
    .unwrap();
    let opts = Options::parse_from([
        "lvsd".as_ref(),
        "-t".as_ref(),
        "-c".as_ref(),
        cf.as_os_str(),
        "--control".as_ref(),
        dir.path().join("lvsd.sock").as_os_str(),
    ]);
    let loaded = Loaded::read(&opts.config).unwrap();
    let (tx, mut results) = mpsc::channel(16);
    let mut d = Lvsd::start(opts, loaded, Kernel::Test(Table::default()), tx).unwrap();
    // The service is in; its server waits for its first check.
    assert_eq!(weights(&d), BTreeMap::new());
    assert_eq!(d.checks.len(), 1);
    let r = tokio::time::timeout(Duration::from_secs(5), results.recv())
        .await
        .expect("a check result within 5 s")
        .expect("the check task runs");
    assert_eq!(r.result, Ok(()));
    d.on_result(r);
    d.carry_out().unwrap();
    assert_eq!(weights(&d), BTreeMap::from([("127.0.0.1".into(), 4)]));

    let Response::Handoff { active_conns: 0 } = handoff(&mut d, Some("192.0.2.12")) else {
        panic!("not a handoff answer");
    };
    assert_eq!(
        weights(&d),
        BTreeMap::from([("127.0.0.1".into(), 0), ("192.0.2.12".into(), 1)])
    );
    assert!(matches!(
        handoff(&mut d, Some("not an address")),
        Response::Error { .. }
    ));
    assert!(matches!(
        handoff(&mut d, None),
        Response::Handoff { active_conns: 0 }
    ));
    assert_eq!(weights(&d), BTreeMap::from([("127.0.0.1".into(), 4)]));

    d.shutdown(15);
    assert!(table(&d).services.is_empty());
    assert_eq!(d.checks.len(), 0);
}
