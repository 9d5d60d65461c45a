//! `portcullis explain`: the answer to "I have a password but no permission, why?".

use anyhow::bail;

use crate::authz::{PolicySet, Verdict};
use crate::config::Config;
use crate::domain::{parse_scope_list, AuthSource, Identity, Requester};
use crate::manage::Users;
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
    let policies = PolicySet::load_dir(&config.policies.dir)?;
    let scopes = parse_scope_list(args.scopes.iter().map(String::as_str))?;
    let requester = match &args.user {
        None => Requester::Anonymous,
        Some(name) => {
            let users = Users::new(Store::connect(&config.store.url).await?);
            let mut groups = args.groups.clone();
            match users.get(name).await? {
                Some(u) => {
                    if u.disabled {
                        println!("note: {name} is disabled, so every request with their credentials is refused (401) before policies apply");
                    }
                    for g in users.groups(name).await? {
                        if !groups.contains(&g) {
                            groups.push(g);
                        }
                    }
                }
                None if args.groups.is_empty() => {
                    println!("note: {name} is not a local user; deciding with no groups (add --group to assume some)")
                }
                None => {}
            }
            groups.sort();
            Requester::Authenticated(Identity::user(name.clone(), groups, AuthSource::Password))
        }
    };
    if scopes.is_empty() {
        bail!("no scope given");
    }
    match requester.identity() {
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
    for scope in &scopes {
        println!();
        let decision = policies.decide(&requester, scope);
        print!("{decision}");
        // For what was not granted, say who does have it: the refused user then knows whom
        // to ask, or which group to join.
        for v in &decision.verdicts {
            if matches!(v.verdict, Verdict::NotGranted) {
                for rule in policies.grants_allowing(scope, &v.action) {
                    println!(
                        "  {:<6} is granted to others by {} ({})",
                        v.action.as_str(),
                        rule.location(),
                        rule.text
                    );
                }
            }
        }
    }
    Ok(())
}
