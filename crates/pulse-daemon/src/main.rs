//! `pulse`: runs on both directors; heartbeats, decides who is active, and on the active one
//! claims the VIPs, announces them and runs lvsd. Command line as piranha's (docs/reference/piranha.md §4.1).
//!
//! ```text
//!   UDP sockets (one per link) ──► recv tasks ──┐
//!   signals (TERM, INT, HUP) ───────────────────┤
//!   lvsd child exit ────────────────────────────┼──► driver loop ──► pulse_proto::Heartbeat
//!   timer (Heartbeat::poll_timeout) ────────────┘        │
//!                                                        ├─► transmits: send_to on the link's socket
//!                                                        └─► events: VIPs (rtnetlink), GARP (AF_PACKET),
//!                                                                    active_cmd/inactive_cmd, lvsd
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use pulse_sys::process::Detach;
use std::path::PathBuf;
use std::process::ExitCode;

mod driver;
mod fos;
mod group;
mod group_view;
mod lvsd;
mod metrics;
mod notify;
mod setup;
mod status;
mod syncd;
mod vips;
mod worker;

/// SCHED_FIFO priority: above ordinary work, below the kernel's own real-time threads (50).
const REALTIME_PRIORITY: i32 = 40;

/// piranha's default configuration file.
const DEFAULT_CONFIG: &str = "/etc/sysconfig/ha/lvs.cf";

#[derive(Clone, Debug, Parser)]
#[command(
    name = "pulse",
    about = "Heartbeat and failover for an LVS director pair (piranha-compatible)"
)]
pub(crate) struct Options {
    /// Configuration file.
    #[arg(short = 'c', long = "configfile", default_value = DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// Stay in the foreground and log to stderr.
    #[arg(short = 'n', long)]
    pub(crate) nodaemon: bool,
    /// Claim VIPs and send ARPs but do not start lvsd (piranha's test mode).
    #[arg(short = 't', long = "test-start", alias = "norun")]
    pub(crate) test_start: bool,
    /// Become active at once on start.
    #[arg(long)]
    pub(crate) forceactive: bool,
    /// More logging (and `-v` for lvsd).
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
    /// The LVS supervisor to run when active.
    #[arg(long, default_value = "/usr/sbin/lvsd")]
    pub(crate) lvsd: PathBuf,
    /// Accepted for piranha compatibility and ignored: Pulse runs the failover services (service = fos) itself.
    #[arg(long, default_value = "/usr/sbin/fos")]
    pub(crate) fos: PathBuf,
    /// Do not run under real-time scheduling (SCHED_FIFO) with locked memory.
    #[arg(long)]
    pub(crate) no_realtime: bool,
    /// Control socket for `pulsectl status|takeover|release`.
    #[arg(long, default_value = pulse_control::DEFAULT_SOCKET)]
    pub(crate) control: PathBuf,
    /// lvsd's control socket: passed to the lvsd pulse starts (`--control`), and read for the
    /// metrics endpoint. Two pulses sharing a filesystem (network namespaces) need distinct ones.
    #[arg(long, default_value = pulse_control::DEFAULT_LVSD_SOCKET)]
    pub(crate) lvsd_socket: PathBuf,
    /// Where pulse keeps state across restarts (the heartbeat replay floor).
    #[arg(long, default_value = "/var/lib/pulse")]
    pub(crate) state_dir: PathBuf,
    /// Pid file (written when daemonized, or whenever this is given).
    #[arg(long)]
    pub(crate) pidfile: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(long)]
    pub(crate) version: bool,
}

fn main() -> ExitCode {
    let opts = Options::parse();
    if opts.version {
        print!("{}", pulse_sys::process::version_text("pulse"));
        return ExitCode::SUCCESS;
    }
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // piranha prints startup failures as `pulse: ...` on stderr and exits 1.
            eprintln!("pulse: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(opts: Options) -> Result<()> {
    // Everything that can fail on bad input happens before daemonizing, so the admin sees it.
    let prepared = setup::prepare(&opts)?;
    let detach = if opts.nodaemon {
        Detach::Foreground
    } else {
        Detach::Daemonize
    };
    let _cleanup = pulse_sys::process::start_daemon(
        "pulse",
        detach,
        opts.verbose,
        opts.pidfile.clone(),
        "/var/run/pulse.pid",
        &opts.control,
    )?;
    if !opts.no_realtime {
        // Before the runtime exists, so every thread inherits it.
        match pulse_sys::make_realtime(REALTIME_PRIORITY) {
            Ok(()) => {}
            Err(pulse_sys::RealtimeError::Scheduling(e)) => {
                tracing::warn!(error = %e, "cannot run with real-time priority; heartbeats may be late under load");
            }
            Err(pulse_sys::RealtimeError::LockMemory(e)) => {
                tracing::warn!(error = %e, "running with real-time priority, but memory cannot be locked; a page fault may delay a heartbeat");
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = rt.block_on(driver::run(opts, prepared));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    result
}
