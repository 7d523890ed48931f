//! `pulse-lvscf`: piranha's `lvs.cf`, read, checked and edited without losing a byte.
//!
//! Three layers (docs/reference/style.md §4.3):
//! - [`syntax`]: lines → tokens → a tree of `virtual`/`failover`/`server` blocks. Lossless:
//!   `Document::parse(s).render() == s` for every input.
//! - [`model`]: the typed [`LvsConfig`] with piranha 0.8.6's defaults and validation, producing
//!   [`Diagnostic`]s with a place, a message and a `help:` line.
//! - [`edit`]: `get`/`set`/`add`/`rm` by dotted path and `serial_no` bumps, each changing only the
//!   lines it must; [`diff`]: what a reload would change between two files.
//!
//! Invariants: this crate does no I/O (text in, text out), never reads a clock, and never panics
//! on input; fuzzing and property tests hold it to that.

#![warn(missing_docs)]

pub mod diag;
pub mod diff;
mod digest;
pub mod edit;
pub mod family;
pub mod http;
pub mod keywords;
pub mod model;
pub mod source;
pub mod syntax;
pub mod value;

pub use diag::{Compat, Diagnostic, Diagnostics, Severity, Span};
pub use model::{LvsConfig, RealServer, VirtualService};
pub use source::{LoadError, Loaded, decode, encode};
pub use syntax::Document;

/// The result of reading a file: the lossless document, the typed model and the findings.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The syntax tree (renders back to the exact input).
    pub doc: Document,
    /// The typed configuration. Meaningful when `diagnostics` has no errors.
    pub config: LvsConfig,
    /// Errors and warnings, in source order.
    pub diagnostics: Diagnostics,
}

impl Parsed {
    /// Does the file load (no errors)?
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// Parse and validate an lvs.cf. Never fails: problems are diagnostics.
///
/// `src` is text as [`decode`] makes it from the file's bytes: its characters U+F780–U+F7FF stand
/// for bytes that are not UTF-8, reported as warnings in comments and quoted values and as errors
/// elsewhere. Read a file with [`source::load`].
pub fn parse(src: &str) -> Parsed {
    let mut diagnostics = Diagnostics::default();
    let doc = Document::parse(src, &mut diagnostics);
    source::check_bytes(&doc, &mut diagnostics);
    if src.is_empty() {
        // docs/reference/piranha.md §2.1: a file of size 0 is "Empty configuration"; a comment-only file is fine.
        diagnostics.push(
            Diagnostic::error("empty-file", None, "empty configuration")
                .with_help("an lvs.cf needs at least `primary`, `backup` and one `virtual` block"),
        );
        return Parsed {
            doc,
            config: LvsConfig::default(),
            diagnostics,
        };
    }
    let config = model::build(&doc, &mut diagnostics);
    diagnostics.sort();
    Parsed {
        doc,
        config,
        diagnostics,
    }
}

/// Entry points for fuzzers and the stable replay of their corpus.
pub mod fuzzing {
    /// Parse arbitrary bytes and check the lossless round trips (bytes → text → bytes, and
    /// text → tree → text). Panics only on a broken invariant.
    pub fn roundtrip(data: &[u8]) {
        let src = crate::decode(data);
        assert_eq!(&*crate::encode(&src), data, "encode(decode(b)) != b");
        let parsed = crate::parse(&src);
        assert_eq!(parsed.doc.render(), src, "render(parse(s)) != s");
        let _ = parsed.diagnostics.render("fuzz.cf", &src);
    }
}
