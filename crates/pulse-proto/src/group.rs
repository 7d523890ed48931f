//! `ecmp = 1`: the group datagram each director sends to every other `ecmp_director` on the
//! heartbeat port every `keepalive`, so `pulsectl status` can show which directors announce
//! which VIPs. Informational only: no director's announce/withdraw decision reads it.
//!
//! Layout (big-endian, [`HEAD_LEN`] bytes of header, then the bitmap, then the MAC if signed):
//!
//! ```text
//!  0..3   "PLG"             (not "PLS": a pair's heartbeat socket calls it malformed, not
//!                            "another Pulse release"; not 4 bytes: no piranha magic)
//!  3      format version 1
//!  4      flags: bit 0 signed (a MAC follows), bit 1 released (`pulsectl release`); others 0
//!  5      0
//!  6..8   VIP count n (≤ MAX_VIPS)
//!  8..16  boot id            (random per start of the sender)
//! 16..24  sequence           (strictly increasing per boot: wall clock at start + monotonic)
//! 24..32  serial_no
//! 32..40  configuration digest (the group's: lvs.cf without its `primary`, see docs/ecmp.md)
//! 40..48  VIP-set digest     ([`vip_set_digest`] of the sender's VIPs)
//! 48..    ⌈n/8⌉ bytes: bit i (byte i/8, least significant bit first) = the i-th VIP in
//!         ascending address order is announced; the padding bits are 0
//!  then   32 bytes HMAC-SHA256(group key, everything before ‖ sender ‖ receiver address),
//!         only if signed (each address as 16 bytes, IPv4 mapped into IPv6)
//! ```
//!
//! A bitmap, not a list of addresses: 1024 VIPs fit in 128 bytes (a list of 16-byte addresses
//! would need fragmentation beyond ~70), and it is interpreted only by a receiver whose own VIP
//! set has the same digest and count — the same VIPs, whatever the order of the `virtual`
//! blocks in each file or the rest of the file. A receiver with other VIPs still learns how
//! many the sender announces.
//!
//! Decoding never panics and never allocates.

use crate::wire::HeartbeatKey;
use hmac::Mac;
use std::net::IpAddr;

/// "PLG".
const MAGIC: [u8; 3] = *b"PLG";
/// The format version.
const VERSION: u8 = 1;
/// The header's length.
pub const HEAD_LEN: usize = 48;
/// The most VIPs a datagram describes (a larger group has no view).
pub const MAX_VIPS: usize = 1024;
/// The MAC's length.
const MAC_LEN: usize = 32;
/// The longest datagram: header, full bitmap, MAC.
pub const MAX_LEN: usize = HEAD_LEN + MAX_VIPS / 8 + MAC_LEN;

const SIGNED: u8 = 1;
const RELEASED: u8 = 2;

/// Why a datagram was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupDecodeError {
    /// Not a group datagram of this version, or its length, count, flags or padding disagree.
    #[error("malformed group datagram")]
    Malformed,
    /// A key is configured and the datagram is not signed.
    #[error("unsigned group datagram while heartbeat_key is set")]
    Unsigned,
    /// The MAC does not match for this sender and receiver: forged, corrupted, another key,
    /// or signed for another pair of addresses.
    #[error("group datagram authentication failed")]
    BadMac,
}

/// Who sent a datagram to whom: both addresses are bound into the MAC, so a datagram captured
/// between two directors verifies nowhere else (not reflected back to its sender either).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupPath {
    /// The sender's `ecmp_director` address.
    pub from: IpAddr,
    /// The receiver's.
    pub to: IpAddr,
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The first 8 bytes of SHA-256 over the addresses in ascending order, 16 bytes each: equal
/// for two directors with the same VIPs, whatever their files' order.
pub fn vip_set_digest(vips: &[IpAddr]) -> [u8; 8] {
    use sha2::Digest;
    let mut sorted: Vec<[u8; 16]> = vips.iter().map(|ip| v6(*ip)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h = sha2::Sha256::new();
    for a in &sorted {
        h.update(a);
    }
    let full = h.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&full[..8]);
    out
}

/// One group datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupDatagram {
    /// The sender was released (`pulsectl release`): it announces nothing on purpose.
    pub released: bool,
    /// Random per start of the sender.
    pub boot_id: u64,
    /// Strictly increasing within one start of the sender.
    pub seq: u64,
    /// The sender's `serial_no`.
    pub serial_no: i64,
    /// The sender's configuration digest (the group's, see the module documentation).
    pub digest: [u8; 8],
    /// [`vip_set_digest`] of the sender's VIPs.
    pub vip_set: [u8; 8],
    /// How many VIPs the bitmap covers (≤ [`MAX_VIPS`]).
    pub vip_count: u16,
    /// Bit i: the i-th VIP in ascending address order is announced.
    pub bitmap: [u8; MAX_VIPS / 8],
}

impl GroupDatagram {
    /// The bitmap's length in bytes.
    fn bitmap_len(&self) -> usize {
        usize::from(self.vip_count).div_ceil(8)
    }

    /// Whether the `i`th VIP (ascending address order) is announced.
    pub fn announced(&self, i: usize) -> bool {
        i < usize::from(self.vip_count) && self.bitmap[i / 8] & (1 << (i % 8)) != 0
    }

    /// Marks the `i`th VIP announced (ignored beyond `vip_count`).
    pub fn set_announced(&mut self, i: usize) {
        if i < usize::from(self.vip_count) {
            self.bitmap[i / 8] |= 1 << (i % 8);
        }
    }

    /// How many VIPs are announced.
    pub fn announced_count(&self) -> u32 {
        self.bitmap[..self.bitmap_len()]
            .iter()
            .map(|b| b.count_ones())
            .sum()
    }

    /// The datagram, signed for `path` when a key is given. `vip_count` beyond [`MAX_VIPS`]
    /// is cut to it (the caller refuses such a group before).
    pub fn encode(&self, key: Option<&HeartbeatKey>, path: GroupPath) -> Vec<u8> {
        let count = self.vip_count.min(MAX_VIPS as u16);
        let n = usize::from(count).div_ceil(8);
        let mut b = Vec::with_capacity(HEAD_LEN + n + MAC_LEN);
        b.extend_from_slice(&MAGIC);
        b.push(VERSION);
        b.push((u8::from(key.is_some()) * SIGNED) | (u8::from(self.released) * RELEASED));
        b.push(0);
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&self.boot_id.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.serial_no.to_be_bytes());
        b.extend_from_slice(&self.digest);
        b.extend_from_slice(&self.vip_set);
        let mut bitmap = self.bitmap;
        // Padding bits are 0 on the wire, whatever the caller left there.
        if !count.is_multiple_of(8) {
            bitmap[n - 1] &= (1u8 << (count % 8)) - 1;
        }
        b.extend_from_slice(&bitmap[..n]);
        if let Some(key) = key {
            let mut mac = key.group_mac();
            mac.update(&b);
            mac.update(&v6(path.from));
            mac.update(&v6(path.to));
            b.extend_from_slice(&mac.finalize().into_bytes());
        }
        b
    }

    /// Checks and decodes a datagram received over `path`. With a key, only a signed datagram
    /// whose MAC verifies (in constant time) is accepted; without one, any well-formed datagram
    /// is (a signed one's MAC is not checked: the receiver has no key, and the view is
    /// informational).
    pub fn decode(
        payload: &[u8],
        key: Option<&HeartbeatKey>,
        path: GroupPath,
    ) -> Result<Self, GroupDecodeError> {
        let head: &[u8; HEAD_LEN] = payload
            .get(..HEAD_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(GroupDecodeError::Malformed)?;
        if head[0..3] != MAGIC || head[3] != VERSION || head[5] != 0 {
            return Err(GroupDecodeError::Malformed);
        }
        let flags = head[4];
        if flags & !(SIGNED | RELEASED) != 0 {
            return Err(GroupDecodeError::Malformed);
        }
        let count = u16::from_be_bytes([head[6], head[7]]);
        if usize::from(count) > MAX_VIPS {
            return Err(GroupDecodeError::Malformed);
        }
        let n = usize::from(count).div_ceil(8);
        let signed = flags & SIGNED != 0;
        let body = HEAD_LEN + n;
        if payload.len() != body + if signed { MAC_LEN } else { 0 } {
            return Err(GroupDecodeError::Malformed);
        }
        match (key, signed) {
            (Some(_), false) => return Err(GroupDecodeError::Unsigned),
            (Some(key), true) => {
                let mut mac = key.group_mac();
                mac.update(&payload[..body]);
                mac.update(&v6(path.from));
                mac.update(&v6(path.to));
                mac.verify_slice(&payload[body..])
                    .map_err(|_| GroupDecodeError::BadMac)?;
            }
            (None, _) => {}
        }
        let bits = &payload[HEAD_LEN..body];
        if !count.is_multiple_of(8) && bits.last().is_some_and(|l| l >> (count % 8) != 0) {
            return Err(GroupDecodeError::Malformed);
        }
        let mut bitmap = [0; MAX_VIPS / 8];
        bitmap[..n].copy_from_slice(bits);
        let u64_at = |i: usize| {
            let mut a = [0; 8];
            a.copy_from_slice(&head[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let mut digest = [0; 8];
        digest.copy_from_slice(&head[32..40]);
        let mut vip_set = [0; 8];
        vip_set.copy_from_slice(&head[40..48]);
        Ok(Self {
            released: flags & RELEASED != 0,
            boot_id: u64_at(8),
            seq: u64_at(16),
            serial_no: u64_at(24) as i64,
            digest,
            vip_set,
            vip_count: count,
            bitmap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HeartbeatKey {
        HeartbeatKey::new(&[0x42; 32]).expect("32 bytes")
    }

    fn path() -> GroupPath {
        GroupPath {
            from: "10.1.0.11".parse().expect("ip"),
            to: "10.1.0.12".parse().expect("ip"),
        }
    }

    fn sample() -> GroupDatagram {
        let mut d = GroupDatagram {
            released: false,
            boot_id: 0x0102_0304_0506_0708,
            seq: 1_763_769_600_000_000,
            serial_no: 31,
            digest: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11],
            vip_set: [1, 2, 3, 4, 5, 6, 7, 8],
            vip_count: 10,
            bitmap: [0; MAX_VIPS / 8],
        };
        d.set_announced(0);
        d.set_announced(9);
        d
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn golden_bytes_unsigned_and_signed() {
        let plain = sample().encode(None, path());
        let head: [u8; HEAD_LEN + 2] = [
            b'P', b'L', b'G', 1, 0x00, 0, 0, 10, // tag, version, flags, 0, VIP count
            1, 2, 3, 4, 5, 6, 7, 8, // boot id
            0x00, 0x06, 0x44, 0x23, 0x9c, 0x79, 0x40, 0x00, // seq
            0, 0, 0, 0, 0, 0, 0, 31, // serial_no
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, // digest
            1, 2, 3, 4, 5, 6, 7, 8, // VIP-set digest
            0x01, 0x02, // VIPs 0 and 9
        ];
        assert_eq!(plain, head);
        assert_eq!(GroupDatagram::decode(&plain, None, path()), Ok(sample()));
        let signed = sample().encode(Some(&key()), path());
        assert_eq!(signed.len(), HEAD_LEN + 2 + MAC_LEN);
        assert_eq!(signed[4], SIGNED);
        assert_eq!(signed[..3], head[..3]);
        assert_eq!(signed[5..HEAD_LEN + 2], head[5..]);
        // Computed independently with openssl: the group key
        //   K = HMAC-SHA256(key = 32 × 0x42, "pulse ecmp group")
        //     = 78ac89741618fa8806db6287527e35ab7bb26152ceb0889e219e5930666d128d
        //   (`printf 'pulse ecmp group' | openssl dgst -sha256 -mac HMAC -macopt hexkey:4242…42`)
        // then HMAC-SHA256(K, the 50 bytes above with flags 0x01 ‖ ::ffff:10.1.0.11 ‖
        // ::ffff:10.1.0.12).
        assert_eq!(hex(&signed[HEAD_LEN + 2..]), GOLDEN_MAC);
        assert_eq!(
            GroupDatagram::decode(&signed, Some(&key()), path()),
            Ok(sample())
        );
        // A receiver without a key reads a signed datagram (informational).
        assert_eq!(GroupDatagram::decode(&signed, None, path()), Ok(sample()));
    }

    const GOLDEN_MAC: &str = "b35b5b3d9f68c282d6ec429ac2484f1d02bc0cf9ca60ccb46a4114cf4e7a6588";

    #[test]
    fn every_flag_and_count_round_trips() {
        for count in [0u16, 1, 7, 8, 9, 1023, 1024] {
            for released in [false, true] {
                let mut d = GroupDatagram {
                    released,
                    vip_count: count,
                    serial_no: -5,
                    bitmap: [0; MAX_VIPS / 8],
                    ..sample()
                };
                for i in (0..usize::from(count)).step_by(3) {
                    d.set_announced(i);
                }
                for k in [None, Some(key())] {
                    let b = d.encode(k.as_ref(), path());
                    assert!(b.len() <= MAX_LEN);
                    assert_eq!(GroupDatagram::decode(&b, k.as_ref(), path()), Ok(d));
                }
                assert_eq!(
                    d.announced_count(),
                    u32::from(count).div_ceil(3),
                    "count {count}"
                );
            }
        }
    }

    #[test]
    fn rejects_tampering_other_paths_unsigned_and_bad_padding() {
        let b = sample().encode(Some(&key()), path());
        for i in 0..b.len() {
            let mut t = b.clone();
            t[i] ^= 0x01;
            assert!(
                GroupDatagram::decode(&t, Some(&key()), path()).is_err(),
                "flipped byte {i} accepted"
            );
        }
        // Reflected to its sender, or replayed to another director: another path.
        let back = GroupPath {
            from: path().to,
            to: path().from,
        };
        assert_eq!(
            GroupDatagram::decode(&b, Some(&key()), back),
            Err(GroupDecodeError::BadMac)
        );
        let other = GroupPath {
            to: "10.1.0.13".parse().expect("ip"),
            ..path()
        };
        assert_eq!(
            GroupDatagram::decode(&b, Some(&key()), other),
            Err(GroupDecodeError::BadMac)
        );
        let wrong = HeartbeatKey::new(&[0x43; 32]).expect("key");
        assert_eq!(
            GroupDatagram::decode(&b, Some(&wrong), path()),
            Err(GroupDecodeError::BadMac)
        );
        let plain = sample().encode(None, path());
        assert_eq!(
            GroupDatagram::decode(&plain, Some(&key()), path()),
            Err(GroupDecodeError::Unsigned)
        );
        // A padding bit set (VIP 10 of 10).
        let mut pad = plain.clone();
        pad[HEAD_LEN + 1] |= 0x04;
        assert_eq!(
            GroupDatagram::decode(&pad, None, path()),
            Err(GroupDecodeError::Malformed)
        );
        // A count beyond MAX_VIPS, an unknown flag, a pair heartbeat, piranha's magic.
        let mut big = plain.clone();
        big[6..8].copy_from_slice(&1025u16.to_be_bytes());
        let mut flag = plain.clone();
        flag[4] = 0x04;
        let mut pls = [0u8; 96];
        pls[..4].copy_from_slice(b"PLS\x02");
        for bad in [
            &big[..],
            &flag[..],
            &pls[..],
            &[0xda, 0xdb, 0xad, 0xbd][..],
            &plain[..plain.len() - 1],
            &[][..],
        ] {
            assert_eq!(
                GroupDatagram::decode(bad, None, path()),
                Err(GroupDecodeError::Malformed)
            );
        }
    }

    #[test]
    fn the_vip_set_digest_ignores_order_and_duplicates() {
        let a: IpAddr = "10.0.0.100".parse().expect("ip");
        let b: IpAddr = "10.0.0.101".parse().expect("ip");
        let c: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(vip_set_digest(&[a, b, c]), vip_set_digest(&[c, b, a, b]));
        assert_ne!(vip_set_digest(&[a, b]), vip_set_digest(&[a, c]));
        assert_ne!(vip_set_digest(&[a]), vip_set_digest(&[]));
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic; with a key they never verify.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                                       tag in proptest::prelude::any::<bool>()) {
            let mut data = data;
            if tag && data.len() >= 4 {
                data[..4].copy_from_slice(b"PLG\x01");
            }
            proptest::prop_assert!(GroupDatagram::decode(&data, Some(&key()), path()).is_err());
            if let Ok(d) = GroupDatagram::decode(&data, None, path()) {
                // Whatever decodes re-encodes to the same header and bitmap.
                // (The signed flag aside: a keyless receiver does not check the MAC.)
                let again = d.encode(None, path());
                proptest::prop_assert_eq!(&again[..4], &data[..4]);
                proptest::prop_assert_eq!(&again[5..], &data[5..again.len()]);
            }
        }
    }
}
