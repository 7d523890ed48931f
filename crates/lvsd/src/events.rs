//! What the supervisor reports, logged in the wording admins and tests grep for (piranha's
//! where piranha had one). These texts are stable: crates/lvsd/tests and tests/src/lvsd_log.rs
//! match them.

use crate::kernel::Kernel;
use pulse_lvs::{Event, HANDOFF_MAX, Supervisor};
use tracing::{info, warn};

/// Logs everything the supervisor has to report.
pub(crate) fn log(sup: &mut Supervisor, kernel: &mut Kernel) {
    while let Some(e) = sup.poll_event() {
        match e {
            // nanny's wording (docs/reference/piranha.md §6.5).
            Event::ServerUp { service, server } => {
                info!(service = %service, "[ active ] making {server} available")
            }
            Event::ServerDown {
                service,
                server,
                error,
            } => info!(
                service = %service,
                error = error.as_str(),
                "[inactive] shutting down {server} due to connection failure"
            ),
            // docs/reference/piranha.md §5.5.
            Event::SorryIn {
                virtual_name,
                sorry,
            } => info!(
                "Virtual Server {virtual_name}: No real servers; activate sorry_server {sorry}"
            ),
            Event::SorryOut {
                virtual_name,
                sorry,
                up,
            } => info!(
                "Virtual Server {virtual_name}: {up} real servers; deactivate sorry_server {sorry}"
            ),
            Event::HandoffStarted { partner } => {
                info!(partner = %partner, "handing over: new connections go to the partner")
            }
            Event::HandoffEnded { partner, expired } => {
                if expired {
                    warn!(
                        "handover not ended by pulse within {HANDOFF_MAX:?}: back to the configured table"
                    );
                }
                info!(
                    partner = %partner,
                    forwarded_connections = kernel.connections_to(sup.plan(), partner),
                    "handover done: back to the configured table"
                );
            }
            Event::AdminChanged {
                virtual_name,
                server_name,
                server,
                admin,
            } => info!(
                virtual_name = virtual_name.as_str(),
                server_name = server_name.as_str(),
                "operator: real server {server} of {virtual_name} {}",
                match admin {
                    pulse_lvs::Admin::Enabled => "enabled (in the table while its checks pass)",
                    pulse_lvs::Admin::Draining => "draining (weight 0; open connections finish)",
                    pulse_lvs::Admin::Disabled => "disabled (out of the table)",
                }
            ),
            Event::ServiceRemoved {
                virtual_name,
                service,
            } => info!(service = %service, "shutting down virtual service {virtual_name}"),
        }
    }
}
