//! The token flow, independent of HTTP: authenticate the credentials, decide every
//! requested scope against the policies, sign the grant, audit the decision.

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::audit::{self, Outcome, TokenEvent};
use crate::authn::{AuthChain, AuthError, AuthOutcome, Authenticated, Rejection};
use crate::authz::{Authorizer, Decision};
use crate::domain::{PrincipalKind, Requester};
mod request;

use crate::token::{Access, IssuedToken, TokenSigner};
pub use request::{Credentials, TokenRequest, ACCOUNT_MISMATCH};

/// A successful answer: the signed token, the decisions behind it, and a refresh token when
/// asked.
pub struct Grant {
    pub token: IssuedToken,
    /// One per requested scope; those granting something are in the token.
    pub decisions: Vec<Decision>,
    pub refresh_token: Option<SecretString>,
}

impl Grant {
    /// What the token grants: `repository:team/app:pull repository:other:pull,push`.
    pub fn write_granted(&self, out: &mut String) {
        for (i, d) in self
            .decisions
            .iter()
            .filter(|d| !d.granted.is_empty())
            .enumerate()
        {
            if i > 0 {
                out.push(' ');
            }
            d.requested.write_with_actions(&d.granted, out);
        }
    }
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

    /// The policy in force, for the admin API's own decisions and `explain`.
    pub fn policies(&self) -> &Arc<dyn Authorizer> {
        &self.policies
    }

    /// Answers one token request from `client` (its address, when known), whose id is
    /// `request_id` (for the audit record).
    pub async fn handle(
        &self,
        mut req: TokenRequest,
        client: Option<IpAddr>,
        request_id: &str,
    ) -> Result<Grant, Refusal> {
        // No token without its audit record (`audit.when_full = "reject"`). Counted, not
        // recorded (it could not be) nor logged per request (the writer says why, once).
        if !audit::accepting() {
            crate::metrics::token(Outcome::Failed, "", false);
            return Err(Refusal::Unavailable(AuthError::new(
                "the audit trail",
                "the audit trail cannot be written now, and no token is issued without its record",
            )));
        }
        let scopes = std::mem::take(&mut req.scopes);
        let mut event = TokenEvent {
            outcome: Outcome::Invalid,
            subject: req.credentials.claimed_name(),
            auth: match &req.credentials {
                Credentials::Anonymous => "anonymous",
                Credentials::Password { .. } => "password",
                Credentials::RefreshToken(_) => "refresh_token",
                Credentials::Bearer(_) => "bearer",
                Credentials::ClientCertificate(_) => "client_certificate",
            },
            remembered: false,
            client_ip: client,
            client_id: req.client_id.as_deref().unwrap_or(""),
            service: req.service.as_deref().unwrap_or(&self.service),
            requested: &scopes,
            decisions: &[],
            reason: "",
            jti: "",
            request_id,
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
                        Credentials::ClientCertificate(_) => {
                            "the robot or user this client certificate names is unknown, disabled or expired"
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
        // (With a password, the parser already compared it with the name given.) So is one
        // naming someone other than a client certificate's principal.
        if let (
            Some(w),
            Some(account),
            Credentials::RefreshToken(_) | Credentials::ClientCertificate(_),
        ) = (&who, &req.account, &req.credentials)
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

        if let Some(w) = &who {
            event.auth = w.identity.source.as_str();
            event.remembered = w.remembered;
        }
        // `who` is done with: its identity moves into the requester (no copy per request).
        let requester = match who {
            None => Requester::Anonymous,
            Some(w) => Requester::Authenticated(w.identity),
        };

        // What the final record needs of the request, before its scopes move into their
        // decisions (the record then reads them there: no copy per scope).
        let TokenEvent {
            auth,
            remembered,
            client_ip,
            client_id,
            service,
            request_id,
            ..
        } = event;
        let decisions: Vec<Decision> = scopes
            .into_iter()
            .map(|s| {
                // portcullis's own resources (the admin API) are never put in a registry
                // token: the API takes personal access tokens, not registry tokens.
                if s.resource_type.is_portcullis() {
                    Decision::not_granted(s)
                } else {
                    self.policies.decide_owned(&requester, s)
                }
            })
            .collect();
        // The token's access entries borrow from the decisions: nothing is copied.
        let access: Vec<Access<'_>> = decisions
            .iter()
            .filter(|d| !d.granted.is_empty())
            .map(|d| Access {
                resource: &d.requested,
                actions: &d.granted,
            })
            .collect();
        let subject = requester.subject();
        let token = self.signer.issue(&subject, &self.service, &access);
        drop(access);

        audit::token(&TokenEvent {
            outcome: Outcome::Issued,
            subject: &subject,
            auth,
            remembered,
            client_ip,
            client_id,
            service,
            requested: &[],
            decisions: &decisions,
            reason: "login (no scope requested)",
            jti: &token.jti,
            request_id,
        });
        Ok(Grant {
            token,
            decisions,
            refresh_token,
        })
    }

    fn unavailable(&self, e: AuthError, event: &TokenEvent<'_, '_>) -> Refusal {
        tracing::error!(backend = e.backend, error = %e.report(), "token request failed: an authentication backend is unavailable");
        crate::metrics::backend_error(e.backend);
        let reason = e.to_string();
        audit::token(&TokenEvent {
            outcome: Outcome::Failed,
            reason: &reason,
            ..*event
        });
        Refusal::Unavailable(e)
    }
}
