//! Golden bytes of every request kind, written by hand from the uapi layout
//! (`include/uapi/linux/netlink.h`, `genetlink.h`, `ip_vs.h`), not from the encoder.
//!
//! Reading a literal: netlink integers are host order (these tests run on little-endian hosts
//! only), so `0600 0100` is `nla_len = 6, nla_type = 1`. Each attribute is padded to 4 bytes;
//! `nla_len` excludes the padding, a nest's `nla_len` includes its children's. A nest's type has
//! `NLA_F_NESTED` (0x8000) set: `0180` is `IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED`.
//! Ports and the IPv4 netmask are big-endian; the IPv6 netmask (a prefix length) is host order.

#![cfg(target_endian = "little")]

mod common;

use common::*;
use pulse_ipvs::{
    Family, Forward, IpvsOp, Netmask, Request, ServiceFlags, SyncDaemon, SyncRole, Timeouts,
};

// --- services -------------------------------------------------------------------------------

/// `ipvsadm -A -t 10.0.0.1:80 -s wlc`.
const ADD_TCP4: &str = "
    68000000            // nlmsg_len = 104
    2000                // nlmsg_type = family id 0x20
    0500                // nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK
    01000000            // nlmsg_seq = 1
    00000000            // nlmsg_pid = 0
    01 01 0000          // genlmsghdr: cmd IPVS_CMD_NEW_SERVICE (1), version 1, reserved
    5400 0180           // IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, len 84
      0600 0100 0200 0000           // IPVS_SVC_ATTR_AF (1) u16 = AF_INET (2), pad
      0600 0200 0600 0000           // IPVS_SVC_ATTR_PROTOCOL (2) u16 = IPPROTO_TCP (6), pad
      1400 0300 0a000001 00000000 00000000 00000000
                                    // IPVS_SVC_ATTR_ADDR (3): 16-byte nf_inet_addr, 10.0.0.1
      0600 0400 0050 0000           // IPVS_SVC_ATTR_PORT (4) = 80 big-endian, pad
      0800 0600 776c6300            // IPVS_SVC_ATTR_SCHED_NAME (6) = \"wlc\\0\"
      0c00 0700 00000000 ffffffff   // IPVS_SVC_ATTR_FLAGS (7): flags 0, mask all-ones
      0800 0800 00000000            // IPVS_SVC_ATTR_TIMEOUT (8) = 0 s
      0800 0900 ffffffff            // IPVS_SVC_ATTR_NETMASK (9) = 255.255.255.255
";

#[test]
fn add_service_tcp4() {
    let req = Request::Op(IpvsOp::AddService(service(tcp("10.0.0.1", 80), "wlc")));
    assert_bytes(&enc(&req, 1), &hex(ADD_TCP4));
}

#[test]
fn edit_service_tcp4_differs_only_in_command() {
    let req = Request::Op(IpvsOp::EditService(service(tcp("10.0.0.1", 80), "wlc")));
    let mut expected = hex(ADD_TCP4);
    expected[16] = 0x02; // genlmsghdr.cmd = IPVS_CMD_SET_SERVICE
    assert_bytes(&enc(&req, 1), &expected);
}

#[test]
fn delete_service_tcp4_sends_only_the_key() {
    let req = Request::Op(IpvsOp::DeleteService(tcp("10.0.0.1", 80)));
    let expected = hex("
        44000000 2000 0500 02000000 00000000   // len 68, family, REQUEST|ACK, seq 2, pid 0
        03 01 0000                             // IPVS_CMD_DEL_SERVICE (3), version 1
        3000 0180                              // IPVS_CMD_ATTR_SERVICE, nested, len 48 (4 + 44)
          0600 0100 0200 0000                  // AF = AF_INET
          0600 0200 0600 0000                  // PROTOCOL = TCP
          1400 0300 0a000001 00000000 00000000 00000000   // ADDR = 10.0.0.1
          0600 0400 0050 0000                  // PORT = 80
    ");
    assert_bytes(&enc(&req, 2), &expected);
}

/// `ipvsadm -A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port`.
const ADD_UDP6: &str = "
    68000000 2000 0500 03000000 00000000   // len 104, family, REQUEST|ACK, seq 3, pid 0
    01 01 0000                             // IPVS_CMD_NEW_SERVICE
    5400 0180                              // IPVS_CMD_ATTR_SERVICE, nested, len 84
      0600 0100 0a00 0000                  // AF = AF_INET6 (10)
      0600 0200 1100 0000                  // PROTOCOL = IPPROTO_UDP (17)
      1400 0300 20010db8 00000000 00000000 00000001   // ADDR = 2001:db8::1
      0600 0400 0035 0000                  // PORT = 53 big-endian
      0700 0600 736800 00                  // SCHED_NAME = \"sh\\0\" (len 7), 1 byte pad
      0c00 0700 18000000 ffffffff          // FLAGS = SCHED1|SCHED2 (0x18), mask all-ones
      0800 0800 00000000                   // TIMEOUT = 0
      0800 0900 80000000                   // NETMASK = prefix length 128, host order
";

fn udp6_service() -> pulse_ipvs::Service {
    let mut s = service(udp("2001:db8::1", 53), "sh");
    s.flags = ServiceFlags(ServiceFlags::SCHED1 | ServiceFlags::SCHED2);
    s
}

#[test]
fn add_service_udp6() {
    let req = Request::Op(IpvsOp::AddService(udp6_service()));
    assert_bytes(&enc(&req, 3), &hex(ADD_UDP6));
}

#[test]
fn edit_service_udp6_differs_only_in_command() {
    let req = Request::Op(IpvsOp::EditService(udp6_service()));
    let mut expected = hex(ADD_UDP6);
    expected[16] = 0x02; // IPVS_CMD_SET_SERVICE
    assert_bytes(&enc(&req, 3), &expected);
}

#[test]
fn delete_service_udp6() {
    let req = Request::Op(IpvsOp::DeleteService(udp("2001:db8::1", 53)));
    let expected = hex("
        44000000 2000 0500 04000000 00000000   // len 68, seq 4
        03 01 0000                             // IPVS_CMD_DEL_SERVICE
        3000 0180                              // IPVS_CMD_ATTR_SERVICE, len 48
          0600 0100 0a00 0000                  // AF = AF_INET6
          0600 0200 1100 0000                  // PROTOCOL = UDP
          1400 0300 20010db8 00000000 00000000 00000001   // ADDR = 2001:db8::1
          0600 0400 0035 0000                  // PORT = 53
    ");
    assert_bytes(&enc(&req, 4), &expected);
}

/// `ipvsadm -A -6 -f 1 -s rr`: a firewall-mark service still carries its family.
const ADD_FWM6: &str = "
    4c000000 2000 0500 05000000 00000000   // len 76, seq 5
    01 01 0000                             // IPVS_CMD_NEW_SERVICE
    3800 0180                              // IPVS_CMD_ATTR_SERVICE, len 56
      0600 0100 0a00 0000                  // AF = AF_INET6
      0800 0500 01000000                   // IPVS_SVC_ATTR_FWMARK (5) u32 = 1 (no PROTOCOL/ADDR/PORT)
      0700 0600 727200 00                  // SCHED_NAME = \"rr\\0\", pad
      0c00 0700 00000000 ffffffff          // FLAGS = 0, mask all-ones
      0800 0800 00000000                   // TIMEOUT = 0
      0800 0900 80000000                   // NETMASK = /128
";

#[test]
fn add_service_fwmark6() {
    let req = Request::Op(IpvsOp::AddService(service(fwm(Family::V6, 1), "rr")));
    assert_bytes(&enc(&req, 5), &hex(ADD_FWM6));
}

#[test]
fn edit_service_fwmark6_differs_only_in_command() {
    let req = Request::Op(IpvsOp::EditService(service(fwm(Family::V6, 1), "rr")));
    let mut expected = hex(ADD_FWM6);
    expected[16] = 0x02;
    assert_bytes(&enc(&req, 5), &expected);
}

#[test]
fn delete_service_fwmark4() {
    let req = Request::Op(IpvsOp::DeleteService(fwm(Family::V4, 7)));
    let expected = hex("
        28000000 2000 0500 06000000 00000000   // len 40, seq 6
        03 01 0000                             // IPVS_CMD_DEL_SERVICE
        1400 0180                              // IPVS_CMD_ATTR_SERVICE, len 20
          0600 0100 0200 0000                  // AF = AF_INET
          0800 0500 07000000                   // FWMARK = 7
    ");
    assert_bytes(&enc(&req, 6), &expected);
}

/// `ipvsadm -A -t 192.168.1.10:443 -s wlc -p 300 -M 255.255.255.0 --pe sip`.
#[test]
fn add_persistent_service_with_netmask_and_pe() {
    let mut s = service(tcp("192.168.1.10", 443), "wlc");
    s.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    s.timeout = 300;
    s.netmask = Netmask::V4("255.255.255.0".parse().unwrap());
    s.pe_name = Some("sip".to_owned());
    let expected = hex("
        70000000 2000 0500 07000000 00000000   // len 112, seq 7
        01 01 0000                             // IPVS_CMD_NEW_SERVICE
        5c00 0180                              // IPVS_CMD_ATTR_SERVICE, len 92
          0600 0100 0200 0000                  // AF = AF_INET
          0600 0200 0600 0000                  // PROTOCOL = TCP
          1400 0300 c0a8010a 00000000 00000000 00000000   // ADDR = 192.168.1.10
          0600 0400 01bb 0000                  // PORT = 443 big-endian
          0800 0600 776c6300                   // SCHED_NAME = \"wlc\\0\"
          0800 0b00 73697000                   // IPVS_SVC_ATTR_PE_NAME (11) = \"sip\\0\"
          0c00 0700 01000000 ffffffff          // FLAGS = PERSISTENT, mask all-ones
          0800 0800 2c010000                   // TIMEOUT = 300 s
          0800 0900 ffffff00                   // NETMASK = 255.255.255.0, network order
    ");
    assert_bytes(&enc(&Request::Op(IpvsOp::AddService(s)), 7), &expected);
}

#[test]
fn hashed_flag_is_never_sent() {
    let mut s = service(tcp("10.0.0.1", 80), "wlc");
    s.flags = ServiceFlags(ServiceFlags::HASHED);
    let req = Request::Op(IpvsOp::AddService(s));
    assert_bytes(&enc(&req, 1), &hex(ADD_TCP4));
}

#[test]
fn empty_pe_name_is_not_sent() {
    let mut s = service(tcp("10.0.0.1", 80), "wlc");
    s.pe_name = Some(String::new());
    assert_bytes(&enc(&Request::Op(IpvsOp::AddService(s)), 1), &hex(ADD_TCP4));
}

// --- destinations ---------------------------------------------------------------------------

/// The `IPVS_CMD_ATTR_SERVICE` nest of TCP 10.0.0.1:80 with only the key (what dest commands send).
const SVC_KEY_TCP4: &str = "
    3000 0180                              // IPVS_CMD_ATTR_SERVICE, len 48: key only
      0600 0100 0200 0000                  // AF = AF_INET
      0600 0200 0600 0000                  // PROTOCOL = TCP
      1400 0300 0a000001 00000000 00000000 00000000   // ADDR = 10.0.0.1
      0600 0400 0050 0000                  // PORT = 80
";

/// The same for UDP [2001:db8::1]:53.
const SVC_KEY_UDP6: &str = "
    3000 0180                              // IPVS_CMD_ATTR_SERVICE, len 48: key only
      0600 0100 0a00 0000                  // AF = AF_INET6
      0600 0200 1100 0000                  // PROTOCOL = UDP
      1400 0300 20010db8 00000000 00000000 00000001   // ADDR = 2001:db8::1
      0600 0400 0035 0000                  // PORT = 53
";

/// `ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1`.
#[test]
fn add_dest_route() {
    let req = Request::Op(IpvsOp::AddDest(
        tcp("10.0.0.1", 80),
        dest("10.0.0.2", 80, Forward::Route, 1),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0a000000 00000000   // len 140, seq 10
        05 01 0000                             // IPVS_CMD_NEW_DEST (5)
        {SVC_KEY_TCP4}
        4800 0280                              // IPVS_CMD_ATTR_DEST (2) | NLA_F_NESTED, len 72
          1400 0100 0a000002 00000000 00000000 00000000   // IPVS_DEST_ATTR_ADDR (1) = 10.0.0.2
          0600 0200 0050 0000                  // IPVS_DEST_ATTR_PORT (2) = 80 big-endian
          0800 0300 03000000                   // IPVS_DEST_ATTR_FWD_METHOD (3) = DROUTE (3)
          0800 0400 01000000                   // IPVS_DEST_ATTR_WEIGHT (4) = 1
          0800 0500 00000000                   // IPVS_DEST_ATTR_U_THRESH (5) = 0
          0800 0600 00000000                   // IPVS_DEST_ATTR_L_THRESH (6) = 0
          0600 0b00 0200 0000                  // IPVS_DEST_ATTR_ADDR_FAMILY (11) = AF_INET
    "
    ));
    assert_bytes(&enc(&req, 10), &expected);
}

/// `ipvsadm -e -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 0` (quiesce).
#[test]
fn edit_dest_route_quiesce() {
    let req = Request::Op(IpvsOp::EditDest(
        tcp("10.0.0.1", 80),
        dest("10.0.0.2", 80, Forward::Route, 0),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0b000000 00000000   // len 140, seq 11
        06 01 0000                             // IPVS_CMD_SET_DEST (6)
        {SVC_KEY_TCP4}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 0a000002 00000000 00000000 00000000   // ADDR = 10.0.0.2
          0600 0200 0050 0000                  // PORT = 80
          0800 0300 03000000                   // FWD_METHOD = DROUTE
          0800 0400 00000000                   // WEIGHT = 0
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
    "
    ));
    assert_bytes(&enc(&req, 11), &expected);
}

/// `ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 5 -x 1000 -y 750`.
#[test]
fn add_dest_masq_with_thresholds() {
    let mut d = dest("10.0.0.3", 8080, Forward::Masq, 5);
    d.upper_threshold = 1000;
    d.lower_threshold = 750;
    let req = Request::Op(IpvsOp::AddDest(tcp("10.0.0.1", 80), d));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0c000000 00000000   // len 140, seq 12
        05 01 0000                             // IPVS_CMD_NEW_DEST
        {SVC_KEY_TCP4}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 0a000003 00000000 00000000 00000000   // ADDR = 10.0.0.3
          0600 0200 1f90 0000                  // PORT = 8080 big-endian
          0800 0300 00000000                   // FWD_METHOD = MASQ (0)
          0800 0400 05000000                   // WEIGHT = 5
          0800 0500 e8030000                   // U_THRESH = 1000
          0800 0600 ee020000                   // L_THRESH = 750
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
    "
    ));
    assert_bytes(&enc(&req, 12), &expected);
}

/// `ipvsadm -e -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 2`.
#[test]
fn edit_dest_masq() {
    let req = Request::Op(IpvsOp::EditDest(
        tcp("10.0.0.1", 80),
        dest("10.0.0.3", 8080, Forward::Masq, 2),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0d000000 00000000   // len 140, seq 13
        06 01 0000                             // IPVS_CMD_SET_DEST
        {SVC_KEY_TCP4}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 0a000003 00000000 00000000 00000000   // ADDR = 10.0.0.3
          0600 0200 1f90 0000                  // PORT = 8080
          0800 0300 00000000                   // FWD_METHOD = MASQ
          0800 0400 02000000                   // WEIGHT = 2
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
    "
    ));
    assert_bytes(&enc(&req, 13), &expected);
}

/// `ipvsadm -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -i -w 100`.
#[test]
fn add_dest_tunnel_ipv6() {
    let req = Request::Op(IpvsOp::AddDest(
        udp("2001:db8::1", 53),
        dest("2001:db8::10", 53, Forward::Tunnel, 100),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0e000000 00000000   // len 140, seq 14
        05 01 0000                             // IPVS_CMD_NEW_DEST
        {SVC_KEY_UDP6}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 20010db8 00000000 00000000 00000010   // ADDR = 2001:db8::10
          0600 0200 0035 0000                  // PORT = 53
          0800 0300 02000000                   // FWD_METHOD = TUNNEL (2)
          0800 0400 64000000                   // WEIGHT = 100
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0a00 0000                  // ADDR_FAMILY = AF_INET6
    "
    ));
    assert_bytes(&enc(&req, 14), &expected);
}

/// `ipvsadm -e -u [2001:db8::1]:53 -r [2001:db8::10]:53 -i -w 50`.
#[test]
fn edit_dest_tunnel_ipv6() {
    let req = Request::Op(IpvsOp::EditDest(
        udp("2001:db8::1", 53),
        dest("2001:db8::10", 53, Forward::Tunnel, 50),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 0f000000 00000000   // len 140, seq 15
        06 01 0000                             // IPVS_CMD_SET_DEST
        {SVC_KEY_UDP6}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 20010db8 00000000 00000000 00000010   // ADDR = 2001:db8::10
          0600 0200 0035 0000                  // PORT = 53
          0800 0300 02000000                   // FWD_METHOD = TUNNEL
          0800 0400 32000000                   // WEIGHT = 50
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0a00 0000                  // ADDR_FAMILY = AF_INET6
    "
    ));
    assert_bytes(&enc(&req, 15), &expected);
}

/// An IPv6 real server behind an IPv4 service (tunnel only): ADDR_FAMILY differs from AF.
#[test]
fn add_dest_mixed_family_tunnel() {
    let req = Request::Op(IpvsOp::AddDest(
        tcp("10.0.0.1", 80),
        dest("2001:db8::2", 80, Forward::Tunnel, 1),
    ));
    let expected = hex(&format!(
        "
        8c000000 2000 0500 10000000 00000000   // len 140, seq 16
        05 01 0000                             // IPVS_CMD_NEW_DEST
        {SVC_KEY_TCP4}
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 20010db8 00000000 00000000 00000002   // ADDR = 2001:db8::2
          0600 0200 0050 0000                  // PORT = 80
          0800 0300 02000000                   // FWD_METHOD = TUNNEL
          0800 0400 01000000                   // WEIGHT = 1
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0a00 0000                  // ADDR_FAMILY = AF_INET6 (service is AF_INET)
    "
    ));
    assert_bytes(&enc(&req, 16), &expected);
}

/// `ipvsadm -a -f 7 -r 10.0.0.2 -g -w 1`: fwmark service, real port 0.
#[test]
fn add_dest_to_fwmark_service() {
    let req = Request::Op(IpvsOp::AddDest(
        fwm(Family::V4, 7),
        dest("10.0.0.2", 0, Forward::Route, 1),
    ));
    let expected = hex("
        70000000 2000 0500 11000000 00000000   // len 112, seq 17
        05 01 0000                             // IPVS_CMD_NEW_DEST
        1400 0180                              // IPVS_CMD_ATTR_SERVICE, len 20: key only
          0600 0100 0200 0000                  // AF = AF_INET
          0800 0500 07000000                   // FWMARK = 7
        4800 0280                              // IPVS_CMD_ATTR_DEST, len 72
          1400 0100 0a000002 00000000 00000000 00000000   // ADDR = 10.0.0.2
          0600 0200 0000 0000                  // PORT = 0
          0800 0300 03000000                   // FWD_METHOD = DROUTE
          0800 0400 01000000                   // WEIGHT = 1
          0800 0500 00000000                   // U_THRESH = 0
          0800 0600 00000000                   // L_THRESH = 0
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
    ");
    assert_bytes(&enc(&req, 17), &expected);
}

/// `ipvsadm -d -t 10.0.0.1:80 -r 10.0.0.2:80`: keys only.
#[test]
fn delete_dest_ipv4() {
    let req = Request::Op(IpvsOp::DeleteDest(
        tcp("10.0.0.1", 80),
        dkey("10.0.0.2", 80),
    ));
    let expected = hex(&format!(
        "
        6c000000 2000 0500 12000000 00000000   // len 108, seq 18
        07 01 0000                             // IPVS_CMD_DEL_DEST (7)
        {SVC_KEY_TCP4}
        2800 0280                              // IPVS_CMD_ATTR_DEST, len 40: key only
          1400 0100 0a000002 00000000 00000000 00000000   // ADDR = 10.0.0.2
          0600 0200 0050 0000                  // PORT = 80
          0600 0b00 0200 0000                  // ADDR_FAMILY = AF_INET
    "
    ));
    assert_bytes(&enc(&req, 18), &expected);
}

#[test]
fn delete_dest_ipv6() {
    let req = Request::Op(IpvsOp::DeleteDest(
        udp("2001:db8::1", 53),
        dkey("2001:db8::10", 53),
    ));
    let expected = hex(&format!(
        "
        6c000000 2000 0500 13000000 00000000   // len 108, seq 19
        07 01 0000                             // IPVS_CMD_DEL_DEST
        {SVC_KEY_UDP6}
        2800 0280                              // IPVS_CMD_ATTR_DEST, len 40
          1400 0100 20010db8 00000000 00000000 00000010   // ADDR = 2001:db8::10
          0600 0200 0035 0000                  // PORT = 53
          0600 0b00 0a00 0000                  // ADDR_FAMILY = AF_INET6
    "
    ));
    assert_bytes(&enc(&req, 19), &expected);
}

// --- table-wide, config, daemons ------------------------------------------------------------

#[test]
fn flush() {
    let expected = hex("
        14000000 2000 0500 14000000 00000000   // len 20, REQUEST|ACK, seq 20
        11 01 0000                             // IPVS_CMD_FLUSH (17), no attributes
    ");
    assert_bytes(&enc(&Request::Flush, 20), &expected);
}

#[test]
fn get_info() {
    let expected = hex("
        14000000 2000 0500 15000000 00000000   // len 20, REQUEST|ACK, seq 21
        0f 01 0000                             // IPVS_CMD_GET_INFO (15)
    ");
    assert_bytes(&enc(&Request::GetInfo, 21), &expected);
}

#[test]
fn dump_services() {
    let expected = hex("
        14000000 2000
        0503                                   // REQUEST|ACK|NLM_F_DUMP (0x305)
        16000000 00000000                      // seq 22
        04 01 0000                             // IPVS_CMD_GET_SERVICE (4), no attributes
    ");
    assert_bytes(&enc(&Request::GetServices, 22), &expected);
}

#[test]
fn get_one_service() {
    let expected = hex(&format!(
        "
        44000000 2000 0500 17000000 00000000   // len 68, REQUEST|ACK (no dump), seq 23
        04 01 0000                             // IPVS_CMD_GET_SERVICE
        {SVC_KEY_TCP4}
    "
    ));
    assert_bytes(
        &enc(&Request::GetService(tcp("10.0.0.1", 80)), 23),
        &expected,
    );
}

#[test]
fn dump_dests_of_a_service() {
    let expected = hex(&format!(
        "
        44000000 2000 0503 18000000 00000000   // len 68, REQUEST|ACK|DUMP, seq 24
        08 01 0000                             // IPVS_CMD_GET_DEST (8)
        {SVC_KEY_TCP4}
    "
    ));
    assert_bytes(&enc(&Request::GetDests(tcp("10.0.0.1", 80)), 24), &expected);
}

#[test]
fn get_timeouts() {
    let expected = hex("
        14000000 2000 0500 19000000 00000000   // len 20, seq 25
        0d 01 0000                             // IPVS_CMD_GET_CONFIG (13)
    ");
    assert_bytes(&enc(&Request::GetTimeouts, 25), &expected);
}

/// `ipvsadm --set 900 120 300`.
#[test]
fn set_timeouts() {
    let req = Request::SetTimeouts(Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    });
    let expected = hex("
        2c000000 2000 0500 1a000000 00000000   // len 44, seq 26
        0c 01 0000                             // IPVS_CMD_SET_CONFIG (12)
        0800 0400 84030000                     // IPVS_CMD_ATTR_TIMEOUT_TCP (4) = 900, top level
        0800 0500 78000000                     // IPVS_CMD_ATTR_TIMEOUT_TCP_FIN (5) = 120
        0800 0600 2c010000                     // IPVS_CMD_ATTR_TIMEOUT_UDP (6) = 300
    ");
    assert_bytes(&enc(&req, 26), &expected);
}

/// `ipvsadm --start-daemon master --mcast-interface eth0 --syncid 5`.
#[test]
fn start_daemon() {
    let req = Request::StartDaemon(SyncDaemon {
        role: SyncRole::Master,
        interface: "eth0".to_owned(),
        sync_id: 5,
    });
    let expected = hex("
        34000000 2000 0500 1b000000 00000000   // len 52, seq 27
        09 01 0000                             // IPVS_CMD_NEW_DAEMON (9)
        2000 0380                              // IPVS_CMD_ATTR_DAEMON (3) | NLA_F_NESTED, len 32
          0800 0100 01000000                   // IPVS_DAEMON_ATTR_STATE (1) = MASTER (1)
          0900 0200 65746830 00 000000         // IPVS_DAEMON_ATTR_MCAST_IFN (2) = \"eth0\\0\", pad
          0800 0300 05000000                   // IPVS_DAEMON_ATTR_SYNC_ID (3) = 5
    ");
    assert_bytes(&enc(&req, 27), &expected);
}

/// `ipvsadm --stop-daemon backup`: the role only.
#[test]
fn stop_daemon() {
    let expected = hex("
        20000000 2000 0500 1c000000 00000000   // len 32, seq 28
        0a 01 0000                             // IPVS_CMD_DEL_DAEMON (10)
        0c00 0380                              // IPVS_CMD_ATTR_DAEMON, len 12
          0800 0100 02000000                   // STATE = BACKUP (2)
    ");
    assert_bytes(&enc(&Request::StopDaemon(SyncRole::Backup), 28), &expected);
}

#[test]
fn dump_daemons() {
    let expected = hex("
        14000000 2000 0503 1d000000 00000000   // len 20, REQUEST|ACK|DUMP, seq 29
        0b 01 0000                             // IPVS_CMD_GET_DAEMON (11)
    ");
    assert_bytes(&enc(&Request::GetDaemons, 29), &expected);
}

#[test]
fn zero_all_and_one() {
    let all = hex("
        14000000 2000 0500 1e000000 00000000   // len 20, seq 30
        10 01 0000                             // IPVS_CMD_ZERO (16), no service: all
    ");
    assert_bytes(&enc(&Request::Zero(None), 30), &all);
    let one = hex("
        28000000 2000 0500 1f000000 00000000   // len 40, seq 31
        10 01 0000                             // IPVS_CMD_ZERO
        1400 0180                              // IPVS_CMD_ATTR_SERVICE, len 20
          0600 0100 0200 0000                  // AF = AF_INET
          0800 0500 07000000                   // FWMARK = 7
    ");
    assert_bytes(&enc(&Request::Zero(Some(fwm(Family::V4, 7))), 31), &one);
}

/// The `nlctrl` request a transport without neli would send to resolve `"IPVS"`.
#[test]
fn resolve_family_request() {
    let mut out = Vec::new();
    pulse_ipvs::netlink::encode_get_family("IPVS", 1, &mut out);
    let expected = hex("
        20000000                               // len 32
        1000                                   // GENL_ID_CTRL (0x10)
        0500 01000000 00000000                 // REQUEST|ACK, seq 1, pid 0
        03 01 0000                             // CTRL_CMD_GETFAMILY (3), version 1
        0900 0200 49505653 00 000000           // CTRL_ATTR_FAMILY_NAME (2) = \"IPVS\\0\", pad
    ");
    assert_bytes(&out, &expected);
}

// --- batching and the comparison itself -----------------------------------------------------

#[test]
fn encode_appends_so_requests_batch() {
    let mut out = Vec::new();
    let add = Request::Op(IpvsOp::AddService(service(tcp("10.0.0.1", 80), "wlc")));
    pulse_ipvs::encode(&add, FAMILY, 1, &mut out);
    pulse_ipvs::encode(&Request::Flush, FAMILY, 20, &mut out);
    let mut expected = hex(ADD_TCP4);
    expected.extend(hex("14000000 2000 0500 14000000 00000000 11 01 0000"));
    assert_bytes(&out, &expected);
}

#[test]
fn encode_does_not_reallocate_a_reserved_buffer() {
    let mut out = Vec::with_capacity(4096);
    let (ptr, cap) = (out.as_ptr(), out.capacity());
    for seq in 0..20 {
        let req = Request::Op(IpvsOp::AddDest(
            tcp("10.0.0.1", 80),
            dest("10.0.0.2", 80, Forward::Route, 1),
        ));
        pulse_ipvs::encode(&req, FAMILY, seq, &mut out);
    }
    assert_eq!(out.len(), 20 * 140);
    assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap));
}

/// The golden comparison is exact: any single changed byte of a literal fails it.
#[test]
fn golden_comparison_catches_any_single_byte() {
    let req = Request::Op(IpvsOp::AddService(service(tcp("10.0.0.1", 80), "wlc")));
    let actual = enc(&req, 1);
    let expected = hex(ADD_TCP4);
    assert_eq!(actual, expected);
    for i in 0..expected.len() {
        let mut wrong = expected.clone();
        wrong[i] ^= 0x01;
        assert_ne!(actual, wrong, "byte {i}");
    }
}
