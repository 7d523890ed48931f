//! `pulsectl server drain|disable|enable VIRTUAL SERVER`: maintenance of one real server.
//!
//! Persistent by default: the server's `active` in lvs.cf (0 for drain and disable, 1 for
//! enable) is written with a `serial_no` bump by the one writer (`config::edit_file`), installed
//! on the partner (`config push`) and reloaded on both — piranha's GUI did the same by hand,
//! one director at a time. `--runtime` changes only this director's running lvsd (through its
//! control socket; `pulse_lvs::Supervisor` decides), until lvsd restarts or `enable --runtime`.
//!
//! `drain` first sets the weight to 0 in the running lvsd (IPVS quiescing: new connections go
//! elsewhere, open ones finish) and waits until the kernel counts no active connection left on
//! the server, reporting it; only then is `active = 0` written. Run it on the active director:
//! the standby's table carries no client connections.

use crate::config::{self, WriteOpts};
use crate::exit;
use crate::push::PartnerOpts;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use pulse_control::{Admin, LvsStatus, Request, Response, ServerStatus};
use pulse_lvscf::edit::{self, Path as KeyPath};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Weight 0 (new connections go elsewhere, open ones finish); report when no active
    /// connection is left; then (unless --runtime) `active = 0` in lvs.cf, pushed and reloaded.
    Drain(Target),
    /// Out of the table now (unless --runtime: `active = 0` in lvs.cf, pushed and reloaded).
    Disable(Target),
    /// Back in the table once its checks pass (unless --runtime: `active = 1` in lvs.cf, pushed
    /// and reloaded).
    Enable(Target),
}

#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The `virtual` block's name.
    #[arg(value_name = "VIRTUAL")]
    virtual_name: String,
    /// The `server` block's name.
    server: String,
    /// Only this director's running lvsd; lvs.cf is not touched.
    #[arg(long)]
    runtime: bool,
    /// Do not install the edited lvs.cf on the partner (a single director, or the partner is
    /// down; `config push` it later).
    #[arg(long)]
    no_push: bool,
    /// lvs.cf.
    #[arg(long, env = "PULSE_CONFIG", default_value = "/etc/sysconfig/ha/lvs.cf")]
    file: PathBuf,
    /// lvsd's control socket.
    #[arg(long, env = "PULSE_LVSD_SOCKET", default_value = pulse_control::DEFAULT_LVSD_SOCKET)]
    lvsd_socket: PathBuf,
    /// How long `drain` waits for the server's active connections to end, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    #[command(flatten)]
    partner: PartnerOpts,
}

/// How long to wait for lvsd to answer.
const LVSD_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn run(cmd: ServerCommand) -> Result<u8> {
    let (t, admin) = match cmd {
        ServerCommand::Drain(t) => (t, Admin::Draining),
        ServerCommand::Disable(t) => (t, Admin::Disabled),
        ServerCommand::Enable(t) => (t, Admin::Enabled),
    };
    let who = format!("{} of {}", t.server, t.virtual_name);
    let lvsd_here = t.lvsd_socket.exists();
    if t.runtime || admin == Admin::Draining {
        if lvsd_here {
            let lvs = ask(&t.lvsd_socket, &t.virtual_name, &t.server, admin)?;
            eprintln!(
                "{who}: {admin} in the running lvsd{}",
                server(&lvs, &t.virtual_name, &t.server)
                    .map(|s| format!(" (kernel weight {})", weight(s)))
                    .unwrap_or_default()
            );
            if admin == Admin::Draining
                && !wait_drained(&t.lvsd_socket, &t, &who, Duration::from_secs(t.timeout))?
            {
                return Ok(exit::INVALID);
            }
        } else if t.runtime {
            bail!(
                "lvsd is not running here (no {}): nothing to change at runtime",
                t.lvsd_socket.display()
            );
        } else {
            eprintln!(
                "{who}: lvsd is not running here (no {}): no connections to wait for",
                t.lvsd_socket.display()
            );
        }
    }
    if t.runtime {
        return Ok(exit::OK);
    }
    let active = if admin == Admin::Enabled { "1" } else { "0" };
    let key = format!("virtual.{}.server.{}.active", t.virtual_name, t.server);
    let path = KeyPath::parse(&key)?;
    let opts = WriteOpts {
        no_bump: false,
        dry_run: false,
        push: !t.no_push,
        partner: t.partner.clone(),
    };
    let code = config::edit_file(
        &t.file,
        &opts,
        &format!("set {key} = {active}"),
        true,
        |doc| edit::set(doc, &path, active),
    )?;
    if code == exit::OK && admin == Admin::Enabled && lvsd_here {
        eprintln!("{who}: back in the table as soon as its checks pass");
    }
    Ok(code)
}

/// One runtime change through lvsd's control socket; lvsd's status after it.
fn ask(socket: &Path, virtual_name: &str, server: &str, admin: Admin) -> Result<LvsStatus> {
    let req = Request::Server {
        virtual_name: virtual_name.into(),
        server: server.into(),
        admin,
    };
    match pulse_control::call(socket, &req, LVSD_TIMEOUT)
        .with_context(|| format!("cannot reach lvsd at {}", socket.display()))?
    {
        Response::Lvs { lvs } => Ok(*lvs),
        Response::Error { message } => bail!("lvsd refused: {message}"),
        _ => bail!("{} did not answer like lvsd", socket.display()),
    }
}

fn server<'a>(lvs: &'a LvsStatus, virtual_name: &str, name: &str) -> Option<&'a ServerStatus> {
    lvs.services
        .iter()
        .find(|v| v.name == virtual_name)?
        .servers
        .iter()
        .find(|s| s.name == name)
}

fn weight(s: &ServerStatus) -> String {
    s.kernel_weight
        .map_or("none: not in the table".into(), |w| w.to_string())
}

/// Poll lvsd until the server has no active connection (reporting each change of the count);
/// `false` if `limit` passed first.
fn wait_drained(socket: &Path, t: &Target, who: &str, limit: Duration) -> Result<bool> {
    let start = Instant::now();
    let mut last = None;
    loop {
        let lvs = match pulse_control::call(socket, &Request::Lvs, LVSD_TIMEOUT)
            .with_context(|| format!("cannot reach lvsd at {}", socket.display()))?
        {
            Response::Lvs { lvs } => lvs,
            Response::Error { message } => bail!("lvsd: {message}"),
            _ => bail!("{} did not answer like lvsd", socket.display()),
        };
        let Some(s) = server(&lvs, &t.virtual_name, &t.server) else {
            bail!("{who} is no longer in lvsd's configuration");
        };
        if s.admin != Admin::Draining {
            bail!("{who} is {} now: someone changed it meanwhile", s.admin);
        }
        if s.active_conns == 0 {
            outln!(
                "{who}: drained: 0 active connections ({} inactive) after {:.1} s",
                s.inactive_conns,
                start.elapsed().as_secs_f64()
            );
            return Ok(true);
        }
        if last != Some(s.active_conns) {
            eprintln!("{who}: {} active connections left", s.active_conns);
            last = Some(s.active_conns);
        }
        if start.elapsed() > limit {
            eprintln!(
                "{who}: still {} active connections after {}s; it stays drained (weight 0) in lvsd, lvs.cf unchanged",
                s.active_conns,
                limit.as_secs()
            );
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
