//! Property tests: what the encoder writes for `NEW_SERVICE`/`NEW_DEST`/`NEW_DAEMON`/
//! `SET_CONFIG` has the layout of the kernel's replies, so decoding it gives the value back;
//! and no input, however malformed, makes the decoders panic.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::FAMILY;
use proptest::prelude::*;
use pulse_ipvs::netlink::Attrs;
use pulse_ipvs::{
    Body, Dest, DestCounters, DestKey, Family, Forward, IpvsOp, Netmask, Protocol, Request,
    Service, ServiceFlags, ServiceKey, ServiceStats, SyncDaemon, SyncRole, Timeouts, decode_daemon,
    decode_dest, decode_info, decode_reply, decode_service, decode_timeouts, encode, explain,
    messages,
};

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn addr(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => any::<[u8; 4]>()
            .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
            .boxed(),
        Family::V6 => any::<[u8; 16]>()
            .prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
            .boxed(),
    }
}

fn any_addr() -> impl Strategy<Value = IpAddr> {
    family().prop_flat_map(addr)
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (family(), 1..=u32::MAX).prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark }),
        (protocol(), any_addr(), any::<u16>()).prop_map(|(protocol, addr, port)| {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            }
        }),
    ]
}

fn netmask(family: Family) -> BoxedStrategy<Netmask> {
    match family {
        Family::V4 => any::<[u8; 4]>()
            .prop_map(|o| Netmask::V4(Ipv4Addr::from(o)))
            .boxed(),
        Family::V6 => any::<u32>().prop_map(Netmask::V6Prefix).boxed(),
    }
}

fn service() -> impl Strategy<Value = Service> {
    service_key().prop_flat_map(|key| {
        (
            "[a-z0-9_-]{1,15}",
            any::<u32>(),
            any::<u32>(),
            netmask(key.family()),
            proptest::option::of("[a-z]{1,16}"),
        )
            .prop_map(
                move |(scheduler, flags, timeout, netmask, pe_name)| Service {
                    key,
                    scheduler,
                    flags: ServiceFlags(flags).configurable(),
                    timeout,
                    netmask,
                    pe_name,
                },
            )
    })
}

fn forward() -> impl Strategy<Value = Forward> {
    prop_oneof![
        Just(Forward::Masq),
        Just(Forward::Local),
        Just(Forward::Tunnel),
        Just(Forward::Route),
        Just(Forward::Bypass),
    ]
}

fn dest() -> impl Strategy<Value = Dest> {
    (
        any_addr(),
        any::<u16>(),
        forward(),
        any::<i32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(addr, port, forward, weight, upper, lower)| Dest {
            key: DestKey { addr, port },
            forward,
            weight,
            upper_threshold: upper,
            lower_threshold: lower,
        })
}

fn daemon() -> impl Strategy<Value = SyncDaemon> {
    (
        prop_oneof![Just(SyncRole::Master), Just(SyncRole::Backup)],
        "[a-z0-9.]{1,15}",
        any::<u8>(),
    )
        .prop_map(|(role, interface, sync_id)| SyncDaemon {
            role,
            interface,
            sync_id,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        service().prop_map(|s| Request::Op(IpvsOp::AddService(s))),
        service().prop_map(|s| Request::Op(IpvsOp::EditService(s))),
        service_key().prop_map(|k| Request::Op(IpvsOp::DeleteService(k))),
        (service_key(), dest()).prop_map(|(k, d)| Request::Op(IpvsOp::AddDest(k, d))),
        (service_key(), dest()).prop_map(|(k, d)| Request::Op(IpvsOp::EditDest(k, d))),
        (service_key(), dest()).prop_map(|(k, d)| Request::Op(IpvsOp::DeleteDest(k, d.key))),
        Just(Request::Flush),
        Just(Request::GetInfo),
        Just(Request::GetServices),
        service_key().prop_map(Request::GetService),
        service_key().prop_map(Request::GetDests),
        Just(Request::GetTimeouts),
        any::<(u32, u32, u32)>().prop_map(|(tcp, tcp_fin, udp)| Request::SetTimeouts(Timeouts {
            tcp,
            tcp_fin,
            udp
        })),
        daemon().prop_map(Request::StartDaemon),
        prop_oneof![Just(SyncRole::Master), Just(SyncRole::Backup)].prop_map(Request::StopDaemon),
        Just(Request::GetDaemons),
        proptest::option::of(service_key()).prop_map(Request::Zero),
    ]
}

/// Encodes `req` and returns its one message's command and attributes.
fn encoded_attrs(req: &Request) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    encode(req, FAMILY, 7, &mut out);
    let mut it = messages(&out);
    let m = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    assert_eq!((m.msg_type, m.seq, m.pid), (FAMILY, 7, 0));
    match m.body {
        Body::Data {
            cmd,
            version,
            attrs,
        } => {
            assert_eq!(version, 1);
            (cmd, attrs.to_vec())
        }
        other => panic!("{other:?}"),
    }
}

/// Runs every decoder on `bytes` as a datagram and as bare attributes; only panics matter.
fn decode_everything(bytes: &[u8]) {
    for m in messages(bytes) {
        if let Ok(Body::Data { cmd, attrs, .. }) = m.map(|m| m.body) {
            decode_everything_attrs(attrs);
            for req in [
                Request::GetServices,
                Request::GetDests(ServiceKey::Fwmark {
                    family: Family::V4,
                    mark: 1,
                }),
                Request::GetInfo,
                Request::GetTimeouts,
                Request::GetDaemons,
                Request::Flush,
            ] {
                let _ = decode_reply(&req, cmd, attrs);
            }
        }
    }
    decode_everything_attrs(bytes);
}

fn decode_everything_attrs(attrs: &[u8]) {
    let _ = decode_service(attrs);
    let _ = decode_dest(attrs, Family::V4);
    let _ = decode_dest(attrs, Family::V6);
    let _ = decode_timeouts(attrs);
    let _ = decode_info(attrs);
    let _ = decode_daemon(attrs);
    for a in Attrs::new(attrs, "fuzz").flatten() {
        let _ = decode_service(a.payload);
        let _ = decode_dest(a.payload, Family::V6);
        let _ = decode_daemon(a.payload);
    }
    let _ = pulse_ipvs::netlink::decode_family_id(attrs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn new_service_attrs_decode_to_the_same_service(s in service()) {
        for req in [
            Request::Op(IpvsOp::AddService(s.clone())),
            Request::Op(IpvsOp::EditService(s.clone())),
        ] {
            let (_, attrs) = encoded_attrs(&req);
            let (got, stats) = decode_service(&attrs).unwrap();
            prop_assert_eq!(&got, &s);
            prop_assert_eq!(stats, ServiceStats::default());
        }
    }

    #[test]
    fn new_dest_attrs_decode_to_the_same_dest(k in service_key(), d in dest()) {
        for req in [
            Request::Op(IpvsOp::AddDest(k, d)),
            Request::Op(IpvsOp::EditDest(k, d)),
        ] {
            let (_, attrs) = encoded_attrs(&req);
            let (got, counters) = decode_dest(&attrs, k.family()).unwrap();
            prop_assert_eq!(got, d);
            prop_assert_eq!(counters, DestCounters::default());
        }
    }

    #[test]
    fn new_daemon_attrs_decode_to_the_same_daemon(d in daemon()) {
        let (cmd, attrs) = encoded_attrs(&Request::StartDaemon(d.clone()));
        prop_assert_eq!(cmd, 9);
        prop_assert_eq!(decode_daemon(&attrs).unwrap(), d);
    }

    #[test]
    fn set_config_attrs_decode_to_the_same_timeouts(t in any::<(u32, u32, u32)>()) {
        let t = Timeouts { tcp: t.0, tcp_fin: t.1, udp: t.2 };
        let (_, attrs) = encoded_attrs(&Request::SetTimeouts(t));
        prop_assert_eq!(decode_timeouts(&attrs).unwrap(), t);
    }

    #[test]
    fn a_batch_splits_back_into_its_requests(reqs in prop::collection::vec(request(), 0..40)) {
        let mut batch = Vec::new();
        let mut lens = Vec::new();
        for (seq, req) in (1u32..).zip(&reqs) {
            let before = batch.len();
            encode(req, FAMILY, seq, &mut batch);
            lens.push(batch.len() - before);
            prop_assert_eq!(batch.len() % 4, 0);
        }
        let msgs: Vec<_> = messages(&batch).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(msgs.len(), reqs.len());
        for ((seq, req), m) in (1u32..).zip(&reqs).zip(&msgs) {
            prop_assert_eq!(m.seq, seq);
            let dump = m.flags & pulse_ipvs::netlink::NLM_F_DUMP != 0;
            prop_assert_eq!(dump, req.is_dump());
            let is_cmd = matches!(m.body, Body::Data { cmd, .. } if cmd == req.command());
            prop_assert!(is_cmd);
        }
        // Each nested attribute's length covers exactly its children.
        for m in &msgs {
            if let Body::Data { attrs, .. } = m.body {
                for a in Attrs::new(attrs, "batch") {
                    let a = a.unwrap();
                    if a.nested {
                        prop_assert!(Attrs::new(a.payload, "nest").all(|c| c.is_ok()));
                    }
                }
            }
        }
    }

    #[test]
    fn explain_always_names_something(req in request(), errno in any::<i32>()) {
        prop_assert!(!explain(&req, errno).is_empty());
        let _ = pulse_ipvs::validate(&req);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        req in request(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        encode(&req, FAMILY, 1, &mut bytes);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        decode_everything(&bytes);
        let end = cut.index(bytes.len() + 1);
        decode_everything(&bytes[..end]);
    }
}
