//! Edits by dotted path, changing only the lines they must.
//!
//! Paths: `keepalive`, `virtual.NAME`, `virtual.NAME.port`, `virtual.NAME.server.SNAME`,
//! `virtual.NAME.server.SNAME.weight` (and the same under `failover`). Every edit returns the new
//! source text; the caller re-parses and validates it before writing. Untouched lines keep their
//! bytes; a changed value keeps its line's indentation, spacing and trailing comment; new lines
//! copy the indentation of their neighbours and the file's line terminator.

use crate::keywords::{self, Form, Keyword, Scope};
use crate::syntax::{Block, BlockKind, Document, Eol, Item, LineKind, blocks_of};
use crate::value;
use std::fmt;
use std::ops::Range;

/// Why an edit cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The path is not of a known shape.
    #[error("invalid path `{path}`: {why}")]
    BadPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A block on the path does not exist.
    #[error("no `{kind} {name}` block")]
    NoSuchBlock {
        /// `virtual`, `failover` or `server`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The block to add exists already.
    #[error("`{kind} {name}` already exists")]
    BlockExists {
        /// `virtual`, `failover` or `server`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Not a keyword of that block kind.
    #[error("unknown keyword \"{key}\" in {where_}{}", suggestion.as_ref().map(|s| format!("; did you mean \"{s}\"?")).unwrap_or_default())]
    UnknownKeyword {
        /// The key.
        key: String,
        /// Where it was looked up.
        where_: String,
        /// A close keyword, if any.
        suggestion: Option<&'static str>,
    },
    /// The key is valid but not set in the file (for `rm`).
    #[error("`{0}` is not set in the file")]
    NotSet(String),
    /// The value cannot be written as lvs.cf.
    #[error("cannot write `{key}` = {value:?}: {why}")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Why not.
        why: String,
    },
    /// A block name that cannot be written or addressed.
    #[error(
        "invalid block name {0:?}: names are one word without blanks, quotes, braces, `#` or `.`"
    )]
    BadName(String),
    /// A block the edit must go after has no closing `}`.
    #[error("`{kind} {name}` has no closing `}}`; add it before adding blocks after it")]
    Unclosed {
        /// `virtual`, `failover` or `server`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// `serial_no` is not a number, so it cannot be bumped.
    #[error("`serial_no = {0}` is not a number; fix it before bumping")]
    BadSerial(String),
    /// `serial_no` plus one is out of range (it is 9223372036854775807, or larger).
    #[error(
        "`serial_no = {0}` cannot be bumped: serial numbers go up to {max}; set a lower one on both directors",
        max = i64::MAX
    )]
    SerialOutOfRange(String),
}

/// A parsed dotted path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The blocks from the top: `[(Virtual, "web"), (Server, "web01")]`.
    pub blocks: Vec<(BlockKind, String)>,
    /// The keyword, or `None` for the block itself.
    pub key: Option<String>,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = Vec::new();
        for (k, n) in &self.blocks {
            parts.push(k.keyword());
            parts.push(n);
        }
        if let Some(k) = &self.key {
            parts.push(k);
        }
        f.write_str(&parts.join("."))
    }
}

impl Path {
    /// Parse `keepalive`, `virtual.web.port`, `virtual.web.server.web01.weight`, …
    pub fn parse(s: &str) -> Result<Self, EditError> {
        let bad = |why: &str| EditError::BadPath {
            path: s.to_string(),
            why: why.to_string(),
        };
        let segs: Vec<&str> = s.split('.').collect();
        if segs.iter().any(|p| p.is_empty()) {
            return Err(bad("empty segment"));
        }
        let mut blocks = Vec::new();
        let mut rest = &segs[..];
        if let [kind @ ("virtual" | "failover"), name, tail @ ..] = rest {
            let kind = BlockKind::from_keyword(kind).ok_or_else(|| bad("unknown block kind"))?;
            blocks.push((kind, (*name).to_string()));
            rest = tail;
            if let ["server", sname, tail @ ..] = rest {
                blocks.push((BlockKind::Server, (*sname).to_string()));
                rest = tail;
            } else if let ["server"] = rest {
                return Err(bad("`server` needs a name: virtual.NAME.server.SNAME"));
            }
        } else if let [kind @ ("virtual" | "failover" | "server")] = rest {
            return Err(bad(&format!("`{kind}` needs a name: {kind}.NAME")));
        } else if let ["server", ..] = rest {
            return Err(bad(
                "servers live in a virtual block: virtual.NAME.server.SNAME",
            ));
        }
        match rest {
            [] => Ok(Self { blocks, key: None }),
            [key] => Ok(Self {
                blocks,
                key: Some((*key).to_string()),
            }),
            _ => Err(bad(
                "too many segments (keys are `KEY`, `virtual.NAME.KEY` or `virtual.NAME.server.SNAME.KEY`)",
            )),
        }
    }

    /// The scope a key of this path lives in.
    pub fn scope(&self) -> Scope {
        match self.blocks.last() {
            None => Scope::Global,
            Some((BlockKind::Server, _)) => Scope::Server,
            Some(_) => Scope::Virtual,
        }
    }
}

/// What `get` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// The key is set: its value as written (quotes removed, words joined by one blank).
    Value(String),
    /// The key is not set: piranha's default, as text.
    Default(String),
    /// The path names a block: its source text.
    Block(String),
}

/// Look up a path.
pub fn get(doc: &Document, path: &Path) -> Result<Got, EditError> {
    let items = resolve(doc, &path.blocks)?;
    let Some(key) = &path.key else {
        let b = path_block(doc, &path.blocks)?;
        return Ok(Got::Block(lines_text(doc, b.line_range())));
    };
    let kw = keyword(path, key)?;
    match assigns(doc, items, kw.name).last() {
        Some(&i) => {
            let text = doc.line_text(i);
            let LineKind::Assign { values: v, .. } = &doc.lines()[i].kind else {
                return Err(EditError::NotSet(path.to_string()));
            };
            let values = doc.tokens(v);
            Ok(Got::Value(
                values
                    .iter()
                    .map(|t| t.unquoted(text))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }
        None => Ok(Got::Default(kw.default().into_owned())),
    }
}

/// Set a key to `value`, replacing the value of its last occurrence or adding a line.
pub fn set(doc: &Document, path: &Path, value: &str) -> Result<String, EditError> {
    let Some(key) = &path.key else {
        return Err(EditError::BadPath {
            path: path.to_string(),
            why: "names a block, not a key".into(),
        });
    };
    let kw = keyword(path, key)?;
    let written = format_value(kw, value)?;
    let items = resolve(doc, &path.blocks)?;
    if let Some(&i) = assigns(doc, items, kw.name).last() {
        let text = doc.line_text(i);
        let LineKind::Assign { key, values: v, .. } = &doc.lines()[i].kind else {
            return Err(EditError::NotSet(path.to_string()));
        };
        let values = doc.tokens(v);
        let new_line = match (values.first(), values.last()) {
            (Some(first), Some(last)) => {
                format!("{}{written}{}", &text[..first.start()], &text[last.end()..])
            }
            _ => {
                // `key =` with nothing after it: put the value after the `=`.
                let eq = text[key.end()..]
                    .find('=')
                    .map_or(text.len(), |p| key.end() + p + 1);
                let rest = &text[eq..];
                // Keep a trailing `#comment` a separate word, or it would become part of the value.
                let sep = if rest.starts_with(['#', '"', '\'']) {
                    " "
                } else {
                    ""
                };
                format!("{} {written}{sep}{rest}", &text[..eq])
            }
        };
        return Ok(replace_line(doc, i, &new_line));
    }
    let (at, indent) = key_insertion(doc, &path.blocks)?;
    let eol = doc.eol_style();
    Ok(insert_lines(
        doc,
        at,
        &format!("{indent}{} = {written}{}", kw.name, eol.as_str()),
    ))
}

/// Remove a key (every occurrence, so the default applies) or a whole block.
pub fn remove(doc: &Document, path: &Path) -> Result<String, EditError> {
    let Some(key) = &path.key else {
        let b = path_block(doc, &path.blocks)?;
        return Ok(splice(doc, b.line_range(), ""));
    };
    let kw = keyword(path, key)?;
    let items = resolve(doc, &path.blocks)?;
    let lines = assigns(doc, items, kw.name);
    if lines.is_empty() {
        return Err(EditError::NotSet(path.to_string()));
    }
    let mut out = doc.src().to_string();
    // Back to front so earlier byte offsets stay valid.
    for &i in lines.iter().rev() {
        let range = line_bytes(doc, i..i + 1);
        let at = range.start;
        out.replace_range(range, "");
        keep_line_boundary(&mut out, at);
    }
    Ok(out)
}

/// Add an empty `KIND NAME { }` block under `parent` (the top level, or a virtual/failover block
/// for servers), after the last block of the same kind.
pub fn add_block(
    doc: &Document,
    parent: &[(BlockKind, String)],
    kind: BlockKind,
    name: &str,
) -> Result<String, EditError> {
    if name.is_empty() || name.contains([' ', '\t', '"', '\'', '{', '}', '#', '.', '=', '\r', '\n'])
    {
        return Err(EditError::BadName(name.to_string()));
    }
    let ok_here = matches!(
        (kind, parent.last().map(|p| p.0)),
        (BlockKind::Virtual | BlockKind::Failover, None)
            | (
                BlockKind::Server,
                Some(BlockKind::Virtual | BlockKind::Failover)
            )
    );
    if !ok_here {
        return Err(EditError::BadPath {
            path: kind.keyword().into(),
            why: "add `virtual NAME`, `failover NAME` or `virtual.NAME.server SNAME`".into(),
        });
    }
    let items = resolve(doc, parent)?;
    if blocks_of(items).any(|b| b.kind == kind && b.name == name) {
        return Err(EditError::BlockExists {
            kind: kind.keyword(),
            name: name.to_string(),
        });
    }
    let siblings: Vec<&Block> = blocks_of(items).filter(|b| b.kind == kind).collect();
    let at = match (siblings.last(), parent.is_empty()) {
        (Some(last), _) => last.line_range().end,
        (None, true) => doc.lines().len(),
        (None, false) => {
            let p = path_block(doc, parent)?;
            p.close.unwrap_or(p.line_range().end)
        }
    };
    // An unclosed block runs to the end of the file: anything put after its start lands inside.
    if let Some(Item::Block(open)) = items.last()
        && open.close.is_none()
        && at > open.open
    {
        return Err(EditError::Unclosed {
            kind: open.kind.keyword(),
            name: open.name.clone(),
        });
    }
    let indent = match siblings.last() {
        Some(b) => indent_of(doc.line_text(b.open)).to_string(),
        None if parent.is_empty() => String::new(),
        None => key_insertion(doc, parent)?.1,
    };
    let eol = doc.eol_style().as_str();
    Ok(insert_lines(
        doc,
        at,
        &format!("{indent}{} {name} {{{eol}{indent}}}{eol}", kind.keyword()),
    ))
}

/// Set `serial_no` to its value plus one, or insert `serial_no = 1` as the first line.
pub fn bump_serial(doc: &Document) -> Result<String, EditError> {
    let path = Path {
        blocks: Vec::new(),
        key: Some("serial_no".into()),
    };
    match get(doc, &path)? {
        Got::Value(v) => {
            let n = match value::parse_c_int(&v) {
                Ok(c) => c.value,
                Err(value::IntError::Overflow) => return Err(EditError::SerialOutOfRange(v)),
                Err(_) => return Err(EditError::BadSerial(v)),
            };
            let next = n
                .checked_add(1)
                .ok_or_else(|| EditError::SerialOutOfRange(v.clone()))?;
            set(doc, &path, &next.to_string())
        }
        _ => Ok(insert_lines(
            doc,
            0,
            &format!("serial_no = 1{}", doc.eol_style().as_str()),
        )),
    }
}

/// The value `set` would write for `value`: quoted as piranha's GUI would, or an error if lvs.cf
/// cannot express it (it has no escape for quote characters).
pub fn format_value(kw: &Keyword, value: &str) -> Result<String, EditError> {
    let bad = |why: &str| EditError::BadValue {
        key: kw.name.into(),
        value: value.into(),
        why: why.into(),
    };
    if value.contains(['\n', '\r']) {
        return Err(bad(
            "values cannot span lines (write \\n for a newline in send/expect)",
        ));
    }
    match kw.form {
        Form::TwoWords => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if words.len() != 2 || words.iter().any(|w| w.starts_with(['"', '\'', '#'])) {
                return Err(bad("expected two words: ADDRESS DEVICE"));
            }
            Ok(words.join(" "))
        }
        Form::List => {
            let words: Vec<&str> = value
                .split_whitespace()
                .filter(|w| *w != "[" && *w != "]")
                .collect();
            if words
                .iter()
                .any(|w| w.starts_with('#') || w.contains(['"', '\'']))
            {
                return Err(bad("list words cannot contain quotes or start with `#`"));
            }
            Ok(format!("[ {} ]", words.join(" ")))
        }
        Form::Quoted => {
            if value.contains('"') {
                return Err(bad("contains a double quote, which lvs.cf cannot escape"));
            }
            Ok(format!("\"{value}\""))
        }
        Form::Word => {
            let plain = !value.is_empty()
                && !value.contains([' ', '\t'])
                && !value.starts_with(['"', '\'', '#'])
                && !value.contains('=');
            if plain {
                Ok(value.to_string())
            } else if !value.contains('"') {
                Ok(format!("\"{value}\""))
            } else if !value.contains('\'') {
                Ok(format!("'{value}'"))
            } else {
                Err(bad(
                    "contains both quote characters, which lvs.cf cannot express",
                ))
            }
        }
    }
}

fn keyword(path: &Path, key: &str) -> Result<&'static Keyword, EditError> {
    let scope = path.scope();
    keywords::lookup(key, scope).ok_or_else(|| EditError::UnknownKeyword {
        key: key.to_string(),
        where_: match path.blocks.last() {
            None => "the global section".to_string(),
            Some((k, n)) => format!("`{} {n}`", k.keyword()),
        },
        suggestion: keywords::suggest(key, scope),
    })
}

/// The items of the block at `blocks` (the top level for an empty path).
fn resolve<'d>(doc: &'d Document, blocks: &[(BlockKind, String)]) -> Result<&'d [Item], EditError> {
    if blocks.is_empty() {
        return Ok(doc.items());
    }
    Ok(&path_block(doc, blocks)?.items)
}

fn path_block<'d>(
    doc: &'d Document,
    blocks: &[(BlockKind, String)],
) -> Result<&'d Block, EditError> {
    let mut items = doc.items();
    let mut found = None;
    for (kind, name) in blocks {
        let b = blocks_of(items)
            .find(|b| b.kind == *kind && b.name == *name)
            .ok_or_else(|| EditError::NoSuchBlock {
                kind: kind.keyword(),
                name: name.clone(),
            })?;
        items = &b.items;
        found = Some(b);
    }
    found.ok_or_else(|| EditError::BadPath {
        path: String::new(),
        why: "no block named".into(),
    })
}

/// Lines directly in `items` that assign `key`, in order.
fn assigns(doc: &Document, items: &[Item], key: &str) -> Vec<usize> {
    items
        .iter()
        .filter_map(|it| match it {
            Item::Line(i) => match &doc.lines()[*i].kind {
                LineKind::Assign { key: k, .. } if k.raw(doc.line_text(*i)) == key => Some(*i),
                _ => None,
            },
            Item::Block(_) => None,
        })
        .collect()
}

fn indent_of(text: &str) -> &str {
    &text[..text.len() - text.trim_start_matches([' ', '\t']).len()]
}

/// Where a new key line goes in a block, and its indentation.
fn key_insertion(
    doc: &Document,
    blocks: &[(BlockKind, String)],
) -> Result<(usize, String), EditError> {
    let items = resolve(doc, blocks)?;
    let is_assign = |it: &Item| matches!(it, Item::Line(i) if matches!(doc.lines()[*i].kind, LineKind::Assign { .. }));
    // After the last assignment that comes before the first nested block, so piranha's
    // "server port = virtual port so far" reading picks up a new `port` (docs/reference/piranha.md §2.4).
    let first_block = items
        .iter()
        .position(|it| matches!(it, Item::Block(_)))
        .unwrap_or(items.len());
    let last_assign = items[..first_block].iter().rposition(is_assign);
    let indent_from = |it: &Item| match it {
        Item::Line(i) => indent_of(doc.line_text(*i)).to_string(),
        Item::Block(b) => indent_of(doc.line_text(b.open)).to_string(),
    };
    if blocks.is_empty() {
        let at = match last_assign {
            Some(p) => item_end(&items[p]),
            None => items.get(first_block).map_or(doc.lines().len(), item_start),
        };
        return Ok((at, String::new()));
    }
    let block = path_block(doc, blocks)?;
    let at = match last_assign {
        Some(p) => item_end(&items[p]),
        None => block.open + 1,
    };
    let indent = match items
        .iter()
        .rev()
        .find(|it| is_assign(it))
        .or_else(|| items.iter().find(|it| matches!(it, Item::Block(_))))
    {
        Some(it) => indent_from(it),
        None => sibling_style(doc, block.kind).unwrap_or_else(|| {
            let own = indent_of(doc.line_text(block.open));
            // piranha's GUI: 5 spaces for virtual-level keys, 9 for server keys (docs/reference/piranha.md §2.5).
            format!(
                "{own}{}",
                if block.kind == BlockKind::Server {
                    "    "
                } else {
                    "     "
                }
            )
        }),
    };
    Ok((at, indent))
}

/// The indentation of keys in any other block of this kind in the file.
fn sibling_style(doc: &Document, kind: BlockKind) -> Option<String> {
    fn walk(doc: &Document, items: &[Item], kind: BlockKind) -> Option<String> {
        for b in blocks_of(items) {
            if b.kind == kind {
                for it in &b.items {
                    if let Item::Line(i) = it
                        && matches!(doc.lines()[*i].kind, LineKind::Assign { .. })
                    {
                        return Some(indent_of(doc.line_text(*i)).to_string());
                    }
                }
            }
            if let Some(s) = walk(doc, &b.items, kind) {
                return Some(s);
            }
        }
        None
    }
    walk(doc, doc.items(), kind)
}

fn item_start(it: &Item) -> usize {
    match it {
        Item::Line(i) => *i,
        Item::Block(b) => b.open,
    }
}

fn item_end(it: &Item) -> usize {
    match it {
        Item::Line(i) => *i + 1,
        Item::Block(b) => b.line_range().end,
    }
}

/// Byte range of whole lines (terminators included).
fn line_bytes(doc: &Document, lines: Range<usize>) -> Range<usize> {
    let ls = doc.lines();
    let start = ls
        .get(lines.start)
        .map_or(doc.src().len(), |l| l.text.start);
    let end = if lines.end == 0 {
        start
    } else {
        ls.get(lines.end - 1)
            .map_or(doc.src().len(), |l| l.text.end + l.eol.as_str().len())
    };
    start..end.max(start)
}

fn lines_text(doc: &Document, lines: Range<usize>) -> String {
    doc.src()[line_bytes(doc, lines)].to_string()
}

fn splice(doc: &Document, lines: Range<usize>, text: &str) -> String {
    let mut out = doc.src().to_string();
    let range = line_bytes(doc, lines);
    let at = range.start + text.len();
    out.replace_range(range, text);
    keep_line_boundary(&mut out, at);
    out
}

/// After a splice that ends at byte `at`: a lone `\r` now right before the `\n` of a blank line
/// would read as one `\r\n` and swallow that line (only in files that mix `\r` and `\n` line
/// ends). Make that blank line `\r\n`, so every line stays a line.
fn keep_line_boundary(out: &mut String, at: usize) {
    let b = out.as_bytes();
    if at > 0 && b.get(at - 1) == Some(&b'\r') && b.get(at) == Some(&b'\n') {
        out.insert(at, '\r');
    }
}

fn replace_line(doc: &Document, i: usize, new_text: &str) -> String {
    let mut out = doc.src().to_string();
    out.replace_range(doc.lines()[i].text.clone(), new_text);
    out
}

/// Insert whole lines before line `at` (or at the end). A last line without terminator gets one.
fn insert_lines(doc: &Document, at: usize, text: &str) -> String {
    let mut out = doc.src().to_string();
    if at >= doc.lines().len() {
        if doc.lines().last().is_some_and(|l| l.eol == Eol::None) {
            out.push_str(doc.eol_style().as_str());
        }
        out.push_str(text);
    } else {
        let start = doc.lines()[at].text.start;
        out.insert_str(start, text);
        keep_line_boundary(&mut out, start + text.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;

    fn doc(s: &str) -> Document {
        Document::parse(s, &mut Diagnostics::default())
    }

    fn p(s: &str) -> Path {
        Path::parse(s).expect("valid path")
    }

    #[test]
    fn paths() {
        assert_eq!(
            p("keepalive"),
            Path {
                blocks: vec![],
                key: Some("keepalive".into())
            }
        );
        assert_eq!(
            p("virtual.web.server.w1.weight"),
            Path {
                blocks: vec![
                    (BlockKind::Virtual, "web".into()),
                    (BlockKind::Server, "w1".into())
                ],
                key: Some("weight".into())
            }
        );
        assert!(Path::parse("virtual").is_err());
        assert!(Path::parse("virtual.web.server").is_err());
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("virtual..x").is_err());
    }

    #[test]
    fn set_replaces_only_the_value() {
        let d = doc("a = 1\nkeepalive  =  6 # six\n");
        assert_eq!(
            set(&d, &p("keepalive"), "2"),
            Ok("a = 1\nkeepalive  =  2 # six\n".into())
        );
    }

    #[test]
    fn set_inserts_with_sibling_indentation() {
        let d = doc("virtual v {\n\tactive = 1\n\tserver s {\n\t\tactive = 1\n\t}\n}\n");
        assert_eq!(
            set(&d, &p("virtual.v.port"), "443").as_deref(),
            Ok("virtual v {\n\tactive = 1\n\tport = 443\n\tserver s {\n\t\tactive = 1\n\t}\n}\n")
        );
        assert_eq!(
            set(&d, &p("virtual.v.server.s.weight"), "3").as_deref(),
            Ok("virtual v {\n\tactive = 1\n\tserver s {\n\t\tactive = 1\n\t\tweight = 3\n\t}\n}\n")
        );
    }

    #[test]
    fn quoted_keywords_are_quoted() {
        let d = doc("virtual v {\n     send = \"x\"\n}\n");
        assert_eq!(
            set(&d, &p("virtual.v.send"), "GET / HTTP/1.0\\r\\n\\r\\n").as_deref(),
            Ok("virtual v {\n     send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n}\n")
        );
        assert!(set(&d, &p("virtual.v.send"), "a\"b").is_err());
    }

    #[test]
    fn bump_inserts_or_increments() {
        assert_eq!(
            bump_serial(&doc("a = 1\n")).as_deref(),
            Ok("serial_no = 1\na = 1\n")
        );
        assert_eq!(
            bump_serial(&doc("serial_no = 41\r\n")).as_deref(),
            Ok("serial_no = 42\r\n")
        );
        assert!(matches!(
            bump_serial(&doc("serial_no = x\n")),
            Err(EditError::BadSerial(_))
        ));
    }

    #[test]
    fn add_and_remove_blocks() {
        let d = doc(
            "x = 1\nvirtual a {\n     active = 1\n     server s1 {\n         active = 1\n     }\n}\n",
        );
        let added = add_block(
            &d,
            &[(BlockKind::Virtual, "a".into())],
            BlockKind::Server,
            "s2",
        )
        .expect("add");
        assert_eq!(
            added,
            "x = 1\nvirtual a {\n     active = 1\n     server s1 {\n         active = 1\n     }\n     server s2 {\n     }\n}\n"
        );
        let added = add_block(&d, &[], BlockKind::Virtual, "b").expect("add");
        assert!(added.ends_with("}\nvirtual b {\n}\n"));
        let removed = remove(&d, &p("virtual.a.server.s1")).expect("rm");
        assert_eq!(removed, "x = 1\nvirtual a {\n     active = 1\n}\n");
        assert!(matches!(
            add_block(&d, &[], BlockKind::Virtual, "a"),
            Err(EditError::BlockExists { .. })
        ));
    }
}
