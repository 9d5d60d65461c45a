use clap::Subcommand;

use super::date;
use crate::domain::Actor;
use crate::manage::RefreshTokenAdmin;

#[derive(Subcommand, Debug)]
pub enum RefreshTokenCommand {
    /// List refresh tokens (never their secrets): id, user, client, dates, state.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke refresh tokens by id, or all of a user's with --user.
    Revoke {
        /// Token ids as shown by `list`.
        ids: Vec<String>,
        /// Revoke every token of this user.
        #[arg(long, conflicts_with = "ids")]
        user: Option<String>,
    },
}

pub async fn run(
    tokens: &RefreshTokenAdmin,
    actor: &Actor,
    cmd: RefreshTokenCommand,
) -> anyhow::Result<()> {
    match cmd {
        RefreshTokenCommand::List { user } => {
            let now = crate::store::now();
            println!(
                "{:<13} {:<20} {:<16} {:<17} {:<17} STATE",
                "ID", "USER", "CLIENT", "CREATED", "LAST USED"
            );
            for t in tokens.list(user.as_deref()).await? {
                let state = match (t.revoked_at, t.expires_at <= now) {
                    (Some(_), _) => "revoked".to_string(),
                    (None, true) => "expired".to_string(),
                    (None, false) => format!("valid until {}", date(t.expires_at)),
                };
                println!(
                    "{:<13} {:<20} {:<16} {:<17} {:<17} {}",
                    t.id,
                    t.subject,
                    if t.client_id.is_empty() {
                        "-"
                    } else {
                        &t.client_id
                    },
                    date(t.created_at),
                    t.last_used_at.map(date).unwrap_or_else(|| "never".into()),
                    state
                );
            }
        }
        RefreshTokenCommand::Revoke { ids, user } => {
            if let Some(user) = user {
                let n = tokens.revoke_subject(actor, &user).await?;
                println!("revoked {n} refresh token(s) of {user}");
            } else if ids.is_empty() {
                anyhow::bail!(
                    "give token ids (see `portcullis refresh-token list`) or --user NAME"
                );
            } else {
                for id in ids {
                    if tokens.revoke(actor, &id).await? {
                        println!("revoked {id}");
                    } else {
                        anyhow::bail!("no live refresh token with id {id:?}");
                    }
                }
            }
        }
    }
    Ok(())
}
