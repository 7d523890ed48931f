//! `service = fos`'s connectivity check (docs/reference/piranha.md §4.11): the default gateway
//! from the routing table and one ICMP echo to it. piranha ran `/sbin/ip route show` and
//! `/bin/ping -n -c 1 -w 1 GW` up to 3 times; this does the same without either program (a
//! minimal host has neither `ping` nor `ip`). Blocking: call it from a blocking thread.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
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

/// One ICMP echo to `addr` on a raw socket (needs CAP_NET_RAW), answered within `timeout`.
pub fn ping(addr: Ipv4Addr, timeout: Duration, id: u16, seq: u16) -> io::Result<bool> {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recvfrom, sendto,
        setsockopt, socket, sockopt,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(io::Error::from)?;
    let mut pkt = [0u8; 16];
    pkt[0] = 8; // echo request
    pkt[4..6].copy_from_slice(&id.to_be_bytes());
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    pkt[8..16].copy_from_slice(b"pulsefos");
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    let to = SockaddrIn::from(SocketAddrV4::new(addr, 0));
    sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty()).map_err(io::Error::from)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let tv = nix::sys::time::TimeVal::new(
            i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            i64::from(left.subsec_micros()).max(1),
        );
        setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(io::Error::from)?;
        let (n, from) = match recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if from.map(|f| f.ip()) != Some(addr) || n < 20 {
            continue;
        }
        // A raw socket receives the IP header too.
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        let icmp = &buf[ihl.min(n)..n];
        if icmp.len() >= 8
            && icmp[0] == 0
            && icmp[4..6] == id.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
        {
            return Ok(true);
        }
    }
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
    fn checksum_of_an_echo_request() {
        // 08 00 [sum] 00 01 00 01: the sum makes the whole packet add up to 0xffff.
        let mut p = [8u8, 0, 0, 0, 0, 1, 0, 1];
        let s = checksum(&p);
        p[2..4].copy_from_slice(&s.to_be_bytes());
        assert_eq!(checksum(&p), 0);
    }
}
