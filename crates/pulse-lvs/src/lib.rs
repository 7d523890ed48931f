//! `pulse-lvs`: the decisions of `lvsd`, sans-IO.
//!
//! - `plan`: what lvs.cf asks for — each active virtual service as an IPVS
//!   [`Service`](pulse_ipvs::Service) with its real servers, forwarding method, weights, quiesce
//!   and sorry server, resolved and validated once per load.
//! - `health`: [`RealServerHealth`], piranha's per-server check counting (nanny, docs/reference/piranha.md §6.5)
//!   driven by check results and `now`.
//! - `table`: the desired table (plan × health) and the observed one (a kernel dump), and
//!   [`reconcile`]: the minimal list of [`IpvsOp`](pulse_ipvs::IpvsOp)s from one to the other.
//! - `supervisor`: [`Supervisor`], every decision of lvsd over those three — health per real
//!   server, reloads, sorry servers, a draining release's handoff — driven by `handle_*(now, …)`
//!   and drained with `poll_*`, like `pulse_proto::Heartbeat`.
//!
//! Nothing here reads a clock, a socket or a file; `lvsd` feeds it and executes what it returns.

#![warn(missing_docs)]

pub mod health;
pub mod plan;
pub mod supervisor;
pub mod table;

pub use health::{Health, RealServerHealth, Transition};
pub use plan::{Admin, Plan, PlanProblem, PlannedServer, PlannedService};
pub use supervisor::{
    AdminError, CheckChange, CheckKey, CheckStats, Event, HANDOFF_MAX, Reloaded, ServerSnapshot,
    ServiceSnapshot, Supervisor, Unreadable,
};
pub use table::{Desired, DesiredDest, DesiredService, ObservedService, Table, reconcile};
