//! Heartbeat packets: piranha's 4-byte magics and Pulse's authenticated packet (format 2,
//! [`AUTH_LEN`] bytes; the layout is in docs/pulse.md, "Wire formats").
//!
//! Decoding never panics and never allocates; every rejection is a [`DecodeError`] the state
//! machine counts.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// piranha's heartbeat "magic" (docs/reference/piranha.md §4.3): a 32-bit value, sent in host byte order, which
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
    /// An authenticated packet of another format version (a Pulse partner of another release)
    /// or with flags this version does not know.
    #[error("authenticated heartbeat of another format version")]
    Version,
    /// The HMAC does not match for this direction and link: forged, corrupted, sent with
    /// another key, or signed for another path.
    #[error("heartbeat authentication failed")]
    BadMac,
}

/// Length of an authenticated heartbeat.
pub const AUTH_LEN: usize = 96;
/// "PLS", then the format version. Version 1 (80 bytes, one MAC key for both directions, no
/// challenge) is not accepted: a reflected packet verified under it.
const AUTH_MAGIC: [u8; 3] = *b"PLS";
const AUTH_VERSION: u8 = 2;
/// Where the signed header ends and the MAC starts.
const MAC_AT: usize = 64;

/// Which way an authenticated heartbeat goes. Each direction has its own MAC key, so a packet a
/// director signs can only ever verify at a director of the other role: sent back to its
/// sender it fails there, which can tell it apart from a forgery by checking it against its own
/// sending direction's key (a reflection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the primary to the backup.
    PrimaryToBackup,
    /// From the backup to the primary.
    BackupToPrimary,
}

impl Direction {
    /// The direction a node of this role sends in.
    pub fn sent_by(primary: bool) -> Self {
        if primary {
            Self::PrimaryToBackup
        } else {
            Self::BackupToPrimary
        }
    }

    /// The direction a node of this role receives in.
    pub fn received_by(primary: bool) -> Self {
        Self::sent_by(!primary)
    }

    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::PrimaryToBackup => Self::BackupToPrimary,
            Self::BackupToPrimary => Self::PrimaryToBackup,
        }
    }

    /// The label the direction's key is derived with (HMAC-SHA256(shared key, label)).
    fn label(self) -> &'static [u8] {
        match self {
            Self::PrimaryToBackup => b"pulse primary->backup",
            Self::BackupToPrimary => b"pulse backup->primary",
        }
    }
}

/// The heartbeat link a packet is signed for: the primary's and the backup's address on it, as
/// configured (the receiver already drops packets whose source is not the partner's address on
/// the link). Both ends compute the same value, whatever their role. The MAC covers it, so a
/// packet captured on one link does not verify on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkPath {
    /// The primary's address on the link.
    pub primary: IpAddr,
    /// The backup's address on the link.
    pub backup: IpAddr,
}

impl LinkPath {
    /// The path between `local` and `peer`, seen from a node of the given role.
    pub fn between(primary: bool, local: IpAddr, peer: IpAddr) -> Self {
        if primary {
            Self {
                primary: local,
                backup: peer,
            }
        } else {
            Self {
                primary: peer,
                backup: local,
            }
        }
    }

    /// 32 bytes for the MAC: each address as 16 bytes (IPv4 mapped into IPv6, RFC 4291 §2.5.5.2).
    fn bytes(self) -> [u8; 32] {
        let v6 = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let mut b = [0; 32];
        b[..16].copy_from_slice(&v6(self.primary));
        b[16..].copy_from_slice(&v6(self.backup));
        b
    }
}

/// The sender's view, carried by an authenticated heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthHeartbeat {
    /// The sender is the primary (owns `primary` in lvs.cf). It also selects the MAC key
    /// ([`Direction::sent_by`]), so the flag cannot disagree with the signature.
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
    /// The sender took over a failover service (`service = fos`) and tells the receiver to
    /// stop (piranha's FOS_HEARTBEAT_STOPME). Bit 7 of the flags: a Pulse release without it
    /// rejects such a packet as incompatible, and such a release refuses `service = fos`.
    pub stop_me: bool,
    /// The sender's own link is down (`monitor_links`).
    pub link_failed: bool,
    /// The sender's lvsd died.
    pub child_failed: bool,
    /// Random per start of the sender's pulse: tells a restart from a replay.
    pub boot_id: u64,
    /// Strictly increasing within one start of the sender: microseconds of the sender's wall
    /// clock at its start plus its monotonic time since, bumped by one when that has not moved
    /// on. Across the sender's restarts it increases only if its wall clock does.
    pub seq: u64,
    /// The sender's lvs.cf `serial_no`.
    pub serial_no: i64,
    /// The first 8 bytes of a SHA-256 of the sender's configuration (see [`config_digest`]).
    pub digest: [u8; 8],
    /// The sender's `keepalive`, in milliseconds.
    pub keepalive_ms: u32,
    /// The sender's `deadtime`, in milliseconds.
    pub deadtime_ms: u32,
    /// A value the sender asks the receiver to echo, proving that the receiver's next packets
    /// were made after it (unpredictable without the key); 0 for none.
    pub challenge: u64,
    /// The last challenge the sender saw from the receiver; 0 for none.
    pub echo: u64,
}

/// A shared secret for authenticated heartbeats (lvs.cf `heartbeat_key`), and the keys derived
/// from it: one MAC key per [`Direction`] and one for challenges. Derivation is
/// HMAC-SHA256(shared key, label), the "extract" step of HKDF (RFC 5869 §2.2) with the label in
/// place of the salt's role: the shared key is already uniformly random (`pulsectl key
/// generate`) and at least 32 bytes, and the outputs for distinct labels are independent.
#[derive(Clone)]
pub struct HeartbeatKey {
    primary_to_backup: [u8; 32],
    backup_to_primary: [u8; 32],
    challenge: [u8; 32],
    /// `ecmp = 1`: the MAC key of the group datagrams (`crate::group`), one for every director
    /// (a group has no roles; the MAC binds sender and receiver addresses instead).
    group: [u8; 32],
}

impl std::fmt::Debug for HeartbeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeartbeatKey(..)")
    }
}

pub(crate) fn hmac(key: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn derive(shared: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac(shared);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl HeartbeatKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from the bytes of a key file. `None` if shorter than [`Self::MIN_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| Self {
            primary_to_backup: derive(bytes, Direction::PrimaryToBackup.label()),
            backup_to_primary: derive(bytes, Direction::BackupToPrimary.label()),
            challenge: derive(bytes, b"pulse challenge"),
            group: derive(bytes, b"pulse ecmp group"),
        })
    }

    /// A MAC of the `ecmp = 1` group datagrams (`crate::group`).
    pub(crate) fn group_mac(&self) -> Hmac<Sha256> {
        hmac(&self.group)
    }

    fn mac(&self, direction: Direction) -> Hmac<Sha256> {
        hmac(match direction {
            Direction::PrimaryToBackup => &self.primary_to_backup,
            Direction::BackupToPrimary => &self.backup_to_primary,
        })
    }

    /// The `counter`th challenge of the node with this role and boot id: the first 8 bytes of
    /// HMAC-SHA256(challenge key, role ‖ boot id ‖ counter), never 0 (0 means "none"). Without
    /// the key nobody can tell the next one, and no two (boot, counter) pairs collide except
    /// with probability 2⁻⁶⁴, so a captured packet never echoes a challenge made after it.
    pub fn challenge(&self, primary: bool, boot_id: u64, counter: u64) -> u64 {
        let mut mac = hmac(&self.challenge);
        mac.update(&[u8::from(primary)]);
        mac.update(&boot_id.to_be_bytes());
        mac.update(&counter.to_be_bytes());
        let out = mac.finalize().into_bytes();
        let mut first = [0; 8];
        first.copy_from_slice(&out[..8]);
        u64::from_be_bytes(first).max(1)
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
    /// Encode and sign for `path`, with the key of the direction the sender's role sends in
    /// ([`Direction::sent_by`]`(self.primary)`).
    pub fn encode(&self, key: &HeartbeatKey, path: LinkPath) -> [u8; AUTH_LEN] {
        let mut b = [0u8; AUTH_LEN];
        b[0..3].copy_from_slice(&AUTH_MAGIC);
        b[3] = AUTH_VERSION;
        b[4] = u8::from(self.primary)
            | u8::from(self.active) << 1
            | u8::from(self.handover) << 2
            | u8::from(self.link_failed) << 3
            | u8::from(self.child_failed) << 4
            | u8::from(self.prepare) << 5
            | u8::from(self.ready) << 6
            | u8::from(self.stop_me) << 7;
        b[8..16].copy_from_slice(&self.boot_id.to_be_bytes());
        b[16..24].copy_from_slice(&self.seq.to_be_bytes());
        b[24..32].copy_from_slice(&self.serial_no.to_be_bytes());
        b[32..40].copy_from_slice(&self.digest);
        b[40..44].copy_from_slice(&self.keepalive_ms.to_be_bytes());
        b[44..48].copy_from_slice(&self.deadtime_ms.to_be_bytes());
        b[48..56].copy_from_slice(&self.challenge.to_be_bytes());
        b[56..64].copy_from_slice(&self.echo.to_be_bytes());
        let mut mac = key.mac(Direction::sent_by(self.primary));
        mac.update(&b[..MAC_AT]);
        mac.update(&path.bytes());
        b[MAC_AT..].copy_from_slice(&mac.finalize().into_bytes());
        b
    }

    /// Check that the packet was signed for `direction` and `path` (in constant time), then
    /// decode it. [`Self::encode`] never makes a packet whose `primary` flag disagrees with its
    /// direction, but a key holder could: the receiver checks the flag against its own role.
    pub fn decode(
        payload: &[u8],
        key: &HeartbeatKey,
        direction: Direction,
        path: LinkPath,
    ) -> Result<Self, DecodeError> {
        // The tag first: a packet of another Pulse release says so whatever its length.
        if payload.len() >= 4 && payload[0..3] == AUTH_MAGIC && payload[3] != AUTH_VERSION {
            return Err(DecodeError::Version);
        }
        let b: &[u8; AUTH_LEN] = payload
            .try_into()
            .map_err(|_| DecodeError::Length(payload.len()))?;
        // All eight flag bits are in use (bit 7, `stop_me`, since `service = fos`).
        if b[0..3] != AUTH_MAGIC || b[5..8] != [0, 0, 0] {
            return Err(DecodeError::Version);
        }
        let mut mac = key.mac(direction);
        mac.update(&b[..MAC_AT]);
        mac.update(&path.bytes());
        mac.verify_slice(&b[MAC_AT..])
            .map_err(|_| DecodeError::BadMac)?;
        let primary = b[4] & 1 != 0;
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        let mut digest = [0; 8];
        digest.copy_from_slice(&b[32..40]);
        Ok(Self {
            primary,
            active: b[4] & 2 != 0,
            handover: b[4] & 4 != 0,
            link_failed: b[4] & 8 != 0,
            child_failed: b[4] & 16 != 0,
            prepare: b[4] & 32 != 0,
            ready: b[4] & 64 != 0,
            stop_me: b[4] & 128 != 0,
            boot_id: u64_at(8),
            seq: u64_at(16),
            serial_no: u64_at(24) as i64,
            digest,
            keepalive_ms: u32_at(40),
            deadtime_ms: u32_at(44),
            challenge: u64_at(48),
            echo: u64_at(56),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_golden_bytes() {
        // Captured from piranha 0.8.6 (docs/reference/piranha.md §4.3): inactive `bd da bd ad`, active `da db ad bd`.
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

    fn path() -> LinkPath {
        LinkPath {
            primary: "192.0.2.11".parse().expect("ip"),
            backup: "192.0.2.12".parse().expect("ip"),
        }
    }

    fn sample() -> AuthHeartbeat {
        AuthHeartbeat {
            primary: true,
            active: true,
            handover: false,
            prepare: false,
            ready: false,
            stop_me: false,
            link_failed: false,
            child_failed: false,
            boot_id: 0x0102_0304_0506_0708,
            seq: 1_763_769_600_000_000,
            serial_no: 31,
            digest: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11],
            keepalive_ms: 50,
            deadtime_ms: 150,
            challenge: 0x1122_3344_5566_7788,
            echo: 0x99aa_bbcc_ddee_ff00,
        }
    }

    const TO_BACKUP: Direction = Direction::PrimaryToBackup;

    #[test]
    fn auth_golden_bytes() {
        let b = sample().encode(&key(), path());
        let head: [u8; MAC_AT] = [
            b'P', b'L', b'S', 2, 0x03, 0, 0, 0, // tag, flags (primary|active), reserved
            1, 2, 3, 4, 5, 6, 7, 8, // boot id
            0x00, 0x06, 0x44, 0x23, 0x9c, 0x79, 0x40, 0x00, // seq
            0, 0, 0, 0, 0, 0, 0, 31, // serial_no
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, // digest
            0, 0, 0, 50, 0, 0, 0, 150, // keepalive, deadtime (ms)
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // challenge
            0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, // echo
        ];
        assert_eq!(b[..MAC_AT], head);
        // Computed independently with openssl: the direction key
        //   K = HMAC-SHA256(key = 32 × 0x42, "pulse primary->backup")
        //     = b7bc56ce007a7cb4365d686c1c25bc8669239ad859f3bad4ff4e311b81b720af
        // (`printf 'pulse primary->backup' | openssl dgst -sha256 -mac HMAC -macopt hexkey:4242…42`),
        // then HMAC-SHA256(K, the 64 bytes above ‖ ::ffff:192.0.2.11 ‖ ::ffff:192.0.2.12).
        assert_eq!(
            hex(&b[MAC_AT..]),
            "37c694ae6d4fd518c9dab6d66fea55f2ad6573ab76eef3ec239e199d20ed5521"
        );
        assert_eq!(
            AuthHeartbeat::decode(&b, &key(), TO_BACKUP, path()),
            Ok(sample())
        );
        // The backup's packets use the other key, HMAC-SHA256(32 × 0x42, "pulse backup->primary")
        // = d4fdfa05431fcb7aa3a960fed918512dff056265c595f74839c4b53d567beed2 (openssl again).
        let from_backup = AuthHeartbeat {
            primary: false,
            ..sample()
        };
        let b = from_backup.encode(&key(), path());
        assert_eq!(b[4], 0x02);
        assert_eq!(
            hex(&b[MAC_AT..]),
            "1e6016502c60df46e63a59eef1c203de04362510035ce6b6ff92516d7fbf0957"
        );
        assert_eq!(
            AuthHeartbeat::decode(&b, &key(), TO_BACKUP.reverse(), path()),
            Ok(from_backup)
        );
        assert_eq!(
            AuthHeartbeat::decode(&b, &key(), TO_BACKUP, path()),
            Err(DecodeError::BadMac)
        );
    }

    #[test]
    fn round_trip_of_every_flag_and_field() {
        for bit in 0..8 {
            let mut p = sample();
            let flags = [
                &mut p.primary,
                &mut p.active,
                &mut p.handover,
                &mut p.link_failed,
                &mut p.child_failed,
                &mut p.prepare,
                &mut p.ready,
                &mut p.stop_me,
            ];
            for (i, f) in flags.into_iter().enumerate() {
                *f = i == bit;
            }
            p.serial_no = -5;
            p.challenge = u64::MAX;
            p.echo = 0;
            let b = p.encode(&key(), path());
            assert_eq!(b[4], 1 << bit);
            let d = Direction::sent_by(p.primary);
            assert_eq!(AuthHeartbeat::decode(&b, &key(), d, path()), Ok(p));
        }
    }

    #[test]
    fn a_packet_verifies_only_for_its_direction_and_link() {
        let b = sample().encode(&key(), path());
        // Sent back to the primary, it is checked with the backup->primary key: it fails.
        assert_eq!(
            AuthHeartbeat::decode(&b, &key(), Direction::received_by(true), path()),
            Err(DecodeError::BadMac)
        );
        // On another link (other addresses), it fails.
        let other = LinkPath {
            primary: "198.51.100.11".parse().expect("ip"),
            ..path()
        };
        assert_eq!(
            AuthHeartbeat::decode(&b, &key(), TO_BACKUP, other),
            Err(DecodeError::BadMac)
        );
        // Both ends compute the same path whatever their role.
        let (p, q) = (path().primary, path().backup);
        assert_eq!(
            LinkPath::between(true, p, q),
            LinkPath::between(false, q, p)
        );
        // Challenges: distinct per role, boot and counter, never 0.
        let k = key();
        let cs = [
            k.challenge(true, 1, 0),
            k.challenge(true, 1, 1),
            k.challenge(true, 2, 0),
            k.challenge(false, 1, 0),
            HeartbeatKey::new(&[0x43; 32])
                .expect("key")
                .challenge(true, 1, 0),
        ];
        for (i, a) in cs.iter().enumerate() {
            assert_ne!(*a, 0);
            for b in &cs[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn auth_rejects_tampering_wrong_keys_and_version_1() {
        let b = sample().encode(&key(), path());
        for i in 0..AUTH_LEN {
            let mut t = b;
            t[i] ^= 0x01;
            assert!(
                AuthHeartbeat::decode(&t, &key(), TO_BACKUP, path()).is_err(),
                "flipped byte {i} accepted"
            );
        }
        let other = HeartbeatKey::new(&[0x43; 32]).expect("key");
        assert_eq!(
            AuthHeartbeat::decode(&b, &other, TO_BACKUP, path()),
            Err(DecodeError::BadMac)
        );
        assert_eq!(
            AuthHeartbeat::decode(&b[..95], &key(), TO_BACKUP, path()),
            Err(DecodeError::Length(95))
        );
        // A Pulse 1 packet (80 bytes, "PLS\x01"): another version, not a length error.
        let mut v1 = [0u8; 80];
        v1[..4].copy_from_slice(b"PLS\x01");
        assert_eq!(
            AuthHeartbeat::decode(&v1, &key(), TO_BACKUP, path()),
            Err(DecodeError::Version)
        );
        assert!(HeartbeatKey::new(&[0; 31]).is_none());
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic and never verify.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                       tag in proptest::prelude::any::<bool>()) {
            let mut data = data;
            if tag && data.len() >= 4 {
                data[..4].copy_from_slice(b"PLS\x02");
            }
            for d in [Direction::PrimaryToBackup, Direction::BackupToPrimary] {
                proptest::prop_assert!(AuthHeartbeat::decode(&data, &key(), d, path()).is_err());
            }
            let _ = LegacyMagic::decode(&data);
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
