//! `service = fos`'s connectivity check (docs/reference/piranha.md §4.11): the default gateway
//! from the routing table and one ICMP echo to it. piranha ran `/sbin/ip route show` and
//! `/bin/ping -n -c 1 -w 1 GW` up to 3 times; this does the same without either program (a
//! minimal host has neither `ping` nor `ip`). Blocking: call it from a blocking thread.
//! An IPv6 target (Pulse: `fos_ping_target` with IPv6 VIPs) gets an ICMPv6 echo.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The IPv4 default gateway of this network namespace (`/proc/net/route`'s first route to
/// 0.0.0.0/0 with a gateway), if there is one.
pub fn default_gateway() -> Option<Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_gateway(&table)
}

/// The default gateway in the text of `/proc/net/route` (hex fields in the host's byte order).
pub fn parse_default_gateway(table: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (dest, gw, mask) = (f.get(1)?, f.get(2)?, f.get(7)?);
        if *dest != "00000000" || *mask != "00000000" || *gw == "00000000" {
            return None;
        }
        let v = u32::from_str_radix(gw, 16).ok()?;
        Some(Ipv4Addr::from(v.to_ne_bytes()))
    })
}

/// One ICMP (IPv4) or ICMPv6 (IPv6) echo to `addr` on a raw socket (needs CAP_NET_RAW),
/// answered within `timeout`.
pub fn ping(addr: IpAddr, timeout: Duration, id: u16, seq: u16) -> io::Result<bool> {
    match addr {
        IpAddr::V4(a) => ping4(a, timeout, id, seq),
        IpAddr::V6(a) => ping6(a, timeout, id, seq),
    }
}

/// The echo request's ICMP header and payload (type, code 0, checksum left 0, id, seq).
fn echo_request(kind: u8, id: u16, seq: u16) -> [u8; 16] {
    let mut pkt = [0u8; 16];
    pkt[0] = kind;
    pkt[4..6].copy_from_slice(&id.to_be_bytes());
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    pkt[8..16].copy_from_slice(b"pulsefos");
    pkt
}

/// Whether `icmp` is the echo reply (`kind`) to our `id` and `seq`.
fn is_reply(icmp: &[u8], kind: u8, id: u16, seq: u16) -> bool {
    icmp.len() >= 8
        && icmp[0] == kind
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// Set the socket's receive timeout to what is left until `deadline`; `false` if nothing is.
fn time_left(fd: &std::os::fd::OwnedFd, deadline: Instant) -> io::Result<bool> {
    use nix::sys::socket::{setsockopt, sockopt};
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(false);
    }
    let tv = nix::sys::time::TimeVal::new(
        i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
        i64::from(left.subsec_micros()).max(1),
    );
    setsockopt(fd, sockopt::ReceiveTimeout, &tv).map_err(io::Error::from)?;
    Ok(true)
}

/// ICMPv6 echo (RFC 4443 §4.1). The kernel fills in the checksum of a raw ICMPv6 socket
/// (RFC 3542 §3.1: it needs the pseudo-header's source address, which it picks) and hands
/// back the ICMPv6 message without the IPv6 header. A link-local target needs a scope, which
/// an lvs.cf address cannot give: use a global or unique-local one.
fn ping6(addr: Ipv6Addr, timeout: Duration, id: u16, seq: u16) -> io::Result<bool> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6, recvfrom, sendto,
        socket,
    };
    let fd = socket(
        AddressFamily::Inet6,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::IcmpV6,
    )
    .map_err(io::Error::from)?;
    let pkt = echo_request(128, id, seq);
    let to = SockaddrIn6::from(SocketAddrV6::new(addr, 0, 0, 0));
    sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty()).map_err(io::Error::from)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    // The socket sees every ICMPv6 message of the host (neighbour discovery too): bounded by
    // the deadline, not by a count.
    while time_left(&fd, deadline)? {
        let (n, from) = match recvfrom::<SockaddrIn6>(fd.as_raw_fd(), &mut buf) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if from.map(|f| f.ip()) == Some(addr) && is_reply(&buf[..n], 129, id, seq) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn ping4(addr: Ipv4Addr, timeout: Duration, id: u16, seq: u16) -> io::Result<bool> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recvfrom, sendto,
        socket,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io::Error::from)?;
    let mut pkt = echo_request(8, id, seq);
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    let to = SockaddrIn::from(SocketAddrV4::new(addr, 0));
    sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty()).map_err(io::Error::from)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while time_left(&fd, deadline)? {
        let (n, from) = match recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if from.map(|f| f.ip()) != Some(addr) || n < 20 {
            continue;
        }
        // A raw IPv4 socket receives the IP header too.
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if is_reply(&buf[ihl.min(n)..n], 0, id, seq) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_of_proc_net_route() {
        let t = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                 eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(parse_default_gateway(t), Some(Ipv4Addr::new(10, 0, 2, 1)));
        assert_eq!(parse_default_gateway("Iface\n"), None);
    }

    #[test]
    fn echo_replies_are_matched_by_type_id_and_seq() {
        let mut r = echo_request(129, 7, 2);
        assert!(is_reply(&r, 129, 7, 2));
        assert!(!is_reply(&r, 129, 7, 3), "another seq");
        assert!(!is_reply(&r, 129, 8, 2), "another id (another pinger)");
        assert!(!is_reply(&r[..7], 129, 7, 2), "truncated");
        r[0] = 128;
        assert!(!is_reply(&r, 129, 7, 2), "our own request, looped back");
    }

    #[test]
    fn checksum_of_an_echo_request() {
        // 08 00 [sum] 00 01 00 01: the sum makes the whole packet add up to 0xffff.
        let mut p = [8u8, 0, 0, 0, 0, 1, 0, 1];
        let s = checksum(&p);
        p[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(checksum(&p), 0);
    }
}
