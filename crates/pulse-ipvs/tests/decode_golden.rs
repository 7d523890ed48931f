//! Kernel replies built by hand the way `net/netfilter/ipvs/ip_vs_ctl.c` builds them
//! (`ip_vs_genl_fill_service`, `ip_vs_genl_fill_dest`, `ip_vs_genl_fill_stats`,
//! `ip_vs_genl_fill_stats64`, `ip_vs_genl_fill_daemon`, `ip_vs_genl_get_cmd`) and the way
//! `net/netlink/af_netlink.c` frames acks, errors and `NLMSG_DONE`, then decoded.
//!
//! Kernel nests use `nla_nest_start_noflag`: no `NLA_F_NESTED` bit (`0100`, not `0180`). Dump
//! parts carry `NLM_F_MULTI` (0x0002) and the requester's port id (here 0x1234).

#![cfg(target_endian = "little")]

mod common;

use common::*;
use pulse_ipvs::netlink::{self, Attrs, NLM_F_DUMP_INTR, NLM_F_MULTI};
use pulse_ipvs::{
    Body, DecodeError, Dest, DestCounters, Family, Forward, Info, IpvsOp, Netmask, Reply, Request,
    Service, ServiceFlags, ServiceStats, SyncDaemon, SyncRole, Timeouts, decode_daemon,
    decode_dest, decode_info, decode_reply, decode_service, decode_timeouts, messages,
};

/// `IPVS_SVC_ATTR_STATS`: u32 counters except the two byte counters (u64).
const STATS_32: &str = "
    5c00 0a00                       // IPVS_SVC_ATTR_STATS (10), len 92
      0800 0100 0a000000            // IPVS_STATS_ATTR_CONNS = 10 (u32: 2^32 + 10 truncated)
      0800 0200 64000000            // INPKTS = 100
      0800 0300 32000000            // OUTPKTS = 50
      0c00 0400 10270000 00000000   // INBYTES u64 = 10000
      0c00 0500 88130000 00000000   // OUTBYTES u64 = 5000
      0800 0600 01000000            // CPS = 1
      0800 0700 02000000            // INPPS = 2
      0800 0800 03000000            // OUTPPS = 3
      0800 0900 04000000            // INBPS = 4
      0800 0a00 05000000            // OUTBPS = 5
";

/// `IPVS_SVC_ATTR_STATS64`: every counter u64.
const STATS_64: &str = "
    7c00 0c00                       // IPVS_SVC_ATTR_STATS64 (12), len 124
      0c00 0100 0a000000 01000000   // CONNS = 2^32 + 10
      0c00 0200 64000000 00000000   // INPKTS = 100
      0c00 0300 32000000 00000000   // OUTPKTS = 50
      0c00 0400 10270000 00000000   // INBYTES = 10000
      0c00 0500 88130000 00000000   // OUTBYTES = 5000
      0c00 0600 01000000 00000000   // CPS = 1
      0c00 0700 02000000 00000000   // INPPS = 2
      0c00 0800 03000000 00000000   // OUTPPS = 3
      0c00 0900 04000000 00000000   // INBPS = 4
      0c00 0a00 05000000 00000000   // OUTBPS = 5
";

/// A `GET_SERVICE` dump part: persistent TCP 10.0.0.1:80, as a current kernel sends it.
fn service_tcp4_reply() -> Vec<u8> {
    hex(&format!(
        "
        40010000 2000 0200 16000000 34120000   // len 320, family, NLM_F_MULTI, seq 22, pid 0x1234
        01 01 0000                             // IPVS_CMD_NEW_SERVICE, version 1
        2c01 0100                              // IPVS_CMD_ATTR_SERVICE, len 300 (no NLA_F_NESTED)
          0600 0100 0200 0000                  // AF = AF_INET
          0600 0200 0600 0000                  // PROTOCOL = TCP
          1400 0300 0a000001 00000000 00000000 00000000   // ADDR = 10.0.0.1 (16-byte union)
          0600 0400 0050 0000                  // PORT = 80 big-endian
          0800 0600 776c6300                   // SCHED_NAME = \"wlc\\0\"
          0c00 0700 03000000 ffffffff          // FLAGS = PERSISTENT|HASHED, mask ~0
          0800 0800 2c010000                   // TIMEOUT = 300 (svc->timeout / HZ)
          0800 0900 ffffff00                   // NETMASK = 255.255.255.0 (nla_put_be32)
          {STATS_32}
          {STATS_64}
        "
    ))
}

/// A dump part from a kernel without `STATS64` (before 4.1): IPv6 fwmark service with a
/// persistence engine and a /64 persistence netmask.
fn service_fwm6_reply() -> Vec<u8> {
    hex(&format!(
        "
        b0000000 2000 0200 16000000 34120000   // len 176, MULTI, seq 22
        01 01 0000                             // IPVS_CMD_NEW_SERVICE
        9c00 0100                              // IPVS_CMD_ATTR_SERVICE, len 156
          0600 0100 0a00 0000                  // AF = AF_INET6
          0800 0500 01000000                   // FWMARK = 1 (no PROTOCOL/ADDR/PORT)
          0700 0600 727200 00                  // SCHED_NAME = \"rr\\0\"
          0800 0b00 73697000                   // PE_NAME = \"sip\\0\"
          0c00 0700 02000000 ffffffff          // FLAGS = HASHED only
          0800 0800 00000000                   // TIMEOUT = 0
          0800 0900 40000000                   // NETMASK = prefix 64, host order
          {STATS_32}
        "
    ))
}

const DONE: &str = "
    14000000 0300 0200 16000000 34120000   // len 20, NLMSG_DONE, NLM_F_MULTI, seq 22
    00000000                               // netlink_dump_done's int: 0 = complete
";

fn stats() -> ServiceStats {
    ServiceStats {
        conns: (1 << 32) + 10,
        inpkts: 100,
        outpkts: 50,
        inbytes: 10000,
        outbytes: 5000,
        cps: 1,
        inpps: 2,
        outpps: 3,
        inbps: 4,
        outbps: 5,
    }
}

fn data(bytes: &[u8]) -> (u8, &[u8]) {
    let mut it = messages(bytes);
    let m = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    match m.body {
        Body::Data { cmd, attrs, .. } => (cmd, attrs),
        other => panic!("not data: {other:?}"),
    }
}

#[test]
fn service_reply_prefers_stats64_and_drops_hashed() {
    let bytes = service_tcp4_reply();
    let (cmd, attrs) = data(&bytes);
    assert_eq!(cmd, 1);
    let (service, got_stats) = decode_service(attrs).unwrap();
    assert_eq!(
        service,
        Service {
            key: tcp("10.0.0.1", 80),
            scheduler: "wlc".to_owned(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 300,
            netmask: Netmask::V4("255.255.255.0".parse().unwrap()),
            pe_name: None,
        }
    );
    assert_eq!(got_stats, stats());
}

#[test]
fn service_reply_from_an_old_kernel_uses_stats() {
    let bytes = service_fwm6_reply();
    let (_, attrs) = data(&bytes);
    let (service, got_stats) = decode_service(attrs).unwrap();
    assert_eq!(
        service,
        Service {
            key: fwm(Family::V6, 1),
            scheduler: "rr".to_owned(),
            flags: ServiceFlags(0),
            timeout: 0,
            netmask: Netmask::V6Prefix(64),
            pe_name: Some("sip".to_owned()),
        }
    );
    assert_eq!(
        got_stats,
        ServiceStats {
            conns: 10,
            ..stats()
        }
    );
}

#[test]
fn multi_message_dump_datagram_ends_in_done() {
    let mut datagram = service_tcp4_reply();
    datagram.extend(service_fwm6_reply());
    datagram.extend(hex(DONE));
    assert_eq!(datagram.len(), 320 + 176 + 20);

    let msgs: Vec<_> = messages(&datagram).collect::<Result<_, _>>().unwrap();
    assert_eq!(msgs.len(), 3);
    for m in &msgs {
        assert_eq!((m.seq, m.pid), (22, 0x1234));
        assert_eq!(m.flags & NLM_F_MULTI, NLM_F_MULTI);
        assert_eq!(m.flags & NLM_F_DUMP_INTR, 0);
    }
    let req = Request::GetServices;
    let replies: Vec<_> = msgs[..2]
        .iter()
        .map(|m| match m.body {
            Body::Data {
                cmd,
                version,
                attrs,
            } => {
                assert_eq!((m.msg_type, version), (FAMILY, 1));
                decode_reply(&req, cmd, attrs).unwrap()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(&replies[0], Reply::Service(s, _) if s.key == tcp("10.0.0.1", 80)));
    assert!(matches!(&replies[1], Reply::Service(s, _) if s.key == fwm(Family::V6, 1)));
    assert_eq!(msgs[2].msg_type, 3);
    assert_eq!(msgs[2].body, Body::Done { errno: 0 });
}

#[test]
fn done_carrying_an_error() {
    let bytes = hex("
        14000000 0300 0200 18000000 34120000   // NLMSG_DONE, MULTI, seq 24
        a6ffffff                               // -EMSGSIZE (-90): the dump failed
    ");
    let m = messages(&bytes).next().unwrap().unwrap();
    assert_eq!(m.body, Body::Done { errno: 90 });
}

/// A `GET_DEST` dump part as `ip_vs_genl_fill_dest` writes it today, with an
/// `IPVS_STATS_ATTR_PAD` where `nla_put_u64_64bit` aligns on strict-alignment machines.
fn dest_reply() -> Vec<u8> {
    hex(&format!(
        "
        68010000 2000 0200 18000000 34120000   // len 360, MULTI, seq 24
        05 01 0000                             // IPVS_CMD_NEW_DEST
        5401 0200                              // IPVS_CMD_ATTR_DEST, len 340
          1400 0100 0a000002 00000000 00000000 00000000   // ADDR = 10.0.0.2
          0600 0200 0050 0000                  // PORT = 80
          0800 0300 03000000                   // FWD_METHOD = DROUTE
          0800 0400 01000000                   // WEIGHT = 1
          0500 0d00 00 000000                  // TUN_TYPE u8 = IPIP (0), pad
          0600 0e00 0000 0000                  // TUN_PORT = 0
          0600 0f00 0000 0000                  // TUN_FLAGS = 0
          0800 0500 c8000000                   // U_THRESH = 200
          0800 0600 96000000                   // L_THRESH = 150
          0800 0700 07000000                   // ACTIVE_CONNS = 7
          0800 0800 03000000                   // INACT_CONNS = 3
          0800 0900 02000000                   // PERSIST_CONNS = 2
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
          {STATS_32}
          8000 0c00                            // IPVS_DEST_ATTR_STATS64 (12), len 128
            0400 0b00                          // IPVS_STATS_ATTR_PAD (11), empty
            0c00 0100 2a000000 00000000        // CONNS = 42
            0c00 0200 00000000 00000000
            0c00 0300 00000000 00000000
            0c00 0400 00000000 00000000
            0c00 0500 00000000 00000000
            0c00 0600 00000000 00000000
            0c00 0700 00000000 00000000
            0c00 0800 00000000 00000000
            0c00 0900 00000000 00000000
            0c00 0a00 00000000 00000000
        "
    ))
}

#[test]
fn dest_reply_with_tunnel_attrs_pad_and_stats64() {
    let bytes = dest_reply();
    let (cmd, attrs) = data(&bytes);
    assert_eq!(cmd, 5);
    let (d, counters) = decode_dest(attrs, Family::V6).unwrap(); // ADDR_FAMILY wins over the hint
    assert_eq!(
        d,
        Dest {
            key: dkey("10.0.0.2", 80),
            forward: Forward::Route,
            weight: 1,
            upper_threshold: 200,
            lower_threshold: 150,
        }
    );
    assert_eq!(
        counters,
        DestCounters {
            active_conns: 7,
            inactive_conns: 3,
            persistent_conns: 2,
            stats: ServiceStats {
                conns: 42,
                ..ServiceStats::default()
            },
        }
    );
    let req = Request::GetDests(tcp("10.0.0.1", 80));
    assert_eq!(
        decode_reply(&req, cmd, attrs).unwrap(),
        Reply::Dest(d, counters)
    );
}

#[test]
fn dest_reply_without_addr_family_takes_the_hint() {
    let bytes = hex("
        6c000000 2000 0200 18000000 34120000   // len 108, MULTI, seq 24
        05 01 0000                             // IPVS_CMD_NEW_DEST
        5800 0200                              // IPVS_CMD_ATTR_DEST, len 88 (a pre-3.18 kernel)
          1400 0100 20010db8 00000000 00000000 00000010   // ADDR = 2001:db8::10
          0600 0200 0035 0000                  // PORT = 53
          0800 0300 0a000000                   // FWD_METHOD = 0x0a: flag bits above the mask, TUNNEL
          0800 0400 ffffffff                   // WEIGHT = -1 (an int in a u32)
          0800 0500 00000000                   // U_THRESH
          0800 0600 00000000                   // L_THRESH
          0800 0700 00000000                   // ACTIVE_CONNS
          0800 0800 00000000                   // INACT_CONNS
          0800 0900 00000000                   // PERSIST_CONNS
    ");
    let (_, attrs) = data(&bytes);
    let (d, counters) = decode_dest(attrs, Family::V6).unwrap();
    assert_eq!(d.key, dkey("2001:db8::10", 53));
    assert_eq!(d.forward, Forward::Tunnel);
    assert_eq!(d.weight, -1);
    assert_eq!(counters, DestCounters::default());
}

#[test]
fn info_reply() {
    let bytes = hex("
        24000000 2000 0000 15000000 34120000   // len 36, no flags, seq 21
        0e 01 0000                             // IPVS_CMD_SET_INFO (14): the GET_INFO reply
        0800 0100 01020100                     // IPVS_INFO_ATTR_VERSION = 0x010201 (1.2.1)
        0800 0200 00100000                     // IPVS_INFO_ATTR_CONN_TAB_SIZE = 4096
    ");
    let (cmd, attrs) = data(&bytes);
    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    assert_eq!(decode_info(attrs).unwrap(), info);
    assert_eq!(
        decode_reply(&Request::GetInfo, cmd, attrs).unwrap(),
        Reply::Info(info)
    );
}

#[test]
fn timeouts_reply() {
    let bytes = hex("
        2c000000 2000 0000 19000000 34120000   // len 44, seq 25
        0c 01 0000                             // IPVS_CMD_SET_CONFIG (12): the GET_CONFIG reply
        0800 0400 84030000                     // TIMEOUT_TCP = 900
        0800 0500 78000000                     // TIMEOUT_TCP_FIN = 120
        0800 0600 2c010000                     // TIMEOUT_UDP = 300
    ");
    let (cmd, attrs) = data(&bytes);
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
    assert_eq!(decode_timeouts(attrs).unwrap(), t);
    assert_eq!(
        decode_reply(&Request::GetTimeouts, cmd, attrs).unwrap(),
        Reply::Timeouts(t)
    );
}

#[test]
fn daemon_reply() {
    let bytes = hex("
        54000000 2000 0200 1d000000 34120000   // len 84, MULTI, seq 29
        09 01 0000                             // IPVS_CMD_NEW_DAEMON
        4000 0300                              // IPVS_CMD_ATTR_DAEMON, len 64
          0800 0100 02000000                   // STATE = BACKUP
          0900 0200 65746830 00 000000         // MCAST_IFN = \"eth0\\0\"
          0800 0300 05000000                   // SYNC_ID = 5
          0600 0400 c405 0000                  // SYNC_MAXLEN = 1476
          0600 0700 9022 0000                  // MCAST_PORT = 8848
          0500 0800 01 000000                  // MCAST_TTL u8 = 1
          0800 0500 e0000051                   // MCAST_GROUP = 224.0.0.81
    ");
    let (cmd, attrs) = data(&bytes);
    let d = SyncDaemon {
        role: SyncRole::Backup,
        interface: "eth0".to_owned(),
        sync_id: 5,
    };
    assert_eq!(decode_daemon(attrs).unwrap(), d);
    assert_eq!(
        decode_reply(&Request::GetDaemons, cmd, attrs).unwrap(),
        Reply::Daemon(d)
    );
}

#[test]
fn ack() {
    let bytes = hex("
        24000000 0200 0001 01000000 34120000   // len 36, NLMSG_ERROR, NLM_F_CAPPED, seq 1
        00000000                               // error 0: success
        68000000 2000 0500 01000000 00000000   // the request's header, echoed
    ");
    let m = messages(&bytes).next().unwrap().unwrap();
    assert_eq!((m.msg_type, m.seq), (2, 1));
    assert_eq!(m.body, Body::Ack);
}

#[test]
fn error_with_echoed_request_and_extended_ack() {
    let mut bytes = hex("
        64000000 0200 0002 06000000 34120000   // len 100, NLMSG_ERROR, NLM_F_ACK_TLVS, seq 6
        efffffff                               // error -17 (EEXIST)
        28000000 2000 0500 06000000 00000000   // the whole request echoed (not capped)
        03 01 0000
        1400 0180 0600 0100 0200 0000 0800 0500 07000000
        2700 0100                              // NLMSGERR_ATTR_MSG (1), len 39
    ");
    bytes.extend_from_slice(b"Attribute failed policy validation\0"); // 35 bytes
    bytes.push(0); // pad to 4
    assert_eq!(bytes.len(), 100);
    let m = messages(&bytes).next().unwrap().unwrap();
    assert_eq!(m.body, Body::Error { errno: 17 });
    assert_eq!(m.ext_msg, Some("Attribute failed policy validation"));
}

#[test]
fn capped_error() {
    let bytes = hex("
        24000000 0200 0001 02000000 34120000   // len 36, NLMSG_ERROR, CAPPED, seq 2
        fdffffff                               // -ESRCH
        44000000 2000 0500 02000000 00000000   // the request's header only
    ");
    let m = messages(&bytes).next().unwrap().unwrap();
    assert_eq!(m.body, Body::Error { errno: 3 });
    assert_eq!(m.ext_msg, None);
    let req = Request::Op(IpvsOp::DeleteService(tcp("10.0.0.1", 80)));
    assert_eq!(
        pulse_ipvs::explain(&req, 3),
        "no such service TCP 10.0.0.1:80"
    );
}

#[test]
fn acks_for_a_batch_in_one_datagram() {
    let bytes = hex("
        24000000 0200 0001 01000000 34120000  00000000  68000000 2000 0500 01000000 00000000
        24000000 0200 0001 02000000 34120000  efffffff  68000000 2000 0500 02000000 00000000
        10000000 0100 0000 00000000 00000000  // NLMSG_NOOP
    ");
    let got: Vec<_> = messages(&bytes)
        .map(|m| m.map(|m| (m.seq, m.body)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got,
        [
            (1, Body::Ack),
            (2, Body::Error { errno: 17 }),
            (0, Body::Other(1)),
        ]
    );
}

#[test]
fn nlctrl_family_reply() {
    let bytes = hex("
        38000000 1000 0000 01000000 34120000   // len 56, GENL_ID_CTRL, seq 1
        01 02 0000                             // CTRL_CMD_NEWFAMILY (1), version 2
        0600 0100 2000 0000                    // CTRL_ATTR_FAMILY_ID = 0x20
        0900 0200 49505653 00 000000           // CTRL_ATTR_FAMILY_NAME = \"IPVS\\0\"
        0800 0300 01000000                     // CTRL_ATTR_VERSION = 1 (not needed)
        0800 0400 00000000                     // CTRL_ATTR_HDRSIZE = 0
    ");
    let (_, attrs) = data(&bytes);
    assert_eq!(netlink::decode_family_id(attrs).unwrap(), 0x20);
}

// --- errors name what they were reading -----------------------------------------------------

fn dest_error(body: &str) -> DecodeError {
    let attrs = hex(body);
    decode_dest(&attrs, Family::V4).unwrap_err()
}

#[test]
fn short_port_names_the_attribute() {
    let err = dest_error(
        "
        2800 0200                              // IPVS_CMD_ATTR_DEST, len 40
          1400 0100 0a000002 00000000 00000000 00000000   // ADDR
          0500 0200 00 000000                  // PORT with 1 byte
          0800 0300 03000000                   // FWD_METHOD
    ",
    );
    assert_eq!(
        err.to_string(),
        "IPVS_DEST_ATTR_PORT: expected 2 bytes, got 1"
    );
}

#[test]
fn truncated_attribute_names_its_container() {
    let err = dest_error(
        "
        1000 0200                              // IPVS_CMD_ATTR_DEST, len 16
          1400 0100 0a000002 00000000          // ADDR claims 20 bytes, 12 present
    ",
    );
    assert_eq!(
        err.to_string(),
        "IPVS_CMD_ATTR_DEST: attribute at byte 0 is truncated (12 bytes left)"
    );
    let err = dest_error("0c00 0200 0800 0300 03000000"); // nest claims 12, 8 + 4 present: ok
    assert_eq!(err.to_string(), "missing attribute IPVS_DEST_ATTR_ADDR");
    let err = dest_error("0800 0200 0300 0300"); // child with nla_len 3 < 4
    assert!(matches!(err, DecodeError::AttrTruncated { .. }), "{err}");
    let err = dest_error("0c00 0200 0800"); // top-level nest claims 12, 6 present
    assert_eq!(
        err.to_string(),
        "top-level attributes: attribute at byte 0 is truncated (6 bytes left)"
    );
}

#[test]
fn missing_and_bad_values() {
    let err = decode_service(&hex("0c00 0100  0800 0500 01000000")).unwrap_err();
    assert_eq!(err.to_string(), "missing attribute IPVS_SVC_ATTR_AF");
    let err =
        decode_service(&hex("1400 0100  0600 0100 0700 0000  0800 0500 01000000")).unwrap_err();
    assert_eq!(err.to_string(), "IPVS_SVC_ATTR_AF: unsupported value 7");
    let err = dest_error(
        "
        2800 0200                              // IPVS_CMD_ATTR_DEST, len 40
          1400 0100 0a000002 00000000 00000000 00000000
          0600 0200 0050 0000
          0800 0300 05000000                   // FWD_METHOD = 5: not a method
    ",
    );
    assert_eq!(
        err.to_string(),
        "IPVS_DEST_ATTR_FWD_METHOD: unsupported value 5"
    );
    assert_eq!(
        decode_service(&hex("0800 0200 00000000")).unwrap_err(),
        DecodeError::Missing {
            attr: "IPVS_CMD_ATTR_SERVICE"
        }
    );
}

#[test]
fn unknown_attributes_are_skipped() {
    let mut bytes = service_tcp4_reply();
    // A top-level attribute from a future kernel, and one inside the service nest.
    bytes.extend(hex("0800 3f00 deadbeef"));
    let attrs = bytes[20..].to_vec();
    let mut nested = hex("0800 2000 deadbeef"); // IPVS_SVC_ATTR 32: unknown
    nested.extend_from_slice(&attrs[4..300]);
    let len = (nested.len() + 4) as u16;
    let mut with_unknown = len.to_le_bytes().to_vec();
    with_unknown.extend([0x01, 0x00]);
    with_unknown.extend(nested);
    with_unknown.extend(&attrs[300..]);
    let (s1, _) = decode_service(&attrs).unwrap();
    let (s2, _) = decode_service(&with_unknown).unwrap();
    assert_eq!(s1, s2);
}

#[test]
fn reply_command_is_checked() {
    let bytes = service_tcp4_reply();
    let (_, attrs) = data(&bytes);
    assert_eq!(
        decode_reply(&Request::GetDaemons, 1, attrs).unwrap_err(),
        DecodeError::UnexpectedCommand {
            expected: 9,
            got: 1
        }
    );
    assert_eq!(
        decode_reply(&Request::Flush, 1, attrs).unwrap_err(),
        DecodeError::UnexpectedData { cmd: 1 }
    );
}

#[test]
fn bad_message_lengths() {
    let err = messages(&hex("08000000 2000 0000 00000000 00000000"))
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "netlink message at byte 0 claims 8 bytes, 16 available"
    );
    let err = messages(&hex("14000000 2000")).next().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "nlmsghdr: need 16 bytes, got 6");
    // The iterator stops after an error.
    let bytes =
        hex("ff000000 2000 0000 00000000 00000000  14000000 0300 0000 00000000 00000000 00000000");
    assert_eq!(messages(&bytes).count(), 1);
    // A family message without its genlmsghdr.
    let err = messages(&hex("12000000 2000 0000 00000000 00000000 0101"))
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.to_string(), "genlmsghdr: need 4 bytes, got 2");
}

#[test]
fn attrs_iterator_reports_flags() {
    let bytes = hex("0800 0180 0400 0100  0500 0200 07 000000");
    let got: Vec<_> = Attrs::new(&bytes, "test")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].kind, got[0].nested), (1, true));
    assert_eq!(
        (got[1].kind, got[1].nested, got[1].payload),
        (2, false, &[7u8][..])
    );
}
