use anyhow::Context;
use clap::Subcommand;

use super::{date, password_input::read_new_password};
use crate::domain::{Actor, Username};
use crate::manage::Users;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin (first line) or prompted for.
    ///
    /// Example: `echo 's3cret-pass' | portcullis user add alice --group developers`
    Add {
        /// Lower-case letters, digits, '.', '_' and '-'.
        name: String,
        /// Also add the user to this (existing) group; repeatable.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Set a new password (stdin or prompt). Revokes the user's refresh tokens.
    Passwd { name: String },
    /// Refuse the user's credentials and refresh tokens until enabled again.
    Disable { name: String },
    /// Accept a disabled user again.
    Enable { name: String },
    /// Delete the user, their group memberships and refresh tokens.
    Remove { name: String },
    /// List users with their status and groups.
    List,
}

pub async fn run(users: &Users, actor: &Actor, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, groups } => {
            let name =
                Username::parse(&name).with_context(|| format!("invalid username {name:?}"))?;
            let password = read_new_password(name.as_str())?;
            users.create(actor, &name, password, &groups).await?;
            println!("created user {name}");
        }
        UserCommand::Passwd { name } => {
            if users.get(&name).await?.is_none() {
                anyhow::bail!("user {name:?} does not exist");
            }
            let password = read_new_password(&name)?;
            users.set_password(actor, &name, password).await?;
            println!("changed the password of {name}; their refresh tokens are revoked");
        }
        UserCommand::Disable { name } => {
            users.set_disabled(actor, &name, true).await?;
            println!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            users.set_disabled(actor, &name, false).await?;
            println!("enabled {name}");
        }
        UserCommand::Remove { name } => {
            users.remove(actor, &name).await?;
            println!("removed {name}");
        }
        UserCommand::List => {
            println!("{:<24} {:<9} {:<17} GROUPS", "NAME", "STATUS", "CREATED");
            for u in users.list().await? {
                let status = if u.user.disabled {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<9} {:<17} {}",
                    u.user.name,
                    status,
                    date(u.user.created_at),
                    u.groups.join(",")
                );
            }
        }
    }
    Ok(())
}
