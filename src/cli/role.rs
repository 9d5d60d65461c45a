//! `portcullis role`: custom roles kept in the database (built-in and file roles are
//! listed too), the same as the admin API's `/api/v1/roles`.

use clap::Subcommand;

use crate::authz::RoleSpec;
use crate::domain::Actor;
use crate::manage::Bindings;

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Every role: built in, from the policy files, from the database, with its origin.
    List,
    /// Make a role in the database. Example: `portcullis role create tagger --action pull --action tag`
    Create {
        name: String,
        /// An action (pull, push, delete, *, or another word); repeatable.
        #[arg(long = "action", value_name = "ACTION", required = true)]
        actions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Replace a database role's actions.
    Update {
        name: String,
        #[arg(long = "action", value_name = "ACTION", required = true)]
        actions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a database role no binding or policy file uses.
    Delete { name: String },
}

pub async fn run(bindings: &Bindings, actor: &Actor, cmd: RoleCommand) -> anyhow::Result<()> {
    let parse = |name: &str, actions: &[String]| {
        RoleSpec::parse(name, actions).map_err(|e| anyhow::anyhow!("{e}"))
    };
    match cmd {
        RoleCommand::List => {
            for r in bindings.policies().roles() {
                println!("{:<16} {:<24} {}", r.name, r.actions.join(","), r.origin);
            }
        }
        RoleCommand::Create {
            name,
            actions,
            description,
        } => {
            let spec = parse(&name, &actions)?;
            bindings
                .create_role(actor, &spec, description.as_deref())
                .await?;
            eprintln!("made role {name}");
        }
        RoleCommand::Update {
            name,
            actions,
            description,
        } => {
            let spec = parse(&name, &actions)?;
            bindings
                .update_role(actor, &spec, description.as_deref())
                .await?;
            eprintln!("changed role {name}");
        }
        RoleCommand::Delete { name } => {
            bindings.delete_role(actor, &name).await?;
            eprintln!("deleted role {name}");
        }
    }
    Ok(())
}
