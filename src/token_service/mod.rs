//! The token flow, independent of HTTP: authenticate the credentials, decide every
//! requested scope against the policies, sign the grant, audit the decision.

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::audit::{self, Outcome, TokenEvent};
use crate::authn::{AuthChain, AuthError, AuthOutcome, Authenticated, Rejection};
use crate::authz::Authorizer;
use crate::domain::{PrincipalKind, Requester, Scope};
mod request;

use crate::token::{AccessEntry, IssuedToken, TokenSigner};
pub use request::{Credentials, TokenRequest, ACCOUNT_MISMATCH};

/// A successful answer: the signed token, what it grants, and a refresh token when asked.
pub struct Grant {
    pub token: IssuedToken,
    pub granted: Vec<Scope>,
    pub refresh_token: Option<SecretString>,
}

/// Why no token was issued.
#[derive(Debug)]
pub enum Refusal {
    BadRequest {
        code: &'static str,
        message: String,
    },
    /// Credentials were sent and are not valid. Never answered with an anonymous token:
    /// `docker login` would then "succeed" with a wrong password.
    Unauthorized {
        message: &'static str,
    },
    Unavailable(AuthError),
    /// Too many failed credentials from this address (and name): try again after this long.
    Throttled {
        retry_after: std::time::Duration,
    },
}

pub struct TokenService {
    pub service: String,
    signer: TokenSigner,
    policies: Arc<dyn Authorizer>,
    authn: AuthChain,
}

impl TokenService {
    pub fn new(
        service: String,
        signer: TokenSigner,
        policies: Arc<dyn Authorizer>,
        authn: AuthChain,
    ) -> TokenService {
        TokenService {
            service,
            signer,
            policies,
            authn,
        }
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    pub fn authn(&self) -> &AuthChain {
        &self.authn
    }

    /// Answers one token request from `client` (the peer's address, when known).
    pub async fn handle(
        &self,
        req: TokenRequest,
        client: Option<IpAddr>,
    ) -> Result<Grant, Refusal> {
        let client_ip = client.map(|ip| ip.to_string()).unwrap_or_default();
        let client_ip = client_ip.as_str();
        let requested = audit::scope_list(&req.scopes, " ");
        let mut event = TokenEvent {
            outcome: Outcome::Invalid,
            subject: req.credentials.claimed_name(),
            auth: match &req.credentials {
                Credentials::Anonymous => "anonymous",
                Credentials::Password { .. } => "password",
                Credentials::RefreshToken(_) => "refresh_token",
            },
            client_ip,
            client_id: req.client_id.as_deref().unwrap_or(""),
            service: req.service.as_deref().unwrap_or(&self.service),
            requested: &requested,
            granted: "",
            reason: "",
            jti: "",
        };

        // A service the registry names differently from us is a misconfiguration that
        // otherwise fails silently: the registry would reject every token's `aud`.
        if let Some(asked) = &req.service {
            if asked != &self.service {
                let message = format!(
                    "this token server issues tokens for service {:?}, not {asked:?}: make the registry's auth.token.service and portcullis's token.service equal",
                    self.service
                );
                event.reason = &message;
                audit::token(&event);
                return Err(Refusal::BadRequest {
                    code: "UNSUPPORTED_VALUE",
                    message,
                });
            }
        }

        let who: Option<Authenticated> = match &req.credentials {
            Credentials::Anonymous => None,
            creds => match self.authn.authenticate(creds, &self.service, client).await {
                Ok(AuthOutcome::Authenticated(who)) => Some(who),
                Ok(AuthOutcome::Rejected(Rejection::Throttled { retry_after })) => {
                    event.outcome = Outcome::Throttled;
                    event.reason = "too many failed attempts from this address";
                    audit::token(&event);
                    return Err(Refusal::Throttled { retry_after });
                }
                Ok(AuthOutcome::Rejected(rejection)) => {
                    event.outcome = Outcome::Rejected;
                    event.reason = rejection.as_str();
                    audit::token(&event);
                    let message = match creds {
                        Credentials::RefreshToken(_) => {
                            "invalid, expired or revoked refresh token: log in again"
                        }
                        _ => "invalid username or password",
                    };
                    return Err(Refusal::Unauthorized { message });
                }
                Ok(AuthOutcome::NoMatch) => {
                    event.outcome = Outcome::Rejected;
                    event.reason = Rejection::UnknownUser.as_str();
                    audit::token(&event);
                    return Err(Refusal::Unauthorized {
                        message: "invalid username or password",
                    });
                }
                Err(e) => return Err(self.unavailable(e, &event)),
            },
        };
        // A refresh token names its owner only once looked up: an `account` naming someone
        // else is refused as it is with a password.
        // (With a password, the parser already compared it with the name given.)
        if let (Some(w), Some(account), Credentials::RefreshToken(_)) =
            (&who, &req.account, &req.credentials)
        {
            if !w.identity.logs_in_as(account) {
                event.outcome = Outcome::Invalid;
                event.reason = ACCOUNT_MISMATCH;
                audit::token(&event);
                return Err(Refusal::BadRequest {
                    code: "BAD_TOKEN_OPTION",
                    message: ACCOUNT_MISMATCH.to_string(),
                });
            }
        }
        let refresh_token = match (&who, &req.credentials, req.offline) {
            // A workload's own token is short-lived on purpose: no refresh token outlives it.
            (Some(w), Credentials::Password { .. }, true)
                if w.identity.kind != PrincipalKind::Workload =>
            {
                let client_id = req.client_id.as_deref().unwrap_or("");
                match self
                    .authn
                    .refresh_tokens()
                    .issue(w, &self.service, client_id)
                    .await
                {
                    Ok(t) => Some(t),
                    Err(e) => return Err(self.unavailable(e, &event)),
                }
            }
            // The OAuth2 spec: a refresh grant returns the same refresh token, never a new one.
            (Some(_), Credentials::RefreshToken(t), true) => {
                Some(SecretString::from(t.expose_secret().to_owned()))
            }
            _ => None,
        };

        let auth_label = who.as_ref().map(auth_label);
        // `who` is done with: its identity moves into the requester (no copy per request).
        let requester = match who {
            None => Requester::Anonymous,
            Some(w) => Requester::Authenticated(w.identity),
        };

        let decisions: Vec<_> = req
            .scopes
            .iter()
            .map(|s| self.policies.decide(&requester, s))
            .collect();
        let granted: Vec<Scope> = decisions.iter().filter_map(|d| d.granted_scope()).collect();
        let access: Vec<AccessEntry> = granted.iter().map(AccessEntry::from).collect();
        let subject = requester.subject();
        let token = self.signer.issue(&subject, &self.service, &access);

        let granted_text = audit::scope_list(&granted, " ");
        let reason = audit::scope_list(
            &decisions.iter().map(DecisionText).collect::<Vec<_>>(),
            "; ",
        );
        event.outcome = Outcome::Issued;
        event.subject = &subject;
        if let Some(label) = &auth_label {
            event.auth = label;
        }
        event.granted = &granted_text;
        event.reason = if req.scopes.is_empty() {
            "login (no scope requested)"
        } else {
            &reason
        };
        event.jti = &token.jti;
        audit::token(&event);
        Ok(Grant {
            token,
            granted,
            refresh_token,
        })
    }

    fn unavailable(&self, e: AuthError, event: &TokenEvent<'_>) -> Refusal {
        tracing::error!(backend = e.backend, error = %e.report(), "token request failed: an authentication backend is unavailable");
        let reason = e.to_string();
        audit::token(&TokenEvent {
            outcome: Outcome::Failed,
            reason: &reason,
            ..*event
        });
        Refusal::Unavailable(e)
    }
}

/// How the requester authenticated, for the audit log: `password`, `password (remembered)`,
/// `access_token`, `robot_secret`, `refresh_token`.
fn auth_label(w: &Authenticated) -> String {
    let source = w.identity.source.as_str();
    if w.remembered {
        format!("{source} (remembered)")
    } else {
        source.to_string()
    }
}

/// `repository:a:pull (pull: allowed by …)`, as the audit record's reason lists it.
struct DecisionText<'a>(&'a crate::authz::Decision);

impl std::fmt::Display for DecisionText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0.requested, self.0.reason())
    }
}
