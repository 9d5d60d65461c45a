//! `portcullis backup --to FILE` and `portcullis restore FILE` (see `crate::backup`).
//! Passphrases are read from a prompt or the first line of stdin, never from arguments.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::audit::{self, EventOutcome};
use crate::backup::{backup, read_archive, restore, BackupOptions, RestoreOptions};
use crate::config::Config;
use crate::domain::Actor;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The archive to write (it must not exist): database snapshot, policies,
    /// configuration, bundle, and a manifest of checksums.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Also archive the signing keys and the key-encryption key, encrypted under a
    /// passphrase (asked twice, or the first line of stdin). Without it no private key is
    /// in the archive, and a restore starts with a new signing key.
    #[arg(long)]
    pub include_keys: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The archive `portcullis backup` wrote.
    pub file: PathBuf,
    /// Replace a database, policy files or keys that exist (stop the servers first).
    #[arg(long)]
    pub force: bool,
    /// Where to write the archived configuration file (not written if it exists).
    #[arg(long, value_name = "FILE", default_value = "portcullis.toml")]
    pub config_to: PathBuf,
}

fn passphrase(twice: bool) -> anyhow::Result<SecretString> {
    let p = if std::io::stdin().is_terminal() {
        let first = SecretString::from(rpassword::prompt_password("Passphrase for the keys: ")?);
        if twice {
            let again = SecretString::from(rpassword::prompt_password("Repeat it: ")?);
            if first.expose_secret() != again.expose_secret() {
                anyhow::bail!("the two passphrases differ; nothing was written");
            }
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    if twice && p.expose_secret().chars().count() < 12 {
        anyhow::bail!("the passphrase must have at least 12 characters: it alone protects the signing keys in the archive");
    }
    Ok(p)
}

pub async fn run_backup(config: Config, actor: &Actor, args: BackupArgs) -> anyhow::Result<()> {
    let store = crate::store::Store::connect(&config.store.url).await?;
    // The keys directory as the server keeps it (bundle, JWKS), made if this is the first use.
    crate::token::KeyRing::open(
        store.clone(),
        crate::token::KeyFiles::in_dir(&config.keys.dir),
        &config.token,
    )
    .await?;
    let keys_passphrase = if args.include_keys {
        Some(passphrase(true)?)
    } else {
        None
    };
    let summary = backup(
        &config,
        &store,
        &BackupOptions {
            to: args.to.clone(),
            keys_passphrase,
        },
    )
    .await?;
    audit::event(&audit::Event {
        event: "backup_made",
        outcome: EventOutcome::Done,
        actor,
        target: &args.to.display().to_string(),
        detail: if args.include_keys {
            "with keys"
        } else {
            "without keys"
        },
    });
    for l in summary.lines {
        println!("{l}");
    }
    println!("wrote {}", args.to.display());
    Ok(())
}

pub async fn run_restore(config: Config, actor: &Actor, args: RestoreArgs) -> anyhow::Result<()> {
    let archive = read_archive(&args.file)?;
    let summary = restore(
        &config,
        &archive,
        &RestoreOptions {
            force: args.force,
            config_to: args.config_to,
        },
        || passphrase(false),
    )
    .await?;
    audit::event(&audit::Event {
        event: "backup_restored",
        outcome: EventOutcome::Done,
        actor,
        target: &args.file.display().to_string(),
        detail: if archive.keys_included() {
            "with keys"
        } else {
            "without keys"
        },
    });
    for l in summary.lines {
        println!("{l}");
    }
    println!("restored {}", args.file.display());
    Ok(())
}
