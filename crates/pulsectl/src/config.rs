//! `pulsectl config`: check, get, set, add, rm, bump and diff lvs.cf.

use crate::exit;
use crate::push::{self, PartnerOpts};
use crate::safe_write::LockedFile;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use pulse_lvscf::diff::{Change, diff};
use pulse_lvscf::edit::{self, EditError, Got, Path as KeyPath};
use pulse_lvscf::syntax::BlockKind;
use pulse_lvscf::{Diagnostics, Document, Parsed};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// piranha's (and Pulse's) configuration file.
const DEFAULT_CONFIG: &str = "/etc/sysconfig/ha/lvs.cf";

/// Text output shows at most this many diagnostics (JSON shows all).
const MAX_SHOWN: usize = 20;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a file: exit 0 if valid (warnings on stderr), 1 if it has errors.
    Check {
        /// The file to check.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
        /// Output format for diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Treat everything piranha 0.8.6 would not read the same way as an error, so the file
        /// can be copied to a piranha node.
        #[arg(long)]
        piranha: bool,
    },
    /// Print the whole configuration as Pulse reads it, every default filled in, as JSON.
    Show {
        /// The file to read.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
    /// Print a value (or piranha's default if unset) or a whole block.
    Get {
        /// The file to read.
        file: PathBuf,
        /// Dotted path: `keepalive`, `virtual.NAME.port`, `virtual.NAME.server.SNAME.weight`, `virtual.NAME`.
        key: String,
    },
    /// Set a value; only that line and `serial_no` change.
    Set {
        /// The file to edit.
        file: PathBuf,
        /// Dotted path of the key.
        key: String,
        /// The new value (written verbatim; quoted where lvs.cf needs it).
        value: String,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Add a block: `add FILE virtual NAME`, `add FILE virtual.NAME.server SNAME`, `add FILE failover NAME`.
    Add {
        /// The file to edit.
        file: PathBuf,
        /// `virtual`, `failover`, `virtual.NAME.server` or `failover.NAME.server`.
        kind: String,
        /// The new block's name.
        name: String,
        /// Initial settings for the new block, as KEY=VALUE.
        settings: Vec<String>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Remove a key (so its default applies) or a whole block.
    Rm {
        /// The file to edit.
        file: PathBuf,
        /// Dotted path of the key or block.
        key: String,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Increase `serial_no` by one (insert `serial_no = 1` if absent) and change nothing else.
    Bump {
        /// The file to edit.
        file: PathBuf,
        /// Print a unified diff instead of writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List every lvs.cf keyword: name, scope, default, piranha's or a Pulse extension, one
    /// line of help (for tools such as the web console's forms; lvs.cf(5) explains each).
    Keywords {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Send this director's file to the partner (over lvs.cf's `rsh_command`, default `ssh`),
    /// which validates it, refuses it if its own `serial_no` is newer (or equal with other
    /// content) unless `--force`, writes it atomically and reloads. Nothing changes here.
    Push {
        /// The file to send.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
        #[command(flatten)]
        partner: PartnerOpts,
    },
    /// The partner's half of `push` (run by it over `rsh_command`): read a file on stdin,
    /// validate it for this director, refuse an older one, write it atomically, reload pulse.
    Receive {
        /// The file to replace.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
        /// Accept the file even if ours has a newer (or equal) `serial_no`.
        #[arg(long)]
        force: bool,
        /// pulse's control socket (asked to reload).
        #[arg(long, env = "PULSE_SOCKET", default_value = pulse_control::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Show what a reload from OLD to NEW would change, ignoring comments and formatting.
    /// Exit 0 if nothing, 1 if something would change.
    Diff {
        /// The file in use.
        old: PathBuf,
        /// The candidate.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct WriteOpts {
    /// Do not bump `serial_no`.
    #[arg(long)]
    pub(crate) no_bump: bool,
    /// Print a unified diff instead of writing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Also install the edited file on the partner (`config push`), then reload both: the
    /// file here is written only if the partner accepted it.
    #[arg(long)]
    pub(crate) push: bool,
    #[command(flatten)]
    pub(crate) partner: PartnerOpts,
}

pub(crate) fn run(cmd: ConfigCommand) -> Result<u8> {
    match cmd {
        ConfigCommand::Check {
            file,
            format,
            piranha,
        } => check(&file, format, piranha),
        ConfigCommand::Show { file } => show(&file),
        ConfigCommand::Get { file, key } => get(&file, &key),
        ConfigCommand::Set {
            file,
            key,
            value,
            write,
        } => {
            let path = KeyPath::parse(&key)?;
            let what = format!("set {key} = {value}");
            // Setting `serial_no` is the serial change itself; bumping it again would write a
            // number the operator did not ask for.
            let write = WriteOpts {
                no_bump: write.no_bump || (path.blocks.is_empty() && key == "serial_no"),
                ..write
            };
            edit_file(&file, &write, &what, false, |doc| {
                edit::set(doc, &path, &value)
            })
        }
        ConfigCommand::Add {
            file,
            kind,
            name,
            settings,
            write,
        } => {
            let (parent, kind) = collection(&kind)?;
            let what = format!("added `{} {name}`", kind.keyword());
            edit_file(&file, &write, &what, false, |doc| {
                add_with_settings(doc, &parent, kind, &name, &settings)
            })
        }
        ConfigCommand::Rm { file, key, write } => {
            let path = KeyPath::parse(&key)?;
            edit_file(&file, &write, &format!("removed {key}"), false, |doc| {
                edit::remove(doc, &path)
            })
        }
        ConfigCommand::Bump { file, dry_run } => {
            // The bump is the edit itself; don't bump twice.
            let opts = WriteOpts {
                no_bump: true,
                dry_run,
                push: false,
                partner: PartnerOpts::default(),
            };
            edit_file(&file, &opts, "bumped serial_no", false, edit::bump_serial)
        }
        ConfigCommand::Diff { old, new, format } => diff_files(&old, &new, format),
        ConfigCommand::Keywords { format } => keywords(format),
        ConfigCommand::Push { file, partner } => push::push(&file, &partner),
        ConfigCommand::Receive {
            file,
            force,
            socket,
        } => push::receive(&file, force, &socket),
    }
}

/// Read and parse a file (no lock: for read-only commands).
fn load(path: &Path) -> Result<(String, Parsed)> {
    let loaded = pulse_lvscf::source::load(path, std::fs::File::open(path))?;
    Ok((loaded.src, loaded.parsed))
}

pub(crate) fn print_diagnostics(name: &str, src: &str, diags: &Diagnostics) {
    for d in diags.iter().take(MAX_SHOWN) {
        eprint!("{}", d.render(name, src));
    }
    if diags.0.len() > MAX_SHOWN {
        eprintln!(
            "... and {} more (use --format json to see all)",
            diags.0.len() - MAX_SHOWN
        );
    }
}

fn counts(diags: &Diagnostics) -> (usize, usize) {
    let errors = diags.error_count();
    (errors, diags.0.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

#[derive(Serialize)]
struct CheckReport<'a> {
    file: String,
    valid: bool,
    errors: usize,
    warnings: usize,
    serial_no: Option<i64>,
    diagnostics: &'a Diagnostics,
}

fn check(file: &Path, format: Format, piranha: bool) -> Result<u8> {
    let (src, mut parsed) = load(file)?;
    if piranha {
        parsed.diagnostics.promote_for_piranha();
    }
    let name = file.display().to_string();
    let (errors, warnings) = counts(&parsed.diagnostics);
    let valid = errors == 0;
    match format {
        Format::Json => {
            let report = CheckReport {
                file: name,
                valid,
                errors,
                warnings,
                serial_no: valid.then_some(parsed.config.serial_no),
                diagnostics: &parsed.diagnostics,
            };
            outln!("{}", serde_json::to_string_pretty(&report)?);
        }
        Format::Text => {
            print_diagnostics(&name, &src, &parsed.diagnostics);
            if valid && parsed.config.service == pulse_lvscf::model::ServiceMode::Fos {
                let c = &parsed.config;
                outln!(
                    "{name}: valid: serial_no {}, service = fos, {} of {} failover services active, {}",
                    c.serial_no,
                    c.failovers.iter().filter(|f| f.active).count(),
                    c.failovers.len(),
                    plural(warnings, "warning"),
                );
            } else if valid {
                let c = &parsed.config;
                let servers: Vec<_> = c.virtuals.iter().flat_map(|v| &v.servers).collect();
                outln!(
                    "{name}: valid: serial_no {}, {} of {} virtual services active, {} of {} real servers active, {}",
                    c.serial_no,
                    c.virtuals.iter().filter(|v| v.active).count(),
                    c.virtuals.len(),
                    servers.iter().filter(|s| s.active).count(),
                    servers.len(),
                    plural(warnings, "warning"),
                );
            } else {
                eprintln!(
                    "{name}: invalid: {}, {}",
                    plural(errors, "error"),
                    plural(warnings, "warning")
                );
            }
        }
    }
    Ok(if valid { exit::OK } else { exit::INVALID })
}

fn show(file: &Path) -> Result<u8> {
    let (src, parsed) = load(file)?;
    if !parsed.is_valid() {
        print_diagnostics(&file.display().to_string(), &src, &parsed.diagnostics);
        return Ok(exit::INVALID);
    }
    outln!("{}", serde_json::to_string_pretty(&parsed.config)?);
    Ok(exit::OK)
}

fn get(file: &Path, key: &str) -> Result<u8> {
    let path = KeyPath::parse(key)?;
    let (_, parsed) = load(file)?;
    match edit::get(&parsed.doc, &path)? {
        Got::Value(v) => outln!("{v}"),
        Got::Default(d) => {
            outln!("{d}");
            eprintln!(
                "note: {key} is not set in {}; this is the default",
                file.display()
            );
        }
        Got::Block(text) => out!("{text}"),
    }
    Ok(exit::OK)
}

/// `virtual` → top level; `virtual.NAME.server` → inside that block.
fn collection(s: &str) -> Result<(Vec<(BlockKind, String)>, BlockKind)> {
    match s {
        "virtual" => Ok((Vec::new(), BlockKind::Virtual)),
        "failover" => Ok((Vec::new(), BlockKind::Failover)),
        _ => {
            let parent = s
                .strip_suffix(".server")
                .map(KeyPath::parse)
                .transpose()?
                .filter(|p| p.blocks.len() == 1 && p.key.is_none())
                .with_context(|| {
                    format!(
                        "cannot add to `{s}`: use `virtual`, `failover` or `virtual.NAME.server`"
                    )
                })?;
            Ok((parent.blocks, BlockKind::Server))
        }
    }
}

/// Add a block and apply `KEY=VALUE` settings inside it, as one edit.
fn add_with_settings(
    doc: &Document,
    parent: &[(BlockKind, String)],
    kind: BlockKind,
    name: &str,
    settings: &[String],
) -> Result<String, EditError> {
    let mut src = edit::add_block(doc, parent, kind, name)?;
    let mut blocks = parent.to_vec();
    blocks.push((kind, name.to_string()));
    for s in settings {
        let (k, v) = s.split_once('=').ok_or_else(|| EditError::BadPath {
            path: s.clone(),
            why: "settings are KEY=VALUE".into(),
        })?;
        let doc = Document::parse(&src, &mut Diagnostics::default());
        let path = KeyPath {
            blocks: blocks.clone(),
            key: Some(k.trim().to_string()),
        };
        src = edit::set(&doc, &path, v.trim())?;
    }
    Ok(src)
}

/// Lock, read, edit, bump, validate, then write atomically (or print the diff); with
/// `opts.push` the partner gets the file first, and with `reload` (or `push`) the local pulse
/// reloads it.
pub(crate) fn edit_file(
    file: &Path,
    opts: &WriteOpts,
    what: &str,
    reload: bool,
    change: impl FnOnce(&Document) -> Result<String, EditError>,
) -> Result<u8> {
    let name = file.display().to_string();
    let locked = LockedFile::open(file)?;
    // Bytes that are not UTF-8 (a Latin-1 comment) are carried through the edit and written
    // back as they were (`pulse_lvscf::decode`/`encode`).
    let pulse_lvscf::Loaded {
        src: old_src,
        parsed: before,
    } = pulse_lvscf::Loaded::from_bytes(&locked.content);
    let mut new_src = change(&before.doc).with_context(|| format!("cannot edit {name}"))?;
    if new_src == old_src {
        eprintln!("{name}: no change");
        return Ok(exit::OK);
    }
    if !opts.no_bump {
        let doc = Document::parse(&new_src, &mut Diagnostics::default());
        new_src =
            edit::bump_serial(&doc).with_context(|| format!("cannot bump serial_no in {name}"))?;
    }
    let after = pulse_lvscf::parse(&new_src);
    // An edit may not make the file worse: a valid file stays valid; a broken one may be
    // repaired step by step.
    if after.diagnostics.error_count() > before.diagnostics.error_count()
        || (before.is_valid() && !after.is_valid())
    {
        let errors = Diagnostics(
            after
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect(),
        );
        print_diagnostics(&format!("{name} (after the edit)"), &new_src, &errors);
        eprintln!("{name}: not changed: the edit would make it invalid");
        return Ok(exit::INVALID);
    }
    if opts.dry_run {
        let patch = similar::TextDiff::from_lines(&old_src, &new_src);
        out!(
            "{}",
            patch.unified_diff().context_radius(3).header(&name, &name)
        );
        // What a reload would do with it (`config diff`), on stderr: stdout stays a patch.
        if before.is_valid() {
            let changes = diff(&before.config, &after.config);
            eprintln!("{name}: what a reload would change:");
            for line in change_lines(&changes) {
                eprintln!("  {line}");
            }
            if changes.is_empty() {
                eprintln!("  nothing (comments or formatting only)");
            }
        }
        return Ok(exit::OK);
    }
    let new_bytes = pulse_lvscf::encode(&new_src);
    if opts.push {
        // The partner first: if it refuses, neither file changes. Its address and the
        // transport come from the file in use (a broken one: from the edited file).
        let via = if before.is_valid() { &before } else { &after };
        let pushed = push::send(&new_bytes, file, via, &opts.partner)?;
        if let Some(host) = &pushed.refused {
            eprintln!(
                "{name}: not changed: {host} refused the edited file; {}",
                pushed.left()
            );
            return Ok(exit::INVALID);
        }
    }
    locked.replace(&new_bytes)?;
    let serial = if before.config.serial_no == after.config.serial_no {
        String::new()
    } else {
        format!(
            " (serial_no {} -> {})",
            before.config.serial_no, after.config.serial_no
        )
    };
    eprintln!("{name}: {what}{serial}");
    if opts.push {
        eprintln!("{name}: the same file is on every director it was pushed to");
    }
    if opts.push || reload {
        return push::reload(&opts.partner.socket, &after.config);
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct KeywordRow {
    name: &'static str,
    scope: &'static str,
    default: String,
    value: &'static str,
    origin: &'static str,
    ignored: bool,
    help: &'static str,
}

/// `config keywords`: the keyword table, the one list the parser and the man page use.
fn keywords(format: Format) -> Result<u8> {
    use pulse_lvscf::keywords::{Form, KEYWORDS, Scope};
    let rows: Vec<KeywordRow> = KEYWORDS
        .iter()
        .map(|k| KeywordRow {
            name: k.name,
            scope: match k.scope {
                Scope::Global => "global",
                Scope::Virtual => "virtual",
                Scope::Server => "server",
            },
            default: k.default().into_owned(),
            value: match k.form {
                Form::Word => "one word",
                Form::Quoted => "a double-quoted string",
                Form::TwoWords => "address and device",
                Form::List => "a [ list ]",
            },
            origin: if k.piranha {
                "piranha"
            } else {
                "Pulse extension"
            },
            ignored: k.ignored,
            help: k.help,
        })
        .collect();
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Text => {
            for r in &rows {
                outln!(
                    "{:<8} {:<28} default {:<20} {}{}: {}",
                    r.scope,
                    r.name,
                    if r.default.is_empty() {
                        "(none)"
                    } else {
                        &r.default
                    },
                    r.origin,
                    if r.ignored { ", read by nobody" } else { "" },
                    r.help
                );
            }
        }
    }
    Ok(exit::OK)
}

/// `config diff`'s text lines: `+ added (value)`, `- removed (value)`, `~ path: old -> new`.
fn change_lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match (&c.old, &c.new) {
            (None, Some(n)) => Some(format!("+ {} ({n})", c.path)),
            (Some(o), None) => Some(format!("- {} ({o})", c.path)),
            (Some(o), Some(n)) => Some(format!("~ {}: {o} -> {n}", c.path)),
            (None, None) => None,
        })
        .collect()
}

#[derive(Serialize)]
struct DiffReport<'a> {
    old: String,
    new: String,
    changes: &'a [Change],
}

fn diff_files(old: &Path, new: &Path, format: Format) -> Result<u8> {
    let mut models = Vec::new();
    for f in [old, new] {
        let (src, parsed) = load(f)?;
        if !parsed.is_valid() {
            print_diagnostics(&f.display().to_string(), &src, &parsed.diagnostics);
            eprintln!("{}: invalid; fix it before comparing", f.display());
            return Ok(exit::TROUBLE);
        }
        models.push(parsed.config);
    }
    let changes = diff(&models[0], &models[1]);
    match format {
        Format::Json => {
            let r = DiffReport {
                old: old.display().to_string(),
                new: new.display().to_string(),
                changes: &changes,
            };
            outln!("{}", serde_json::to_string_pretty(&r)?);
        }
        Format::Text => {
            for line in change_lines(&changes) {
                outln!("{line}");
            }
            if changes.is_empty() {
                eprintln!("no differences");
            }
        }
    }
    Ok(if changes.is_empty() {
        exit::OK
    } else {
        exit::DIFFERENT
    })
}
