//! `lvsd`: the LVS supervisor `pulse` runs on the active director. Command line as piranha's
//! (docs/reference/piranha.md §5.1); one process instead of lvsd + one nanny per real server.
//!
//! ```text
//!   check tasks (one per distinct check) ──► results ──┐
//!   signals (TERM, INT, HUP) ──────────────────────────┤
//!   control socket (status, handoff) ──────────────────┼──► daemon loop ◄──► pulse_lvs::Supervisor
//!   the parent, with --supervised (every 500 ms) ──────┘        │             (every decision)
//!                                                               ├──► kernel: pulse_sys::ipvs (pipelined)
//!                                                               └──► check tasks started / stopped
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use pulse_sys::process::Detach;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: a reload of a large lvs.cf makes and frees hundreds of thousands of small
/// allocations while check tasks allocate on other threads; glibc's arenas made that a third of
/// the reload's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod checks;
mod daemon;
mod events;
mod kernel;
mod load;
mod status;
mod supervised;

/// piranha's default configuration file.
const DEFAULT_CONFIG: &str = "/etc/sysconfig/ha/lvs.cf";

#[derive(Debug, Parser)]
#[command(
    name = "lvsd",
    about = "LVS supervisor: programs IPVS from lvs.cf and health-checks real servers (piranha-compatible)"
)]
pub(crate) struct Options {
    /// Configuration file.
    #[arg(short = 'c', long = "configfile", default_value = DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// More logging.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
    /// Stay in the foreground and log to stderr.
    #[arg(short = 'n', long)]
    pub(crate) nodaemon: bool,
    /// Run as a daemon without forking (pid file, new session, syslog): how pulse starts it.
    #[arg(long)]
    pub(crate) nofork: bool,
    /// Exit, leaving the IPVS table as it is, when the parent that started lvsd is gone
    /// (checked every 500 ms). pulse passes it, with --nofork or --nodaemon and its own pid
    /// (`--supervised=PID`: a pulse that dies before lvsd first looks is noticed too), so an
    /// lvsd whose pulse was killed does not run on unsupervised; the next lvsd adopts the table.
    #[arg(long, value_name = "PID", num_args = 0..=1, require_equals = true)]
    pub(crate) supervised: Option<Option<i32>>,
    /// Test mode: run the checks and compute every change, but never touch the kernel's table.
    #[arg(short = 't', long = "test-start", alias = "norun")]
    pub(crate) test_start: bool,
    /// Control socket for `pulsectl status`.
    #[arg(long, default_value = pulse_control::DEFAULT_LVSD_SOCKET)]
    pub(crate) control: PathBuf,
    /// Pid file (piranha's; written unless --nodaemon, or whenever this is given).
    #[arg(long)]
    pub(crate) pidfile: Option<PathBuf>,
    /// Print the version and exit.
    #[arg(long)]
    pub(crate) version: bool,
}

fn main() -> ExitCode {
    let opts = Options::parse();
    if opts.version {
        print!("{}", pulse_sys::process::version_text("lvsd"));
        return ExitCode::SUCCESS;
    }
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // piranha prints startup failures as `lvs: ...` and exits 1 (docs/reference/piranha.md §5.1).
            eprintln!("lvs: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(opts: Options) -> Result<()> {
    // The parent as early as possible: if pulse dies while a large lvs.cf is read, the first
    // look after startup sees it.
    let parent = opts
        .supervised
        .map(|pid| pid.map_or_else(nix::unistd::getppid, nix::unistd::Pid::from_raw));
    if opts.supervised.is_some() && !opts.nodaemon && !opts.nofork {
        // A forking daemon's parent is the lvsd that forked it, gone at once.
        anyhow::bail!(
            "--supervised needs --nofork or --nodaemon: a forking lvsd has no parent to watch"
        );
    }
    // pulse forwards reloads to lvsd as SIGHUP; one arriving before the handler exists (while a
    // large lvs.cf is read) would kill lvsd, and pulse would fail over. Hold it until then
    // (`daemon::run` unblocks it once the handler is installed; a held one is delivered then).
    // The runtime's threads inherit the block and keep it; programs they start get an empty
    // mask (std resets it in the child).
    let _ = nix::sys::signal::SigSet::from(nix::sys::signal::Signal::SIGHUP).thread_block();
    // Everything that can fail on bad input happens before daemonizing, so the admin sees it.
    let loaded = load::Loaded::read(&opts.config)?;
    let detach = match (opts.nodaemon, opts.nofork) {
        (true, _) => Detach::Foreground,
        (false, true) => Detach::NoFork,
        (false, false) => Detach::Daemonize,
    };
    let _cleanup = pulse_sys::process::start_daemon(
        "lvsd",
        detach,
        opts.verbose,
        opts.pidfile.clone(),
        "/var/run/lvs.pid",
        &opts.control,
    )?;
    // Checks run on the workers; the daemon loop (and its blocking netlink calls) on this thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = rt.block_on(daemon::run(opts, loaded, parent));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    result
}
