//! Every keyword lvs.cf knows, where it may appear and its default (piranha.md §2.2–2.4).

/// Where a keyword may appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Outside any block.
    Global,
    /// Directly inside `virtual NAME {` or `failover NAME {`.
    Virtual,
    /// Inside `server NAME {`.
    Server,
}

impl Scope {
    /// How the scope is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Global => "a global keyword",
            Self::Virtual => "a `virtual` block keyword",
            Self::Server => "a `server` block keyword",
        }
    }
}

/// How a value is written back by the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// One word; quoted only if it has blanks.
    Word,
    /// Always double-quoted, as piranha's GUI writes `send`, `expect`, `send_program`,
    /// `start_cmd` and `stop_cmd` (lvsd strips the quotes again, piranha.md §2.1).
    Quoted,
    /// Two words: `address = IP DEV`, `nat_router = IP DEV`.
    TwoWords,
    /// `dirs = [ a b ]`.
    List,
}

/// One keyword.
#[derive(Clone, Copy, Debug)]
pub struct Keyword {
    /// As written in the file.
    pub name: &'static str,
    /// Where it may appear.
    pub scope: Scope,
    /// The value used when the keyword is absent, as text (for `pulsectl config get`).
    pub default: &'static str,
    /// How values are written.
    pub form: Form,
    /// Known to piranha 0.8.6 (false: a Pulse extension).
    pub piranha: bool,
    /// Parsed but used by nobody (piranha.md §2.2, §10 item 3).
    pub ignored: bool,
    /// Each occurrence adds a value (instead of the last one winning).
    pub repeatable: bool,
}

const fn kw(name: &'static str, scope: Scope, default: &'static str) -> Keyword {
    Keyword {
        name,
        scope,
        default,
        form: Form::Word,
        piranha: true,
        ignored: false,
        repeatable: false,
    }
}

/// A keyword Pulse adds; piranha 0.8.6 rejects it ("unknown command").
const fn pulse(k: Keyword) -> Keyword {
    Keyword {
        piranha: false,
        ..k
    }
}

const fn quoted(k: Keyword) -> Keyword {
    Keyword {
        form: Form::Quoted,
        ..k
    }
}

const fn two(k: Keyword) -> Keyword {
    Keyword {
        form: Form::TwoWords,
        ..k
    }
}

const fn ignored(k: Keyword) -> Keyword {
    Keyword { ignored: true, ..k }
}

use Scope::{Global as G, Server as S, Virtual as V};

/// The keyword table.
pub const KEYWORDS: &[Keyword] = &[
    kw("serial_no", G, "0"),
    kw("service", G, "lvs"),
    kw("primary", G, "0.0.0.0"),
    kw("primary_private", G, "(= primary)"),
    kw("primary_shared", G, ""),
    kw("backup", G, "0.0.0.0"),
    kw("backup_private", G, "(= backup)"),
    kw("backup_shared", G, ""),
    kw("backup_active", G, "0"),
    ignored(kw("heartbeat", G, "0")),
    kw("heartbeat_port", G, "539"),
    kw("keepalive", G, "2"),
    kw("deadtime", G, "5"),
    kw("network", G, "nat"),
    two(kw("nat_router", G, "")),
    kw("nat_nmask", G, "0.0.0.0"),
    kw("rsh_command", G, "rsh"),
    ignored(kw("debug_level", G, "NONE")),
    kw("monitor_links", G, "0"),
    kw("syncdaemon", G, "0"),
    kw("syncd_iface", G, "eth0"),
    kw("syncd_id", G, "0"),
    kw("tcp_timeout", G, "0"),
    kw("tcpfin_timeout", G, "0"),
    kw("udp_timeout", G, "0"),
    kw("hard_shutdown", G, "1"),
    kw("active_cmd", G, ""),
    kw("inactive_cmd", G, ""),
    kw("reservation_conflict_action", G, ""),
    kw("ipvsadm", G, "/sbin/ipvsadm"),
    ignored(kw("sync", G, "0")),
    pulse(kw("heartbeat_key", G, "")),
    pulse(Keyword {
        repeatable: true,
        ..two(kw("heartbeat_link", G, ""))
    }),
    pulse(kw("garp_repeat", G, "5")),
    pulse(kw("garp_interval", G, "1")),
    pulse(kw("warm_standby", G, "1")),
    pulse(kw("metrics_port", G, "0")),
    pulse(kw("metrics_address", G, "127.0.0.1")),
    kw("active", V, "0"),
    two(kw("address", V, "0.0.0.0")),
    kw("vip_nmask", V, "0.0.0.0"),
    kw("port", V, "80"),
    kw("fwmark", V, "0"),
    kw("protocol", V, "tcp"),
    kw("scheduler", V, "wlc"),
    kw("persistent", V, "0"),
    kw("pmask", V, "0.0.0.0"),
    quoted(kw("send", V, "")),
    quoted(kw("expect", V, "")),
    kw("use_regex", V, "0"),
    quoted(kw("send_program", V, "")),
    kw("load_monitor", V, "none"),
    kw("timeout", V, "10"),
    kw("reentry", V, "180"),
    kw("quiesce_server", V, "0"),
    kw("sorry_server", V, ""),
    kw("client_monitor", V, "/usr/sbin/nanny"),
    quoted(kw("start_cmd", V, "")),
    quoted(kw("stop_cmd", V, "")),
    ignored(kw("master", V, "")),
    ignored(Keyword {
        form: Form::List,
        ..kw("dirs", V, "")
    }),
    kw("address", S, "0.0.0.0"),
    kw("active", S, "0"),
    kw("weight", S, "1"),
    kw("port", S, "(the virtual's port)"),
];

/// Look up a keyword in a scope.
pub fn lookup(name: &str, scope: Scope) -> Option<&'static Keyword> {
    lookup_index(name, scope).map(|i| &KEYWORDS[i])
}

/// The index in [`KEYWORDS`] of a keyword in a scope. Runs once per statement of every file, so
/// it looks only at keywords of the same length (a table built on first use).
pub fn lookup_index(name: &str, scope: Scope) -> Option<usize> {
    static BY_LEN: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    let table = BY_LEN.get_or_init(|| {
        let longest = KEYWORDS.iter().map(|k| k.name.len()).max().unwrap_or(0);
        let mut t = vec![Vec::new(); longest + 1];
        for (i, k) in KEYWORDS.iter().enumerate() {
            t[k.name.len()].push(i);
        }
        t
    });
    table
        .get(name.len())?
        .iter()
        .copied()
        .find(|&i| KEYWORDS[i].scope == scope && KEYWORDS[i].name == name)
}

/// Keywords valid in `scope`, and other scopes where `name` is valid.
pub fn other_scopes(name: &str, scope: Scope) -> Vec<Scope> {
    KEYWORDS
        .iter()
        .filter(|k| k.name == name && k.scope != scope)
        .map(|k| k.scope)
        .collect()
}

/// The closest keyword of `scope` to a misspelt `name`, if any is close.
pub fn suggest(name: &str, scope: Scope) -> Option<&'static str> {
    closest(
        name,
        KEYWORDS.iter().filter(|k| k.scope == scope).map(|k| k.name),
    )
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).clamp(1, 3);
    candidates
        // Lengths further apart than the limit cannot be within it; skipping them keeps a
        // hostile 100 KB "keyword" from costing a quadratic edit-distance matrix.
        .filter(|c| c.len().abs_diff(word.len()) <= limit)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Schedulers piranha 0.8.6 accepts (`ipvsadm -s` names, piranha.md §2.3).
pub const PIRANHA_SCHEDULERS: &[&str] = &["lc", "rr", "wlc", "wrr", "lblc", "lblcr", "dh", "sh"];

/// Further IPVS schedulers of current kernels that Pulse accepts as an extension.
pub const PULSE_SCHEDULERS: &[&str] = &["sed", "nq", "mh", "fo", "ovf", "twos"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keywords_only() {
        assert_eq!(suggest("schedular", Scope::Virtual), Some("scheduler"));
        assert_eq!(suggest("keepalve", Scope::Global), Some("keepalive"));
        assert_eq!(suggest("zzzzzz", Scope::Global), None);
    }
}
