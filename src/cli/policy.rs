//! `portcullis policy reload`: the same as `POST /api/v1/policies/reload`, for every server
//! sharing the database. The files are compiled here first, so that an error is reported
//! with its file and line, and then every server is asked to read its files again (it keeps
//! its policy in force if its copy of a file has an error).

use anyhow::bail;
use clap::Subcommand;

use crate::audit::{self, EventOutcome};
use crate::authz::Reloader;
use crate::config::Config;
use crate::domain::Actor;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check the policy files, then have every server sharing the database reload them
    /// (within a second). A server also reloads on SIGHUP and, unless policies.watch is
    /// off, when a file changes.
    Reload,
}

pub async fn run(config: Config, actor: &Actor, cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Reload => {
            let store = Store::connect(&config.store.url).await?;
            let reloader = match Reloader::start(&config.policies.dir, store.clone()).await {
                Ok(r) => r,
                Err(e) => bail!("{e}\nnothing was reloaded: the servers keep the policy in force"),
            };
            let status = reloader.status();
            for w in &status.warnings {
                eprintln!("warning: {w}");
            }
            store.policy_reload_requested().await?;
            audit::event(&audit::Event {
                event: "policies_reloaded",
                outcome: EventOutcome::Done,
                actor,
                target: "policies",
                detail: &status.summary,
            });
            println!("{}", status.summary);
            eprintln!("servers sharing this database reload within a second");
        }
    }
    Ok(())
}
