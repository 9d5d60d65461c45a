//! `portcullis ldap test`: what the directory returns for a user, and what that yields.

use anyhow::bail;
use clap::Subcommand;

use crate::authn::LdapDirectory;
use crate::authz::PolicySet;
use crate::config::Config;
use crate::domain::{parse_scope_list, AuthSource, Identity, Requester};

#[derive(Subcommand, Debug)]
pub enum LdapCommand {
    /// Look a user up in the directory: DN, groups (before and after ldap.group_map), and the
    /// policy entries those bind. Uses the service account; no user password is needed or
    /// printed.
    ///
    /// Example: `portcullis ldap test --user alice --scope repository:team/app:pull,push`
    Test {
        #[arg(long)]
        user: String,
        /// Also decide these scopes for the user, as `portcullis explain` does; repeatable.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
}

pub async fn run(config: Config, cmd: LdapCommand) -> anyhow::Result<()> {
    let LdapCommand::Test { user, scopes } = cmd;
    let Some(settings) = config.ldap.clone() else {
        bail!("LDAP is not configured: set ldap.urls (see portcullis.example.toml)");
    };
    let directory =
        LdapDirectory::new(settings).map_err(|e| anyhow::anyhow!("ldap.ca_file: {e}"))?;
    let server = directory.ping().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("server:  {server}");
    let Some(found) = directory
        .lookup(&user)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        println!(
            "user:    {user} is not in the directory (filter {} under {:?})",
            directory.settings().user_filter,
            directory.settings().user_base
        );
        return Ok(());
    };
    println!("dn:      {}", found.dn);
    println!(
        "groups:  {} (in the directory)",
        list(&found.directory_groups)
    );
    println!(
        "         {} (as group:NAME in policies, after ldap.group_map)",
        list(&found.groups)
    );
    let policies = PolicySet::load_dir(&config.policies.dir)?;
    let who = Requester::Authenticated(Identity::user(
        user.to_ascii_lowercase(),
        found.groups.clone(),
        AuthSource::Ldap,
    ));
    let entries = policies.entries_binding(&who);
    println!("\npolicy entries binding {user} ({}):", entries.len());
    for r in &entries {
        println!("  {}  {}", r.location(), r.text);
    }
    for scope in parse_scope_list(scopes.iter().map(String::as_str))? {
        println!();
        print!("{}", policies.decide(&who, &scope));
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
