//! Reading lvs.cf: text → validated configuration → plan and checks, with everything that can
//! be wrong said before anything is applied.

use anyhow::Context as _;
use anyhow::{Result, bail};
use pulse_check::CheckSpec;
use pulse_lvs::Plan;
use pulse_lvscf::LvsConfig;
use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use tracing::warn;

/// A configuration read, validated and planned: what a start or a reload works from.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The file as read: a reload of identical bytes has nothing to do.
    pub(crate) source: Vec<u8>,
    pub(crate) cfg: LvsConfig,
    /// Moved into the supervisor when this configuration takes effect.
    pub(crate) plan: Plan,
    /// The check of each planned service (same order as `plan.services`).
    pub(crate) specs: Vec<Arc<CheckSpec>>,
    /// A fingerprint of each spec: what makes two services' checks the same check
    /// (`pulse_lvs::CheckKey::probe`).
    pub(crate) spec_ids: Vec<u64>,
    /// Each spec by its fingerprint: what a check the supervisor starts runs.
    by_id: HashMap<u64, Arc<CheckSpec>>,
    /// What lvsd leaves out or ignores, logged when this configuration takes effect (the first
    /// read happens before logging is set up).
    warnings: Vec<String>,
}

impl Loaded {
    /// Reads and validates `path`. Every error is in the message; nothing is applied.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        Self::parse(path, Self::read_source(path)?)
    }

    /// The bytes of `path`, through the loader the three binaries share (size cap, error text).
    pub(crate) fn read_source(path: &Path) -> Result<Vec<u8>> {
        Ok(pulse_lvscf::source::read(path, std::fs::File::open(path))?)
    }

    /// Validates and plans `src`, the bytes of `path` (bytes that are not UTF-8 are kept as
    /// piranha reads them; the error report is the shared loader's).
    pub(crate) fn parse(path: &Path, src: Vec<u8>) -> Result<Self> {
        let parsed = pulse_lvscf::Loaded::from_bytes(&src).valid(path)?.parsed;
        let cfg = parsed.config;
        // The lossless tree is not needed any more: free its 200,000 allocations off this thread.
        dispose(parsed.doc);
        if cfg.service != pulse_lvscf::model::ServiceMode::Lvs {
            bail!(
                "{}: service = fos is not lvsd's (pulse runs the failover services itself)",
                path.display()
            );
        }
        let (plan, problems) = Plan::new(&cfg, &mut resolve);
        let mut warnings: Vec<String> = problems.iter().map(|p| format!("left out: {p}")).collect();
        let mut specs = Vec::with_capacity(plan.services.len());
        let mut tls = pulse_check::TlsConfigs::default();
        for s in &plan.services {
            let vs = &cfg.virtuals[s.index];
            let mut spec = CheckSpec::from_virtual(vs)
                .with_context(|| format!("{}: virtual {}", path.display(), vs.name))?;
            // TLS checks: the CA, certificate and key files are read now, so a missing one
            // fails the load (or the reload, keeping the running configuration) by name.
            tls.prepare(&mut spec, &vs.name)
                .with_context(|| format!("{}: virtual {}", path.display(), vs.name))?;
            specs.push(Arc::new(spec));
            if let Some(lm) = vs.load_monitor.as_deref().filter(|m| *m != "none") {
                warnings.push(format!(
                    "virtual {}: load_monitor = {lm} is not supported; weights stay as configured",
                    vs.name
                ));
            }
        }
        // Fixed keys (not `RandomState`): the same spec must get the same id at every reload,
        // or every check would restart.
        use std::hash::BuildHasher;
        let ids = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
        let spec_ids: Vec<u64> = specs
            .iter()
            .map(|s| ids.hash_one(format!("{s:?}")))
            .collect();
        let by_id = spec_ids
            .iter()
            .copied()
            .zip(specs.iter().cloned())
            .collect();
        Ok(Self {
            source: src,
            cfg,
            plan,
            specs,
            spec_ids,
            by_id,
            warnings,
        })
    }

    /// The probe with fingerprint `id`.
    pub(crate) fn spec(&self, id: u64) -> Option<&Arc<CheckSpec>> {
        self.by_id.get(&id)
    }

    pub(crate) fn log_warnings(&self) {
        for w in &self.warnings {
            warn!("{w}");
        }
    }
}

/// Drops `x` on a thread of its own: freeing a large configuration (hundreds of thousands of
/// allocations) must not delay a reload.
pub(crate) fn dispose<T: Send + 'static>(x: T) {
    let _ = std::thread::Builder::new()
        .name("lvsd-drop".into())
        .spawn(move || drop(x));
}

/// Host names are resolved once per load, like piranha's `gethostbyname`.
fn resolve(name: &str) -> Option<IpAddr> {
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(IpAddr::is_ipv4)
}
