//! `portcullis robot`: non-human principals (`robot:NAME` in policies) for pipelines.

use anyhow::Context;
use clap::Subcommand;
use secrecy::ExposeSecret;

use super::date;
use crate::domain::{Actor, Lifetime, Username, ROBOT_LOGIN_PREFIX};
use crate::manage::{RobotAdmin, RobotSummary};
use crate::store::now;

#[derive(Subcommand, Debug)]
pub enum RobotCommand {
    /// Create a robot; prints its secret (once) on stdout. It logs in as robot+NAME.
    ///
    /// Bind it in policies as `robot:NAME`. Example:
    /// `portcullis robot create ci --description 'release pipeline' --expires 90d`
    Create {
        /// Lower-case letters, digits, '.', '_' and '-'.
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime of the robot, e.g. 90d (1s to 3650d); without it the robot does not expire.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List robots with their state and number of live secrets.
    List,
    /// Make a new secret; the old ones stop working at once unless --keep-old.
    Regenerate {
        name: String,
        /// Keep the current secrets valid too (rotate without downtime, then regenerate again
        /// without it, or remove the robot, once every pipeline has the new one).
        #[arg(long)]
        keep_old: bool,
    },
    /// Refuse the robot's secrets and refresh tokens until enabled again.
    Disable { name: String },
    /// Accept a disabled robot again.
    Enable { name: String },
    /// Delete the robot, its secrets and its refresh tokens.
    Remove { name: String },
}

pub async fn run(robots: &RobotAdmin, actor: &Actor, cmd: RobotCommand) -> anyhow::Result<()> {
    match cmd {
        RobotCommand::Create {
            name,
            description,
            expires,
        } => {
            let name =
                Username::parse(&name).with_context(|| format!("invalid robot name {name:?}"))?;
            let lifetime = match &expires {
                Some(d) => Some(Lifetime::parse(d).map_err(|e| anyhow::anyhow!("--expires {e}"))?),
                None => None,
            };
            let secret = robots.create(actor, &name, &description, lifetime).await?;
            eprintln!(
                "created robot:{name}; it logs in as {ROBOT_LOGIN_PREFIX}{name} with this secret, shown only now (policies bind it as robot:{name})"
            );
            println!("{}", secret.expose_secret());
        }
        RobotCommand::List => {
            let t = now();
            println!(
                "{:<20} {:<9} {:<17} {:<17} {:<8} DESCRIPTION",
                "NAME", "STATE", "CREATED", "EXPIRES", "SECRETS"
            );
            for RobotSummary {
                robot: r,
                live_secrets,
            } in robots.list().await?
            {
                let state = if r.disabled {
                    "disabled"
                } else if !r.is_active(t) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<20} {:<9} {:<17} {:<17} {:<8} {}",
                    r.name,
                    state,
                    date(r.created_at),
                    r.expires_at.map(date).unwrap_or_else(|| "never".into()),
                    live_secrets,
                    r.description
                );
            }
        }
        RobotCommand::Regenerate { name, keep_old } => {
            let secret = robots.regenerate(actor, &name, keep_old).await?;
            eprintln!(
                "new secret for robot:{name}{}; shown only now",
                if keep_old {
                    " (the old ones still work)"
                } else {
                    " (the old ones no longer work)"
                }
            );
            println!("{}", secret.expose_secret());
        }
        RobotCommand::Disable { name } => {
            robots.set_disabled(actor, &name, true).await?;
            println!("disabled robot:{name}");
        }
        RobotCommand::Enable { name } => {
            robots.set_disabled(actor, &name, false).await?;
            println!("enabled robot:{name}");
        }
        RobotCommand::Remove { name } => {
            robots.remove(actor, &name).await?;
            println!("removed robot:{name}");
        }
    }
    Ok(())
}
