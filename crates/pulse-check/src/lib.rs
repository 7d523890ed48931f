//! `pulse-check`: health-check probes for lvsd's real servers, with piranha nanny's semantics
//! (docs/reference/piranha.md §6.2–6.4).
//!
//! One probe is one check of one real server:
//! - [`spec`] (pure, no I/O): [`CheckSpec`], what a check does, derived from a
//!   `pulse_lvscf::VirtualService` exactly as nanny derives it from its command line (default
//!   web check on port 80, backslash translation, `send_program` overriding `send`, `*`,
//!   `use_regex`, UDP).
//! - [`probe`] (async, tokio): [`run`] performs one check against a `SocketAddr` within a
//!   timeout and says pass or [`CheckFailure`], with nanny's log wording where it has one.
//!
//! What this crate never does: it never touches IPVS, never decides whether a server is up or
//! down (one failure is one data point; the reentry/threshold logic lives in the pure state
//! machine of `pulse-lvs`, the table changes in lvsd), never schedules checks, never sends ICMP
//! (nanny's unanswered ping needed root for nothing, docs/reference/piranha.md §10 #12), and contains no
//! `unsafe`.
//!
//! Cost: a probe is a few syscalls and one timer on the caller's runtime, with no thread, no
//! `spawn_blocking`, and no heap allocation of its own on the TCP and UDP paths (tokio allocates
//! for each socket it registers; a regex check allocates only when the reply spans several
//! reads). Measured: about 10–16 µs of CPU per TCP probe on loopback (`cost_of_tcp_probes` in
//! `tests/probe.rs`, ignored by default), i.e. 40,000 checks every 10 s ≈ 6 % of a core.
//!
//! TCP sockets are closed with `SO_LINGER` 0 (a reset), so tens of thousands of checks every few
//! seconds leave no `TIME_WAIT` sockets behind to exhaust the ephemeral ports.

#![warn(missing_docs)]

pub mod http;
pub mod probe;
pub mod spec;
pub mod tls;

pub use probe::{CheckFailure, ExitKind, FailureKind, IoCause, run};
pub use spec::{BodyExpect, CheckSpec, Expect, HttpCheck, Program, SpecError, TlsCheck, Verify};
pub use tls::{Resume, TlsConfigs, prepare};
