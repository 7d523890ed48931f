//! The configuration digest two directors exchange: what the file *means*, not how the model
//! happens to be laid out in this version.
//!
//! The canonical text lists, from the keyword table, every keyword whose effective value differs
//! from its default, as `name = value` in table order; then every block, sorted by kind and
//! name, as `virtual NAME {` … `}` with its keywords the same way and its servers (sorted by
//! name) nested. Left out: `serial_no` (exchanged beside the digest), keywords nobody reads
//! (`heartbeat`, `debug_level`, `sync`, `master`, `dirs`), comments, formatting, the order of
//! lines and blocks, and anything at its default — so a keyword a later version adds is absent
//! from both directors' text until someone sets it, and a rolling upgrade sees equal digests for
//! equal files. A real server's port is at its default when it equals its virtual's port.
//!
//! The digest is the first 8 bytes of SHA-256 of that text (`pulse_proto::wire::config_digest`
//! hashes the same way). Changing the canonical form changes every digest: the golden test below
//! pins it.

use crate::keywords::{Access, KEYWORDS, Keyword};
use crate::model::{LvsConfig, RealServer, VirtualService};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

impl LvsConfig {
    /// The first 8 bytes of SHA-256 over [`LvsConfig::canonical`]: equal for two files that
    /// mean the same, whatever Pulse version built the model (see the module documentation).
    pub fn digest(&self) -> [u8; 8] {
        let full = Sha256::digest(self.canonical().as_bytes());
        let mut out = [0; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// The canonical text the digest hashes: every keyword not at its default, in a fixed
    /// order, blocks sorted by name.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        let default = Self::default();
        for k in counted() {
            if let Access::Global(_, get) = k.access {
                line(&mut out, "", k, get(self), get(&default));
            }
        }
        for (kind, list) in [("virtual", &self.virtuals), ("failover", &self.failovers)] {
            let mut blocks: Vec<&VirtualService> = list.iter().collect();
            blocks.sort_by(|a, b| a.name.cmp(&b.name));
            for vs in blocks {
                block(&mut out, kind, vs);
            }
        }
        out
    }
}

/// The keywords the digest counts.
fn counted() -> impl Iterator<Item = &'static Keyword> {
    KEYWORDS
        .iter()
        .filter(|k| !k.ignored && k.name != "serial_no")
}

fn line(
    out: &mut String,
    indent: &str,
    k: &Keyword,
    value: Option<String>,
    default: Option<String>,
) {
    if value != default {
        let _ = writeln!(out, "{indent}{} = {}", k.name, value.unwrap_or_default());
    }
}

fn block(out: &mut String, kind: &str, vs: &VirtualService) {
    let _ = writeln!(out, "{kind} {} {{", vs.name);
    let default = VirtualService::new(&vs.name);
    for k in counted() {
        if let Access::Virtual(_, get) = k.access {
            line(out, "  ", k, get(vs), get(&default));
        }
    }
    let mut servers: Vec<&RealServer> = vs.servers.iter().collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    for rs in servers {
        let _ = writeln!(out, "  server {} {{", rs.name);
        let default = RealServer::new(&rs.name, vs.port);
        for k in counted() {
            if let Access::Server(_, get) = k.access {
                line(out, "    ", k, get(rs), get(&default));
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use crate::LvsConfig;

    fn cfg(src: &str) -> LvsConfig {
        let p = crate::parse(src);
        assert!(p.is_valid(), "{:#?}", p.diagnostics);
        p.config
    }

    const FILE: &str = "serial_no = 7\nprimary = 192.0.2.1\nbackup = 192.0.2.2\n\
        virtual web {\n active = 1\n address = 192.0.2.100 eth0:1\n scheduler = wlc\n\
        server a {\n  address = 192.0.2.11\n  active = 1\n  weight = 2\n }\n\
        server b {\n  address = 192.0.2.12\n  active = 1\n  port = 8080\n }\n}\n";

    fn hex(d: [u8; 8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The canonical form is a wire contract between versions: if this changes, directors of
    /// the old and the new version report a mismatch for the same file.
    #[test]
    fn the_canonical_form_is_pinned() {
        let c = cfg(FILE);
        assert_eq!(
            c.canonical(),
            "primary = 192.0.2.1\nprimary_private = 192.0.2.1\nbackup = 192.0.2.2\n\
             backup_private = 192.0.2.2\nvirtual web {\n  active = 1\n  \
             address = 192.0.2.100 eth0:1\n  server a {\n    address = 192.0.2.11\n    \
             active = 1\n    weight = 2\n  }\n  server b {\n    address = 192.0.2.12\n    \
             active = 1\n    port = 8080\n  }\n}\n"
        );
        // SHA-256 of that text, first 8 bytes (`printf '…' | sha256sum`).
        assert_eq!(hex(c.digest()), "848db1da226d965d");
    }

    #[test]
    fn keywords_at_their_default_comments_order_and_serial_do_not_count() {
        let a = cfg(FILE);
        // The same meaning written differently: Pulse keywords at their defaults (what a new
        // version's model has as new fields), piranha defaults spelt out, another serial,
        // comments, blocks and lines in another order.
        let b = cfg(
            "# edited\nbackup = 192.0.2.2\nprimary = 192.0.2.1\nserial_no = 8\ngarp_repeat = 5\n\
             warm_standby = 1\nmetrics_port = 0\nkeepalive = 2\ndebug_level = HIGH\n\
             virtual web {\n server b {\n  port = 8080\n  active = 1\n  address = 192.0.2.12\n }\n\
             address = 192.0.2.100 eth0:1\n active = 1\n port = 80\n\
             server a {\n  address = 192.0.2.11\n  active = 1\n  weight = 2\n  port = 80\n }\n}\n",
        );
        assert_eq!(a.digest(), b.digest());
        // A model field the digest does not count changes the model's JSON (what the digest
        // used to hash, so a field added by a new version made equal files differ) but not the
        // digest.
        let mut c = a.clone();
        c.serial_no = 99;
        assert_ne!(
            serde_json::to_vec(&a).expect("json"),
            serde_json::to_vec(&c).expect("json")
        );
        assert_eq!(a.digest(), c.digest());
    }

    #[test]
    fn a_meaningful_change_changes_the_digest() {
        let a = cfg(FILE).digest();
        for (from, to) in [
            ("scheduler = wlc", "scheduler = rr"),
            ("weight = 2", "weight = 3"),
            ("port = 8080", "port = 8081"),
            ("backup = 192.0.2.2", "backup = 192.0.2.3"),
            ("server b {", "server c {"),
        ] {
            assert_ne!(a, cfg(&FILE.replace(from, to)).digest(), "{from} -> {to}");
        }
        let linked = cfg(&format!("heartbeat_link = 10.0.0.1 10.0.0.2\n{FILE}")).digest();
        assert_ne!(a, linked);
    }
}
