//! `portcullis doctor --registry URL`: see `crate::doctor`. Exit status 0 only when the
//! registry accepted a token signed with the key under test.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::config::Config;
use crate::doctor::{diagnose, Level, Options};
use crate::token::{KeyFiles, KeyRing, KeyState};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The registry's address, as clients reach it (e.g. https://registry.example.com).
    #[arg(long, value_name = "URL")]
    pub registry: String,
    /// The key to prove: `active`, or `next` before `portcullis key activate` (does the
    /// registry already trust it?).
    #[arg(long, value_enum, default_value_t = KeyChoice::Active)]
    pub key: KeyChoice,
    /// A CA certificate (PEM) to trust for the registry's TLS, besides this host's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The registry's config.yml, when run on its host: tells a wrong issuer from a
    /// missing key, which look the same from outside.
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KeyChoice {
    Active,
    Next,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = crate::store::Store::connect(&config.store.url).await?;
    let ring = KeyRing::open(store, KeyFiles::in_dir(&config.keys.dir), &config.token).await?;
    let report = diagnose(
        &config,
        &ring,
        &Options {
            registry: args.registry.clone(),
            key: match args.key {
                KeyChoice::Active => KeyState::Active,
                KeyChoice::Next => KeyState::Next,
            },
            ca_file: args.ca_file,
            registry_config: args.registry_config,
        },
    )
    .await;
    for f in &report.findings {
        println!("{:<8} {:<10} {}", f.level.as_str(), f.topic, f.message);
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .count();
    if !report.accepted {
        anyhow::bail!(
            "the registry at {} did not accept a token ({errors} problem(s) above)",
            args.registry
        );
    }
    if errors > 0 {
        anyhow::bail!(
            "the registry accepted the probe token, but {errors} problem(s) above remain"
        );
    }
    println!(
        "the registry at {} accepts portcullis's tokens",
        args.registry
    );
    Ok(())
}
