//! Value syntaxes piranha accepts, reproduced exactly (docs/reference/piranha.md §2.1).
//!
//! Numbers are C `strtol(s, &end, 0)`: decimal, `0x` hex and leading-zero octal, with nothing
//! after the digits. Host addresses go through `inet_aton` first, so `10.1` and `0x7f.1` are
//! addresses. Port names are looked up in a built-in copy of the well-known part of
//! `/etc/services` (this crate does no I/O).

use std::net::Ipv4Addr;

/// An integer as C `strtol(…, 0)` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CInt {
    /// The value.
    pub value: i64,
    /// Written with a leading zero and more digits, so read as octal (`010` is 8).
    pub octal: bool,
}

/// Why a token is not an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// Not digits (or digits followed by other text).
    NotInteger,
    /// A leading zero makes it octal, but it has an 8 or 9 (`080`).
    BadOctal,
    /// Does not fit in 64 bits.
    Overflow,
}

/// Parse like `strtol(s, &end, 0)` and require `*end == '\0'`.
pub fn parse_c_int(s: &str) -> Result<CInt, IntError> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits, octal) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h, false)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..], true)
        } else {
            (10, body, false)
        };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IntError::NotInteger);
    }
    if radix == 8
        && digits.bytes().any(|b| b == b'8' || b == b'9')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(IntError::BadOctal);
    }
    let magnitude = i64::from_str_radix(digits, radix).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            IntError::Overflow
        }
        _ => IntError::NotInteger,
    })?;
    Ok(CInt {
        value: if neg { -magnitude } else { magnitude },
        octal,
    })
}

/// glibc `inet_aton`: 1 to 4 dot-separated parts, each decimal, `0x` hex or leading-zero octal;
/// the last part fills the remaining bytes (`10.1` is 10.0.0.1).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(4);
    for p in &parts {
        if p.starts_with(['+', '-']) {
            return None;
        }
        let v = parse_c_int(p).ok()?.value;
        nums.push(u32::try_from(v).ok()?);
    }
    let (head, last) = nums.split_at(nums.len() - 1);
    let last = last[0];
    if head.iter().any(|&n| n > 0xff) {
        return None;
    }
    let last_bits = 32 - 8 * head.len() as u32;
    if last_bits < 32 && last >= (1u32 << last_bits) {
        return None;
    }
    let mut addr = 0u32;
    for (i, &n) in head.iter().enumerate() {
        addr |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(addr | last))
}

/// Is `s` a plain dotted quad (`192.0.2.1`), as opposed to one of inet_aton's odd forms?
pub fn is_dotted_quad(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

/// A plausible DNS host name (what `gethostbyname` could resolve).
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        })
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Is `m` a netmask whose one-bits are contiguous (what a prefix length can express)?
pub fn is_contiguous_mask(m: Ipv4Addr) -> bool {
    let v = u32::from(m);
    v.leading_ones() + v.trailing_zeros() == 32
}

/// Decimal seconds such as `0.05` (a Pulse extension for `keepalive`/`deadtime`), in milliseconds.
/// At most millisecond precision; `None` if not of the form `DIGITS[.DIGITS]`.
pub fn parse_decimal_millis(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
    {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut ms: u64 = 0;
    for (i, d) in frac.bytes().enumerate() {
        ms += u64::from(d - b'0') * 10u64.pow(2 - i as u32);
    }
    whole.checked_mul(1000)?.checked_add(ms)
}

/// TCP service names `getservbyname(name, "tcp")` knows on a stock RHEL/Debian host
/// (`/etc/services`), for `port = http` and `heartbeat_port = NAME`.
const SERVICES: &[(&str, u16)] = &[
    ("tcpmux", 1),
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("whois", 43),
    ("domain", 53),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("www", 80),
    ("www-http", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("nntp", 119),
    ("ntp", 123),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("irc", 194),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("submission", 587),
    ("ldaps", 636),
    ("rsync", 873),
    ("imaps", 993),
    ("pop3s", 995),
    ("ms-sql-s", 1433),
    ("openvpn", 1194),
    ("nfs", 2049),
    ("mysql", 3306),
    ("svn", 3690),
    ("sip", 5060),
    ("sip-tls", 5061),
    ("postgresql", 5432),
    ("x11", 6000),
    ("http-alt", 8080),
    ("webcache", 8080),
];

/// `getservbyname(name, "tcp")` over the built-in table.
pub fn service_port(name: &str) -> Option<u16> {
    SERVICES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_forms() {
        assert_eq!(
            parse_c_int("80"),
            Ok(CInt {
                value: 80,
                octal: false
            })
        );
        assert_eq!(
            parse_c_int("010"),
            Ok(CInt {
                value: 8,
                octal: true
            })
        );
        assert_eq!(
            parse_c_int("0x50"),
            Ok(CInt {
                value: 80,
                octal: false
            })
        );
        assert_eq!(parse_c_int("-3").map(|c| c.value), Ok(-3));
        assert_eq!(parse_c_int("0").map(|c| c.value), Ok(0));
        assert_eq!(parse_c_int("080"), Err(IntError::BadOctal));
        assert_eq!(parse_c_int("8x"), Err(IntError::NotInteger));
        assert_eq!(parse_c_int("0x"), Err(IntError::NotInteger));
        assert_eq!(parse_c_int(""), Err(IntError::NotInteger));
        assert_eq!(parse_c_int("99999999999999999999"), Err(IntError::Overflow));
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton("192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(inet_aton("1.2.3.256"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("host"), None);
        assert_eq!(inet_aton("1..2"), None);
    }

    #[test]
    fn decimal_seconds() {
        assert_eq!(parse_decimal_millis("0.05"), Some(50));
        assert_eq!(parse_decimal_millis("2"), Some(2000));
        assert_eq!(parse_decimal_millis(".5"), Some(500));
        assert_eq!(parse_decimal_millis("0.0001"), None);
        assert_eq!(parse_decimal_millis("1e3"), None);
    }

    #[test]
    fn masks() {
        assert!(is_contiguous_mask(Ipv4Addr::new(255, 255, 255, 0)));
        assert!(is_contiguous_mask(Ipv4Addr::new(0, 0, 0, 0)));
        assert!(!is_contiguous_mask(Ipv4Addr::new(255, 0, 255, 0)));
    }
}
