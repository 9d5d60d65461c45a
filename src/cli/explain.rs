//! `portcullis explain`: the answer to "I have a password but no permission, why?".

use anyhow::bail;

use crate::authz::Reloader;
use crate::config::Config;
use crate::domain::parse_scope_list;
use crate::manage::explain;
use crate::store::Store;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  portcullis explain --user alice --scope repository:team/app:pull,push --scope registry:catalog:*"
)]
pub struct Args {
    /// The user to decide for. Groups come from the local database, plus any --group.
    #[arg(
        long,
        conflicts_with = "anonymous",
        required_unless_present = "anonymous"
    )]
    pub user: Option<String>,
    /// Decide for an anonymous (unauthenticated) client.
    #[arg(long)]
    pub anonymous: bool,
    /// An extra group to assume membership of (e.g. from a directory); repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// A scope as registries ask for it, e.g. repository:team/app:pull,push; repeatable.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub scopes: Vec<String>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let store = Store::connect(&config.store.url).await?;
    // The files and the rules in the database, as the server has them.
    let reloader = Reloader::start(&config.policies.dir, store.clone()).await?;
    let scopes = parse_scope_list(args.scopes.iter().map(String::as_str))?;
    if scopes.is_empty() {
        bail!("no scope given");
    }
    let policies = reloader.policies();
    let e = explain(
        &store,
        &*policies,
        args.user.as_deref(),
        &args.groups,
        &scopes,
    )
    .await?;
    for note in &e.notes {
        println!("note: {note}");
    }
    match e.requester.identity() {
        Some(id) => println!(
            "subject: user:{}  groups: {}",
            id.name,
            if id.groups.is_empty() {
                "(none)".to_string()
            } else {
                id.groups.join(", ")
            }
        ),
        None => println!("subject: anonymous"),
    }
    for s in &e.scopes {
        println!();
        print!("{}", s.decision);
        // For what was not granted, say who does have it: the refused user then knows whom
        // to ask, or which group to join.
        for (action, rules) in &s.granted_to_others {
            for rule in rules {
                println!(
                    "  {:<6} is granted to others by {} ({})",
                    action.as_str(),
                    rule.location(),
                    rule.text
                );
            }
        }
    }
    Ok(())
}
