//! The lossless syntax layer: lines → tokens → a tree of blocks.
//!
//! lvs.cf is line-oriented (docs/reference/piranha.md §2.1): one statement per line, blocks open with
//! `KIND NAME {` on one line and close with a line starting with `}`. The tree therefore keeps
//! whole lines as its leaves: every byte of the input, comments, blanks, indentation and line
//! terminators included, belongs to exactly one line, and [`Document::render`] walks the tree and
//! concatenates them. `render(parse(s)) == s` for every `s`, valid or not.
//!
//! This layer knows the shape of statements, not the keywords: it never rejects `schedular = wlc`.
//! That is the model's job ([`crate::model`]).

use crate::diag::{Diagnostic, Diagnostics, Span};
use std::ops::Range;

/// How a line ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eol {
    /// Last line of a file without a final newline.
    None,
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
    /// A lone `\r` (old Mac files; piranha splits on it).
    Cr,
}

impl Eol {
    /// The terminator's bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Lf => "\n",
            Self::CrLf => "\r\n",
            Self::Cr => "\r",
        }
    }
}

/// Split `src` into `(text, eol)` pairs. `\n`, `\r\n` and a lone `\r` all end a line.
/// An empty input has no lines; an input ending in a terminator has no empty last line.
pub fn split_lines(src: &str) -> impl Iterator<Item = (&str, Eol)> {
    let mut rest = src;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (text, eol, len) = match memchr::memchr2(b'\r', b'\n', rest.as_bytes()) {
            None => (rest, Eol::None, rest.len()),
            Some(i) if rest[i..].starts_with("\r\n") => (&rest[..i], Eol::CrLf, i + 2),
            Some(i) if rest.as_bytes()[i] == b'\r' => (&rest[..i], Eol::Cr, i + 1),
            Some(i) => (&rest[..i], Eol::Lf, i + 1),
        };
        rest = &rest[len..];
        Some((text, eol))
    })
}

/// A token on a line: byte range within the line's text, quotes included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    // u32 offsets keep the token (and the line table) small: 12 bytes instead of 24.
    start: u32,
    end: u32,
    quote: Option<char>,
}

impl Token {
    /// A token from `start` to `end` (byte offsets in its line).
    pub fn new(start: usize, end: usize, quote: Option<char>) -> Self {
        let cap = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            start: cap(start),
            end: cap(end),
            quote,
        }
    }

    /// Byte offset of the first character (the opening quote, if quoted).
    pub fn start(&self) -> usize {
        self.start as usize
    }

    /// Byte offset one past the last character (past the closing quote, if quoted).
    pub fn end(&self) -> usize {
        self.end as usize
    }

    /// The quote character, if the token was quoted.
    pub fn quote(&self) -> Option<char> {
        self.quote
    }

    /// The token as written, quotes included.
    pub fn raw<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start()..self.end()).unwrap_or("")
    }

    /// The token without its quotes.
    pub fn unquoted<'a>(&self, text: &'a str) -> &'a str {
        if self.quote.is_some() {
            text.get(self.start() + 1..self.end() - 1).unwrap_or("")
        } else {
            self.raw(text)
        }
    }
}

/// The kind of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// `virtual NAME {`: an LVS virtual service.
    Virtual,
    /// `failover NAME {`: a FOS service.
    Failover,
    /// `server NAME {`: a real server inside a virtual (or failover) block.
    Server,
}

impl BlockKind {
    /// The keyword that opens it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Virtual => "virtual",
            Self::Failover => "failover",
            Self::Server => "server",
        }
    }

    /// Parse a block keyword.
    pub fn from_keyword(s: &str) -> Option<Self> {
        match s {
            "virtual" => Some(Self::Virtual),
            "failover" => Some(Self::Failover),
            "server" => Some(Self::Server),
            _ => None,
        }
    }
}

/// What one line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Only blanks.
    Blank,
    /// First non-blank character is `#`.
    Comment,
    /// `key = value...`
    Assign {
        /// The keyword.
        key: Token,
        /// The values (one, or two for `address`/`nat_router`; any number here), as a range of
        /// [`Document::tokens`]: one array for the whole file instead of one per line.
        values: Range<u32>,
        /// Byte offset of a trailing `# comment` (a Pulse extension).
        comment: Option<usize>,
    },
    /// `virtual NAME {`
    Open {
        /// Which block.
        kind: BlockKind,
        /// The block's name.
        name: Token,
    },
    /// `}` (anything after it is ignored, as piranha does).
    Close,
    /// A line that could not be understood; a diagnostic says why.
    Invalid,
}

/// One physical line of the file.
#[derive(Clone, Debug)]
pub struct Line {
    /// Byte range of the text (without terminator) in the source.
    pub text: Range<usize>,
    /// The terminator.
    pub eol: Eol,
    /// What the line is.
    pub kind: LineKind,
}

/// A node of the tree: a line, or a block of lines.
#[derive(Clone, Debug)]
pub enum Item {
    /// Index into [`Document::lines`]: a statement, comment, blank or invalid line.
    Line(usize),
    /// A block (boxed: most items are lines, and a line item should stay small).
    Block(Box<Block>),
}

/// `KIND NAME { ... }`
#[derive(Clone, Debug)]
pub struct Block {
    /// Which block.
    pub kind: BlockKind,
    /// Its name, as written.
    pub name: String,
    /// Index of the opening line.
    pub open: usize,
    /// What is inside, in order.
    pub items: Vec<Item>,
    /// Index of the closing `}` line; `None` if the file ended first.
    pub close: Option<usize>,
}

impl Block {
    /// Every line index this block covers, first to last.
    pub fn line_range(&self) -> Range<usize> {
        let last = self
            .close
            .unwrap_or_else(|| last_line(&self.items).unwrap_or(self.open));
        self.open..last + 1
    }

    /// Nested blocks.
    pub fn blocks(&self) -> impl Iterator<Item = &Self> {
        blocks_of(&self.items)
    }
}

fn last_line(items: &[Item]) -> Option<usize> {
    items.last().map(|i| match i {
        Item::Line(l) => *l,
        Item::Block(b) => b.line_range().end - 1,
    })
}

/// Iterate over the blocks among `items`.
pub fn blocks_of(items: &[Item]) -> impl Iterator<Item = &Block> {
    items.iter().filter_map(|i| match i {
        Item::Block(b) => Some(&**b),
        Item::Line(_) => None,
    })
}

/// A parsed lvs.cf: the source text, its lines and the block tree over them.
#[derive(Clone, Debug)]
pub struct Document {
    src: String,
    lines: Vec<Line>,
    tokens: Vec<Token>,
    items: Vec<Item>,
}

impl Document {
    /// Parse `src`. Never fails: problems become diagnostics and the line stays in the tree.
    pub fn parse(src: &str, diags: &mut Diagnostics) -> Self {
        // Count the terminators first (a fast SIMD scan) so the line and token tables are
        // allocated once, at their final size: growing a 20 MB table by doubling costs more
        // than the scan.
        let capacity = memchr::memchr2_iter(b'\r', b'\n', src.as_bytes()).count() + 1;
        let mut lines = Vec::with_capacity(capacity);
        let mut offset = 0;
        let mut crlf_seen = false;
        let mut tokens = Vec::with_capacity(capacity);
        for (n, (text, eol)) in split_lines(src).enumerate() {
            let kind = lex_line(text, n + 1, diags, &mut tokens);
            if eol == Eol::CrLf && !crlf_seen {
                crlf_seen = true;
                diags.push(
                    Diagnostic::warning(
                        "crlf-line-endings",
                        Some(Span {
                            line: n + 1,
                            col: text.chars().count() + 1,
                            len: 1,
                        }),
                        "file has DOS (CRLF) line endings; they are read as plain line ends",
                    )
                    .with_help(
                        "piranha 0.8.6 parses only the first line of such a file and silently \
                         skips the rest; convert it with `dos2unix` before copying it to a \
                         piranha node",
                    )
                    .pulse_only(),
                );
            }
            lines.push(Line {
                text: offset..offset + text.len(),
                eol,
                kind,
            });
            offset += text.len() + eol.as_str().len();
        }
        if lines.iter().any(|l| l.eol == Eol::Cr) && lines.iter().any(|l| l.eol == Eol::Lf) {
            diags.push(
                Diagnostic::warning(
                    "mixed-line-endings",
                    None,
                    "file mixes `\\r` and `\\n` line endings",
                )
                .with_help("piranha 0.8.6 glues lines together up to the next `\\r`")
                .pulse_only(),
            );
        }
        let items = build_tree(src, &lines, diags);
        Self {
            src: src.to_string(),
            lines,
            tokens,
            items,
        }
    }

    /// The value tokens of an assignment (`LineKind::Assign::values`).
    pub fn tokens(&self, values: &Range<u32>) -> &[Token] {
        self.tokens
            .get(values.start as usize..values.end as usize)
            .unwrap_or(&[])
    }

    /// The source text, unchanged.
    pub fn src(&self) -> &str {
        &self.src
    }

    /// All lines.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The text of line `i` (0-based), without terminator.
    pub fn line_text(&self, i: usize) -> &str {
        &self.src[self.lines[i].text.clone()]
    }

    /// Top-level items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Render the tree back to text. Equal to the input for every input.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.src.len());
        self.render_items(&self.items, &mut out);
        out
    }

    fn render_items(&self, items: &[Item], out: &mut String) {
        for item in items {
            match item {
                Item::Line(i) => self.render_line(*i, out),
                Item::Block(b) => {
                    self.render_line(b.open, out);
                    self.render_items(&b.items, out);
                    if let Some(c) = b.close {
                        self.render_line(c, out);
                    }
                }
            }
        }
    }

    fn render_line(&self, i: usize, out: &mut String) {
        let l = &self.lines[i];
        out.push_str(&self.src[l.text.clone()]);
        out.push_str(l.eol.as_str());
    }

    /// The line terminator new lines should use: the file's first one, else `\n`.
    pub fn eol_style(&self) -> Eol {
        self.lines
            .iter()
            .map(|l| l.eol)
            .find(|e| *e != Eol::None)
            .unwrap_or(Eol::Lf)
    }

    /// The span of token `t` on 0-based line `i`.
    pub fn token_span(&self, i: usize, t: &Token) -> Span {
        span_of(self.line_text(i), i + 1, t.start(), t.end())
    }

    /// The span of a whole line's content (from the first non-blank character).
    pub fn line_span(&self, i: usize) -> Span {
        let text = self.line_text(i);
        let start = text.len() - text.trim_start_matches([' ', '\t']).len();
        let end = text.trim_end_matches([' ', '\t']).len().max(start);
        span_of(text, i + 1, start, end)
    }
}

/// A span from byte offsets on a line, counted in characters.
fn span_of(text: &str, line: usize, start: usize, end: usize) -> Span {
    Span {
        line,
        col: text[..start].chars().count() + 1,
        len: text[start..end].chars().count(),
    }
}

fn is_blank(b: u8) -> bool {
    // piranha splits with C isblank(): space and tab only.
    b == b' ' || b == b'\t'
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// Tokenize `text[from..]`: blank-separated words, `"…"`/`'…'` quoted words (no escapes, as in
/// piranha), and a trailing `# comment` starting at a word boundary.
fn tokens(
    text: &str,
    from: usize,
    line: usize,
    diags: &mut Diagnostics,
    out: &mut Vec<Token>,
) -> Result<(Range<usize>, Option<usize>), ()> {
    let b = text.as_bytes();
    let first = out.len();
    let mut i = from;
    loop {
        i = skip_blanks(b, i);
        if i >= b.len() {
            return Ok((first..out.len(), None));
        }
        match b[i] {
            b'#' => return Ok((first..out.len(), Some(i))),
            q @ (b'"' | b'\'') => {
                let Some(rel) = text[i + 1..].find(q as char) else {
                    diags.push(
                        Diagnostic::error(
                            "unterminated-quote",
                            Some(span_of(text, line, i, i + 1)),
                            format!("unterminated quote: no closing {} on this line", q as char),
                        )
                        .with_help(format!(
                            "add the closing {q} (values cannot span lines, and there is no \
                             escape for the quote character itself)",
                            q = q as char
                        )),
                    );
                    return Err(());
                };
                let end = i + 1 + rel + 1;
                if end < b.len() && !is_blank(b[end]) {
                    let next = text[end..].chars().next().map_or(1, char::len_utf8);
                    diags.push(
                        Diagnostic::error(
                            "text-after-quote",
                            Some(span_of(text, line, end, end + next)),
                            "unexpected text right after a closing quote",
                        )
                        .with_help("put a blank between the quoted value and what follows"),
                    );
                    return Err(());
                }
                let inner = &text[i + 1..end - 1];
                if !inner.contains([' ', '\t']) && end < b.len() {
                    // docs/reference/piranha.md §2.1: after a quoted value without blanks piranha's scanner keeps
                    // looking for a quote up to the end of the line; anything there, even blanks,
                    // is a quoting error.
                    diags.push(
                        Diagnostic::warning(
                            "after-quoted-value",
                            Some(span_of(text, line, end, b.len())),
                            "text or blanks after a quoted value that has no blanks inside",
                        )
                        .with_help("piranha 0.8.6 rejects this line; remove what follows the quote")
                        .pulse_only(),
                    );
                }
                out.push(Token::new(i, end, Some(q as char)));
                i = end;
            }
            _ => {
                let start = i;
                while i < b.len() && !is_blank(b[i]) {
                    i += 1;
                }
                out.push(Token::new(start, i, None));
            }
        }
    }
}

/// Classify one line. Pushes diagnostics for what cannot be understood.
/// Tokens of assignments stay in `arena`; those of other lines are dropped again.
fn lex_line(text: &str, line: usize, diags: &mut Diagnostics, arena: &mut Vec<Token>) -> LineKind {
    let mark = arena.len();
    let kind = lex_line_into(text, line, diags, arena);
    if !matches!(kind, LineKind::Assign { .. }) {
        arena.truncate(mark);
    }
    kind
}

fn lex_line_into(
    text: &str,
    line: usize,
    diags: &mut Diagnostics,
    arena: &mut Vec<Token>,
) -> LineKind {
    let b = text.as_bytes();
    let start = skip_blanks(b, 0);
    if start == b.len() {
        return LineKind::Blank;
    }
    if b[start] == b'#' {
        return LineKind::Comment;
    }
    // The first word: up to a blank or `=` (so `port=80` splits, a Pulse extension).
    let mut i = start;
    while i < b.len() && !is_blank(b[i]) && b[i] != b'=' {
        i += 1;
    }
    let key = Token::new(start, i, None);
    let word = key.raw(text);
    if word.is_empty() || word.starts_with(['"', '\'']) {
        let (end, msg) = if word.is_empty() {
            (start + 1, "expected a keyword before `=`")
        } else {
            (i, "expected a keyword, found a quoted value")
        };
        diags.push(
            Diagnostic::error(
                "missing-keyword",
                Some(span_of(text, line, start, end)),
                msg,
            )
            .with_help("a statement is `keyword = value`"),
        );
        return LineKind::Invalid;
    }
    if word == "{" {
        diags.push(
            Diagnostic::error(
                "lone-brace",
                Some(span_of(text, line, start, i)),
                "`{` on a line of its own",
            )
            .with_help("put the `{` at the end of the block header: `virtual NAME {`"),
        );
        return LineKind::Invalid;
    }
    if word == "}" {
        if let Ok((r, comment)) = tokens(text, i, line, diags, arena) {
            let extra = &arena[r];
            let end = comment.unwrap_or(b.len());
            if !extra.is_empty() {
                diags.push(
                    Diagnostic::warning(
                        "text-after-brace",
                        Some(span_of(
                            text,
                            line,
                            extra[0].start(),
                            text[..end].trim_end().len(),
                        )),
                        "text after `}` is ignored",
                    )
                    .with_help("piranha ignores it too; remove it to avoid confusion"),
                );
            }
        }
        return LineKind::Close;
    }
    let after = skip_blanks(b, i);
    if after < b.len() && b[after] == b'=' {
        let blank_before = after > i;
        let value_from = after + 1;
        let blank_after = value_from >= b.len() || is_blank(b[value_from]);
        let Ok((range, comment)) = tokens(text, value_from, line, diags, arena) else {
            return LineKind::Invalid;
        };
        let values = &arena[range.clone()];
        if !blank_before || (!blank_after && !values.is_empty()) {
            diags.push(
                Diagnostic::warning(
                    "equals-without-blanks",
                    Some(span_of(text, line, after, after + 1)),
                    "`=` without blanks around it",
                )
                .with_help("piranha 0.8.6 needs `keyword = value` with blanks around `=`")
                .pulse_only(),
            );
        }
        if let Some(c) = comment
            && !values.is_empty()
        {
            diags.push(
                Diagnostic::warning(
                    "trailing-comment",
                    Some(span_of(text, line, c, text.trim_end().len().max(c + 1))),
                    "comment after a value",
                )
                .with_help("piranha 0.8.6 has no trailing comments; move it to its own line")
                .pulse_only(),
            );
        }
        // A file over 4 GiB is refused long before this (pulsectl reads at most 64 MiB).
        let values = u32::try_from(range.start).unwrap_or(u32::MAX)
            ..u32::try_from(range.end).unwrap_or(u32::MAX);
        return LineKind::Assign {
            key,
            values,
            comment,
        };
    }
    let Ok((range, comment)) = tokens(text, i, line, diags, arena) else {
        return LineKind::Invalid;
    };
    let rest = &arena[range];
    if let Some(kind) = BlockKind::from_keyword(word) {
        return lex_open(text, line, kind, &key, rest, comment, diags);
    }
    if !crate::keywords::KEYWORDS.iter().any(|k| k.name == word) {
        // docs/reference/piranha.md §2.6: piranha checks the keyword before the `=` ("unknown command").
        if let Some((name, end)) = blank_for_underscore(text, word, rest) {
            diags.push(
                Diagnostic::error(
                    "unknown-keyword",
                    Some(span_of(text, line, start, end)),
                    format!("unknown keyword \"{word}\""),
                )
                .with_help(format!("did you mean \"{name}\"?")),
            );
            return LineKind::Invalid;
        }
        let help = if rest.last().is_some_and(|t| t.raw(text) == "{") {
            "this looks like keepalived.conf syntax; lvs.cf blocks are `virtual NAME {`, \
             `server NAME {` and `failover NAME {`"
                .to_string()
        } else {
            match crate::keywords::closest(word, crate::keywords::KEYWORDS.iter().map(|k| k.name)) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => {
                    "statements are `keyword = value`; see lvs.cf(5) for the keywords".to_string()
                }
            }
        };
        diags.push(
            Diagnostic::error(
                "unknown-keyword",
                Some(span_of(text, line, start, i)),
                format!("unknown keyword \"{word}\""),
            )
            .with_help(help),
        );
        return LineKind::Invalid;
    }
    let (msg, sp) = match rest.first() {
        Some(t) => (
            "expected `=` after the keyword",
            span_of(text, line, t.start(), t.end()),
        ),
        None => (
            "expected `=` and a value after the keyword",
            span_of(text, line, start, i),
        ),
    };
    let help = match blank_for_underscore(text, word, rest) {
        Some((name, _)) => format!("did you mean \"{name}\"?"),
        None => format!("write `{word} = VALUE`"),
    };
    diags.push(Diagnostic::error("missing-equals", Some(sp), msg).with_help(help));
    LineKind::Invalid
}

/// The keyword that the words before the `=` name when joined by underscores, and where the
/// last of those words ends: a blank typed for the underscore (`serial no = 1`, as in a
/// published piranha LVS-TUN guide's lvs.cf).
fn blank_for_underscore(text: &str, word: &str, rest: &[Token]) -> Option<(&'static str, usize)> {
    let n = rest
        .iter()
        .position(|t| t.raw(text) == "=")
        .filter(|&n| n > 0)?;
    let name = std::iter::once(word)
        .chain(rest[..n].iter().map(|t| t.raw(text)))
        .collect::<Vec<_>>()
        .join("_");
    crate::keywords::KEYWORDS
        .iter()
        .find(|k| k.name == name)
        .map(|k| (k.name, rest[n - 1].end()))
}

fn lex_open(
    text: &str,
    line: usize,
    kind: BlockKind,
    key: &Token,
    rest: &[Token],
    comment: Option<usize>,
    diags: &mut Diagnostics,
) -> LineKind {
    let kw = kind.keyword();
    let valid_name = |t: &Token| t.quote.is_none() && !t.raw(text).contains(['{', '}']);
    if let [name, brace] = rest
        && brace.raw(text) == "{"
        && valid_name(name)
    {
        if let Some(c) = comment {
            diags.push(
                Diagnostic::warning(
                    "trailing-comment",
                    Some(span_of(text, line, c, text.trim_end().len())),
                    "comment after a block header",
                )
                .with_help("piranha 0.8.6 has no trailing comments; move it to its own line")
                .pulse_only(),
            );
        }
        return LineKind::Open { kind, name: *name };
    }
    let (sp, msg, help) = match rest {
        [] => (
            span_of(text, line, key.start(), key.end()),
            format!("`{kw}` needs a name and `{{`"),
            format!("write `{kw} NAME {{` on one line"),
        ),
        [name] if name.raw(text).ends_with('{') && name.raw(text).len() > 1 => (
            span_of(text, line, name.end() - 1, name.end()),
            format!("missing blank before `{{` in `{kw}` header"),
            format!("write `{kw} {} {{`", name.raw(text).trim_end_matches('{')),
        ),
        [name] => (
            span_of(text, line, name.start(), name.end()),
            format!("expected `{{` after `{kw} {}`", name.raw(text)),
            format!(
                "the `{{` must be on the same line: `{kw} {} {{`",
                name.raw(text)
            ),
        ),
        [name, ..] if !valid_name(name) => (
            span_of(text, line, name.start(), name.end()),
            format!("invalid {kw} name {}", name.raw(text)),
            "names are one word without quotes or braces".to_string(),
        ),
        [_, second, ..] if second.raw(text) != "{" => (
            span_of(text, line, second.start(), second.end()),
            format!("expected `{{`, found `{}`", second.raw(text)),
            format!("a block header is `{kw} NAME {{`; names cannot contain blanks"),
        ),
        [_, _, extra, ..] => (
            span_of(text, line, extra.start(), rest[rest.len() - 1].end()),
            format!("unexpected text after `{{` in `{kw}` header"),
            "put each statement on its own line".to_string(),
        ),
        [_, _] => (
            span_of(text, line, key.start(), key.end()),
            format!("invalid `{kw}` header"),
            format!("write `{kw} NAME {{`"),
        ),
    };
    diags.push(Diagnostic::error("bad-block-header", Some(sp), msg).with_help(help));
    // A header that still ends in `{` opens its block, so the matching `}` closes it and the
    // lines inside are checked in the right scope instead of producing a cascade of errors.
    // `KIND NAME` alone counts too: its `{` is usually on the next line.
    match rest.first() {
        Some(first) if first.raw(text).ends_with('{') && first.raw(text).len() > 1 => {
            LineKind::Open {
                kind,
                name: Token {
                    end: first.end - 1,
                    ..*first
                },
            }
        }
        Some(first) if rest.len() == 1 || rest[1..].iter().any(|t| t.raw(text) == "{") => {
            LineKind::Open { kind, name: *first }
        }
        _ => LineKind::Invalid,
    }
}

/// Nest lines into blocks. Reports `}` without a block, blocks in the wrong place and blocks
/// left open at the end of the file.
fn build_tree(src: &str, lines: &[Line], diags: &mut Diagnostics) -> Vec<Item> {
    let mut root = Vec::new();
    let mut stack: Vec<Block> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let text = &src[line.text.clone()];
        match &line.kind {
            LineKind::Open { kind, name } => {
                let parent = stack.last().map(|b| b.kind);
                let ok = match kind {
                    BlockKind::Virtual | BlockKind::Failover => parent.is_none(),
                    BlockKind::Server => {
                        matches!(parent, Some(BlockKind::Virtual | BlockKind::Failover))
                    }
                };
                if !ok {
                    let (msg, help) = match (kind, parent) {
                        (BlockKind::Server, None) => (
                            "`server` block outside a `virtual` block".to_string(),
                            "real servers belong inside `virtual NAME { ... }`".to_string(),
                        ),
                        (_, Some(p)) => (
                            format!(
                                "`{}` block inside a `{}` block",
                                kind.keyword(),
                                p.keyword()
                            ),
                            format!("close the `{}` block with `}}` first", p.keyword()),
                        ),
                        _ => (String::new(), String::new()),
                    };
                    let sp = span_of(text, i + 1, 0, text.len()).trimmed(text);
                    diags.push(Diagnostic::error("misplaced-block", Some(sp), msg).with_help(help));
                }
                stack.push(Block {
                    kind: *kind,
                    name: name.raw(text).to_string(),
                    open: i,
                    items: Vec::new(),
                    close: None,
                });
            }
            LineKind::Close => match stack.pop() {
                Some(mut b) => {
                    b.close = Some(i);
                    push_item(&mut stack, &mut root, Item::Block(Box::new(b)));
                }
                None => {
                    let col = text.find('}').unwrap_or(0);
                    diags.push(
                        Diagnostic::error(
                            "unmatched-brace",
                            Some(span_of(text, i + 1, col, col + 1)),
                            "`}` without an open block",
                        )
                        .with_help("remove it, or check the block above for an extra `}`"),
                    );
                    root.push(Item::Line(i));
                }
            },
            _ => push_item(&mut stack, &mut root, Item::Line(i)),
        }
    }
    while let Some(b) = stack.pop() {
        let text = &src[lines[b.open].text.clone()];
        diags.push(
            Diagnostic::warning(
                "unclosed-block",
                Some(span_of(text, b.open + 1, 0, text.len()).trimmed(text)),
                format!(
                    "`{} {}` is not closed before the end of the file",
                    b.kind.keyword(),
                    b.name
                ),
            )
            .with_help("it is closed at the end of the file, as piranha does; add the missing `}`"),
        );
        push_item(&mut stack, &mut root, Item::Block(Box::new(b)));
    }
    root
}

fn push_item(stack: &mut [Block], root: &mut Vec<Item>, item: Item) {
    match stack.last_mut() {
        Some(b) => b.items.push(item),
        None => root.push(item),
    }
}

impl Span {
    /// Shrink a whole-line span to the line's non-blank content.
    fn trimmed(self, text: &str) -> Self {
        let lead = text.len() - text.trim_start_matches([' ', '\t']).len();
        let content = text.trim_matches([' ', '\t']);
        Self {
            col: lead + 1,
            len: content.chars().count(),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Document, Diagnostics) {
        let mut d = Diagnostics::default();
        (Document::parse(s, &mut d), d)
    }

    #[test]
    fn round_trips_odd_inputs() {
        for s in [
            "",
            "\n",
            "a",
            "}\n}",
            "virtual a {\n server b {\n",
            "x = \"unterminated\r\n",
            "\r\r\n\n",
            "virtual a{\n}\n",
        ] {
            assert_eq!(parse(s).0.render(), s);
        }
    }

    #[test]
    fn splits_key_equals_value_without_blanks() {
        let (doc, d) = parse("port=80\n");
        let LineKind::Assign { key, values, .. } = &doc.lines()[0].kind else {
            panic!("not an assignment")
        };
        assert_eq!(key.raw(doc.line_text(0)), "port");
        assert_eq!(doc.tokens(values)[0].raw(doc.line_text(0)), "80");
        assert_eq!(d.0[0].code, "equals-without-blanks");
    }

    #[test]
    fn quoted_values_keep_blanks_and_quote_kind() {
        let (doc, d) = parse("send = \"GET / HTTP/1.0\\r\\n\\r\\n\"   \n");
        assert!(d.0.is_empty(), "{d:?}");
        let LineKind::Assign { values, .. } = &doc.lines()[0].kind else {
            panic!("not an assignment")
        };
        let values = doc.tokens(values);
        assert_eq!(values[0].quote, Some('"'));
        assert_eq!(
            values[0].unquoted(doc.line_text(0)),
            "GET / HTTP/1.0\\r\\n\\r\\n"
        );
    }

    #[test]
    fn brace_on_next_line_is_an_error_with_help() {
        let (_, d) = parse("virtual a\n{\n}\n");
        assert_eq!(d.0[0].code, "bad-block-header");
        assert!(d.0[0].help.as_deref().unwrap_or("").contains("same line"));
    }

    #[test]
    fn lines_of_crlf_file_are_all_read() {
        let (doc, d) = parse("a = 1\r\nb = 2\r\n");
        assert_eq!(doc.lines().len(), 2);
        assert!(matches!(doc.lines()[1].kind, LineKind::Assign { .. }));
        assert_eq!(d.0[0].code, "crlf-line-endings");
    }
}
