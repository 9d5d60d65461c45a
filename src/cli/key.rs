//! `portcullis key list | add | activate | retire`: rotating the key the registry trusts
//! with no failed pull (as /api/v1/keys). The README's "Rotating the signing key" gives the
//! order; `tests/key_rotation.rs` follows it with pulls running throughout.

use clap::Subcommand;

use crate::config::Config;
use crate::domain::Actor;
use crate::manage::{KeyImport, Keys};
use crate::token::{KeyState, RingKey};

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Every key: its state (next, active, retired), kids, age, and for a retired key when
    /// it can be dropped.
    List,
    /// Add a `next` key: published in the bundle and the JWKS, not signing. Give the
    /// registry the new bundle (restart it), check with `doctor --key next`, then activate.
    Add {
        /// Import this PKCS#8 PEM private key instead of generating one (with --cert-file).
        #[arg(long, value_name = "FILE", requires = "cert_file")]
        key_file: Option<std::path::PathBuf>,
        /// Its certificate chain, PEM, leaf first.
        #[arg(long, value_name = "FILE", requires = "key_file")]
        cert_file: Option<std::path::PathBuf>,
    },
    /// Make a `next` key the one that signs (every server within a second); the active one
    /// becomes retired, still published.
    Activate {
        /// The key's id (its libtrust kid), or a unique start of it.
        id: String,
    },
    /// Drop a retired (or next) key from the bundle and the JWKS. Refused while tokens it
    /// signed may still be valid (token.ttl + clock_skew + the registry's 60 s leeway).
    Retire {
        id: String,
        /// Drop it now anyway: pulls holding tokens it signed then fail.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(config: Config, actor: &Actor, cmd: KeyCommand) -> anyhow::Result<()> {
    let store = crate::store::Store::connect(&config.store.url).await?;
    let files = crate::token::KeyFiles::in_dir(&config.keys.dir);
    let ring = crate::token::KeyRing::open(store, files.clone(), &config.token).await?;
    let keys = Keys::new(ring.clone());
    match cmd {
        KeyCommand::List => {
            println!(
                "{:<8} {:<60} {:<17} {:<17} NOTE",
                "STATE", "ID (LIBTRUST KID)", "CREATED", "SIGNED FROM"
            );
            for k in keys.list().await? {
                println!(
                    "{:<8} {:<60} {:<17} {:<17} {}",
                    k.state.as_str(),
                    k.id(),
                    super::date(k.created_at),
                    k.activated_at.map(super::date).unwrap_or_default(),
                    note(&ring, &k)
                );
            }
        }
        KeyCommand::Add {
            key_file,
            cert_file,
        } => {
            let import = match (key_file, cert_file) {
                (Some(k), Some(c)) => Some(KeyImport {
                    key_pem: std::fs::read_to_string(&k)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", k.display()))?,
                    chain_pem: std::fs::read_to_string(&c)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", c.display()))?,
                }),
                _ => None,
            };
            let k = keys.add(actor, import).await?;
            println!("{}", k.id());
            eprintln!(
                "added next key {} (thumbprint {}); {} now holds {} keys.\nnext: give the registry this bundle (restart it), check with `portcullis doctor --registry URL --key next`, then `portcullis key activate {}`",
                k.id(),
                k.key.thumbprint,
                files.bundle.display(),
                ring.keys().len(),
                short(k.id())
            );
        }
        KeyCommand::Activate { id } => {
            let k = keys.activate(actor, &id).await?;
            println!("{}", k.id());
            eprintln!(
                "key {} signs now (every server within a second); the previous key stays published until {}: retire it then",
                k.id(),
                ring.keys()
                    .iter()
                    .filter(|r| r.state == KeyState::Retired)
                    .filter_map(|r| r.retired_at)
                    .max()
                    .map(|at| crate::timestamp::rfc3339(ring.safe_to_drop_at(at)))
                    .unwrap_or_default()
            );
        }
        KeyCommand::Retire { id, force } => {
            let k = keys.find(&id).await?;
            keys.retire(actor, &id, force).await?;
            eprintln!(
                "key {} dropped; {} holds {} keys: give it to the registry at its next restart",
                k.id(),
                files.bundle.display(),
                ring.keys().len()
            );
        }
    }
    Ok(())
}

/// The first two groups of an id: enough to name it on a command line.
fn short(id: &str) -> &str {
    id.get(..9).unwrap_or(id)
}

fn note(ring: &crate::token::KeyRing, k: &RingKey) -> String {
    match (k.state, k.retired_at) {
        (KeyState::Retired, Some(at)) => {
            let safe = ring.safe_to_drop_at(at);
            if crate::store::now() >= safe {
                "nothing it signed is valid: retire it".into()
            } else {
                format!("retire after {}", crate::timestamp::rfc3339(safe))
            }
        }
        (KeyState::Next, _) => "published; activate once the registry has the bundle".into(),
        (KeyState::Active, _) => "signs".into(),
        _ => String::new(),
    }
}
