//! Who is calling the admin API, and whether policy lets them administer.
//!
//! A caller presents `Authorization: Bearer` and a personal access token. The token must
//! carry the admin scope (`portcullis:admin:*`): a token made for pushing images never
//! opens the API, whatever its owner may do. The owner must then be allowed
//! `portcullis:admin:*` by policy (by default, the members of `group:admins`), decided and
//! explained like any other permission. Credentials go through the same throttle as
//! `/token`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use secrecy::SecretString;

use super::Problem;
use crate::audit::{self, EventOutcome};
use crate::authn::{AuthOutcome, Credentials, Rejection};
use crate::authz::Verdict;
use crate::domain::{Actor, Identity, Requester, Scope};
use crate::http::AppState;

/// An authenticated caller whom policy lets administer.
pub struct Admin {
    pub actor: Actor,
    pub identity: Identity,
    /// The personal access token this request came with.
    pub token_id: Option<String>,
}

impl Admin {
    /// Refuses a change that would lock the caller out in the middle of its own work (its
    /// account deleted or disabled, or the token it is using revoked by itself): another
    /// admin, or the CLI, makes such a change.
    pub fn not_self(&self, user: &str, what: &str) -> Result<(), Problem> {
        if *self.identity.name == *user {
            return Err(Problem::new(
                actix_web::http::StatusCode::CONFLICT,
                "self",
                "Not on yourself",
                format!("{what} the account this request is authenticated as is refused, so that no admin locks themselves out. Fix: ask another admin, or use the CLI"),
            ));
        }
        Ok(())
    }
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, Problem>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let mut values = req.headers().get_all(header::AUTHORIZATION);
        let first = values.next().map(|v| v.to_str().map(str::to_owned));
        let second = values.next().is_some();
        let client = state
            .as_ref()
            .and_then(|s| s.proxies.client_ip(req))
            .or_else(|| req.peer_addr().map(|a| a.ip()));
        Box::pin(async move {
            let Some(state) = state else {
                return Err(Problem::unavailable("server"));
            };
            if second {
                return Err(Problem::bad_request(
                    "two Authorization headers were sent. Fix: send one",
                ));
            }
            let token = match first {
                None => {
                    return Err(Problem::unauthorized(
                        "no credentials. Fix: send Authorization: Bearer and a personal access token made with --scope portcullis:admin:*",
                    ))
                }
                Some(Err(_)) => return Err(Problem::unauthorized("the Authorization header is not readable text")),
                Some(Ok(v)) => bearer(&v).ok_or_else(|| {
                    Problem::unauthorized(
                        "the admin API takes Authorization: Bearer and a personal access token made with --scope portcullis:admin:*",
                    )
                })?,
            };
            let creds = Credentials::Bearer(SecretString::from(token));
            let tokens = &state.tokens;
            let (identity, token_id) = match tokens
                .authn()
                .authenticate(&creds, &tokens.service, client)
                .await
            {
                Ok(AuthOutcome::Authenticated(who)) => (who.identity, who.pat_id),
                Ok(AuthOutcome::Rejected(Rejection::Throttled { retry_after })) => {
                    return Err(Problem::throttled(retry_after.as_secs().max(1)))
                }
                Ok(_) => {
                    refused("anonymous", "invalid, expired or revoked token");
                    return Err(Problem::unauthorized(
                        "invalid, expired or revoked token. Fix: make a new personal access token with --scope portcullis:admin:*",
                    ));
                }
                Err(e) => {
                    tracing::error!(backend = e.backend, error = %e.report(), "admin API request failed: an authentication backend is unavailable");
                    return Err(Problem::unavailable(e.backend));
                }
            };
            let who = Requester::Authenticated(identity);
            let decision = tokens.policies().decide(&who, &Scope::admin_api());
            let Requester::Authenticated(identity) = who else {
                unreachable!("built above")
            };
            let name = identity.name.to_string();
            let why = match decision.verdicts.first().map(|v| &v.verdict) {
                Some(Verdict::Allowed(_)) => {
                    return Ok(Admin {
                        actor: Actor::principal(name),
                        identity,
                        token_id,
                    })
                }
                Some(Verdict::OutsideTokenScope(_)) => format!(
                    "this token was not made for the admin API. Fix: make one with --scope portcullis:admin:* ({name} may administer)"
                ),
                Some(Verdict::Denied(rule)) => format!(
                    "{name} is refused the admin API by {} ({})",
                    rule.location(),
                    rule.text
                ),
                _ => format!(
                    "no rule lets {name} use the admin API. Fix: an admin adds {name} to a group that policy grants admin_api = true (by default, group admins)"
                ),
            };
            refused(&name, &why);
            Err(Problem::forbidden(why))
        })
    }
}

fn refused(actor: &str, why: &str) {
    audit::event(&audit::Event {
        event: "admin_api",
        outcome: EventOutcome::Refused,
        actor: &Actor::principal(actor),
        target: "",
        detail: why,
    });
}

/// The token of `Bearer TOKEN` (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<String> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then(|| token.to_owned())
}
