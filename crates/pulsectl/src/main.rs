//! `pulsectl`: the operator's tool for a Pulse director pair.
//!
//! `pulsectl config …` reads, checks, edits and compares lvs.cf. Later subcommands (status,
//! takeover, release, key) talk to the running `pulse`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `print!` that reports a closed stdout (`pulsectl … | head`) as an error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).context("cannot write to stdout")?;
    }};
}

/// `println!` without the panic on a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).context("cannot write to stdout")?;
    }};
}

mod config;
mod daemon;
mod key;
mod push;
mod safe_write;
mod server;

/// Exit codes shared by every subcommand.
pub(crate) mod exit {
    /// Success (for `config diff`: no differences).
    pub(crate) const OK: u8 = 0;
    /// The configuration is invalid, or an edit was refused (for `config diff`: differences).
    pub(crate) const INVALID: u8 = 1;
    /// `config diff`: the files differ.
    pub(crate) const DIFFERENT: u8 = 1;
    /// Could not run: bad arguments, unreadable file, I/O error.
    pub(crate) const TROUBLE: u8 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "pulsectl",
    version,
    about = "Operate a Pulse (piranha-compatible) LVS director pair"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, read, edit and compare lvs.cf (every edit bumps `serial_no`).
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Show the running pulse's state (role, partner per link, VIPs, counters, lvs.cf serials)
    /// and, where lvsd runs, every virtual service and real server (health, weights, connections).
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = daemon::Format::Text)]
        format: daemon::Format,
        /// pulse's control socket.
        #[arg(long, env = "PULSE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
        /// lvsd's control socket.
        #[arg(long, env = "PULSE_LVSD_SOCKET", default_value = pulse_control::DEFAULT_LVSD_SOCKET)]
        lvsd_socket: std::path::PathBuf,
        /// With `--format json-compact`: only lvsd's first N virtual services (the total in
        /// `lvs.services_total`), for a first screenful (the web console reads them first, then
        /// the whole table).
        #[arg(long, value_name = "N")]
        first: Option<usize>,
    },
    /// Make this director active now (planned switchover).
    Takeover {
        /// pulse's control socket.
        #[arg(long, env = "PULSE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
    },
    /// Hand the service to the partner (planned switchover).
    Release {
        /// pulse's control socket.
        #[arg(long, env = "PULSE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
    },
    /// Maintenance of a real server: drain, disable, enable (persistent in lvs.cf, pushed to the
    /// partner, unless --runtime).
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Manage the heartbeat key.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(c) => config::run(c),
        Command::Key(c) => key::run(c),
        Command::Server(c) => server::run(c),
        Command::Status {
            format,
            socket,
            lvsd_socket,
            first,
        } => daemon::status(&socket, &lvsd_socket, format, first),
        Command::Takeover { socket } => daemon::run(
            &socket,
            pulse_control::Request::Takeover,
            daemon::Format::Text,
        ),
        Command::Release { socket } => daemon::run(
            &socket,
            pulse_control::Request::Release,
            daemon::Format::Text,
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`pulsectl config get … | head -1`): nothing left to say.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            eprintln!("pulsectl: error: {e:#}");
            ExitCode::from(exit::TROUBLE)
        }
    }
}
