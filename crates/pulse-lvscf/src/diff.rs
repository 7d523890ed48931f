//! Semantic difference of two configurations: what a reload would change.
//!
//! Comments, formatting, key order and values equal to their defaults make no difference.
//! Virtual services are matched by what identifies them in IPVS (fwmark, or protocol, VIP and
//! port), as piranha's lvsd does on reload (piranha.md §5.6), falling back to the block name;
//! real servers by address and port, then name.

use crate::model::{LvsConfig, RealServer, VirtualService};
use serde::Serialize;
use serde_json::{Map, Value};

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
    blocks(&mut out, "virtual", &old.virtuals, &new.virtuals);
    blocks(&mut out, "failover", &old.failovers, &new.failovers);
    out
}

fn blocks(out: &mut Vec<Change>, kind: &str, old: &[VirtualService], new: &[VirtualService]) {
    let key = |v: &VirtualService| {
        if v.address.is_some() || v.fwmark != 0 {
            v.identity().to_string()
        } else {
            format!("name {}", v.name)
        }
    };
    let mut matched = vec![false; old.len()];
    for n in new {
        let found = (0..old.len())
            .find(|&i| !matched[i] && key(&old[i]) == key(n))
            .or_else(|| (0..old.len()).find(|&i| !matched[i] && old[i].name == n.name));
        let path = format!("{kind}.{}", n.name);
        match found {
            Some(i) => {
                matched[i] = true;
                let o = &old[i];
                if o.name != n.name {
                    out.push(Change {
                        path: format!("{path}.name"),
                        old: Some(o.name.clone()),
                        new: Some(n.name.clone()),
                    });
                }
                let strip = |v: &VirtualService| VirtualService {
                    servers: Vec::new(),
                    name: String::new(),
                    ..v.clone()
                };
                fields(out, &path, &strip(o), &strip(n));
                servers(out, &path, &o.servers, &n.servers);
            }
            None => out.push(Change {
                path,
                old: None,
                new: Some(key(n)),
            }),
        }
    }
    for (i, o) in old.iter().enumerate() {
        if !matched[i] {
            out.push(Change {
                path: format!("{kind}.{}", o.name),
                old: Some(key(o)),
                new: None,
            });
        }
    }
}

fn servers(out: &mut Vec<Change>, parent: &str, old: &[RealServer], new: &[RealServer]) {
    let key = |s: &RealServer| s.address.as_ref().map(|a| format!("{a}:{}", s.port));
    let mut matched = vec![false; old.len()];
    for n in new {
        let found = (0..old.len())
            .find(|&i| !matched[i] && key(&old[i]).is_some() && key(&old[i]) == key(n))
            .or_else(|| (0..old.len()).find(|&i| !matched[i] && old[i].name == n.name));
        let path = format!("{parent}.server.{}", n.name);
        match found {
            Some(i) => {
                matched[i] = true;
                let o = &old[i];
                if o.name != n.name {
                    out.push(Change {
                        path: format!("{path}.name"),
                        old: Some(o.name.clone()),
                        new: Some(n.name.clone()),
                    });
                }
                let strip = |s: &RealServer| RealServer {
                    name: String::new(),
                    ..s.clone()
                };
                fields(out, &path, &strip(o), &strip(n));
            }
            None => out.push(Change {
                path,
                old: None,
                new: Some(key(n).unwrap_or_else(|| "(no address)".into())),
            }),
        }
    }
    for (i, o) in old.iter().enumerate() {
        if !matched[i] {
            out.push(Change {
                path: format!("{parent}.server.{}", o.name),
                old: Some(key(o).unwrap_or_else(|| "(no address)".into())),
                new: None,
            });
        }
    }
}

/// Compare the scalar fields of two serialisable values.
fn fields<T: Serialize>(out: &mut Vec<Change>, prefix: &str, old: &T, new: &T) {
    let (o, n) = (object(old), object(new));
    for (k, nv) in &n {
        let ov = o.get(k).unwrap_or(&Value::Null);
        if ov != nv && !nv.is_array() {
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
