//! Values of the HTTP/TLS check keywords (Pulse extensions, `check_http_*`): the status set and
//! the body digest. Pure parsing and canonical text; the probe lives in `pulse-check`.

use serde::Serialize;
use std::fmt;

/// `check_http_status`: the accepted status codes, as a list of codes and inclusive ranges
/// (`200`, `200,204`, `200-399`, `200-299,301`). keepalived's `HTTP_GET` default is 200–299.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        Self(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Parse `200`, `200,204`, `200-399` or a comma-separated mixture; codes are 100–599.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let code = |t: &str| -> Result<u16, String> {
                match t.trim().parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => Ok(c),
                    _ => Err(format!("`{t}` is not an HTTP status code (100-599)")),
                }
            };
            let range = match part.split_once('-') {
                Some((a, b)) => (code(a)?, code(b)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(format!("the range `{part}` is empty"));
            }
            out.push(range);
        }
        Ok(Self(out))
    }

    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// `check_http_digest`: the expected digest of the response body, in hex. 32 hex digits are an
/// MD5 digest, as keepalived's `SSL_GET`/`HTTP_GET` `digest` (what its `genhash` prints); 64 are
/// SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum BodyDigest {
    /// MD5, keepalived's.
    Md5([u8; 16]),
    /// SHA-256.
    Sha256([u8; 32]),
}

impl BodyDigest {
    /// Parse 32 (MD5) or 64 (SHA-256) hex digits, either case.
    pub fn parse(s: &str) -> Result<Self, String> {
        fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
            let mut out = [0u8; N];
            let b = s.as_bytes();
            for (i, o) in out.iter_mut().enumerate() {
                let d = |c: u8| char::from(c).to_digit(16);
                *o = u8::try_from(d(b[2 * i])? * 16 + d(b[2 * i + 1])?).ok()?;
            }
            Some(out)
        }
        let bad = || format!("`{s}` is not an MD5 (32 hex digits) or SHA-256 (64) digest");
        match s.len() {
            32 => hex(s).map(Self::Md5).ok_or_else(bad),
            64 => hex(s).map(Self::Sha256).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// The digest's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Md5(b) => b,
            Self::Sha256(b) => b,
        }
    }
}

impl fmt::Display for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// `check_http_method`: an HTTP token (RFC 9110 `tchar`s), e.g. `GET`, `HEAD`.
pub fn parse_method(s: &str) -> Result<String, String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !s.is_empty() && s.len() <= 32 && s.chars().all(tchar) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not an HTTP method"))
    }
}

/// `check_http_path`: a request target starting with `/`, printable ASCII without blanks
/// (percent-encode the rest), at most 2048 bytes.
pub fn parse_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && s.len() <= 2048 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a request path: it starts with `/` and has no blanks or control characters"
        ))
    }
}

/// `check_http_host` and `check_tls_sni`: a host name or address, printable ASCII without
/// blanks (it goes into a header line and the TLS ClientHello), at most 255 bytes.
pub fn parse_host_name(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a host name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200-299, 301").unwrap();
        assert!(s.contains(200) && s.contains(299) && s.contains(301));
        assert!(!s.contains(300) && !s.contains(503));
        assert_eq!(s.to_string(), "200-299,301");
        assert_eq!(StatusSet::default().to_string(), "200-299");
        assert!(StatusSet::parse("99").is_err());
        assert!(StatusSet::parse("300-200").is_err());
        assert!(StatusSet::parse("").is_err());
        assert!(StatusSet::parse("2xx").is_err());
    }

    #[test]
    fn digests() {
        let d = BodyDigest::parse("D41D8CD98F00B204E9800998ECF8427E").unwrap();
        assert!(matches!(d, BodyDigest::Md5(_)));
        assert_eq!(d.to_string(), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(BodyDigest::parse(&"ab".repeat(32)).is_ok());
        assert!(BodyDigest::parse("xyz").is_err());
        assert!(BodyDigest::parse(&"zz".repeat(16)).is_err());
        // Multi-byte text of the right length is refused, not sliced.
        assert!(BodyDigest::parse(&"é".repeat(16)).is_err());
    }

    #[test]
    fn request_parts() {
        assert!(parse_method("GET").is_ok() && parse_method("G T").is_err());
        assert!(parse_path("/health?x=1").is_ok());
        assert!(parse_path("health").is_err() && parse_path("/a b").is_err());
        assert!(parse_host_name("www.example.com").is_ok());
        assert!(parse_host_name("a\r\nX: y").is_err());
    }
}
