//! What one check does, derived from a virtual service exactly as piranha's nanny derives it from
//! its command line (docs/reference/piranha.md §6.2). Pure: no I/O, no clock.
//!
//! The derivation, in nanny's order:
//! 1. `send_program` given ⇒ the `send` string is dropped (nanny logs `External program use
//!    requested: (…), IGNORING send string option (…)`), and the check is the program, whatever
//!    the `protocol`.
//! 2. Only when the virtual `port` is 80 and none of `send`, `expect`, `send_program` is set: the
//!    default web check, send `GET / HTTP/1.0\r\n\r\n`, expect `HTTP` (bz #495005; nanny logs
//!    `no monitor configured, assuming web service on port 80`). A key set to the empty string
//!    counts as set, as nanny's non-NULL pointer did.
//! 3. Backslash translation of `send` and `expect` ([`translate_escapes`]), never of
//!    `send_program`.
//! 4. `expect`: with `use_regex` a regular expression; otherwise `*` means "any byte"; otherwise
//!    the reply must start with it (nanny's `strncmp`). `use_regex` wins over `*` (as in nanny,
//!    where `*` is then a regex, and an invalid one).
//! 5. `protocol = udp` ⇒ a UDP probe; TCP with nothing to send and nothing to expect ⇒ a
//!    connect-only probe.
//!
//! The string values arrive from `pulse_lvscf` with lvsd's one pair of surrounding double quotes
//! already stripped (docs/reference/piranha.md §5.3), so nothing here strips quotes again.

use pulse_lvscf::VirtualService;
use pulse_lvscf::http::{BodyDigest, StatusSet};
use pulse_lvscf::model::{Host, Protocol};
use std::fmt::{self, Write as _};
use std::net::SocketAddr;

/// nanny's default send string for a port-80 service with no check configured.
pub const DEFAULT_WEB_SEND: &str = "GET / HTTP/1.0\r\n\r\n";
/// nanny's default expect string for a port-80 service with no check configured.
pub const DEFAULT_WEB_EXPECT: &str = "HTTP";

/// What one health check of one real server does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckSpec {
    /// TCP: connect, then close. Passes when the connection is established in time.
    TcpConnect,
    /// TCP: connect, write `send` (nothing when empty), then, if `expect` is set, read until the
    /// reply is decided (see [`Expect`]).
    Tcp {
        /// Bytes written after connecting (backslash escapes already translated).
        send: Vec<u8>,
        /// What the reply must look like; `None` = no read (send-only check).
        expect: Option<Expect>,
    },
    /// UDP: send one datagram (`send`, or an empty datagram), then await one reply datagram.
    /// Passes when a reply arrives in time and matches `expect` (any reply when `None`).
    Udp {
        /// The datagram sent (empty datagram when empty).
        send: Vec<u8>,
        /// What the reply must look like; `None` = any reply datagram.
        expect: Option<Expect>,
    },
    /// An external program (`send_program`), run once per check; see
    /// [`crate::probe::run`] for how its outcome is judged.
    Program {
        /// The argv template.
        program: Program,
        /// The exact output expected, less its last byte (nanny's `strcmp`); `None` = exit
        /// status 0 is success.
        expect: Option<Vec<u8>>,
    },
    /// TLS (Pulse's `check_tls` without an HTTP check): connect, complete the TLS handshake, then
    /// piranha's send/expect over the encrypted stream (only the handshake when neither is set).
    TlsTcp {
        /// The TLS side.
        tls: TlsCheck,
        /// As [`CheckSpec::Tcp`]'s.
        send: Vec<u8>,
        /// As [`CheckSpec::Tcp`]'s.
        expect: Option<Expect>,
    },
    /// An HTTP request, over TLS or plain TCP (Pulse's `check_http*` keywords).
    Http(Box<HttpCheck>),
}

/// The TLS side of a check (`check_tls*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsCheck {
    /// The name sent as SNI and verified against the certificate (`check_tls_sni`, else the
    /// VIP); `None` = the real server's own address (a fwmark service with no VIP).
    pub server_name: Option<String>,
    /// How the server's certificate is verified.
    pub verify: Verify,
    /// A client certificate chain and its key (PEM files).
    pub client_cert: Option<(String, String)>,
    /// The rustls client configuration, built by [`crate::tls::prepare`] (which reads the
    /// files). Not part of the check's identity.
    pub config: Prepared,
}

/// How a server certificate is verified.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verify {
    /// Not at all (`check_tls_verify = 0`): any certificate passes; the handshake's signatures
    /// are still checked.
    Off,
    /// Against the system's trusted roots.
    SystemRoots,
    /// Against the CAs of this PEM file (`check_tls_ca`).
    CaFile(String),
}

/// A built rustls configuration, or nothing yet. Equal to any other and printed as nothing,
/// so a check's identity (lvsd hashes its `Debug` text) is the configuration's inputs only.
#[derive(Clone, Default)]
pub struct Prepared(pub Option<std::sync::Arc<rustls::ClientConfig>>);

impl PartialEq for Prepared {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Prepared {}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_")
    }
}

/// An HTTP check (`check_http*`): one request, judged on the status line and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// TLS first (`check_tls = 1`), else plain TCP.
    pub tls: Option<TlsCheck>,
    /// The method (`GET`).
    pub method: String,
    /// The request target (`/`).
    pub path: String,
    /// The `Host` header; `None` = the real server's address and port.
    pub host: Option<String>,
    /// Accepted status codes.
    pub status: StatusSet,
    /// What the body must satisfy (all of them); empty = the body is not read.
    pub body: Vec<BodyExpect>,
    /// Redirects followed (to the same real server); 0 = a 3xx is judged as it is.
    pub redirects: u8,
}

/// One expectation on an HTTP response body.
#[derive(Clone, Debug)]
pub enum BodyExpect {
    /// The body contains these bytes (`check_http_body`).
    Contains(Vec<u8>),
    /// The body matches this regular expression somewhere (`check_http_body_regex`).
    Regex(regex::bytes::Regex),
    /// The body's digest (`check_http_digest`).
    Digest(BodyDigest),
}

impl PartialEq for BodyExpect {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Contains(a), Self::Contains(b)) => a == b,
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            (Self::Digest(a), Self::Digest(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for BodyExpect {}

/// What a TCP or UDP reply must look like.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The reply starts with these bytes (nanny's `strncmp(expect, reply, strlen(expect))`).
    /// Never empty: an empty plain `expect` is treated as no expect at all.
    Prefix(Vec<u8>),
    /// `expect = "*"`: any received byte passes.
    AnyByte,
    /// `use_regex = 1`: the received text matches this regular expression somewhere
    /// (unanchored search, like `regexec`).
    ///
    /// Rust `regex` syntax, not POSIX: it accepts POSIX ERE for the common cases (literals, `.`,
    /// `[...]` including `[[:alpha:]]`-style classes, `^ $ * + ? {n} {n,} {n,m} | ( )`, and
    /// glibc's `\<`/`\>`). It is compiled with `.` matching newline, as `regcomp` without
    /// `REG_NEWLINE` does, and `^`/`$` anchor at the ends of the received text only, as there.
    /// Differences: an unknown escape (`\y`), an unclosed or headless repetition (`a{`, `{,3}`,
    /// a leading `*`) is a compile error where glibc may accept it; `\d`, `\w`, `\s` exist
    /// and are Unicode-aware; there are no back-references (ERE has none either); matching is
    /// leftmost-first rather than leftmost-longest, which only moves capture positions, and a
    /// check uses none. Nanny matched on at most the first 254 bytes of one `read()` (up to the
    /// first NUL); Pulse reads until a match, EOF, the deadline or
    /// [`REGEX_READ_CAP`](crate::probe::REGEX_READ_CAP) bytes.
    Regex(regex::bytes::Regex),
}

impl PartialEq for Expect {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Prefix(a), Self::Prefix(b)) => a == b,
            (Self::AnyByte, Self::AnyByte) => true,
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Expect {}

/// An external check command: `send_program` split on spaces, with `%h`/`%p` placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    command: String,
    args: Vec<Arg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Arg {
    Literal(String),
    Host,
    Port,
}

impl Program {
    /// Split `command` as nanny does (`strtok(" ")`: on spaces only, runs of spaces and leading
    /// or trailing spaces produce no empty argument; a tab is an ordinary character). A token
    /// that is exactly `%h` becomes the real server's IP, exactly `%p` its port; nothing is
    /// substituted inside a larger token. No shell is involved: quotes, `$VAR`, `|` are passed
    /// as they are. `None` when the command has no token at all.
    pub fn parse(command: &str) -> Option<Self> {
        let args: Vec<Arg> = command
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| match t {
                "%h" => Arg::Host,
                "%p" => Arg::Port,
                _ => Arg::Literal(t.to_string()),
            })
            .collect();
        if args.is_empty() {
            return None;
        }
        Some(Self {
            command: command.to_string(),
            args,
        })
    }

    /// The command as configured.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The argv for one check of `target`; `argv[0]` is the program (looked up in `PATH` when it
    /// has no `/`). Never empty.
    pub fn argv(&self, target: SocketAddr) -> Vec<String> {
        self.args
            .iter()
            .map(|a| match a {
                Arg::Literal(s) => s.clone(),
                Arg::Host => target.ip().to_string(),
                Arg::Port => target.port().to_string(),
            })
            .collect()
    }
}

/// A virtual service whose check cannot be built. lvsd logs it and counts every check of that
/// service as failed, as nanny did with a regex that would not compile.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// `use_regex = 1` and `expect` is not a valid regular expression.
    #[error("virtual service {virtual_name}: expect {pattern:?} is not a valid regular expression")]
    BadRegex {
        /// The virtual service.
        virtual_name: String,
        /// The pattern, after backslash translation.
        pattern: String,
        /// The regex crate's explanation.
        #[source]
        source: regex::Error,
    },
    /// `check_http_body_regex` is not a valid regular expression.
    #[error(
        "virtual service {virtual_name}: check_http_body_regex {pattern:?} is not a valid regular expression"
    )]
    BadBodyRegex {
        /// The virtual service.
        virtual_name: String,
        /// The pattern.
        pattern: String,
        /// The regex crate's explanation.
        #[source]
        source: regex::Error,
    },
    /// The TLS name (`check_tls_sni` or the VIP) is neither a DNS name nor an address.
    #[error("virtual service {virtual_name}: {name:?} is not a valid TLS server name")]
    BadServerName {
        /// The virtual service.
        virtual_name: String,
        /// The name.
        name: String,
    },
    /// The TLS configuration could not be built (a CA, certificate or key file).
    #[error("virtual service {virtual_name}: TLS: {reason}")]
    TlsSetup {
        /// The virtual service.
        virtual_name: String,
        /// What failed, naming the file.
        reason: String,
    },
    /// `send_program` is empty or only spaces (nanny would have exec'd a NULL argv).
    #[error("virtual service {virtual_name}: send_program is empty")]
    EmptyProgram {
        /// The virtual service.
        virtual_name: String,
    },
}

impl CheckSpec {
    /// Derive the check of a virtual service, by docs/reference/piranha.md §6.2 (see the module docs).
    pub fn from_virtual(vs: &VirtualService) -> Result<Self, SpecError> {
        let spec = Self::piranha(vs)?;
        let tls = vs.check_tls.then(|| tls_check(vs)).transpose()?;
        if vs.is_http_check() {
            return Ok(Self::Http(Box::new(http_check(vs, tls)?)));
        }
        Ok(match (tls, spec) {
            (None, spec) => spec,
            (Some(tls), Self::TcpConnect) => Self::TlsTcp {
                tls,
                send: Vec::new(),
                expect: None,
            },
            (Some(tls), Self::Tcp { send, expect }) => Self::TlsTcp { tls, send, expect },
            // UDP and programs make no TLS connection: the model refuses `check_tls` with
            // either (`check-conflict`; DTLS is not offered), so this arm is never taken.
            (Some(_), spec) => spec,
        })
    }

    /// The TLS side of the check, if any.
    pub fn tls(&self) -> Option<&TlsCheck> {
        match self {
            Self::TlsTcp { tls, .. } => Some(tls),
            Self::Http(h) => h.tls.as_ref(),
            _ => None,
        }
    }

    /// The TLS side of the check, if any, to prepare.
    pub fn tls_mut(&mut self) -> Option<&mut TlsCheck> {
        match self {
            Self::TlsTcp { tls, .. } => Some(tls),
            Self::Http(h) => h.tls.as_mut(),
            _ => None,
        }
    }

    /// piranha's own check of a virtual service (docs/reference/piranha.md §6.2).
    fn piranha(vs: &VirtualService) -> Result<Self, SpecError> {
        let program = vs.send_program.as_deref();
        // send_program overrides send.
        let mut send = if program.is_some() {
            None
        } else {
            vs.send.as_deref()
        };
        let mut expect = vs.expect.as_deref();
        if vs.port == 80 && send.is_none() && expect.is_none() && program.is_none() {
            send = Some(DEFAULT_WEB_SEND);
            expect = Some(DEFAULT_WEB_EXPECT);
        }
        // lvs.cf's bytes that are not UTF-8 (a Latin-1 `expect`) come back as the bytes piranha
        // would send and compare (`pulse_lvscf::encode`).
        let raw = |s: String| pulse_lvscf::encode(&s).into_owned();
        let send = send.map(translate_escapes).map(raw).unwrap_or_default();
        let expect = expect.map(translate_escapes);

        if let Some(command) = program {
            let program = Program::parse(command).ok_or_else(|| SpecError::EmptyProgram {
                virtual_name: vs.name.clone(),
            })?;
            return Ok(Self::Program {
                program,
                expect: expect.map(raw),
            });
        }

        let expect = match expect {
            None => None,
            Some(pattern) if vs.use_regex => {
                match regex::bytes::RegexBuilder::new(&pattern)
                    .dot_matches_new_line(true)
                    .build()
                {
                    Ok(re) => Some(Expect::Regex(re)),
                    Err(source) => {
                        return Err(SpecError::BadRegex {
                            virtual_name: vs.name.clone(),
                            pattern,
                            source,
                        });
                    }
                }
            }
            Some(s) if s == "*" => Some(Expect::AnyByte),
            // nanny polled for readability and then read 0 bytes, so an empty expect passed on
            // any data or EOF; Pulse simply does not read.
            Some(s) if s.is_empty() => None,
            Some(s) => Some(Expect::Prefix(raw(s))),
        };

        Ok(match vs.protocol {
            Protocol::Udp => Self::Udp { send, expect },
            Protocol::Tcp if send.is_empty() && expect.is_none() => Self::TcpConnect,
            Protocol::Tcp => Self::Tcp { send, expect },
        })
    }

    /// A one-line summary for status output, e.g. `tcp send "GET / HTTP/1.0\r\n\r\n", expect
    /// prefix "HTTP"`. Control and non-ASCII bytes are escaped.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        match self {
            Self::TcpConnect => s.push_str("tcp connect"),
            Self::Tcp { send, expect } => {
                s.push_str("tcp");
                if !send.is_empty() {
                    s.push_str(" send ");
                    push_quoted(&mut s, send);
                    if expect.is_some() {
                        s.push(',');
                    }
                }
                if let Some(e) = expect {
                    push_expect(&mut s, e);
                }
            }
            Self::Udp { send, expect } => {
                s.push_str("udp send ");
                if send.is_empty() {
                    s.push_str("empty datagram");
                } else {
                    push_quoted(&mut s, send);
                }
                s.push(',');
                match expect {
                    Some(e) => push_expect(&mut s, e),
                    None => s.push_str(" any reply"),
                }
            }
            Self::TlsTcp { tls, send, expect } => {
                push_tls(&mut s, tls);
                if !send.is_empty() {
                    s.push_str(", send ");
                    push_quoted(&mut s, send);
                }
                if let Some(e) = expect {
                    s.push(',');
                    push_expect(&mut s, e);
                }
            }
            Self::Http(h) => {
                match &h.tls {
                    Some(tls) => {
                        push_tls(&mut s, tls);
                        s.push_str(", https ");
                    }
                    None => s.push_str("http "),
                }
                let _ = write!(s, "{} {}", h.method, h.path);
                if let Some(host) = &h.host {
                    let _ = write!(s, " host {host}");
                }
                let _ = write!(s, ", status {}", h.status);
                for b in &h.body {
                    match b {
                        BodyExpect::Contains(c) => {
                            s.push_str(", body contains ");
                            push_quoted(&mut s, c);
                        }
                        BodyExpect::Regex(re) => {
                            s.push_str(", body regex ");
                            push_quoted(&mut s, re.as_str().as_bytes());
                        }
                        BodyExpect::Digest(d) => {
                            let _ = write!(s, ", body digest {d}");
                        }
                    }
                }
                if h.redirects > 0 {
                    let _ = write!(s, ", up to {} redirects", h.redirects);
                }
            }
            Self::Program { program, expect } => {
                s.push_str("program ");
                push_quoted(&mut s, program.command().as_bytes());
                match expect {
                    Some(e) => {
                        s.push_str(", output ");
                        push_quoted(&mut s, e);
                    }
                    None => s.push_str(", exit status 0"),
                }
            }
        }
        s
    }
}

fn push_tls(s: &mut String, tls: &TlsCheck) {
    s.push_str("tls");
    if let Some(n) = &tls.server_name {
        let _ = write!(s, " name {n}");
    }
    match &tls.verify {
        Verify::Off => s.push_str(" unverified"),
        Verify::SystemRoots => s.push_str(" verified (system roots)"),
        Verify::CaFile(f) => {
            let _ = write!(s, " verified (CA file {f})");
        }
    }
    if tls.client_cert.is_some() {
        s.push_str(" with client certificate");
    }
}

/// The VIP as a name: an address as text (IPv6 without brackets), or the host name.
fn vip_name(vs: &VirtualService) -> Option<String> {
    vs.address.as_ref().map(|a| match &a.addr {
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => n.clone(),
    })
}

fn tls_check(vs: &VirtualService) -> Result<TlsCheck, SpecError> {
    let server_name = vs.check_tls_sni.clone().or_else(|| vip_name(vs));
    if let Some(name) = &server_name
        && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        return Err(SpecError::BadServerName {
            virtual_name: vs.name.clone(),
            name: name.clone(),
        });
    }
    let verify = match (&vs.check_tls_verify, &vs.check_tls_ca) {
        (false, _) => Verify::Off,
        (true, None) => Verify::SystemRoots,
        (true, Some(f)) => Verify::CaFile(f.clone()),
    };
    let client_cert = vs.check_tls_cert.clone().zip(vs.check_tls_key.clone());
    Ok(TlsCheck {
        server_name,
        verify,
        client_cert,
        config: Prepared::default(),
    })
}

fn http_check(vs: &VirtualService, tls: Option<TlsCheck>) -> Result<HttpCheck, SpecError> {
    let raw = |s: &str| pulse_lvscf::encode(s).into_owned();
    let mut body = Vec::new();
    if let Some(b) = &vs.check_http_body {
        body.push(BodyExpect::Contains(raw(b)));
    }
    if let Some(p) = &vs.check_http_body_regex {
        let re = regex::bytes::RegexBuilder::new(p)
            .dot_matches_new_line(true)
            .build()
            .map_err(|source| SpecError::BadBodyRegex {
                virtual_name: vs.name.clone(),
                pattern: p.clone(),
                source,
            })?;
        body.push(BodyExpect::Regex(re));
    }
    if let Some(d) = &vs.check_http_digest {
        body.push(BodyExpect::Digest(d.clone()));
    }
    // Host: the configured one, else the TLS name, else the VIP (with its port unless it is
    // the scheme's default), else (no VIP: a fwmark service) the real server's address.
    let default_port = if tls.is_some() { 443 } else { 80 };
    let host = vs
        .check_http_host
        .clone()
        .or_else(|| vs.check_tls_sni.clone())
        .or_else(|| {
            vs.address.as_ref().map(|a| {
                let h = match &a.addr {
                    Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                    Host::Ip(ip) => ip.to_string(),
                    Host::Name(n) => n.clone(),
                };
                if vs.port == default_port || vs.port == 0 {
                    h
                } else {
                    format!("{h}:{}", vs.port)
                }
            })
        });
    Ok(HttpCheck {
        tls,
        method: vs.check_http_method.clone(),
        path: vs.check_http_path.clone(),
        host,
        status: vs.check_http_status.clone(),
        body,
        redirects: vs.check_http_redirects,
    })
}

fn push_expect(s: &mut String, e: &Expect) {
    match e {
        Expect::Prefix(p) => {
            s.push_str(" expect prefix ");
            push_quoted(s, p);
        }
        Expect::AnyByte => s.push_str(" expect any byte"),
        Expect::Regex(re) => {
            s.push_str(" expect regex ");
            push_quoted(s, re.as_str().as_bytes());
        }
    }
}

fn push_quoted(s: &mut String, bytes: &[u8]) {
    s.push('"');
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
}

/// nanny's `convert_str` (docs/reference/piranha.md §6.2): `\\` `\r` `\n` `\t` `\'` `\"` become the character;
/// any other backslash, including a trailing one, is kept with what follows it; a translated
/// backslash does not start a new escape (`\\n` is a backslash and `n`). Strings of length ≤ 1
/// are returned untouched.
pub fn translate_escapes(s: &str) -> String {
    if s.len() <= 1 || !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut ahead = chars.clone();
        let replaced = match ahead.next() {
            Some('\\') => Some('\\'),
            Some('r') => Some('\r'),
            Some('n') => Some('\n'),
            Some('t') => Some('\t'),
            Some('\'') => Some('\''),
            Some('"') => Some('"'),
            _ => None,
        };
        match replaced {
            Some(r) => {
                out.push(r);
                chars = ahead;
            }
            // Kept as is; the character after it is copied on the next turn.
            None => out.push('\\'),
        }
    }
    out
}

impl fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_known() {
        assert_eq!(
            translate_escapes(r"GET / HTTP/1.0\r\n\r\n"),
            "GET / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(translate_escapes(r"a\tb"), "a\tb");
        assert_eq!(translate_escapes(r#"\'x\""#), "'x\"");
        assert_eq!(translate_escapes(r"a\\b"), r"a\b");
    }

    #[test]
    fn escaped_backslash_does_not_start_an_escape() {
        assert_eq!(translate_escapes(r"\\n"), r"\n");
        assert_eq!(translate_escapes(r"\\\n"), "\\\n");
    }

    #[test]
    fn unknown_escapes_kept() {
        assert_eq!(translate_escapes(r"\x41"), r"\x41");
        assert_eq!(translate_escapes(r"HTTP/1\.[01]"), r"HTTP/1\.[01]");
        assert_eq!(translate_escapes(r"ab\"), r"ab\");
        // an unknown escape followed by a known one
        assert_eq!(translate_escapes(r"\q\n"), "\\q\n");
        // two escaped backslashes
        assert_eq!(translate_escapes(r"\\\\"), r"\\");
    }

    #[test]
    fn short_strings_untouched() {
        assert_eq!(translate_escapes(""), "");
        assert_eq!(translate_escapes("\\"), "\\");
        assert_eq!(translate_escapes("n"), "n");
        assert_eq!(translate_escapes(r"\n"), "\n");
    }

    #[test]
    fn non_ascii_survives() {
        assert_eq!(translate_escapes(r"é\n€"), "é\n€");
    }

    #[test]
    fn program_split_like_strtok() {
        let p = Program::parse("  /bin/check  %h %p x%h %pp ").unwrap();
        let t: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        assert_eq!(p.argv(t), ["/bin/check", "10.0.0.2", "8080", "x%h", "%pp"]);
        assert_eq!(p.command(), "  /bin/check  %h %p x%h %pp ");
        assert!(Program::parse("   ").is_none());
        assert!(Program::parse("").is_none());
        // a tab is not a separator
        assert_eq!(Program::parse("a\tb").unwrap().argv(t), ["a\tb"]);
    }

    #[test]
    fn describe_escapes() {
        let spec = CheckSpec::Tcp {
            send: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            expect: Some(Expect::Prefix(b"HTTP".to_vec())),
        };
        assert_eq!(
            spec.describe(),
            r#"tcp send "GET / HTTP/1.0\r\n\r\n", expect prefix "HTTP""#
        );
        let udp = CheckSpec::Udp {
            send: vec![0, b'"'],
            expect: None,
        };
        assert_eq!(udp.describe(), r#"udp send "\x00\"", any reply"#);
        assert_eq!(CheckSpec::TcpConnect.to_string(), "tcp connect");
    }
}
