//! Semantic difference of two configurations: what a reload would change.
//!
//! Comments, formatting, key order and values equal to their defaults make no difference.
//! Virtual services are matched by what identifies them in IPVS (fwmark, or protocol, VIP and
//! port), as piranha's lvsd does on reload (docs/reference/piranha.md §5.6), falling back to the block name;
//! real servers by address and port, then name.

use crate::model::{LvsConfig, RealServer, VirtualService};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Dotted path in the *new* file's names (the old one's for removals).
    pub path: String,
    /// The old value; `None` if the object was added.
    pub old: Option<String>,
    /// The new value; `None` if the object was removed.
    pub new: Option<String>,
}

/// Every difference between `old` and `new`, globals first, then blocks in the new file's order.
pub fn diff(old: &LvsConfig, new: &LvsConfig) -> Vec<Change> {
    let mut out = Vec::new();
    let strip = |c: &LvsConfig| LvsConfig {
        virtuals: Vec::new(),
        failovers: Vec::new(),
        ..c.clone()
    };
    fields(&mut out, "", &strip(old), &strip(new));
    pair(&mut out, "virtual", &old.virtuals, &new.virtuals);
    pair(&mut out, "failover", &old.failovers, &new.failovers);
    out
}

/// A block that can be matched between two files and compared.
trait Keyed: Serialize + Clone {
    /// The block name.
    fn name(&self) -> &str;
    /// What identifies it to the kernel, if it has an identity yet.
    fn key(&self) -> Option<String>;
    /// A copy without name and children, for comparing its own fields.
    fn own_fields(&self) -> Self;
    /// Compare children (a virtual's servers).
    fn children(_out: &mut Vec<Change>, _path: &str, _old: &Self, _new: &Self) {}
}

impl Keyed for VirtualService {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self) -> Option<String> {
        (self.address.is_some() || self.fwmark != 0).then(|| self.identity().to_string())
    }
    fn own_fields(&self) -> Self {
        Self {
            servers: Vec::new(),
            name: String::new(),
            ..self.clone()
        }
    }
    fn children(out: &mut Vec<Change>, path: &str, old: &Self, new: &Self) {
        pair(out, &format!("{path}.server"), &old.servers, &new.servers);
    }
}

impl Keyed for RealServer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key(&self) -> Option<String> {
        self.address.as_ref().map(|a| format!("{a}:{}", self.port))
    }
    fn own_fields(&self) -> Self {
        Self {
            name: String::new(),
            ..self.clone()
        }
    }
}

/// Match `new` against `old` by key, then by name; report renames, field changes, additions and
/// removals under `prefix` (`virtual`, `virtual.web.server`).
fn pair<T: Keyed>(out: &mut Vec<Change>, prefix: &str, old: &[T], new: &[T]) {
    let describe = |t: &T| t.key().unwrap_or_else(|| "(no address)".into());
    // Old indices by key and by name, in file order; matched ones are taken out.
    let mut by_key: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut by_name: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (i, o) in old.iter().enumerate() {
        if let Some(k) = o.key() {
            by_key.entry(k).or_default().push_back(i);
        }
        by_name.entry(o.name()).or_default().push_back(i);
    }
    let mut matched = vec![false; old.len()];
    let take = |q: Option<&mut VecDeque<usize>>, matched: &mut [bool]| {
        let q = q?;
        while let Some(i) = q.pop_front() {
            if !matched[i] {
                matched[i] = true;
                return Some(i);
            }
        }
        None
    };
    for n in new {
        let path = format!("{prefix}.{}", n.name());
        let found = take(n.key().and_then(|k| by_key.get_mut(&k)), &mut matched)
            .or_else(|| take(by_name.get_mut(n.name()), &mut matched));
        let Some(i) = found else {
            out.push(Change {
                path,
                old: None,
                new: Some(describe(n)),
            });
            continue;
        };
        let o = &old[i];
        if o.name() != n.name() {
            out.push(Change {
                path: format!("{path}.name"),
                old: Some(o.name().into()),
                new: Some(n.name().into()),
            });
        }
        fields(out, &path, &o.own_fields(), &n.own_fields());
        T::children(out, &path, o, n);
    }
    for (i, o) in old.iter().enumerate() {
        if !matched[i] {
            out.push(Change {
                path: format!("{prefix}.{}", o.name()),
                old: Some(describe(o)),
                new: None,
            });
        }
    }
}

/// Compare the fields of two serialisable values: scalars, and lists such as `heartbeat_links`
/// (the blocks' own lists are emptied by the callers and paired instead).
fn fields<T: Serialize>(out: &mut Vec<Change>, prefix: &str, old: &T, new: &T) {
    let (o, n) = (object(old), object(new));
    for (k, nv) in &n {
        let ov = o.get(k).unwrap_or(&Value::Null);
        if ov != nv {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(Change {
                path,
                old: Some(show(ov)),
                new: Some(show(nv)),
            });
        }
    }
}

fn object<T: Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) => m.values().map(show).collect::<Vec<_>>().join(" "),
        // A list of entries (`heartbeat_link` lines), each one a word or words.
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Array(words) => words.iter().map(show).collect::<Vec<_>>().join(" "),
                other => show(other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> LvsConfig {
        crate::parse(s).config
    }

    #[test]
    fn formatting_and_defaults_make_no_difference() {
        let a = cfg("keepalive = 2\nvirtual w {\n active = 1\n address = 192.0.2.1 eth0:1\n}\n");
        let b = cfg(
            "# comment\nvirtual w {\n\taddress  =  192.0.2.1 eth0:1\n\tactive = 1\n\tport = 80\n}\n",
        );
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn lists_are_compared() {
        let base = "primary = 192.0.2.1\nbackup = 192.0.2.2\n";
        let one = cfg(&format!("{base}heartbeat_link = 10.0.0.1 10.0.0.2\n"));
        let two = cfg(&format!(
            "{base}heartbeat_link = 10.0.0.1 10.0.0.2\nheartbeat_link = 10.1.0.1 10.1.0.2\n"
        ));
        let changed = cfg(&format!("{base}heartbeat_link = 10.0.0.1 10.0.0.3\n"));
        let none = cfg(base);
        let show = |a: &LvsConfig, b: &LvsConfig| {
            diff(a, b)
                .into_iter()
                .map(|c| format!("{}: {:?} -> {:?}", c.path, c.old, c.new))
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&one, &one), Vec::<String>::new());
        assert_eq!(
            show(&one, &changed),
            ["heartbeat_links: Some(\"10.0.0.1 10.0.0.2\") -> Some(\"10.0.0.1 10.0.0.3\")"]
        );
        assert_eq!(
            show(&one, &none),
            ["heartbeat_links: Some(\"10.0.0.1 10.0.0.2\") -> Some(\"(none)\")"]
        );
        assert_eq!(
            show(&one, &two),
            [
                "heartbeat_links: Some(\"10.0.0.1 10.0.0.2\") -> Some(\"10.0.0.1 10.0.0.2, 10.1.0.1 10.1.0.2\")"
            ]
        );
    }

    #[test]
    fn reports_changed_added_and_removed() {
        let a = cfg(
            "virtual w {\n active = 1\n address = 192.0.2.1 eth0:1\n server a {\n  address = 192.0.2.5\n  active = 1\n }\n}\n",
        );
        let b = cfg(
            "virtual w {\n active = 1\n address = 192.0.2.1 eth0:1\n scheduler = rr\n server b {\n  address = 192.0.2.6\n  active = 1\n }\n}\n",
        );
        let paths: Vec<String> = diff(&a, &b)
            .into_iter()
            .map(|c| format!("{} {:?} {:?}", c.path, c.old, c.new))
            .collect();
        assert_eq!(
            paths,
            vec![
                "virtual.w.scheduler Some(\"wlc\") Some(\"rr\")".to_string(),
                "virtual.w.server.b None Some(\"192.0.2.6:80\")".to_string(),
                "virtual.w.server.a Some(\"192.0.2.5:80\") None".to_string(),
            ]
        );
    }
}
