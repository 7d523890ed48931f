//! Diagnostics: what is wrong (or surprising) in an lvs.cf, where, and how to fix it.
//!
//! Rendered in the rustc / toml_edit shape (docs/reference/style.md §4.3):
//!
//! ```text
//! lvs.cf:14:6: error: unknown keyword "schedular"
//!    |
//! 14 |      schedular = wlc
//!    |      ^^^^^^^^^
//!    = help: did you mean "scheduler"?
//! ```

use serde::Serialize;
use std::fmt::Write as _;

/// A place in the source: a 1-based line and a 1-based, character-counted column range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the first character.
    pub col: usize,
    /// Number of characters covered (at least 1 when rendered).
    pub len: usize,
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is still loaded; the operator should look.
    Warning,
    /// The file is invalid: daemons refuse it, editors refuse to write it.
    Error,
}

/// Whether piranha 0.8.6 reads the construct the way Pulse does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compat {
    /// piranha 0.8.6 accepts this and gives it the same meaning (or rejects it too).
    Piranha,
    /// A Pulse extension, or something piranha 0.8.6 rejects or misreads.
    /// `pulsectl config check --piranha` turns these warnings into errors.
    PulseOnly,
}

/// One finding about an lvs.cf file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable identifier, e.g. `unknown-keyword`.
    pub code: &'static str,
    /// One line, lowercase, no trailing period.
    pub message: String,
    /// Where, if the finding has a place.
    pub span: Option<Span>,
    /// How to fix it.
    pub help: Option<String>,
    /// Whether piranha 0.8.6 would read this the same way.
    pub compat: Compat,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            help: None,
            compat: Compat::Piranha,
        }
    }

    /// A new warning about something piranha reads the same way.
    pub fn warning(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, span, message)
        }
    }

    /// Attach a `help:` line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Mark as a construct piranha 0.8.6 rejects or misreads.
    #[must_use]
    pub fn pulse_only(mut self) -> Self {
        self.compat = Compat::PulseOnly;
        self
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render as text: `FILE:LINE:COL: SEVERITY: MESSAGE`, the source line with a caret, and help.
    pub fn render(&self, file: &str, src: &str) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        // Messages quote the source, which may hold bytes that are not UTF-8.
        let message = bytes_shown(&self.message);
        let help = self.help.as_deref().map(bytes_shown);
        let Some(span) = self.span else {
            let _ = writeln!(out, "{file}: {sev}: {message}");
            if let Some(help) = &help {
                let _ = writeln!(out, "  = help: {help}");
            }
            return out;
        };
        let _ = writeln!(out, "{file}:{}:{}: {sev}: {message}", span.line, span.col);
        let text = src_line(src, span.line);
        let num = span.line.to_string();
        let pad = " ".repeat(num.len());
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{num} | {}", printable(text));
        // Copy tabs from the source so the caret lines up in a terminal; a shown escape (`\xE9`)
        // is as wide as its text.
        let mut chars = text.chars();
        let lead: String = chars
            .by_ref()
            .take(span.col.saturating_sub(1))
            .map(|c| {
                if c == '\t' {
                    "\t".into()
                } else {
                    " ".repeat(shown(c).chars().count())
                }
            })
            .collect();
        let width: usize = chars.take(span.len).map(|c| shown(c).chars().count()).sum();
        let _ = writeln!(
            out,
            "{pad} | {lead}{}",
            "^".repeat(width.max(span.len).max(1))
        );
        if let Some(help) = &help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// The text of 1-based line `n` of `src`, without its line terminator.
fn src_line(src: &str, n: usize) -> &str {
    crate::syntax::split_lines(src)
        .nth(n.saturating_sub(1))
        .map_or("", |(text, _)| text)
}

/// Control characters would garble a terminal, and bytes that are not UTF-8
/// ([`crate::source::decode`]) have no glyph: show them escaped (`\u{7f}`, `\xE9`).
fn printable(text: &str) -> String {
    text.chars().map(shown).collect()
}

/// `text` with bytes that are not UTF-8 shown as `\xE9` (and nothing else changed).
fn bytes_shown(text: &str) -> String {
    text.chars()
        .map(|c| match crate::source::escaped_byte(c) {
            Some(b) => format!("\\x{b:02X}"),
            None => c.to_string(),
        })
        .collect()
}

fn shown(c: char) -> String {
    if let Some(b) = crate::source::escaped_byte(c) {
        format!("\\x{b:02X}")
    } else if c.is_control() && c != '\t' {
        c.escape_default().to_string()
    } else {
        c.to_string()
    }
}

/// Everything found about one file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Add one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Any errors?
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// How many errors.
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Iterate in source order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// `--piranha`: every construct piranha 0.8.6 would not read the same way becomes an error.
    pub fn promote_for_piranha(&mut self) {
        for d in &mut self.0 {
            if d.compat == Compat::PulseOnly && d.severity == Severity::Warning {
                d.severity = Severity::Error;
                let why = "piranha 0.8.6 does not accept this";
                d.help = Some(match d.help.take() {
                    Some(h) => format!("{h} ({why})"),
                    None => why.to_string(),
                });
            }
        }
    }

    /// Sort by position (diagnostics without a place go last), keeping insertion order on ties.
    pub fn sort(&mut self) {
        self.0
            .sort_by_key(|d| d.span.map_or((usize::MAX, 0), |s| (s.line, s.col)));
    }

    /// Render them all, one after another.
    pub fn render(&self, file: &str, src: &str) -> String {
        self.0.iter().map(|d| d.render(file, src)).collect()
    }
}
