//! The gratuitous ARP frame piranha's `send_arp` sends (docs/reference/piranha.md §8), byte for byte.

use std::net::Ipv4Addr;

/// Length of the frame: Ethernet's 60-byte minimum (the NIC adds the FCS).
pub const FRAME_LEN: usize = 60;

/// A broadcast gratuitous ARP *reply* announcing that `ip` is at `mac`: Ethernet destination
/// ff:ff:ff:ff:ff:ff, sender and target both `mac`/`ip` (RFC 2002's convention, as `send_arp`
/// does), opcode 2, zero padding to 60 bytes.
pub fn gratuitous_reply(mac: [u8; 6], ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // EtherType ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // HTYPE Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // PTYPE IPv4
    f[18] = 6; // HLEN
    f[19] = 4; // PLEN
    f[20..22].copy_from_slice(&2u16.to_be_bytes()); // OPER reply
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&mac);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_frame() {
        let f = gratuitous_reply([0x02, 0, 0, 0, 0, 0x02], Ipv4Addr::new(192, 0, 2, 100));
        let expected: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08,
            0x06, // Ethernet
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // ARP header, reply
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 192, 0, 2, 100, // sender
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 192, 0, 2, 100, // target = sender
        ];
        assert_eq!(f[..42], expected);
        assert_eq!(f[42..], [0u8; 18]);
    }
}
