//! `portcullis token`: personal access tokens, made for a user by an admin.

use anyhow::{bail, Context};
use clap::Subcommand;
use secrecy::ExposeSecret;

use super::date;
use crate::domain::{Actor, Lifetime, ScopeLimit, TokenName};
use crate::manage::AccessTokens;
use crate::store::now;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a named token for a user; prints the secret (once) on stdout.
    ///
    /// The token is used as the password with the owner's name: `docker login -u alice`.
    /// What it grants is the intersection of its --scope list and what the owner's policies
    /// allow at the time of use. Example:
    /// `portcullis token create --user alice --name ci-build --scope 'repository:team/app:pull,push' --expires 30d`
    Create {
        /// The owner (a local user).
        #[arg(long)]
        user: String,
        /// A name to recognise it by, unique among the owner's live tokens (e.g. ci-build).
        #[arg(long)]
        name: String,
        /// What it may be used for: TYPE:PATTERN:ACTIONS, e.g. repository:team/app:pull,push,
        /// repository:team/**:pull or registry:catalog:*; repeatable.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Lifetime, e.g. 30d or 12h (1s to 3650d); without it the token does not expire.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List tokens (never their secrets): id, owner, name, scopes, dates, state.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke tokens by id, or one by --user and --name.
    Revoke {
        /// Token ids as shown by `list`.
        ids: Vec<String>,
        #[arg(long, requires = "name", conflicts_with = "ids")]
        user: Option<String>,
        #[arg(long, requires = "user")]
        name: Option<String>,
    },
}

pub async fn run(tokens: &AccessTokens, actor: &Actor, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires,
        } => {
            let name = TokenName::parse(&name)?;
            let items: Vec<&str> = scopes.iter().flat_map(|s| s.split_whitespace()).collect();
            let limit = ScopeLimit::parse(&items)?;
            let lifetime = match &expires {
                Some(d) => Some(Lifetime::parse(d).map_err(|e| anyhow::anyhow!("--expires {e}"))?),
                None => None,
            };
            let created = tokens
                .create(actor, &user, &name, &limit, lifetime)
                .await
                .context("creating the token")?;
            eprintln!(
                "created token {name:?} (id {}) for {user}: {limit}; {}",
                created.id,
                created
                    .expires_at
                    .map_or("never expires".to_string(), |e| format!(
                        "expires {}",
                        date(e)
                    ))
            );
            eprintln!("use it as the password of {user} (e.g. docker login -u {user} --password-stdin); it is shown only now");
            println!("{}", created.secret.expose_secret());
        }
        TokenCommand::List { user } => {
            let t = now();
            println!(
                "{:<13} {:<16} {:<16} {:<17} {:<17} {:<17} SCOPES",
                "ID", "USER", "NAME", "CREATED", "LAST USED", "STATE"
            );
            for tok in tokens.list(user.as_deref()).await? {
                let state = match (tok.revoked_at, tok.expires_at) {
                    (Some(_), _) => "revoked".to_string(),
                    (None, Some(e)) if e <= t => "expired".to_string(),
                    (None, Some(e)) => format!("until {}", date(e)),
                    (None, None) => "valid".to_string(),
                };
                println!(
                    "{:<13} {:<16} {:<16} {:<17} {:<17} {:<17} {}",
                    tok.id,
                    tok.owner,
                    tok.name,
                    date(tok.created_at),
                    tok.last_used_at.map(date).unwrap_or_else(|| "never".into()),
                    state,
                    tok.scopes
                );
            }
        }
        TokenCommand::Revoke { ids, user, name } => {
            let ids = match (user, name) {
                (Some(user), Some(name)) => {
                    let t = now();
                    let found: Vec<String> = tokens
                        .list(Some(&user))
                        .await?
                        .into_iter()
                        .filter(|x| x.name == name && x.is_live(t))
                        .map(|x| x.id)
                        .collect();
                    if found.is_empty() {
                        bail!("{user} has no live token named {name:?}");
                    }
                    found
                }
                _ if ids.is_empty() => {
                    bail!("give token ids (see `portcullis token list`) or --user and --name")
                }
                _ => ids,
            };
            for id in ids {
                if !tokens.revoke(actor, &id, None).await? {
                    bail!("no live token with id {id:?}");
                }
                println!("revoked {id}");
            }
        }
    }
    Ok(())
}
