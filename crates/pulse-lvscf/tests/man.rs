//! `packaging/man/lvs.cf.5` documents every keyword of [`KEYWORDS`], in the section of its
//! scope, with its default, who uses it, and whether it is a Pulse extension. A keyword added to
//! the table without a man-page item fails here, and so does an item left behind for a keyword
//! that is gone.
//!
//! An item is roff's `.TP` followed by a tag line `.B NAME` or `.BI "NAME = " VALUE`; its body
//! (up to the next `.TP`, `.SH` or `.SS`) has a line `Default: ...`, a line `Used by: ...`
//! (`Used by: nobody` for an ignored keyword) and, for a keyword piranha does not know, a line
//! starting `Pulse extension`.

use std::path::Path;

use pulse_lvscf::keywords::{KEYWORDS, Keyword, Scope};

/// The man-page section (`.SH` title) that documents the keywords of `scope`.
fn section_title(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "GLOBAL KEYWORDS",
        Scope::Virtual => "VIRTUAL AND FAILOVER BLOCK KEYWORDS",
        Scope::Server => "SERVER BLOCK KEYWORDS",
    }
}

/// One `.TP` item: the keyword its tag names and the body lines.
#[derive(Debug)]
struct Item {
    name: String,
    body: Vec<String>,
}

fn page() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/man/lvs.cf.5");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The keyword a tag line names: `.BI "keepalive = " SECONDS` → `keepalive`.
fn tag_name(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix(".BI ")
        .or_else(|| line.strip_prefix(".B "))?
        .trim_start()
        .trim_start_matches('"');
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The items of the `.SH` section titled `title`.
fn items(page: &str, title: &str) -> Vec<Item> {
    let lines: Vec<&str> = page.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            l.strip_prefix(".SH ")
                .is_some_and(|t| t.trim_matches('"') == title)
        })
        .unwrap_or_else(|| panic!("lvs.cf.5 has no section `.SH {title}`"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with(".SH "))
        .map_or(lines.len(), |i| start + 1 + i);
    let section = &lines[start + 1..end];
    let mut out: Vec<Item> = Vec::new();
    let mut i = 0;
    while i < section.len() {
        if section[i].trim_end() == ".TP" && i + 1 < section.len() {
            let name = tag_name(section[i + 1]).unwrap_or_else(|| {
                panic!(
                    "{title}: the tag after .TP names no keyword: {:?}",
                    section[i + 1]
                )
            });
            let mut body = Vec::new();
            let mut j = i + 2;
            while j < section.len()
                && section[j].trim_end() != ".TP"
                && !section[j].starts_with(".SS ")
            {
                body.push(section[j].to_string());
                j += 1;
            }
            out.push(Item { name, body });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// What is wrong with the documentation of `k` in `item`, if anything.
fn check_item(k: &Keyword, item: &Item) -> Vec<String> {
    let mut problems = Vec::new();
    let line_after = |prefix: &str| {
        item.body
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::trim))
    };
    match line_after("Default:") {
        None => problems.push("no `Default:` line".to_string()),
        Some(text) => {
            // Parenthesised table defaults ("(= primary)") are prose; the rest must be exact.
            let default = k.default();
            if !default.starts_with('(') {
                let want = if default.is_empty() { "none" } else { &default };
                let ok = text
                    .strip_prefix(want)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
                if !ok {
                    problems.push(format!("`Default: {text}` but the table says `{want}`"));
                }
            }
        }
    }
    match line_after("Used by:") {
        None => problems.push("no `Used by:` line".to_string()),
        Some(text) => {
            if k.ignored != text.starts_with("nobody") {
                problems.push(format!(
                    "`Used by: {text}` but the table says ignored = {}",
                    k.ignored
                ));
            }
        }
    }
    let says_extension = item.body.iter().any(|l| l.starts_with("Pulse extension"));
    if says_extension == k.piranha {
        problems.push(format!(
            "the table says piranha = {} but the item {} a line `Pulse extension`",
            k.piranha,
            if says_extension { "has" } else { "has no" }
        ));
    }
    problems
}

#[test]
fn lvs_cf_5_documents_every_keyword() {
    let page = page();
    let mut problems = Vec::new();
    for scope in [Scope::Global, Scope::Virtual, Scope::Server] {
        let title = section_title(scope);
        let items = items(&page, title);
        for k in KEYWORDS.iter().filter(|k| k.scope == scope) {
            let found: Vec<&Item> = items.iter().filter(|i| i.name == k.name).collect();
            match found.as_slice() {
                [] => problems.push(format!("{title}: `{}` is not documented", k.name)),
                [item] => problems.extend(
                    check_item(k, item)
                        .into_iter()
                        .map(|p| format!("{title}: `{}`: {p}", k.name)),
                ),
                _ => problems.push(format!("{title}: `{}` is documented twice", k.name)),
            }
        }
        for item in &items {
            if !KEYWORDS
                .iter()
                .any(|k| k.scope == scope && k.name == item.name)
            {
                problems.push(format!(
                    "{title}: `{}` is documented but is not a keyword of this scope",
                    item.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "packaging/man/lvs.cf.5 is out of date with pulse_lvscf::keywords::KEYWORDS:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_item_parser_sees_items() {
    let page = ".SH GLOBAL KEYWORDS\n.TP\n.BI \"keepalive = \" SECONDS\nDefault: 2\n.br\nUsed by: pulse\n.TP\n.B dirs\nx\n.SH OTHER\n.TP\n.B port\n";
    let items = items(page, "GLOBAL KEYWORDS");
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["keepalive", "dirs"]);
    assert_eq!(items[0].body, ["Default: 2", ".br", "Used by: pulse"]);
}

/// The README's configuration reference names every keyword (in backquotes, in a table row).
#[test]
fn the_readme_reference_lists_every_keyword() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = readme
        .find("## Configuration reference")
        .expect("README has a `## Configuration reference` section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let missing: Vec<&str> = KEYWORDS
        .iter()
        .map(|k| k.name)
        .filter(|name| {
            let cell = format!("`{name}`");
            !rows.iter().any(|r| {
                r.split(" | ")
                    .next()
                    .is_some_and(|first| first.contains(&cell))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's configuration reference lacks: {missing:?}"
    );
}
