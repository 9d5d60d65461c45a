//! Refresh tokens: what `docker login` stores as its `identitytoken` instead of the password.
//!
//! 32 random bytes behind a recognisable prefix (so secret scanners can spot a leaked one),
//! stored only as a SHA-256 (a high-entropy secret needs no slow hash), bound to one user and
//! one service, expiring, revocable, and **never rotated on use**: dockerd keeps the first
//! refresh token it got and has no way to store a new one (moby/moby#39718).

use std::time::Duration;

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ring::rand::SecureRandom;
use secrecy::{ExposeSecret, SecretString};

use super::{AuthError, AuthOutcome, Rejection};
use crate::domain::{AuthSource, Identity, PrincipalKind};
use crate::store::{now, NewRefreshToken, Store};

pub const REFRESH_TOKEN_PREFIX: &str = "pcr_";
/// How stale `last_used_at` may get before a use writes it again.
const TOUCH_INTERVAL: i64 = 60;

#[derive(Clone)]
pub struct RefreshTokens {
    store: Store,
    ttl: Duration,
}

impl RefreshTokens {
    pub fn new(store: Store, ttl: Duration) -> RefreshTokens {
        RefreshTokens { store, ttl }
    }

    /// Creates and stores a refresh token for a user; returns the only copy of the secret.
    pub async fn issue(
        &self,
        identity: &Identity,
        service: &str,
        client_id: &str,
    ) -> Result<SecretString, AuthError> {
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AuthError {
                backend: "random number generator",
                cause: "no entropy".into(),
            })?;
        let token = format!("{REFRESH_TOKEN_PREFIX}{}", BASE64URL_NOPAD.encode(&bytes));
        let hash = token_hash(&token);
        self.store
            .refresh_token_insert(&NewRefreshToken {
                token_hash: &hash,
                id: &hash[..12],
                subject: &identity.name,
                service,
                client_id,
                expires_at: now() + self.ttl.as_secs() as i64,
            })
            .await?;
        Ok(SecretString::from(token))
    }

    pub async fn authenticate(
        &self,
        token: &SecretString,
        service: &str,
    ) -> Result<AuthOutcome, AuthError> {
        let token = token.expose_secret();
        if !token.starts_with(REFRESH_TOKEN_PREFIX) || token.len() > 128 {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownToken));
        }
        let Some(rec) = self.store.refresh_token_find(&token_hash(token)).await? else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownToken));
        };
        let t = now();
        if rec.revoked_at.is_some() {
            return Ok(AuthOutcome::Rejected(Rejection::RevokedToken));
        }
        if rec.expires_at <= t {
            return Ok(AuthOutcome::Rejected(Rejection::ExpiredToken));
        }
        if rec.service != service {
            return Ok(AuthOutcome::Rejected(Rejection::WrongService));
        }
        let Some(user) = self.store.user_get(&rec.subject).await? else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownUser));
        };
        if user.disabled {
            return Ok(AuthOutcome::Rejected(Rejection::Disabled));
        }
        if rec.last_used_at.is_none_or(|u| t - u >= TOUCH_INTERVAL) {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.refresh_token_touch(&rec.id, t).await {
                    tracing::warn!(error = %e, "could not record a refresh token's last use");
                }
            });
        }
        let groups = self.store.user_groups(&user.name).await?;
        Ok(AuthOutcome::Authenticated(Identity {
            kind: PrincipalKind::User,
            name: user.name,
            groups,
            source: AuthSource::RefreshToken,
        }))
    }
}

fn token_hash(token: &str) -> String {
    HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{memory_store, PasswordHash};

    async fn setup() -> (Store, RefreshTokens, Identity) {
        let store = memory_store().await;
        store
            .user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        let rt = RefreshTokens::new(store.clone(), Duration::from_secs(3600));
        (
            store,
            rt,
            Identity::user("alice", vec![], AuthSource::Password),
        )
    }

    #[tokio::test]
    async fn a_refresh_token_authenticates_its_user_for_its_service_only() {
        let (_, rt, alice) = setup().await;
        let t = rt.issue(&alice, "svc", "docker").await.unwrap();
        assert!(t.expose_secret().starts_with("pcr_"));
        let AuthOutcome::Authenticated(id) = rt.authenticate(&t, "svc").await.unwrap() else {
            panic!("authenticated")
        };
        assert_eq!(
            (id.name.as_str(), id.source),
            ("alice", AuthSource::RefreshToken)
        );
        assert_eq!(
            rt.authenticate(&t, "other").await.unwrap(),
            AuthOutcome::Rejected(Rejection::WrongService)
        );
        // Not rotated: the same token keeps working.
        assert!(matches!(
            rt.authenticate(&t, "svc").await.unwrap(),
            AuthOutcome::Authenticated(_)
        ));
    }

    #[tokio::test]
    async fn revoked_unknown_and_disabled_owner_tokens_are_rejected() {
        let (store, rt, alice) = setup().await;
        let t = rt.issue(&alice, "svc", "docker").await.unwrap();
        store.user_set_disabled("alice", true).await.unwrap();
        assert_eq!(
            rt.authenticate(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::Disabled)
        );
        store.refresh_token_revoke_subject("alice").await.unwrap();
        assert_eq!(
            rt.authenticate(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::RevokedToken)
        );
        let forged = SecretString::from(format!("{REFRESH_TOKEN_PREFIX}AAAA"));
        assert_eq!(
            rt.authenticate(&forged, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::UnknownToken)
        );
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_rejected() {
        let (_, _, alice) = setup().await;
        let store = memory_store().await;
        store
            .user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        let rt = RefreshTokens::new(store, Duration::ZERO);
        let t = rt.issue(&alice, "svc", "docker").await.unwrap();
        assert_eq!(
            rt.authenticate(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::ExpiredToken)
        );
    }
}
