use anyhow::Context;
use clap::Subcommand;

use crate::domain::Username;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group (bind it in policies as `group:NAME`).
    Add { name: String },
    /// Delete a group and its memberships.
    Remove { name: String },
    /// List groups with their member counts.
    List,
    /// Show a group's members, or change them with --add/--remove.
    ///
    /// Example: `portcullis group members developers --add alice --add bob`
    Members {
        name: String,
        /// Add this user; repeatable.
        #[arg(long, value_name = "USER")]
        add: Vec<String>,
        /// Remove this user; repeatable.
        #[arg(long, value_name = "USER")]
        remove: Vec<String>,
    },
}

pub async fn run(store: &Store, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add { name } => {
            Username::parse(&name).with_context(|| format!("invalid group name {name:?}"))?;
            store.group_create(&name).await?;
            println!("created group {name}");
        }
        GroupCommand::Remove { name } => {
            store.group_delete(&name).await?;
            println!("removed group {name}");
        }
        GroupCommand::List => {
            println!("{:<24} MEMBERS", "NAME");
            for (name, n) in store.group_list().await? {
                println!("{name:<24} {n}");
            }
        }
        GroupCommand::Members { name, add, remove } => {
            for u in &add {
                store.group_add_member(&name, u).await?;
                println!("added {u} to {name}");
            }
            for u in &remove {
                store.group_remove_member(&name, u).await?;
                println!("removed {u} from {name}");
            }
            if add.is_empty() && remove.is_empty() {
                for m in store.group_members(&name).await? {
                    println!("{m}");
                }
            }
        }
    }
    Ok(())
}
