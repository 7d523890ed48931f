//! The unsolicited neighbour advertisement that announces an IPv6 VIP: IPv6's gratuitous ARP
//! (RFC 4861 §7.2.6), framed as keepalived's `ndisc_send_unsolicited_na` does.
//!
//! Linux (`ndisc_recv_na` in `net/ipv6/ndisc.c`) accepts it only with hop limit 255, a correct
//! ICMPv6 checksum and, sent to a multicast address, the Solicited flag clear; the Override
//! flag makes it replace the link-layer address of an existing neighbour entry, which is what
//! moves the clients and the router to the new director. (A host that has no entry for the VIP
//! does not create one, unless `accept_untracked_na` is set; it resolves the VIP afresh.)

use std::net::Ipv6Addr;

/// Length of the frame: Ethernet (14) + IPv6 (40) + ICMPv6 NA (24) + target link-layer option (8).
pub const FRAME_LEN: usize = 86;

/// The all-nodes multicast address `ff02::1`.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// ICMPv6 type Neighbor Advertisement.
const ICMPV6_NA: u8 = 136;
/// IPv6 next-header value for ICMPv6.
const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 payload: the NA (type, code, checksum, flags, target) and one option.
const ICMP_LEN: usize = 32;
/// NA flags: Override (RFC 4861 §4.4); Router and Solicited clear.
const FLAG_OVERRIDE: u32 = 0x2000_0000;

/// An unsolicited neighbour advertisement announcing that `ip` is at `mac`: Ethernet destination
/// 33:33:00:00:00:01 (the all-nodes group), IPv6 source `ip`, destination `ff02::1`, hop
/// limit 255, Override set, and the target link-layer address option carrying `mac`.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    let dst = ALL_NODES.octets();
    // Ethernet: IPv6 multicast maps to 33:33 + the low 32 bits of the group (RFC 2464 §7).
    f[0..2].copy_from_slice(&[0x33, 0x33]);
    f[2..6].copy_from_slice(&dst[12..16]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    // IPv6 header.
    f[14] = 0x60; // version 6, traffic class 0, flow label 0
    f[18..20].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    f[20] = IPPROTO_ICMPV6;
    f[21] = 255; // hop limit: RFC 4861 §7.1.2, receivers drop anything else
    f[22..38].copy_from_slice(&ip.octets());
    f[38..54].copy_from_slice(&dst);
    // ICMPv6 neighbour advertisement.
    let icmp = &mut f[54..];
    icmp[0] = ICMPV6_NA;
    icmp[4..8].copy_from_slice(&FLAG_OVERRIDE.to_be_bytes());
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = 2; // option: target link-layer address
    icmp[25] = 1; // length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let sum = checksum(&ip.octets(), &dst, &f[54..]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The ICMPv6 checksum (RFC 4443 §2.3): the one's complement sum over the pseudo-header
/// (source, destination, upper-layer length, next header) and the message with its checksum
/// field zero.
fn checksum(src: &[u8; 16], dst: &[u8; 16], msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |b| u32::from(*b));
            sum += hi | lo;
        }
    };
    add(src);
    add(dst);
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_frame() {
        let f = unsolicited_na(
            [0x02, 0, 0, 0, 0, 0x02],
            "2001:db8::100".parse().expect("ip"),
        );
        #[rustfmt::skip]
        let expected: [u8; FRAME_LEN] = [
            // Ethernet: 33:33:00:00:00:01 <- 02:00:00:00:00:02, IPv6
            0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x86, 0xdd,
            // IPv6: version 6, payload 32, ICMPv6, hop limit 255
            0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // source: the VIP
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // destination: ff02::1
            // ICMPv6: type 136, code 0, checksum, flags Override
            0x88, 0x00, 0xf7, 0x2b, 0x20, 0x00, 0x00, 0x00,
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target: the VIP
            // option 2 (target link-layer address), length 1, the MAC
            0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
        ];
        assert_eq!(f, expected);
    }

    #[test]
    fn checksum_verifies() {
        // A receiver sums the message with its checksum in place: the result must be 0xffff
        // (i.e. our function, which complements, returns 0).
        for ip in [
            "2001:db8::100",
            "fe80::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: Ipv6Addr = ip.parse().expect("ip");
            let f = unsolicited_na([0xff; 6], ip);
            assert_eq!(
                checksum(&ip.octets(), &ALL_NODES.octets(), &f[54..]),
                0,
                "{ip}"
            );
        }
    }
}
