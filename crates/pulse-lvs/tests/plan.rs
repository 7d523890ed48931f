//! lvs.cf → plan → desired table, on the corpus and on hand-written files.

use pulse_ipvs::{DestKey, Forward, IpvsOp, Netmask, ServiceFlags, ServiceKey};
use pulse_lvs::{Health, Plan, Table, reconcile};
use pulse_lvscf::LvsConfig;
use std::net::{IpAddr, Ipv4Addr};

fn load(src: &str) -> LvsConfig {
    let parsed = pulse_lvscf::parse(src);
    assert!(parsed.is_valid(), "{src}");
    parsed.config
}

fn no_dns(_: &str) -> Option<IpAddr> {
    None
}

const TWO: &str = "serial_no = 1
network = direct
virtual web {
    active = 1
    address = 192.0.2.10 eth0:1
    port = 80
    scheduler = sed
    persistent = 300
    pmask = 255.255.255.0
    quiesce_server = 1
    sorry_server = 10.0.0.99
    server a {
        address = 10.0.0.1
        active = 1
        weight = 3
    }
    server b {
        address = 10.0.0.2
        active = 1
        weight = -4
    }
    server c {
        address = 10.0.0.3
        active = 0
    }
}
virtual dns {
    active = 1
    address = 192.0.2.10 eth0:1
    protocol = udp
    port = 53
    fwmark = 7
    server d {
        address = 10.0.0.4
        active = 1
    }
}
virtual off {
    active = 0
    address = 192.0.2.11 eth0:2
}
";

#[test]
fn active_services_and_servers_become_ipvs_objects() {
    let (plan, problems) = Plan::new(&load(TWO), &mut no_dns);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(plan.services.len(), 2);
    let web = &plan.services[0];
    assert_eq!(web.service.scheduler, "sed");
    assert_eq!(web.service.flags, ServiceFlags(ServiceFlags::PERSISTENT));
    assert_eq!(web.service.timeout, 300);
    assert_eq!(
        web.service.netmask,
        Netmask::V4(Ipv4Addr::new(255, 255, 255, 0))
    );
    assert_eq!(web.servers.len(), 2, "inactive server c is not planned");
    assert_eq!(web.servers[0].dest.forward, Forward::Route);
    assert_eq!(web.servers[0].dest.weight, 3);
    assert_eq!(web.servers[1].dest.weight, 0, "negative weight becomes 0");
    assert_eq!(
        plan.services[1].service.key,
        ServiceKey::Fwmark {
            family: pulse_ipvs::Family::V4,
            mark: 7
        }
    );
}

#[test]
fn health_decides_presence_quiesce_and_the_sorry_server() {
    let (plan, _) = Plan::new(&load(TWO), &mut no_dns);
    let web = &plan.services[0];
    let sorry = DestKey {
        addr: "10.0.0.99".parse().unwrap(),
        port: 80,
    };
    // All down with quiesce: both stay at weight 0, the sorry server is in.
    let d = web.desired(&|_, _| Health::Down);
    assert_eq!(d.dests.len(), 3);
    assert!(d.dests.contains_key(&sorry));
    assert!(
        d.dests
            .values()
            .filter(|x| x.dest().key != sorry)
            .all(|x| x.dest().weight == 0)
    );
    // One up: the sorry server goes.
    let d = web.desired(&|_, k| {
        if k.addr == IpAddr::from([10, 0, 0, 1]) {
            Health::Up
        } else {
            Health::Down
        }
    });
    assert!(!d.dests.contains_key(&sorry));
    // Unknown (just started): no sorry server flash.
    let d = web.desired(&|_, _| Health::Unknown);
    assert!(!d.dests.contains_key(&sorry));
}

#[test]
fn an_empty_kernel_gets_every_up_server() {
    let (plan, _) = Plan::new(&load(TWO), &mut no_dns);
    let ops = reconcile(&plan.desired(&|_, _| Health::Up), &Table::default());
    let adds = ops
        .iter()
        .filter(|o| matches!(o, IpvsOp::AddDest(..)))
        .count();
    let services = ops
        .iter()
        .filter(|o| matches!(o, IpvsOp::AddService(..)))
        .count();
    assert_eq!((services, adds), (2, 3));
}

#[test]
fn every_corpus_file_plans_and_reconciles_to_a_fixed_point() {
    let files = pulse_e2e::corpus_files();
    assert!(files.len() >= 9);
    for (name, src) in files {
        let parsed = pulse_lvscf::parse(&src);
        if !parsed.is_valid() {
            continue;
        }
        let cfg = parsed.config;
        let (plan, _) = Plan::new(&cfg, &mut no_dns);
        let active = cfg.virtuals.iter().filter(|v| v.active).count();
        assert!(plan.services.len() <= active, "{name}");
        let d = plan.desired(&|_, _| Health::Up);
        let ops = reconcile(&d, &Table::default());
        let mut t = Table::default();
        ops.iter().for_each(|o| t.apply(o));
        assert!(reconcile(&d, &t).is_empty(), "{name}");
    }
}

#[test]
fn a_draining_release_quiesces_every_server_and_adds_the_partner() {
    let (plan, _) = Plan::new(&load(TWO), &mut no_dns);
    let up = |_: &ServiceKey, _: &DestKey| Health::Up;
    let mut table = Table::default();
    reconcile(&plan.desired(&up), &table)
        .iter()
        .for_each(|o| table.apply(o));
    let partner: IpAddr = Ipv4Addr::new(192, 0, 2, 12).into();
    let mut d = plan.desired(&up);
    d.forward_new_to(partner);
    let ops = reconcile(&d, &table);
    // Weights to 0 in place (the servers keep their connections), the partner added by direct
    // routing on the service's port (0 for the fwmark service); nothing deleted.
    assert!(
        ops.iter()
            .all(|o| matches!(o, IpvsOp::EditDest(..) | IpvsOp::AddDest(..))),
        "{ops:?}"
    );
    let added: Vec<_> = ops
        .iter()
        .filter_map(|o| match o {
            IpvsOp::AddDest(_, d) => Some((d.key, d.forward, d.weight)),
            _ => None,
        })
        .collect();
    assert_eq!(
        added,
        [
            (
                DestKey {
                    addr: partner,
                    port: 0
                },
                Forward::Route,
                1
            ),
            (
                DestKey {
                    addr: partner,
                    port: 80
                },
                Forward::Route,
                1
            )
        ]
    );
    ops.iter().for_each(|o| table.apply(o));
    for s in table.services.values() {
        for dest in s.dests.values() {
            assert_eq!(dest.weight, i32::from(dest.key.addr == partner), "{dest:?}");
        }
    }
    // Back to the configured table: the partner goes, the weights come back.
    let ops = reconcile(&plan.desired(&up), &table);
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, IpvsOp::DeleteDest(..)))
            .count(),
        2,
        "{ops:?}"
    );
    ops.iter().for_each(|o| table.apply(o));
    assert!(reconcile(&plan.desired(&up), &table).is_empty());
    // An IPv6 partner cannot take IPv4 connections: nothing changes.
    let mut d6 = plan.desired(&up);
    d6.forward_new_to("2001:db8::12".parse().expect("v6"));
    assert_eq!(d6, plan.desired(&up));
}

#[test]
fn a_server_name_resolving_to_the_other_family_is_left_out_outside_tunnel() {
    let src = |network: &str| {
        format!(
            "network = {network}\nvirtual web6 {{\n active = 1\n address = 2001:db8::10 eth0\n port = 80\n\
             server a {{\n address = web-a\n active = 1\n }}\n server b {{\n address = 2001:db8::21\n active = 1\n }}\n}}\n"
        )
    };
    let mut v4 = |_: &str| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let (plan, problems) = Plan::new(&load(&src("direct")), &mut v4);
    assert_eq!(plan.services[0].servers.len(), 1, "only the IPv6 server");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .to_string()
            .contains("cannot serve the IPv6 VIP 2001:db8::10"),
        "{}",
        problems[0]
    );
    // IPVS tunnels across families.
    let (plan, problems) = Plan::new(&load(&src("tunnel")), &mut v4);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(plan.services[0].servers.len(), 2);
}
