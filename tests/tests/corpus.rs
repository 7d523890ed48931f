//! The real-world corpus (`../shared/corpus/lvs.cf`, see its SOURCES.md) against what piranha
//! 0.8.6's parser recorded for each file (docs/reference/piranha.md §2.6 and §12).

use pulse_e2e::corpus_files;
use pulse_lvscf::model::{Network, Protocol, ReservationConflictAction, Seconds};
use pulse_lvscf::{LvsConfig, parse};
use std::net::Ipv4Addr;

const KEEPALIVED: &str = "vincentmli__proxyos__keepalived_syntax_NOT_piranha.cf";

fn load(name: &str) -> LvsConfig {
    let (_, text) = corpus_files()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not in corpus"));
    let p = parse(&text);
    assert!(
        p.is_valid(),
        "{name}: {}",
        p.diagnostics.render(name, &text)
    );
    p.config
}

fn ip(s: &str) -> String {
    s.parse::<Ipv4Addr>().expect("ip").to_string()
}

#[test]
fn corpus_is_complete() {
    assert_eq!(
        corpus_files().len(),
        10,
        "the corpus has 10 files (SOURCES.md)"
    );
}

#[test]
fn every_file_round_trips_byte_for_byte() {
    for (name, text) in corpus_files() {
        assert_eq!(parse(&text).doc.render(), text, "{name}");
    }
}

#[test]
fn every_piranha_file_is_valid_even_for_piranha() {
    for (name, text) in corpus_files().into_iter().filter(|(n, _)| n != KEEPALIVED) {
        let mut p = parse(&text);
        assert!(
            p.is_valid(),
            "{name}: {}",
            p.diagnostics.render(&name, &text)
        );
        // piranha 0.8.6 accepted every one of them, so `check --piranha` must too.
        p.diagnostics.promote_for_piranha();
        assert!(
            p.is_valid(),
            "{name} --piranha: {}",
            p.diagnostics.render(&name, &text)
        );
    }
}

#[test]
fn keepalived_syntax_fails_on_line_2() {
    let (_, text) = corpus_files()
        .into_iter()
        .find(|(n, _)| n == KEEPALIVED)
        .expect("in corpus");
    let p = parse(&text);
    let first = p
        .diagnostics
        .iter()
        .find(|d| d.is_error())
        .expect("an error");
    assert_eq!(first.span.map(|s| s.line), Some(2));
    assert_eq!(first.code, "unknown-keyword");
}

#[test]
fn sample_cf_matches_piranha() {
    let c = load("ssocopsacc__piranha__sample.cf");
    assert_eq!(c.virtuals.len(), 2);
    assert_eq!(c.virtuals.iter().filter(|v| v.active).count(), 1);
    assert_eq!(c.failovers.len(), 2);
    assert_eq!(c.heartbeat_port, 1050);
    assert_eq!(
        c.primary.as_ref().map(ToString::to_string),
        Some(ip("207.175.44.150"))
    );
    assert_eq!(
        c.backup.as_ref().map(ToString::to_string),
        Some(ip("207.175.44.196"))
    );
    assert_eq!(
        c.primary_private.as_ref().map(ToString::to_string),
        Some(ip("10.11.12.1"))
    );
    assert_eq!(
        c.backup_private.as_ref().map(ToString::to_string),
        Some(ip("10.11.12.2"))
    );
    assert!(c.backup_active);
    assert_eq!(
        (c.keepalive, c.deadtime),
        (Seconds::from_secs(6), Seconds::from_secs(18))
    );
    assert_eq!(c.network, Network::Nat);
    let nat = c.nat_router.as_ref().expect("nat_router");
    assert_eq!(
        (nat.addr.to_string(), nat.device.as_str()),
        (ip("192.168.10.100"), "eth1:1")
    );
    assert_eq!(
        c.reservation_conflict_action,
        Some(ReservationConflictAction::Preempt)
    );
    assert_eq!(c.primary_shared.as_deref(), Some("/dev/sdb"));
    let s1 = &c.virtuals[0];
    assert_eq!(
        (s1.name.as_str(), s1.active, s1.port, s1.fwmark),
        ("server1", true, 80, 100)
    );
    assert_eq!((s1.persistent, s1.timeout, s1.reentry), (60, 5, 10));
    // pmask = 255.255.255.255 is stored as "no mask" (docs/reference/piranha.md §2.1).
    assert_eq!(s1.pmask, None);
    assert_eq!(s1.load_monitor.as_deref(), Some("uptime"));
    assert_eq!(s1.send.as_deref(), Some("GET / HTTP/1.0\\r\\n\\r\\n"));
    assert_eq!(s1.expect.as_deref(), Some("HTTP"));
    assert_eq!(s1.servers.len(), 2);
    assert!(
        s1.servers
            .iter()
            .all(|s| s.active && s.weight == 1 && s.port == 80)
    );
    let s2 = &c.virtuals[1];
    assert_eq!(
        (s2.active, s2.port, s2.send.as_deref()),
        (false, 21, Some("\\n"))
    );
    assert!(s2.servers.iter().all(|s| s.port == 21));
    let web1 = &c.failovers[0];
    assert_eq!(
        (web1.name.as_str(), web1.active, web1.port),
        ("web1", true, 1010)
    );
    assert_eq!(
        web1.start_cmd.as_deref(),
        Some("/etc/rc.d/init.d/httpd start")
    );
    assert!(!c.failovers[1].active);
}

#[test]
fn fork_default_file_matches_piranha() {
    let c = load("ssocopsacc__piranha__lvs.cf");
    assert_eq!(c.serial_no, 48);
    assert_eq!((c.primary.clone(), c.backup.clone()), (None, None));
    assert!(c.monitor_links && c.syncdaemon && !c.backup_active);
    assert_eq!(c.active_cmd.as_deref(), Some("/etc/sysconfig/ha/active.sh"));
    assert_eq!(c.network, Network::Direct);
    assert_eq!(c.virtuals.len(), 1);
    let v = &c.virtuals[0];
    assert!(!v.active && v.address.is_none() && v.servers.is_empty());
    assert_eq!(
        (v.port, v.scheduler.as_str(), v.persistent, v.quiesce_server),
        (443, "rr", 10, true)
    );
    let old = load("ssocopsacc__piranha__DirtyBackup_lvs_orig.cf");
    assert_eq!(old.virtuals.len(), 2);
    assert!(old.virtuals.iter().all(|v| !v.active));
    assert_eq!(old.virtuals[1].port, 80); // `port =  80` with two blanks
}

#[test]
fn sip_recipe_files_match_piranha() {
    let c = load("tigerlinux__tigerlinux-extra-recipes__sip_serial70.cf");
    assert_eq!(c.serial_no, 70);
    assert_eq!(c.virtuals.len(), 2);
    let sip = &c.virtuals[1];
    assert_eq!(
        (sip.fwmark, sip.protocol, sip.persistent, sip.port),
        (3, Protocol::Udp, 400, 5060)
    );
    assert_eq!(sip.vip_nmask, None); // 0.0.0.0
    assert_eq!(
        sip.send_program.as_deref(),
        Some("/usr/local/bin/test-sip-server.sh %h")
    );
    // Servers without `port` take the virtual's port parsed so far (docs/reference/piranha.md §2.4).
    assert!(sip.servers.iter().all(|s| s.port == 5060 && s.active));
    let c76 = load("tigerlinux__tigerlinux-extra-recipes__sip_serial76.cf");
    assert_eq!(
        (c76.tcp_timeout, c76.tcpfin_timeout, c76.udp_timeout),
        (10, 10, 10)
    );
    assert_eq!(
        (
            c76.rsh_command.as_str(),
            c76.syncdaemon,
            c76.syncd_iface.as_str(),
            c76.syncd_id
        ),
        ("ssh", true, "eth0", 0)
    );
    let frag = load("tigerlinux__tigerlinux-extra-recipes__multiport_fragment.cf");
    assert_eq!(frag.heartbeat_port, 539);
    assert_eq!(
        (frag.virtuals[0].fwmark, frag.virtuals[0].persistent),
        (80, 3600)
    );
}

#[test]
fn netkiller_pair_differs_in_serial_and_one_weight() {
    let master = load("OpenDocCN__netkiller-tut-zh__master_serial31.cf");
    let slave = load("OpenDocCN__netkiller-tut-zh__slave_serial30.cf");
    assert_eq!((master.serial_no, slave.serial_no), (31, 30));
    assert_eq!(
        master.primary_private.as_ref().map(ToString::to_string),
        Some(ip("172.16.2.2"))
    );
    assert_eq!(
        master.backup_private.as_ref().map(ToString::to_string),
        Some(ip("172.16.2.3"))
    );
    assert_eq!(
        (master.keepalive, master.deadtime),
        (Seconds::from_secs(2), Seconds::from_secs(6))
    );
    let changes: Vec<String> = pulse_lvscf::diff::diff(&master, &slave)
        .into_iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.path,
                c.old.unwrap_or_default(),
                c.new.unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            "serial_no: 31 -> 30",
            "virtual.LVS-HTTP.server.Web4.weight: 0 -> 3"
        ]
    );
    let mysql = load("OpenDocCN__netkiller-tut-zh__mysql_fragment.cf");
    let v = &mysql.virtuals[0];
    assert_eq!(
        (v.send.as_deref(), v.expect.as_deref()),
        (Some(""), Some(""))
    );
    assert_eq!(v.servers.len(), 3);
}
