//! `pulsectl config push|receive`: one lvs.cf for the pair.
//!
//! piranha left the copy to the administrator (two files of our corpus show it: `serial_no = 31`
//! on the master, 30 on the slave). `push` sends the local file to the partner over the
//! operator's existing trust — lvs.cf's `rsh_command` (`ssh` unless the file sets one), the
//! command piranha's lvsd already used to reach other hosts — and runs `pulsectl config receive`
//! there, the file on its stdin. No new listening socket.
//!
//! `receive` is the partner's half: it validates the file *as that director would load it*
//! (diagnostics, and its part in the pair from its own addresses), refuses a file older than
//! its own (`serial_no` lower, or equal with other bytes) unless `--force`, writes it with the
//! one writer of `pulsectl config set` (`safe_write::LockedFile`), and has its pulse reload
//! (which reloads lvsd), waiting until pulse reports the new serial and digest.
//!
//! The remote command line is one string run by the partner's shell, as `ssh` does; every
//! argument is quoted. Tests use an `rsh_command` that runs that string in the partner's
//! network namespace (`sh -c` under `ip netns exec`): the seam is the command, not a mock.

use crate::exit;
use crate::safe_write::LockedFile;
use anyhow::{Context, Result, bail};
use clap::Args;
use pulse_control::{Request, Response};
use pulse_lvscf::edit::{self, Got, Path as KeyPath};
use pulse_lvscf::{LvsConfig, Parsed};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the partner may take (ssh's connection, the partner's validation, write and reload).
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long pulse may take to have the new file in use after a reload request.
const RELOAD_WAIT: Duration = Duration::from_secs(30);
/// The most of the partner's output kept (it is shown to the operator).
const MAX_OUTPUT: u64 = 1 << 20;

/// Where and how to reach the partner, and the local pulse to reload.
#[derive(Debug, Clone, Args)]
pub(crate) struct PartnerOpts {
    /// Overwrite the partner's file even if its `serial_no` is newer (or equal with other content).
    #[arg(long)]
    pub(crate) force: bool,
    /// The partner's address (default: the other of `primary`/`backup` in lvs.cf).
    #[arg(long, value_name = "HOST")]
    pub(crate) to: Option<String>,
    /// The file on the partner (default: the same path as here).
    #[arg(long, value_name = "PATH", env = "PULSE_REMOTE_FILE")]
    pub(crate) remote_file: Option<PathBuf>,
    /// pulse's control socket on the partner.
    #[arg(long, value_name = "PATH", env = "PULSE_REMOTE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
    pub(crate) remote_socket: PathBuf,
    /// pulse's control socket here (reloaded after an edit with `--push`).
    #[arg(long, value_name = "PATH", env = "PULSE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
    pub(crate) socket: PathBuf,
}

impl Default for PartnerOpts {
    fn default() -> Self {
        Self {
            force: false,
            to: None,
            remote_file: None,
            remote_socket: pulse_control::DEFAULT_SOCKET.into(),
            socket: pulse_control::DEFAULT_SOCKET.into(),
        }
    }
}

/// Where a push goes: `--to`; else, with `ecmp = 1`, every other `ecmp_director` of the group
/// (in file order: one lvs.cf for the whole group, docs/ecmp.md); else the partner.
fn destinations(cfg: &LvsConfig, opts: &PartnerOpts) -> Result<Vec<String>> {
    if let Some(h) = &opts.to {
        return Ok(vec![h.clone()]);
    }
    if cfg.ecmp && !cfg.ecmp_directors.is_empty() {
        let local = pulse_sys::resolve::local_addresses();
        let mut others = Vec::new();
        for h in &cfg.ecmp_directors {
            let ip = pulse_sys::resolve::resolve(h)
                .with_context(|| format!("cannot resolve ecmp_director {h}"))?;
            if !local.contains(&ip) && !others.contains(&ip.to_string()) {
                others.push(ip.to_string());
            }
        }
        if others.is_empty() {
            bail!("lvs.cf names no other ecmp_director than this host");
        }
        return Ok(others);
    }
    partner_host(cfg).map(|h| vec![h])
}

/// The partner's address: the other end of the first heartbeat link, as pulse plans it.
fn partner_host(cfg: &LvsConfig) -> Result<String> {
    let plan = pulse_director::plan(
        cfg,
        &pulse_sys::resolve::local_addresses(),
        pulse_sys::resolve::resolve,
    )
    .context("cannot tell which director this is (use --to HOST)")?;
    match plan.links.first() {
        Some(l) => Ok(l.peer.ip().to_string()),
        None => bail!("lvs.cf names no partner (no `backup`, or `backup_active = 0`)"),
    }
}

/// The transport: lvs.cf's `rsh_command` if the file sets it, else `ssh` (piranha's default
/// `rsh` is not assumed: few hosts still run rshd, and ssh is the trust operators have).
fn rsh(parsed: &Parsed) -> Vec<String> {
    let key = KeyPath {
        blocks: Vec::new(),
        key: Some("rsh_command".into()),
    };
    match edit::get(&parsed.doc, &key) {
        Ok(Got::Value(_)) => {
            let words: Vec<String> = parsed
                .config
                .rsh_command
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if words.is_empty() {
                vec!["ssh".into()]
            } else {
                words
            }
        }
        _ => vec!["ssh".into()],
    }
}

/// One word for a POSIX shell.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a push did.
#[derive(Debug)]
pub(crate) struct Pushed {
    /// The directors that have the file now (and reloaded), in the order they got it.
    pub(crate) accepted: Vec<String>,
    /// The director that refused it (its reasons are on stderr); the rest were not tried.
    pub(crate) refused: Option<String>,
    /// How many directors it was for (1: the partner of a pair).
    pub(crate) planned: usize,
}

impl Pushed {
    /// What the refusal left, for the operator: `nothing changed on any director`, or who has
    /// the new file already.
    pub(crate) fn left(&self) -> String {
        if self.accepted.is_empty() && self.planned == 1 {
            "nothing changed on either director".into()
        } else if self.accepted.is_empty() {
            "nothing changed on any director".into()
        } else {
            format!(
                "{} took it already (push again once the refusal is fixed)",
                self.accepted.join(", ")
            )
        }
    }
}

/// Send `bytes` (the file being installed; `local` names it in messages) to the partner named
/// by `via` (the configuration in use here), or with `ecmp = 1` to every other director of the
/// group, one after the other: a refusal stops there (so an edit is written here only when
/// every director took it). An error (a director unreachable) names who took it before.
pub(crate) fn send(bytes: &[u8], local: &Path, via: &Parsed, opts: &PartnerOpts) -> Result<Pushed> {
    let hosts = destinations(&via.config, opts)?;
    let mut pushed = Pushed {
        accepted: Vec::new(),
        refused: None,
        planned: hosts.len(),
    };
    for host in hosts {
        let took = send_to(&host, bytes, local, via, opts).with_context(|| {
            if pushed.accepted.is_empty() {
                String::new()
            } else {
                format!("{} took the file already", pushed.accepted.join(", "))
            }
        })?;
        if took {
            pushed.accepted.push(host);
        } else {
            pushed.refused = Some(host);
            break;
        }
    }
    Ok(pushed)
}

/// One director's half of [`send`]: `Ok(true)` it has the file and reloaded, `Ok(false)` it
/// refused it.
fn send_to(
    host: &str,
    bytes: &[u8],
    local: &Path,
    via: &Parsed,
    opts: &PartnerOpts,
) -> Result<bool> {
    let remote_file = opts.remote_file.as_deref().unwrap_or(local);
    let mut remote = vec![
        "pulsectl".to_string(),
        "config".into(),
        "receive".into(),
        "--socket".into(),
        opts.remote_socket.display().to_string(),
    ];
    if opts.force {
        remote.push("--force".into());
    }
    remote.push(remote_file.display().to_string());
    let line = remote
        .iter()
        .map(|w| quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let rsh = rsh(via);
    let mut child = Command::new(&rsh[0])
        .args(&rsh[1..])
        .arg(host)
        .arg(&line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{}` to reach the partner", rsh.join(" ")))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let bytes = bytes.to_vec();
    // The writer and readers run beside the wait so neither side can block the other on a full pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_OUTPUT).read_to_end(&mut out);
            }
            out
        })
    };
    let out = reader(child.stdout.take().map(|s| Box::new(s) as _));
    let err = reader(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + PUSH_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the partner {host} did not answer within {}s (`{} {host} …`)",
                PUSH_TIMEOUT.as_secs(),
                rsh.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let said = [
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ];
    for line in said.iter().flat_map(|b| {
        String::from_utf8_lossy(b)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    }) {
        eprintln!("partner {host}: {line}");
    }
    match status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => bail!(
            "`{} {host} {line}` failed ({status}); the partner's file is unchanged unless it said otherwise above",
            rsh.join(" ")
        ),
    }
}

/// `pulsectl config push`: send this director's file to the partner; nothing changes here.
pub(crate) fn push(file: &Path, opts: &PartnerOpts) -> Result<u8> {
    let name = file.display().to_string();
    // Held while sending, so no edit here races the copy.
    let locked = LockedFile::open(file)?;
    let loaded = pulse_lvscf::Loaded::from_bytes(&locked.content);
    if !loaded.parsed.is_valid() {
        crate::config::print_diagnostics(&name, &loaded.src, &loaded.parsed.diagnostics);
        eprintln!("{name}: invalid; not pushed");
        return Ok(exit::INVALID);
    }
    let pushed = send(&locked.content, file, &loaded.parsed, opts)?;
    match &pushed.refused {
        None => {
            eprintln!(
                "{name}: pushed to {} (serial_no {})",
                pushed.accepted.join(", "),
                loaded.parsed.config.serial_no
            );
            Ok(exit::OK)
        }
        Some(host) => {
            eprintln!("{name}: {host} refused it; {}", pushed.left());
            Ok(exit::INVALID)
        }
    }
}

/// `pulsectl config receive FILE`: the partner's half of a push, the file on stdin.
pub(crate) fn receive(file: &Path, force: bool, socket: &Path) -> Result<u8> {
    let name = file.display().to_string();
    let bytes = pulse_lvscf::source::read(Path::new("<pushed lvs.cf>"), Ok(std::io::stdin()))?;
    let new = pulse_lvscf::Loaded::from_bytes(&bytes);
    if !new.parsed.is_valid() {
        crate::config::print_diagnostics("pushed lvs.cf", &new.src, &new.parsed.diagnostics);
        eprintln!("{name}: refused: the pushed file is invalid; nothing written");
        return Ok(exit::INVALID);
    }
    // Valid text is not enough: this director must find its own part in it, as pulse will.
    if let Err(e) = pulse_director::plan(
        &new.parsed.config,
        &pulse_sys::resolve::local_addresses(),
        pulse_sys::resolve::resolve,
    ) {
        eprintln!(
            "{name}: refused: pulse here could not run with the pushed file: {e:#}; nothing written"
        );
        return Ok(exit::INVALID);
    }
    let locked = LockedFile::open(file)?;
    let ours = pulse_lvscf::Loaded::from_bytes(&locked.content);
    let (theirs_no, ours_no) = (new.parsed.config.serial_no, ours.parsed.config.serial_no);
    if locked.content == bytes {
        eprintln!("{name}: already this file (serial_no {ours_no}); nothing to do");
        return Ok(exit::OK);
    }
    if !force && ours.parsed.is_valid() {
        if theirs_no < ours_no {
            eprintln!(
                "{name}: refused: the pushed serial_no {theirs_no} is older than this director's {ours_no}; \
                 nothing written (push from the newer director, or --force)"
            );
            return Ok(exit::INVALID);
        }
        if theirs_no == ours_no {
            eprintln!(
                "{name}: refused: the pushed file has this director's serial_no {ours_no} but other content; \
                 nothing written (bump serial_no with `pulsectl config bump`, or --force)"
            );
            return Ok(exit::INVALID);
        }
    }
    locked.replace(&bytes)?;
    eprintln!("{name}: written (serial_no {ours_no} -> {theirs_no})");
    reload(socket, &new.parsed.config)
}

/// Ask pulse to reload and wait until it reports `cfg`'s serial and digest.
pub(crate) fn reload(socket: &Path, cfg: &LvsConfig) -> Result<u8> {
    if !socket.exists() {
        eprintln!(
            "pulse is not running here (no {}): nothing to reload",
            socket.display()
        );
        return Ok(exit::OK);
    }
    let call = |req: &Request| {
        pulse_control::call(socket, req, Duration::from_secs(5))
            .with_context(|| format!("cannot reach pulse at {}", socket.display()))
    };
    match call(&Request::Reload)? {
        Response::Ok { .. } => {}
        Response::Error { message } => bail!("pulse refused the reload: {message}"),
        _ => bail!("{} did not answer like pulse", socket.display()),
    }
    let want = (cfg.serial_no, pulse_control::hex(&cfg.digest()));
    let start = Instant::now();
    loop {
        if let Response::Ok { status } = call(&Request::Status)?
            && (status.config.serial_no, &status.config.digest) == (want.0, &want.1)
        {
            eprintln!(
                "pulse reloaded: serial_no {} digest {} in use",
                want.0, want.1
            );
            return Ok(exit::OK);
        }
        if start.elapsed() > RELOAD_WAIT {
            bail!(
                "pulse did not take the new file within {}s (see its log: a file it cannot use is refused and the old one kept)",
                RELOAD_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
