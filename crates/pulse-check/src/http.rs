//! The HTTP side of an HTTP check, sans I/O: the request bytes, and [`Response`], which is fed
//! the bytes received and decides (status line and headers through `httparse`, the body framed
//! by `Content-Length`, chunked encoding or the end of the stream, all bounded).

use crate::spec::{BodyExpect, HttpCheck};
use md5::Digest as _;
use pulse_lvscf::http::BodyDigest;

/// The status line and headers may take at most this many bytes.
pub const HEAD_CAP: usize = 16 * 1024;
/// A body is read (when the check looks at it) up to this many bytes; a larger one fails.
pub const BODY_CAP: usize = 1024 * 1024;
/// Headers looked at, at most.
const MAX_HEADERS: usize = 64;

/// The request for `path` with Host `host`. `Connection: close`: one request per connection,
/// so the end of the stream also ends a body without a length.
pub fn request(check: &HttpCheck, host: &str, path: &str) -> Vec<u8> {
    format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pulse-lvsd\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.method
    )
    .into_bytes()
}

/// Why an HTTP response fails a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFailure {
    /// The status code is not an accepted one (`HTTP 503`).
    Status(u16),
    /// The body does not contain, match or hash to what is expected.
    BodyMismatch,
    /// The head or the body is larger than [`HEAD_CAP`] / [`BODY_CAP`].
    TooLarge,
    /// Not an HTTP/1.x response (what `httparse` or the framing refused).
    Malformed(&'static str),
    /// The stream ended before the response did.
    Truncated,
}

/// What the bytes received so far decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read more.
    More,
    /// The check passes.
    Pass,
    /// The check fails.
    Fail(HttpFailure),
    /// A redirect to follow: its status and `Location`.
    Redirect(u16, String),
}

#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked,
    UntilEof,
}

/// One response being read.
#[derive(Debug)]
pub struct Response<'a> {
    check: &'a HttpCheck,
    may_redirect: bool,
    head_request: bool,
    buf: Vec<u8>,
    /// After the head: where the body starts in `buf` and how it is framed.
    body: Option<(usize, Framing)>,
}

impl<'a> Response<'a> {
    /// A response to `check`'s request; `may_redirect`: a redirect is followed, not judged.
    pub fn new(check: &'a HttpCheck, may_redirect: bool) -> Self {
        Self {
            check,
            may_redirect,
            head_request: check.method.eq_ignore_ascii_case("HEAD"),
            buf: Vec::new(),
            body: None,
        }
    }

    /// How many bytes the next read may bring: keeps the buffer within its caps.
    pub fn room(&self) -> usize {
        match self.body {
            None => HEAD_CAP.saturating_sub(self.buf.len()).max(1),
            Some((start, _)) => (start + BODY_CAP + 64 * 1024)
                .saturating_sub(self.buf.len())
                .max(1),
        }
    }

    /// Bytes received.
    pub fn received(&self) -> usize {
        self.buf.len()
    }

    /// Feed bytes received; the decision so far.
    pub fn feed(&mut self, data: &[u8]) -> Step {
        self.buf.extend_from_slice(data);
        self.decide(false)
    }

    /// The stream ended.
    pub fn eof(&mut self) -> Step {
        match self.decide(true) {
            Step::More => Step::Fail(HttpFailure::Truncated),
            s => s,
        }
    }

    fn decide(&mut self, eof: bool) -> Step {
        if self.body.is_none() {
            match self.head() {
                Ok(Some(step)) => return step,
                Ok(None) => {}
                Err(f) => return Step::Fail(f),
            }
            if self.body.is_none() {
                return if self.buf.len() >= HEAD_CAP {
                    Step::Fail(HttpFailure::TooLarge)
                } else {
                    Step::More
                };
            }
        }
        let Some((start, framing)) = &self.body else {
            return Step::More;
        };
        let raw = &self.buf[*start..];
        let body: std::borrow::Cow<'_, [u8]> = match framing {
            Framing::Length(n) if *n > BODY_CAP => return Step::Fail(HttpFailure::TooLarge),
            Framing::Length(n) if raw.len() >= *n => raw[..*n].into(),
            Framing::Length(_) => return Step::More,
            Framing::Chunked => match dechunk(raw) {
                Err(f) => return Step::Fail(f),
                Ok(Some(b)) => b.into(),
                Ok(None) if raw.len() > BODY_CAP + 64 * 1024 => {
                    return Step::Fail(HttpFailure::TooLarge);
                }
                Ok(None) => return Step::More,
            },
            Framing::UntilEof if raw.len() > BODY_CAP => return Step::Fail(HttpFailure::TooLarge),
            Framing::UntilEof if eof => raw.into(),
            Framing::UntilEof => return Step::More,
        };
        if body.len() > BODY_CAP {
            return Step::Fail(HttpFailure::TooLarge);
        }
        if self.check.body.iter().all(|e| body_matches(e, &body)) {
            Step::Pass
        } else {
            Step::Fail(HttpFailure::BodyMismatch)
        }
    }

    /// Parse the head if complete: `Some(step)` when the head alone decides.
    fn head(&mut self) -> Result<Option<Step>, HttpFailure> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        // 1xx informational responses precede the real one (100 Continue, 103 Early Hints):
        // dropped from the buffer one by one (a loop: a server sending thousands of them must
        // not deepen the stack).
        loop {
            let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut h);
            let len = match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                // Incomplete or bad: decided below.
                Ok(httparse::Status::Partial) | Err(_) => break,
            };
            match resp.code {
                Some(c) if (100..200).contains(&c) && c != 101 => {
                    self.buf.drain(..len);
                }
                _ => break,
            }
        }
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpFailure::Malformed("too many headers"));
            }
            Err(_) => return Err(HttpFailure::Malformed("not an HTTP response")),
        };
        let code = resp.code.unwrap_or(0);
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if (300..400).contains(&code)
            && self.may_redirect
            && let Some(loc) = header("location").and_then(|v| std::str::from_utf8(v).ok())
        {
            return Ok(Some(Step::Redirect(code, loc.trim().to_string())));
        }
        if !self.check.status.contains(code) {
            return Ok(Some(Step::Fail(HttpFailure::Status(code))));
        }
        if self.check.body.is_empty() {
            return Ok(Some(Step::Pass));
        }
        let framing = if self.head_request || code == 204 || code == 304 {
            Framing::Length(0)
        } else if header("transfer-encoding").is_some_and(|v| {
            std::str::from_utf8(v).is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
        }) {
            Framing::Chunked
        } else if let Some(v) = header("content-length") {
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(HttpFailure::Malformed("bad Content-Length"))?;
            Framing::Length(n)
        } else {
            Framing::UntilEof
        };
        self.body = Some((len, framing));
        Ok(None)
    }
}

/// The body of a complete chunked encoding (`None`: not complete yet).
fn dechunk(mut raw: &[u8]) -> Result<Option<Vec<u8>>, HttpFailure> {
    let mut body = Vec::new();
    loop {
        let (skip, size) = match httparse::parse_chunk_size(raw) {
            Ok(httparse::Status::Complete(x)) => x,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpFailure::Malformed("bad chunk size")),
        };
        let size = usize::try_from(size).map_err(|_| HttpFailure::TooLarge)?;
        if size > BODY_CAP || body.len() + size > BODY_CAP {
            return Err(HttpFailure::TooLarge);
        }
        raw = &raw[skip..];
        if size == 0 {
            // Trailers are not looked at: the last chunk ends the body.
            return Ok(Some(body));
        }
        if raw.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&raw[..size]);
        if &raw[size..size + 2] != b"\r\n" {
            return Err(HttpFailure::Malformed("bad chunk end"));
        }
        raw = &raw[size + 2..];
    }
}

fn body_matches(e: &BodyExpect, body: &[u8]) -> bool {
    match e {
        BodyExpect::Contains(s) => memchr::memmem::find(body, s).is_some(),
        BodyExpect::Regex(re) => re.is_match(body),
        BodyExpect::Digest(BodyDigest::Md5(d)) => md5::Md5::digest(body).as_slice() == d,
        BodyExpect::Digest(BodyDigest::Sha256(d)) => sha2::Sha256::digest(body).as_slice() == d,
    }
}

/// Where a redirect goes, on the same real server: `(host, path)` for the next request.
/// An absolute `http(s)://authority/path` changes the Host header (the scheme is not: the
/// check keeps its own TLS setting); a path replaces the path; a relative reference is taken
/// from the current path's directory.
pub fn follow(location: &str, host: &str, path: &str) -> Option<(String, String)> {
    let valid = |p: &str| pulse_lvscf::http::parse_path(p).ok();
    for scheme in ["http://", "https://"] {
        if let Some(rest) = location
            .get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &location[scheme.len()..])
        {
            let (authority, p) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let authority = pulse_lvscf::http::parse_host_name(authority).ok()?;
            return Some((authority, valid(p)?));
        }
    }
    if location.starts_with("//") {
        return None;
    }
    if location.starts_with('/') {
        return Some((host.to_string(), valid(location)?));
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some((host.to_string(), valid(&format!("{dir}{location}"))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_lvscf::http::StatusSet;

    fn check(body: Vec<BodyExpect>) -> HttpCheck {
        HttpCheck {
            tls: None,
            method: "GET".into(),
            path: "/".into(),
            host: None,
            status: StatusSet::default(),
            body,
            redirects: 0,
        }
    }

    fn judge(check: &HttpCheck, parts: &[&[u8]]) -> Step {
        let mut r = Response::new(check, false);
        for p in parts {
            match r.feed(p) {
                Step::More => {}
                s => return s,
            }
        }
        r.eof()
    }

    #[test]
    fn status_decides_without_a_body_check() {
        let c = check(vec![]);
        assert_eq!(judge(&c, &[b"HTTP/1.1 200 OK\r\n", b"\r\n"]), Step::Pass);
        assert_eq!(
            judge(&c, &[b"HTTP/1.1 503 Busy\r\n\r\n"]),
            Step::Fail(HttpFailure::Status(503))
        );
        assert_eq!(
            judge(&c, &[b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n"]),
            Step::Fail(HttpFailure::Status(301))
        );
        assert_eq!(
            judge(
                &c,
                &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n"]
            ),
            Step::Pass
        );
        assert_eq!(
            judge(&c, &[b"HTTP/1.1 200"]),
            Step::Fail(HttpFailure::Truncated)
        );
        assert!(matches!(
            judge(&c, &[b"SSH-2.0-OpenSSH\r\n\r\n"]),
            Step::Fail(HttpFailure::Malformed(_))
        ));
        let mut many = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(10_000);
        many.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(judge(&c, &[&many]), Step::Pass);
        let huge = vec![b'a'; HEAD_CAP + 1];
        let mut r = Response::new(&c, false);
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\nX: "), Step::More);
        assert_eq!(r.feed(&huge), Step::Fail(HttpFailure::TooLarge));
    }

    #[test]
    fn bodies_by_length_chunks_and_eof() {
        let c = check(vec![BodyExpect::Contains(b"ok".to_vec())]);
        assert_eq!(
            judge(
                &c,
                &[b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nis o", b"k"]
            ),
            Step::Fail(HttpFailure::BodyMismatch)
        );
        assert_eq!(
            judge(
                &c,
                &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nis o", b"k"]
            ),
            Step::Pass
        );
        assert_eq!(
            judge(
                &c,
                &[
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nis \r\n",
                    b"2\r\nok\r\n0\r\n\r\n"
                ]
            ),
            Step::Pass
        );
        assert_eq!(judge(&c, &[b"HTTP/1.0 200 OK\r\n\r\nall ok"]), Step::Pass);
        assert_eq!(
            judge(
                &c,
                &[b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"]
            ),
            Step::Fail(HttpFailure::TooLarge)
        );
        assert_eq!(
            judge(
                &c,
                &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n"]
            ),
            Step::Fail(HttpFailure::TooLarge)
        );
    }

    #[test]
    fn digests_like_keepalive() {
        // md5("hello") = 5d41402abc4b2a76b9719d911017c592
        let d = BodyDigest::parse("5d41402abc4b2a76b9719d911017c592").unwrap();
        let c = check(vec![BodyExpect::Digest(d)]);
        assert_eq!(
            judge(&c, &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
            Step::Pass
        );
        assert_eq!(
            judge(&c, &[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhellO"]),
            Step::Fail(HttpFailure::BodyMismatch)
        );
    }

    #[test]
    fn redirects() {
        let c = check(vec![]);
        let mut r = Response::new(&c, true);
        assert_eq!(
            r.feed(b"HTTP/1.1 302 Found\r\nLocation: https://www.example.com/a\r\n\r\n"),
            Step::Redirect(302, "https://www.example.com/a".into())
        );
        assert_eq!(
            follow("https://www.example.com/a?b", "vip", "/"),
            Some(("www.example.com".into(), "/a?b".into()))
        );
        assert_eq!(
            follow("/x", "vip", "/a/b"),
            Some(("vip".into(), "/x".into()))
        );
        assert_eq!(
            follow("c", "vip", "/a/b"),
            Some(("vip".into(), "/a/c".into()))
        );
        assert_eq!(
            follow("http://h", "vip", "/"),
            Some(("h".into(), "/".into()))
        );
        assert_eq!(follow("/a b", "vip", "/"), None);
    }
}
