//! Heartbeat packets: piranha's 4-byte magics and Pulse's authenticated packet.
//!
//! Decoding never panics and never allocates; every rejection is a [`DecodeError`] the state
//! machine counts.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// piranha's heartbeat "magic" (piranha.md §4.3): a 32-bit value, sent in host byte order, which
/// is little-endian on every x86 piranha node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LegacyMagic {
    /// `0xbdaddbda`: LVS mode, sender is active.
    Running,
    /// `0xadbddabd`: LVS mode, sender is inactive.
    Stopped,
    /// `0xbeefbabe`: FOS mode, active.
    FosRunning,
    /// `0xdeadbeef`: FOS mode, inactive.
    FosStopped,
    /// `0xdeaddada`: FOS "I am taking over, go inactive".
    FosStopMe,
    /// `0xdeafbabe`: accepted by piranha, handling disabled.
    Hold,
    /// `0xdeafdada`: accepted by piranha, handling disabled.
    Held,
}

impl LegacyMagic {
    const TABLE: [(Self, u32); 7] = [
        (Self::Running, 0xbdad_dbda),
        (Self::Stopped, 0xadbd_dabd),
        (Self::FosRunning, 0xbeef_babe),
        (Self::FosStopped, 0xdead_beef),
        (Self::FosStopMe, 0xdead_dada),
        (Self::Hold, 0xdeaf_babe),
        (Self::Held, 0xdeaf_dada),
    ];

    /// The 32-bit value.
    pub fn value(self) -> u32 {
        Self::TABLE
            .iter()
            .find(|(m, _)| *m == self)
            .map_or(0, |(_, v)| *v)
    }

    /// The 4 bytes piranha on x86 puts on the wire (little-endian).
    pub fn encode(self) -> [u8; 4] {
        self.value().to_le_bytes()
    }

    /// Decode a 4-byte payload. Little-endian is what x86 piranha sends; big-endian is accepted
    /// too (a big-endian piranha build would send it, and no magic is the other's byte swap).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let bytes: [u8; 4] = payload
            .try_into()
            .map_err(|_| DecodeError::Length(payload.len()))?;
        let (le, be) = (u32::from_le_bytes(bytes), u32::from_be_bytes(bytes));
        Self::TABLE
            .iter()
            .find(|(_, v)| *v == le || *v == be)
            .map(|(m, _)| *m)
            .ok_or(DecodeError::UnknownMagic(le))
    }
}

/// Why a datagram was not accepted as a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Neither 4 bytes (legacy) nor [`AUTH_LEN`] bytes (authenticated).
    #[error("bad heartbeat length {0}")]
    Length(usize),
    /// A 4-byte payload that is none of piranha's magics.
    #[error("unknown heartbeat magic {0:#010x}")]
    UnknownMagic(u32),
    /// An authenticated packet with an unknown format tag or version.
    #[error("unknown authenticated heartbeat version")]
    Version,
    /// The HMAC does not match: forged, corrupted, or sent with another key.
    #[error("heartbeat authentication failed")]
    BadMac,
}

/// Length of an authenticated heartbeat.
pub const AUTH_LEN: usize = 80;
/// Start of every authenticated heartbeat: "PLS" and format version 1.
const AUTH_TAG: [u8; 4] = *b"PLS\x01";
const MAC_AT: usize = 48;

/// The sender's view, carried by an authenticated heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthHeartbeat {
    /// The sender is the primary (owns `primary` in lvs.cf).
    pub primary: bool,
    /// The sender holds the VIPs.
    pub active: bool,
    /// The sender asks the receiver to take over (a planned switchover, `pulsectl release`).
    pub handover: bool,
    /// The sender is about to hand over and drains first: the receiver should hold the VIPs
    /// without announcing them, so connections the sender forwards to it are accepted.
    pub prepare: bool,
    /// The sender holds the VIPs unannounced, ready for forwarded connections (its answer to
    /// `prepare`).
    pub ready: bool,
    /// The sender's own link is down (`monitor_links`).
    pub link_failed: bool,
    /// The sender's lvsd died.
    pub child_failed: bool,
    /// Random per start of the sender's pulse: tells a restart from a replay.
    pub boot_id: u64,
    /// Strictly increasing across packets *and* restarts: microseconds of the sender's wall clock
    /// at sending, bumped by one when the clock has not moved on.
    pub seq: u64,
    /// The sender's lvs.cf `serial_no`.
    pub serial_no: i64,
    /// The first 8 bytes of a SHA-256 of the sender's configuration (see [`config_digest`]).
    pub digest: [u8; 8],
    /// The sender's `keepalive`, in milliseconds.
    pub keepalive_ms: u32,
    /// The sender's `deadtime`, in milliseconds.
    pub deadtime_ms: u32,
}

/// A shared secret for authenticated heartbeats (lvs.cf `heartbeat_key`).
#[derive(Clone)]
pub struct HeartbeatKey(Vec<u8>);

impl std::fmt::Debug for HeartbeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeartbeatKey(..)")
    }
}

impl HeartbeatKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from the bytes of a key file. `None` if shorter than [`Self::MIN_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| Self(bytes.to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        #[allow(clippy::expect_used)]
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

/// First 8 bytes of SHA-256 over `canonical`: what the daemon hashes is its configuration in a
/// canonical form, so comments and formatting do not count as a difference.
pub fn config_digest(canonical: &[u8]) -> [u8; 8] {
    use sha2::Digest;
    let full = Sha256::digest(canonical);
    let mut out = [0; 8];
    out.copy_from_slice(&full[..8]);
    out
}

impl AuthHeartbeat {
    /// Encode and sign.
    pub fn encode(&self, key: &HeartbeatKey) -> [u8; AUTH_LEN] {
        let mut b = [0u8; AUTH_LEN];
        b[0..4].copy_from_slice(&AUTH_TAG);
        b[4] = u8::from(self.primary)
            | u8::from(self.active) << 1
            | u8::from(self.handover) << 2
            | u8::from(self.link_failed) << 3
            | u8::from(self.child_failed) << 4
            | u8::from(self.prepare) << 5
            | u8::from(self.ready) << 6;
        b[8..16].copy_from_slice(&self.boot_id.to_be_bytes());
        b[16..24].copy_from_slice(&self.seq.to_be_bytes());
        b[24..32].copy_from_slice(&self.serial_no.to_be_bytes());
        b[32..40].copy_from_slice(&self.digest);
        b[40..44].copy_from_slice(&self.keepalive_ms.to_be_bytes());
        b[44..48].copy_from_slice(&self.deadtime_ms.to_be_bytes());
        let mut mac = key.mac();
        mac.update(&b[..MAC_AT]);
        b[MAC_AT..].copy_from_slice(&mac.finalize().into_bytes());
        b
    }

    /// Check the signature (in constant time) and decode.
    pub fn decode(payload: &[u8], key: &HeartbeatKey) -> Result<Self, DecodeError> {
        let b: &[u8; AUTH_LEN] = payload
            .try_into()
            .map_err(|_| DecodeError::Length(payload.len()))?;
        if b[0..4] != AUTH_TAG || b[5..8] != [0, 0, 0] || b[4] & !0x7f != 0 {
            return Err(DecodeError::Version);
        }
        let mut mac = key.mac();
        mac.update(&b[..MAC_AT]);
        mac.verify_slice(&b[MAC_AT..])
            .map_err(|_| DecodeError::BadMac)?;
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        let mut digest = [0; 8];
        digest.copy_from_slice(&b[32..40]);
        Ok(Self {
            primary: b[4] & 1 != 0,
            active: b[4] & 2 != 0,
            handover: b[4] & 4 != 0,
            link_failed: b[4] & 8 != 0,
            child_failed: b[4] & 16 != 0,
            prepare: b[4] & 32 != 0,
            ready: b[4] & 64 != 0,
            boot_id: u64_at(8),
            seq: u64_at(16),
            serial_no: u64_at(24) as i64,
            digest,
            keepalive_ms: u32_at(40),
            deadtime_ms: u32_at(44),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_golden_bytes() {
        // Captured from piranha 0.8.6 (piranha.md §4.3): inactive `bd da bd ad`, active `da db ad bd`.
        assert_eq!(LegacyMagic::Stopped.encode(), [0xbd, 0xda, 0xbd, 0xad]);
        assert_eq!(LegacyMagic::Running.encode(), [0xda, 0xdb, 0xad, 0xbd]);
        assert_eq!(LegacyMagic::FosRunning.encode(), [0xbe, 0xba, 0xef, 0xbe]);
        assert_eq!(LegacyMagic::FosStopped.encode(), [0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(LegacyMagic::FosStopMe.encode(), [0xda, 0xda, 0xad, 0xde]);
        assert_eq!(LegacyMagic::Hold.encode(), [0xbe, 0xba, 0xaf, 0xde]);
        assert_eq!(LegacyMagic::Held.encode(), [0xda, 0xda, 0xaf, 0xde]);
        for (m, _) in LegacyMagic::TABLE {
            assert_eq!(LegacyMagic::decode(&m.encode()), Ok(m));
            assert_eq!(LegacyMagic::decode(&m.value().to_be_bytes()), Ok(m));
        }
        assert_eq!(LegacyMagic::decode(&[1, 2, 3]), Err(DecodeError::Length(3)));
        assert_eq!(
            LegacyMagic::decode(&[0, 0, 0, 0]),
            Err(DecodeError::UnknownMagic(0))
        );
    }

    fn key() -> HeartbeatKey {
        HeartbeatKey::new(&[0x42; 32]).expect("32 bytes")
    }

    fn sample() -> AuthHeartbeat {
        AuthHeartbeat {
            primary: true,
            active: true,
            handover: false,
            prepare: false,
            ready: false,
            link_failed: false,
            child_failed: false,
            boot_id: 0x0102_0304_0506_0708,
            seq: 1_763_769_600_000_000,
            serial_no: 31,
            digest: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11],
            keepalive_ms: 50,
            deadtime_ms: 150,
        }
    }

    #[test]
    fn auth_golden_bytes() {
        let b = sample().encode(&key());
        let head: [u8; MAC_AT] = [
            b'P', b'L', b'S', 1, 0x03, 0, 0, 0, // tag, flags (primary|active), reserved
            1, 2, 3, 4, 5, 6, 7, 8, // boot id
            0x00, 0x06, 0x44, 0x23, 0x9c, 0x79, 0x40, 0x00, // seq
            0, 0, 0, 0, 0, 0, 0, 31, // serial_no
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, // digest
            0, 0, 0, 50, 0, 0, 0, 150, // keepalive, deadtime (ms)
        ];
        assert_eq!(b[..MAC_AT], head);
        // HMAC-SHA256(key = 32 × 0x42, the 48 bytes above), computed independently with
        // `openssl dgst -sha256 -mac HMAC -macopt hexkey:4242…42`.
        assert_eq!(
            hex(&b[MAC_AT..]),
            "f5ddcd81128188e43663dcab5ae8ee80b1ea8392595a9aa6e74d527871b96108"
        );
        assert_eq!(AuthHeartbeat::decode(&b, &key()), Ok(sample()));
    }

    #[test]
    fn auth_rejects_tampering_and_wrong_keys() {
        let b = sample().encode(&key());
        for i in 0..AUTH_LEN {
            let mut t = b;
            t[i] ^= 0x01;
            assert!(
                AuthHeartbeat::decode(&t, &key()).is_err(),
                "flipped byte {i} accepted"
            );
        }
        let other = HeartbeatKey::new(&[0x43; 32]).expect("key");
        assert_eq!(AuthHeartbeat::decode(&b, &other), Err(DecodeError::BadMac));
        assert_eq!(
            AuthHeartbeat::decode(&b[..79], &key()),
            Err(DecodeError::Length(79))
        );
        assert!(HeartbeatKey::new(&[0; 31]).is_none());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
