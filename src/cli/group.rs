use anyhow::Context;
use clap::Subcommand;

use crate::domain::{Actor, Username};
use crate::manage::Groups;

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

pub async fn run(groups: &Groups, actor: &Actor, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add { name } => {
            let name =
                Username::parse(&name).with_context(|| format!("invalid group name {name:?}"))?;
            groups.create(actor, &name).await?;
            println!("created group {name}");
        }
        GroupCommand::Remove { name } => {
            groups.remove(actor, &name).await?;
            println!("removed group {name}");
        }
        GroupCommand::List => {
            println!("{:<24} MEMBERS", "NAME");
            for (name, n) in groups.list().await? {
                println!("{name:<24} {n}");
            }
        }
        GroupCommand::Members { name, add, remove } => {
            for u in &add {
                groups.add_member(actor, &name, u).await?;
                println!("added {u} to {name}");
            }
            for u in &remove {
                groups.remove_member(actor, &name, u).await?;
                println!("removed {u} from {name}");
            }
            if add.is_empty() && remove.is_empty() {
                for m in groups.members(&name).await? {
                    println!("{m}");
                }
            }
        }
    }
    Ok(())
}
