use anyhow::Context;
use clap::Subcommand;

use super::{date, password_input::read_new_password};
use crate::authn::hash_password;
use crate::domain::Username;
use crate::store::Store;

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

pub async fn run(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, groups } => {
            let name =
                Username::parse(&name).with_context(|| format!("invalid username {name:?}"))?;
            let password = read_new_password(name.as_str())?;
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await?
                .map_err(anyhow::Error::msg)?;
            store.user_create(name.as_str(), &hash).await?;
            for g in &groups {
                store.group_add_member(g, name.as_str()).await.with_context(|| {
                    format!("user {name} was created, but not added to group {g:?} (create it with `portcullis group add {g}`)")
                })?;
            }
            println!("created user {name}");
        }
        UserCommand::Passwd { name } => {
            if store.user_get(&name).await?.is_none() {
                anyhow::bail!("user {name:?} does not exist");
            }
            let password = read_new_password(&name)?;
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await?
                .map_err(anyhow::Error::msg)?;
            store.user_set_password(&name, &hash).await?;
            println!("changed the password of {name}; their refresh tokens are revoked");
        }
        UserCommand::Disable { name } => {
            store.user_set_disabled(&name, true).await?;
            println!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            store.user_set_disabled(&name, false).await?;
            println!("enabled {name}");
        }
        UserCommand::Remove { name } => {
            store.user_delete(&name).await?;
            println!("removed {name}");
        }
        UserCommand::List => {
            let users = store.user_list().await?;
            println!("{:<24} {:<9} {:<17} GROUPS", "NAME", "STATUS", "CREATED");
            for u in users {
                let groups = store.user_groups(&u.name).await?.join(",");
                let status = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:<24} {:<9} {:<17} {}",
                    u.name,
                    status,
                    date(u.created_at),
                    groups
                );
            }
        }
    }
    Ok(())
}
