//! The reconcile core: concrete reloads, and property tests of idempotence and of "objects that
//! already match are never touched".

use proptest::prelude::*;
use pulse_ipvs::{
    Dest, DestKey, Forward, IpvsOp, Netmask, Protocol, Service, ServiceFlags, ServiceKey,
};
use pulse_lvs::{Desired, DesiredDest, DesiredService, ObservedService, Table, reconcile};
use std::net::{IpAddr, Ipv4Addr};

fn skey(i: u8) -> ServiceKey {
    ServiceKey::Addr {
        protocol: if i.is_multiple_of(2) {
            Protocol::Tcp
        } else {
            Protocol::Udp
        },
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i)),
        port: 80,
    }
}

fn dkey(i: u8) -> DestKey {
    DestKey {
        addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
        port: 80,
    }
}

fn service(i: u8, scheduler: &str) -> Service {
    Service {
        key: skey(i),
        scheduler: scheduler.into(),
        flags: ServiceFlags(0),
        timeout: 0,
        netmask: Netmask::full(pulse_ipvs::Family::V4),
        pe_name: None,
    }
}

fn dest(i: u8, weight: i32) -> Dest {
    Dest {
        key: dkey(i),
        forward: Forward::Route,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

fn observed(services: &[(Service, &[Dest])]) -> Table {
    Table {
        services: services
            .iter()
            .map(|(s, ds)| {
                (
                    s.key,
                    ObservedService {
                        service: s.clone(),
                        dests: ds.iter().map(|d| (d.key, *d)).collect(),
                    },
                )
            })
            .collect(),
    }
}

fn desired(services: &[(Service, &[DesiredDest])]) -> Desired {
    Desired {
        services: services
            .iter()
            .map(|(s, ds)| {
                (
                    s.key,
                    DesiredService {
                        service: s.clone(),
                        dests: ds.iter().map(|d| (d.dest().key, *d)).collect(),
                    },
                )
            })
            .collect(),
    }
}

#[test]
fn empty_table_is_built_service_first() {
    let want = desired(&[(service(0, "wlc"), &[DesiredDest::Present(dest(1, 5))])]);
    let ops = reconcile(&want, &Table::default());
    assert_eq!(
        ops,
        vec![
            IpvsOp::AddService(service(0, "wlc")),
            IpvsOp::AddDest(skey(0), dest(1, 5)),
        ]
    );
}

#[test]
fn weight_edit_add_and_remove_are_exactly_three_ops() {
    let have = observed(&[
        (service(0, "wlc"), &[dest(1, 1), dest(2, 1), dest(3, 1)]),
        (service(1, "rr"), &[dest(1, 1)]),
    ]);
    let want = desired(&[
        (
            service(0, "wlc"),
            &[
                DesiredDest::Present(dest(1, 1)),
                DesiredDest::Present(dest(2, 7)),
                DesiredDest::Present(dest(4, 1)),
            ],
        ),
        (service(1, "rr"), &[DesiredDest::Present(dest(1, 1))]),
    ]);
    let ops = reconcile(&want, &have);
    assert_eq!(
        ops,
        vec![
            IpvsOp::DeleteDest(skey(0), dkey(3)),
            IpvsOp::EditDest(skey(0), dest(2, 7)),
            IpvsOp::AddDest(skey(0), dest(4, 1)),
        ]
    );
}

#[test]
fn scheduler_and_persistence_changes_are_edits_in_place() {
    let have = observed(&[(service(0, "wlc"), &[dest(1, 1)])]);
    let mut changed = service(0, "sed");
    changed.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    changed.timeout = 300;
    let want = desired(&[(changed.clone(), &[DesiredDest::Present(dest(1, 1))])]);
    assert_eq!(reconcile(&want, &have), vec![IpvsOp::EditService(changed)]);
}

#[test]
fn reordered_services_change_nothing() {
    // piranha 0.8.6 indexed the new list with the old list's index (docs/reference/piranha.md §5.6 #7).
    let have = observed(&[
        (service(0, "wlc"), &[dest(1, 1)]),
        (service(1, "rr"), &[dest(2, 1)]),
    ]);
    let want = desired(&[
        (service(1, "rr"), &[DesiredDest::Present(dest(2, 1))]),
        (service(0, "wlc"), &[DesiredDest::Present(dest(1, 1))]),
    ]);
    assert!(reconcile(&want, &have).is_empty());
}

#[test]
fn kernel_bookkeeping_flag_is_not_a_difference() {
    let mut hashed = service(0, "wlc");
    hashed.flags = ServiceFlags(ServiceFlags::HASHED);
    let have = observed(&[(hashed, &[dest(1, 1)])]);
    let want = desired(&[(service(0, "wlc"), &[DesiredDest::Present(dest(1, 1))])]);
    assert!(reconcile(&want, &have).is_empty());
}

#[test]
fn unknown_health_adopts_what_the_kernel_has() {
    // A restarted lvsd: 1 is in the kernel quiesced (weight 0), 2 is absent. Neither is touched
    // until its first check; 3 is not configured any more and goes.
    let have = observed(&[(service(0, "wlc"), &[dest(1, 0), dest(3, 1)])]);
    let want = desired(&[(
        service(0, "wlc"),
        &[
            DesiredDest::KeepIfPresent(dest(1, 5)),
            DesiredDest::KeepIfPresent(dest(2, 5)),
        ],
    )]);
    assert_eq!(
        reconcile(&want, &have),
        vec![IpvsOp::DeleteDest(skey(0), dkey(3))]
    );
}

#[test]
fn foreign_services_are_removed() {
    let have = observed(&[(service(3, "rr"), &[dest(1, 1)])]);
    assert_eq!(
        reconcile(&Desired::default(), &have),
        vec![IpvsOp::DeleteService(skey(3))]
    );
}

// ---- properties -----------------------------------------------------------------------------

fn arb_service(i: u8) -> impl Strategy<Value = Service> {
    (
        prop::sample::select(vec!["rr", "wlc", "sed"]),
        any::<bool>(),
        0u32..3,
    )
        .prop_map(move |(sched, persistent, timeout)| Service {
            flags: ServiceFlags(if persistent {
                ServiceFlags::PERSISTENT
            } else {
                0
            }),
            timeout: if persistent { 60 * timeout } else { 0 },
            ..service(i, sched)
        })
}

fn arb_dest(i: u8) -> impl Strategy<Value = Dest> {
    (
        0i32..3,
        prop::sample::select(vec![Forward::Route, Forward::Masq]),
    )
        .prop_map(move |(weight, forward)| Dest {
            forward,
            ..dest(i, weight)
        })
}

fn arb_observed() -> impl Strategy<Value = Table> {
    prop::collection::btree_map(
        0u8..4,
        prop::collection::btree_map(0u8..5, any::<u8>(), 0..5),
        0..4,
    )
    .prop_flat_map(|shape| {
        let parts: Vec<_> = shape
            .into_iter()
            .map(|(si, ds)| {
                let dests: Vec<_> = ds.keys().map(|&di| arb_dest(di)).collect();
                (arb_service(si), dests)
            })
            .collect();
        parts.prop_map(|parts| Table {
            services: parts
                .into_iter()
                .map(|(s, ds)| {
                    (
                        s.key,
                        ObservedService {
                            service: s,
                            dests: ds.into_iter().map(|d| (d.key, d)).collect(),
                        },
                    )
                })
                .collect(),
        })
    })
}

fn arb_desired() -> impl Strategy<Value = Desired> {
    prop::collection::btree_map(
        0u8..4,
        prop::collection::btree_map(0u8..5, any::<bool>(), 0..5),
        0..4,
    )
    .prop_flat_map(|shape| {
        let parts: Vec<_> = shape
            .into_iter()
            .map(|(si, ds)| {
                let dests: Vec<_> = ds
                    .into_iter()
                    .map(|(di, keep)| {
                        arb_dest(di).prop_map(move |d| {
                            if keep {
                                DesiredDest::KeepIfPresent(d)
                            } else {
                                DesiredDest::Present(d)
                            }
                        })
                    })
                    .collect();
                (arb_service(si), dests)
            })
            .collect();
        parts.prop_map(|parts| Desired {
            services: parts
                .into_iter()
                .map(|(s, ds)| {
                    (
                        s.key,
                        DesiredService {
                            service: s,
                            dests: ds.into_iter().map(|d| (d.dest().key, d)).collect(),
                        },
                    )
                })
                .collect(),
        })
    })
}

fn op_touches(op: &IpvsOp) -> (ServiceKey, Option<DestKey>) {
    match op {
        IpvsOp::AddService(s) | IpvsOp::EditService(s) => (s.key, None),
        IpvsOp::DeleteService(k) => (*k, None),
        IpvsOp::AddDest(k, d) | IpvsOp::EditDest(k, d) => (*k, Some(d.key)),
        IpvsOp::DeleteDest(k, d) => (*k, Some(*d)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Reconciling, applying, and reconciling again yields nothing; the result is the desired
    /// table.
    #[test]
    fn reconcile_is_idempotent(want in arb_desired(), have in arb_observed()) {
        let ops = reconcile(&want, &have);
        let mut after = have.clone();
        for op in &ops {
            after.apply(op);
        }
        prop_assert_eq!(reconcile(&want, &after), vec![]);
        prop_assert_eq!(
            after.services.keys().collect::<Vec<_>>(),
            want.services.keys().collect::<Vec<_>>()
        );
        for (k, ws) in &want.services {
            let got = &after.services[k];
            for (dk, wd) in &ws.dests {
                match wd {
                    DesiredDest::Present(d) => prop_assert_eq!(got.dests.get(dk), Some(d)),
                    DesiredDest::KeepIfPresent(_) => {
                        let was = have.services.get(k).and_then(|s| s.dests.get(dk));
                        prop_assert_eq!(got.dests.contains_key(dk), was.is_some());
                        if let Some(was) = was {
                            prop_assert_eq!(got.dests[dk].weight, was.weight);
                        }
                    }
                }
            }
            prop_assert!(got.dests.keys().all(|dk| ws.dests.contains_key(dk)));
        }
    }

    /// A wanted service is never deleted (nor re-added); a service or destination already equal
    /// to what is wanted is never mentioned by any op.
    #[test]
    fn unchanged_objects_are_never_touched(want in arb_desired(), have in arb_observed()) {
        let ops = reconcile(&want, &have);
        for op in &ops {
            let (sk, dk) = op_touches(op);
            if let IpvsOp::DeleteService(k) = op {
                prop_assert!(!want.services.contains_key(k));
            }
            if let IpvsOp::AddService(s) = op {
                prop_assert!(!have.services.contains_key(&s.key));
            }
            if let IpvsOp::DeleteDest(k, d) = op {
                prop_assert!(!want.services[k].dests.contains_key(d));
            }
            if let IpvsOp::AddDest(k, d) = op {
                prop_assert!(have.services.get(k).is_none_or(|s| !s.dests.contains_key(&d.key)));
            }
            let (Some(ws), Some(hs)) = (want.services.get(&sk), have.services.get(&sk)) else {
                continue;
            };
            match dk {
                None => prop_assert_ne!(&ws.service, &hs.service, "{} touched an equal service", op),
                Some(dk) => {
                    if let (Some(wd), Some(hd)) = (ws.dests.get(&dk), hs.dests.get(&dk)) {
                        let equal = match wd {
                            DesiredDest::Present(d) => d == hd,
                            DesiredDest::KeepIfPresent(d) => Dest { weight: hd.weight, ..*d } == *hd,
                        };
                        prop_assert!(!equal, "{} touched an equal destination", op);
                    }
                }
            }
        }
    }
}

#[test]
fn ops_per_service_are_in_kernel_order() {
    // A DeleteDest or AddDest never precedes its own service's AddService.
    let want = desired(&[(service(2, "rr"), &[DesiredDest::Present(dest(1, 1))])]);
    let have = observed(&[(service(0, "rr"), &[dest(1, 1)])]);
    let ops = reconcile(&want, &have);
    assert_eq!(
        ops,
        vec![
            IpvsOp::DeleteService(skey(0)),
            IpvsOp::AddService(service(2, "rr")),
            IpvsOp::AddDest(skey(2), dest(1, 1)),
        ]
    );
}
