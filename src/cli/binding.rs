//! `portcullis binding`: role bindings kept in the database, the same as the admin API's
//! `/api/v1/bindings` (and beside the policy files, with their semantics).

use anyhow::bail;
use clap::{Args, Subcommand};

use crate::authz::{BindingSpec, Origin};
use crate::domain::{Actor, Lifetime};
use crate::manage::Bindings;
use crate::store::{now, BindingFields};

#[derive(Subcommand, Debug)]
pub enum BindingCommand {
    /// Every rule in force, from the files and the database, each with its origin; then
    /// every binding in the database, in force or not.
    List,
    /// Make a binding; it is in force on every server sharing the database within a second.
    ///
    /// Example: `portcullis binding create --grant --to group:qa --role writer --repo 'qa/**' --expires 14d`
    Create(BindingArgs),
    /// Replace what binding ID says.
    Update {
        id: i64,
        #[command(flatten)]
        binding: BindingArgs,
    },
    /// Delete binding ID.
    Delete { id: i64 },
}

/// A binding, as a policy file's entry says it.
#[derive(Args, Debug)]
pub struct BindingArgs {
    /// Allow (the default).
    #[arg(long, conflicts_with = "deny")]
    pub grant: bool,
    /// Refuse, whatever any grant says.
    #[arg(long)]
    pub deny: bool,
    /// Who: user:NAME, robot:NAME, group:NAME, authenticated, anonymous, everyone; repeatable.
    #[arg(long = "to", value_name = "SUBJECT", required = true)]
    pub subjects: Vec<String>,
    /// A role (reader, writer, maintainer, admin, or a custom one).
    #[arg(long, conflicts_with = "actions")]
    pub role: Option<String>,
    /// An action instead of a role (pull, push, delete, *, or another word); repeatable.
    #[arg(long = "action", value_name = "ACTION")]
    pub actions: Vec<String>,
    /// A repository pattern (team/**, team/*, ${user}/**); repeatable.
    #[arg(long = "repo", value_name = "PATTERN")]
    pub repositories: Vec<String>,
    /// Also the catalog (GET /v2/_catalog).
    #[arg(long)]
    pub catalog: bool,
    /// Also the admin API.
    #[arg(long)]
    pub admin_api: bool,
    #[arg(long)]
    pub description: Option<String>,
    /// Temporary access: the binding ends after this long, e.g. 2h or 14d.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

impl BindingArgs {
    fn spec(self) -> anyhow::Result<BindingSpec> {
        let t = now();
        let expires_at = match &self.expires {
            Some(d) => Some(
                Lifetime::parse(d)
                    .map_err(|e| anyhow::anyhow!("--expires {e}"))?
                    .expires_at(t),
            ),
            None => None,
        };
        let fields = BindingFields {
            effect: if self.deny { "deny" } else { "grant" }.into(),
            subjects: self.subjects,
            role: self.role,
            actions: self.actions,
            repositories: self.repositories,
            catalog: self.catalog,
            admin_api: self.admin_api,
            description: self.description,
            expires_at,
        };
        BindingSpec::parse(&fields, Some(t)).map_err(|e| anyhow::anyhow!("{}", flag(e)))
    }
}

/// A field error, named as the command's flag.
fn flag(e: crate::authz::FieldError) -> String {
    let name = e.field.split('[').next().unwrap_or("");
    let flag = match name {
        "subjects" => "--to",
        "actions" => "--action",
        "repositories" => "--repo",
        "expires_at" => "--expires",
        "effect" => "--grant/--deny",
        other => return format!("--{}: {}", other.replace('_', "-"), e.message),
    };
    format!("{flag}: {}", e.message)
}

/// A refusal, with a field error named as the flag to fix.
fn as_flags(e: crate::manage::ManageError) -> anyhow::Error {
    match e {
        crate::manage::ManageError::Field(f) => anyhow::anyhow!("{}", flag(f)),
        other => other.into(),
    }
}

pub async fn run(bindings: &Bindings, actor: &Actor, cmd: BindingCommand) -> anyhow::Result<()> {
    match cmd {
        BindingCommand::List => {
            let set = bindings.policies();
            println!("in force:");
            for (effect, rule) in set.rules() {
                println!(
                    "  {:<5} {:<44} {}",
                    effect,
                    rule.origin.to_string(),
                    rule.text
                );
            }
            let stored = bindings.list().await?;
            println!("\nin the database: {}", stored.len());
            for b in stored {
                let origin = Origin::Binding {
                    id: b.id,
                    made_by: b.made_by.as_str().into(),
                    made_at: b.made_at,
                };
                let text = BindingSpec::parse(&b.fields, None)
                    .map(|s| s.text())
                    .unwrap_or_else(|e| format!("(not valid: {e})"));
                let until = b
                    .fields
                    .expires_at
                    .map(|t| format!("  until {}", super::date(t)))
                    .unwrap_or_default();
                println!("  {:<5} {origin}: {text}{until}", b.id);
            }
        }
        BindingCommand::Create(args) => {
            let b = bindings
                .create(actor, &args.spec()?)
                .await
                .map_err(as_flags)?;
            println!("{}", b.id);
            eprintln!(
                "made binding {}; servers sharing this database apply it within a second",
                b.id
            );
        }
        BindingCommand::Update { id, binding } => {
            bindings
                .update(actor, id, &binding.spec()?)
                .await
                .map_err(as_flags)?;
            eprintln!("changed binding {id}");
        }
        BindingCommand::Delete { id } => {
            if id <= 0 {
                bail!("binding ids are positive numbers (see `portcullis binding list`)");
            }
            bindings.delete(actor, id).await?;
            eprintln!("deleted binding {id}");
        }
    }
    Ok(())
}
