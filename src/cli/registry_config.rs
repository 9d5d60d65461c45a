//! `portcullis registry-config`: exactly what to paste into the registry's config.yml.

use clap::ValueEnum;

use crate::config::{Config, KidFormat};
use crate::token::{KeyFiles, KeyRing};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also write keys.dir/jwks.json and name it (distribution 3.x `auth.token.jwks`).
    #[arg(long)]
    pub jwks: bool,
    /// `yaml` for config.yml, or `env` for REGISTRY_AUTH_TOKEN_* variables.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Yaml,
    Env,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let files = KeyFiles::in_dir(&config.keys.dir);
    let store = crate::store::Store::connect(&config.store.url).await?;
    // Makes the first key on first use, so the registry can be configured before the first
    // start; writes the bundle and the JWKS with every published key.
    let ring = KeyRing::open(store, files.clone(), &config.token).await?;
    let key = ring.active().key;
    let published = ring.keys().len();
    let bundle = std::fs::canonicalize(&files.bundle)?;
    let jwks = if args.jwks {
        Some(std::fs::canonicalize(&files.jwks)?)
    } else {
        None
    };
    let realm = config.server.realm();
    match args.format {
        Format::Yaml => {
            println!(
                "# portcullis {}: the registry's auth section (distribution 2.x and 3.x).",
                env!("CARGO_PKG_VERSION")
            );
            if published == 1 {
                println!(
                    "# The bundle holds the certificate of the key that signs tokens (kid {}).",
                    key.kid(config.token.kid_format)
                );
            } else {
                println!(
                    "# The bundle holds {published} keys' certificates (`portcullis key list`); the active one is kid {}.",
                    key.kid(config.token.kid_format)
                );
            }
            if config.token.kid_format == KidFormat::Libtrust && jwks.is_some() {
                println!("# distribution 3.x ignores libtrust kids; the jwks file lists the key under both kids.");
            }
            println!("auth:");
            println!("  token:");
            println!("    realm: {}", yaml_quote(&realm));
            println!("    service: {}", yaml_quote(&config.token.service));
            println!("    issuer: {}", yaml_quote(&config.token.issuer));
            println!(
                "    rootcertbundle: {}",
                yaml_quote(&bundle.display().to_string())
            );
            if let Some(j) = &jwks {
                println!("    jwks: {}", yaml_quote(&j.display().to_string()));
            }
        }
        Format::Env => {
            println!("REGISTRY_AUTH=token");
            println!("REGISTRY_AUTH_TOKEN_REALM={realm}");
            println!("REGISTRY_AUTH_TOKEN_SERVICE={}", config.token.service);
            println!("REGISTRY_AUTH_TOKEN_ISSUER={}", config.token.issuer);
            println!("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE={}", bundle.display());
            if let Some(j) = &jwks {
                println!("REGISTRY_AUTH_TOKEN_JWKS={}", j.display());
            }
        }
    }
    if let Some(w) = crate::doctor::realm_warning(&config) {
        eprintln!("warning: {w}");
    }
    eprintln!("wrote {}", bundle.display());
    if let Some(j) = &jwks {
        eprintln!("wrote {}", j.display());
    }
    Ok(())
}

/// A double-quoted YAML scalar.
fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
