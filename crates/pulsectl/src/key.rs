//! `pulsectl key`: the shared secret for authenticated heartbeats (lvs.cf `heartbeat_key`).

use crate::exit;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Write a new random key (256 bits as 64 hex digits) to FILE, mode 0600. Copy the same file
    /// to both directors and set `heartbeat_key = FILE` in lvs.cf.
    Generate {
        /// Where to write it, e.g. /etc/sysconfig/ha/heartbeat.key.
        file: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

pub(crate) fn run(cmd: KeyCommand) -> Result<u8> {
    match cmd {
        KeyCommand::Generate { file, force } => {
            let mut random = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut random))
                .context("cannot read /dev/urandom")?;
            let text: String = random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + "\n";
            if force {
                // A fresh file, so the mode is 0600 from the start.
                let _ = std::fs::remove_file(&file);
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .with_context(|| {
                    format!(
                        "cannot create {} (use --force to replace it)",
                        file.display()
                    )
                })?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "{}: new heartbeat key; copy it to the other director too",
                file.display()
            );
            Ok(exit::OK)
        }
    }
}
