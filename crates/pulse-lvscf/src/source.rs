//! Reading an lvs.cf: bytes in, text that keeps every byte, a parse, and one error report.
//!
//! piranha reads the file as bytes, so a Latin-1 `é` in a comment is nothing to it. Pulse parses
//! text, so [`decode`] turns the bytes into a `String` **losslessly**: valid UTF-8 stays as it is,
//! and each byte of an invalid sequence becomes one private-use character,
//! `U+F700 + byte` (U+F780–U+F7FF). [`encode`] maps them back, so `encode(decode(b)) == b` for
//! every byte string, and an edit made on the text writes back the file's own bytes. A file that
//! really contains one of those 128 private-use characters has it escaped byte by byte as well
//! (the characters are reserved for this), which keeps the round trip exact.
//!
//! [`crate::parse`] reports an escaped byte inside a comment or a quoted value as a warning
//! (piranha accepts it there) and anywhere else as an error naming the line and the byte.
//!
//! This module does no I/O of its own: [`read`] and [`load`] take the result of opening the file
//! (`std::fs::File::open(path)`) and read at most [`MAX_BYTES`] from it, so pulse, lvsd and pulsectl
//! share one size cap, one decoding and one wording of every error.

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::syntax::{Document, LineKind};
use crate::{Parsed, Severity};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest lvs.cf anything reads: ten times the largest published configuration, and far
/// below what the parser's 32-bit offsets allow.
pub const MAX_BYTES: u64 = 64 << 20;

/// Byte `b` (0x80–0xFF) of an invalid UTF-8 sequence is carried as the character `ESCAPE + b`.
const ESCAPE: u32 = 0xF700;

/// The byte a character of the decoded text stands for, if it is an escaped byte.
pub fn escaped_byte(c: char) -> Option<u8> {
    let v = u32::from(c);
    (ESCAPE + 0x80..=ESCAPE + 0xFF)
        .contains(&v)
        .then(|| (v - ESCAPE) as u8)
}

fn escape(b: u8) -> char {
    // 0xF780..=0xF7FF are scalar values (private use), so this never falls back.
    char::from_u32(ESCAPE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Does `s` contain an escaped byte? (Their UTF-8 is `EF 9E xx` or `EF 9F xx`.)
fn has_escapes(s: &[u8]) -> bool {
    memchr::memchr_iter(0xEF, s).any(|i| matches!(s.get(i + 1), Some(0x9E | 0x9F)))
}

/// The bytes of a file as text, without losing any (see the module documentation).
/// Borrowed when the file is UTF-8 without reserved characters, as lvs.cf files are.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !has_escapes(bytes)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, 0),
            Err(e) => {
                let valid = e.valid_up_to();
                // The prefix up to `valid_up_to` is UTF-8 by definition.
                let s = std::str::from_utf8(&rest[..valid]).unwrap_or("");
                (s, e.error_len().unwrap_or(rest.len() - valid))
            }
        };
        for c in valid.chars() {
            if escaped_byte(c).is_some() {
                // A reserved character in the file: carry its bytes one by one.
                let mut buf = [0; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        let bad_start = valid.len();
        out.extend(rest[bad_start..bad_start + bad].iter().map(|&b| escape(b)));
        rest = &rest[bad_start + bad..];
    }
    Cow::Owned(out)
}

/// The bytes a decoded (and possibly edited) text stands for: the inverse of [`decode`].
pub fn encode(src: &str) -> Cow<'_, [u8]> {
    if !has_escapes(src.as_bytes()) {
        return Cow::Borrowed(src.as_bytes());
    }
    let mut out = Vec::with_capacity(src.len());
    for c in src.chars() {
        match escaped_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Cow::Owned(out)
}

/// Why a configuration could not be loaded. The `Display` text is the whole message, for pulse,
/// lvsd and pulsectl alike.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened.
    #[error("failed to open {}: {}", path.display(), reason(error))]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said (in the message already, so not a `source()`: `{:#}` would
        /// repeat it).
        error: io::Error,
    },
    /// The file was opened but reading it failed (a directory, an I/O error).
    #[error("cannot read {}: {}", path.display(), reason(error))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// Larger than [`MAX_BYTES`].
    #[error("{} is larger than {} MiB; that is not an lvs.cf", path.display(), MAX_BYTES >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file has errors: piranha's first line (`error parsing FILE on line N.`), then every
    /// error rendered with its place and help.
    #[error("error parsing {} on line {line}.\n{report}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line of the first error (0 when it has no place, as piranha's "Empty configuration").
        line: usize,
        /// The rendered errors.
        report: String,
    },
}

/// An `io::Error` as a lowercase reason without the "(os error N)" suffix:
/// `permission denied`, `no such file or directory`, `is a directory`.
fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// Read the file `opened` (the result of opening `path`), at most [`MAX_BYTES`].
///
/// ```no_run
/// # let path = std::path::Path::new("/etc/sysconfig/ha/lvs.cf");
/// let bytes = pulse_lvscf::source::read(path, std::fs::File::open(path))?;
/// # Ok::<(), pulse_lvscf::source::LoadError>(())
/// ```
pub fn read<R: Read>(path: &Path, opened: io::Result<R>) -> Result<Vec<u8>, LoadError> {
    let file = opened.map_err(|error| LoadError::Open {
        path: path.to_path_buf(),
        error,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| LoadError::Read {
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// [`read`] and parse, valid or not: for pulsectl, which shows warnings and errors itself.
pub fn load<R: Read>(path: &Path, opened: io::Result<R>) -> Result<Loaded, LoadError> {
    Ok(Loaded::from_bytes(&read(path, opened)?))
}

/// [`load`], and an error if the file has errors: what a daemon starts or reloads from.
///
/// ```no_run
/// # let path = std::path::Path::new("/etc/sysconfig/ha/lvs.cf");
/// let loaded = pulse_lvscf::source::load_valid(path, std::fs::File::open(path))?;
/// let config = loaded.parsed.config;
/// # Ok::<(), pulse_lvscf::source::LoadError>(())
/// ```
pub fn load_valid<R: Read>(path: &Path, opened: io::Result<R>) -> Result<Loaded, LoadError> {
    load(path, opened)?.valid(path)
}

/// A file read and parsed.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The file's text, decoded losslessly ([`decode`]); [`Loaded::bytes`] gives the bytes back.
    pub src: String,
    /// The parse (`parsed.doc.render() == src`).
    pub parsed: Parsed,
}

impl Loaded {
    /// Decode and parse bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let src = decode(bytes).into_owned();
        let parsed = crate::parse(&src);
        Self { src, parsed }
    }

    /// The file's exact bytes.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        encode(&self.src)
    }

    /// Does the file load (no errors)?
    pub fn is_valid(&self) -> bool {
        self.parsed.is_valid()
    }

    /// `self` if valid, else [`LoadError::Invalid`] naming `path`.
    pub fn valid(self, path: &Path) -> Result<Self, LoadError> {
        match error_report(&path.display().to_string(), &self.src, &self.parsed) {
            None => Ok(self),
            Some((line, report)) => Err(LoadError::Invalid {
                path: path.to_path_buf(),
                line,
                report,
            }),
        }
    }
}

/// The errors of `parsed` (the parse of `src`, named `name`) rendered one after another, with the
/// line of the first: `None` when there are none. Warnings are left out.
pub fn error_report(name: &str, src: &str, parsed: &Parsed) -> Option<(usize, String)> {
    let mut errors = parsed
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .peekable();
    let line = errors.peek()?.span.map_or(0, |s| s.line);
    let mut report = String::new();
    for d in errors {
        let _ = write!(report, "{}", d.render(name, src));
    }
    Some((line, report))
}

/// Report every escaped byte ([`decode`]) of `doc`: a warning (the first one) where piranha
/// ignores or passes on bytes, in comments and quoted values, and an error on each other line.
pub(crate) fn check_bytes(doc: &Document, diags: &mut Diagnostics) {
    if !has_escapes(doc.src().as_bytes()) {
        return;
    }
    let mut warned = false;
    for (i, line) in doc.lines().iter().enumerate() {
        let text = doc.line_text(i);
        if !has_escapes(text.as_bytes()) {
            continue;
        }
        let tolerated = |at: usize| match &line.kind {
            LineKind::Comment => Some("a comment"),
            LineKind::Assign {
                values, comment, ..
            } => {
                if comment.is_some_and(|c| at >= c) {
                    Some("a comment")
                } else if doc
                    .tokens(values)
                    .iter()
                    .any(|t| t.quote().is_some() && t.start() < at && at < t.end())
                {
                    Some("a quoted value")
                } else {
                    None
                }
            }
            _ => None,
        };
        for (at, c) in text.char_indices() {
            let Some(b) = escaped_byte(c) else { continue };
            let span = Some(Span {
                line: i + 1,
                col: text[..at].chars().count() + 1,
                len: 1,
            });
            match tolerated(at) {
                Some(_) if warned => continue,
                Some(place) => {
                    warned = true;
                    diags.push(
                        Diagnostic::warning(
                            "not-utf8",
                            span,
                            format!("byte 0x{b:02X} in {place} is not UTF-8"),
                        )
                        .with_help(
                            "piranha reads bytes and accepts it here; Pulse keeps the file's \
                             bytes as they are when it edits (this is the first such byte)",
                        ),
                    );
                }
                None => {
                    diags.push(
                        Diagnostic::error(
                            "not-utf8",
                            span,
                            format!("byte 0x{b:02X} is not UTF-8 text"),
                        )
                        .with_help(
                            "outside comments and quoted values lvs.cf is plain text; retype \
                             this word (a Latin-1 file converts with `iconv -f latin1 -t utf-8`)",
                        ),
                    );
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_borrowed_and_unchanged() {
        let s = "# café\nkeepalive = 2\n";
        assert!(matches!(decode(s.as_bytes()), Cow::Borrowed(_)));
        assert!(matches!(encode(s), Cow::Borrowed(_)));
    }

    #[test]
    fn latin1_bytes_round_trip() {
        let b = b"# caf\xe9 \xff\xc3\n";
        let s = decode(b);
        assert_eq!(s, "# caf\u{F7E9} \u{F7FF}\u{F7C3}\n");
        assert_eq!(&*encode(&s), b);
    }

    #[test]
    fn reserved_characters_in_the_file_round_trip() {
        let b = "x \u{F7E9} \u{F780}".as_bytes();
        let s = decode(b);
        assert_eq!(s.chars().filter(|c| escaped_byte(*c).is_some()).count(), 6);
        assert_eq!(&*encode(&s), b);
    }

    #[test]
    fn truncated_sequence_at_the_end_round_trips() {
        for b in [&b"a\xe2\x82"[..], b"\xf0", b"\xed\xa0\x80"] {
            assert_eq!(&*encode(&decode(b)), b);
        }
    }

    #[test]
    fn bytes_in_comments_and_quotes_warn_elsewhere_error() {
        let bytes: &[u8] =
            b"# caf\xe9\nserial_no = 1 # \xe9\nvirtual w\xe9b {\n send = \"GET \xe9\"\n}\n";
        let l = Loaded::from_bytes(bytes);
        let d: Vec<_> = l
            .parsed
            .diagnostics
            .iter()
            .filter(|d| d.code == "not-utf8")
            .map(|d| {
                (
                    d.severity,
                    d.span.map(|s| (s.line, s.col)),
                    d.message.clone(),
                )
            })
            .collect();
        assert_eq!(
            d,
            [
                (
                    Severity::Warning,
                    Some((1, 6)),
                    "byte 0xE9 in a comment is not UTF-8".to_string()
                ),
                (
                    Severity::Error,
                    Some((3, 10)),
                    "byte 0xE9 is not UTF-8 text".to_string()
                ),
            ]
        );
        assert_eq!(&*encode(&l.parsed.doc.render()), bytes);
    }

    #[test]
    fn errors_say_why() {
        let p = Path::new("/x/lvs.cf");
        let e = read(
            p,
            Err::<&[u8], _>(io::Error::from(io::ErrorKind::PermissionDenied)),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "failed to open /x/lvs.cf: permission denied");
        let e = read(p, Err::<&[u8], _>(io::Error::from_raw_os_error(2))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to open /x/lvs.cf: no such file or directory"
        );
        let big = vec![b'#'; MAX_BYTES as usize + 1];
        let e = read(p, Ok(&big[..])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/x/lvs.cf is larger than 64 MiB; that is not an lvs.cf"
        );
    }

    #[test]
    fn invalid_file_report_names_the_first_line() {
        let l = Loaded::from_bytes(b"primary = 192.0.2.1\nbogus = 1\n");
        let e = l.valid(Path::new("lvs.cf")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("error parsing lvs.cf on line 2.\nlvs.cf:2:1: error: unknown keyword"),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
    }
}
