//! Personal access tokens: named, scoped, optionally expiring secrets (`pcp_…`) a user (or
//! an admin for them) makes for a machine (`manage/access_tokens.rs`), used as the password
//! in `docker login -u USER`.
//! The grant is the intersection of the token's scopes and what the owner's policies allow
//! *today*: a token never outlives its owner's permissions, and a disabled owner disables it.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::secret::{hash_secret, looks_like};
use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::domain::{AuthSource, Identity, ScopeLimit};
use crate::store::{now, AccessTokenRecord, Store};

pub const ACCESS_TOKEN_PREFIX: &str = "pcp_";
const TOUCH_INTERVAL: i64 = 60;

#[derive(Clone)]
pub struct AccessTokens {
    store: Store,
}

impl AccessTokens {
    pub fn new(store: Store) -> AccessTokens {
        AccessTokens { store }
    }

    /// `NoMatch` when the secret is not one of our tokens (it may be a password).
    pub async fn verify(
        &self,
        username: &str,
        token: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let token = token.expose_secret();
        if !looks_like(token, ACCESS_TOKEN_PREFIX) {
            return Ok(AuthOutcome::NoMatch);
        }
        let Some(rec) = self.store.access_token_find(&hash_secret(token)).await? else {
            return Ok(AuthOutcome::NoMatch);
        };
        if rec.owner != username {
            return Ok(AuthOutcome::Rejected(Rejection::NotTheOwner));
        }
        let outcome = self.check(&rec).await?;
        if let AuthOutcome::Authenticated(_) = &outcome {
            let t = now();
            if rec.last_used_at.is_none_or(|u| t - u >= TOUCH_INTERVAL) {
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.access_token_touch(&rec.id, t).await {
                        tracing::warn!(error = %e, "could not record an access token's last use");
                    }
                });
            }
        }
        Ok(outcome)
    }

    /// A token presented alone (`Authorization: Bearer` on the admin API): it names its
    /// owner. `NoMatch` when it is not one of ours.
    pub async fn verify_bearer(&self, token: &SecretString) -> Result<AuthOutcome, AuthError> {
        let token = token.expose_secret();
        if !looks_like(token, ACCESS_TOKEN_PREFIX) {
            return Ok(AuthOutcome::NoMatch);
        }
        let Some(rec) = self.store.access_token_find(&hash_secret(token)).await? else {
            return Ok(AuthOutcome::NoMatch);
        };
        self.check(&rec).await
    }

    /// Whether a stored token may be used now, and as whom: live, owner present and enabled.
    pub async fn check(&self, rec: &AccessTokenRecord) -> Result<AuthOutcome, AuthError> {
        let t = now();
        if rec.revoked_at.is_some() {
            return Ok(AuthOutcome::Rejected(Rejection::RevokedToken));
        }
        if rec.expires_at.is_some_and(|e| e <= t) {
            return Ok(AuthOutcome::Rejected(Rejection::ExpiredToken));
        }
        let Some(owner) = self.store.user_get(&rec.owner).await? else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownUser));
        };
        if owner.disabled {
            return Ok(AuthOutcome::Rejected(Rejection::Disabled));
        }
        let limit = ScopeLimit::parse(&rec.scopes.split(' ').collect::<Vec<_>>()).map_err(|e| {
            AuthError::caused(
                "database",
                format!("access token {} has unreadable scopes", rec.id),
                e,
            )
        })?;
        let mut identity = Identity::user(
            owner.name,
            self.store.user_groups(&rec.owner).await?,
            AuthSource::AccessToken,
        );
        identity.limit = Some(Arc::new(limit));
        Ok(AuthOutcome::Authenticated(Authenticated {
            identity,
            pat_id: Some(rec.id.clone()),
            expires_at: rec.expires_at,
            remembered: false,
        }))
    }
}

impl super::Authenticator for AccessTokens {
    fn name(&self) -> &'static str {
        "access_token"
    }

    /// A `pcp_…` password that is one of ours decides; any other password is no match
    /// (it may be a real password, for the password authenticators after this one).
    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        _service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        match creds {
            super::Credentials::Bearer(token) => Box::pin(self.verify_bearer(token)),
            _ => super::authenticator::with_password(creds, |name, password| {
                self.verify(name, password)
            }),
        }
    }

    /// A bearer token is 256 random bits: counted per secret, never against the client.
    fn unguessable(&self, creds: &super::Credentials) -> bool {
        matches!(creds, super::Credentials::Bearer(_))
    }
}
