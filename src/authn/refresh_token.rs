//! Refresh tokens: what `docker login` stores as its `identitytoken` instead of the password.
//!
//! Bound to one principal (user or robot) and one service, expiring, revocable, and **never
//! rotated on use**: dockerd keeps the first refresh token it got and has no way to store a
//! new one (moby/moby#39718). One issued through a personal access token stays limited by
//! that token's scopes and dies with it, so a narrow token cannot be traded for a wide one.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::access_token::AccessTokens;
use super::ldap::LdapDirectory;
use super::robot::Robots;
use super::secret::{hash_secret, looks_like, new_secret};
use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::domain::{AuthSource, Identity, PrincipalKind};
use crate::store::{now, NewRefreshToken, Store};

pub const REFRESH_TOKEN_PREFIX: &str = "pcr_";
/// How stale `last_used_at` may get before a use writes it again.
const TOUCH_INTERVAL: i64 = 60;

#[derive(Clone)]
pub struct RefreshTokens {
    store: Store,
    ttl: Duration,
    /// Refresh tokens a principal keeps at most (`token.refresh_tokens_per_subject`).
    per_subject: usize,
    tokens: AccessTokens,
    robots: Robots,
    /// For directory users: asked again (exists? which groups?) on every use.
    ldap: Option<LdapDirectory>,
}

impl RefreshTokens {
    pub fn new(store: Store, ttl: Duration, per_subject: usize) -> RefreshTokens {
        RefreshTokens {
            per_subject,
            tokens: AccessTokens::new(store.clone()),
            robots: Robots::new(store.clone()),
            store,
            ttl,
            ldap: None,
        }
    }

    pub fn with_ldap(mut self, ldap: LdapDirectory) -> RefreshTokens {
        self.ldap = Some(ldap);
        self
    }

    /// Creates and stores a refresh token for what `who` authenticated as; returns the only
    /// copy of the secret. It never outlives the credential it was issued through.
    pub async fn issue(
        &self,
        who: &Authenticated,
        service: &str,
        client_id: &str,
    ) -> Result<SecretString, AuthError> {
        let s = new_secret(REFRESH_TOKEN_PREFIX)?;
        let mut expires_at = now() + self.ttl.as_secs() as i64;
        if let Some(e) = who.expires_at {
            expires_at = expires_at.min(e);
        }
        self.store
            .refresh_token_insert(
                &NewRefreshToken {
                    token_hash: &s.hash,
                    id: &s.id,
                    subject_kind: who.identity.kind.as_str(),
                    subject: &who.identity.name,
                    pat_id: who.pat_id.as_deref(),
                    source: if who.identity.source == AuthSource::Ldap {
                        "ldap"
                    } else {
                        "local"
                    },
                    service,
                    client_id,
                    expires_at,
                },
                self.per_subject,
            )
            .await?;
        Ok(s.secret)
    }

    pub async fn verify(
        &self,
        token: &SecretString,
        service: &str,
    ) -> Result<AuthOutcome, AuthError> {
        let token = token.expose_secret();
        if !looks_like(token, REFRESH_TOKEN_PREFIX) {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownToken));
        }
        let Some(rec) = self.store.refresh_token_find(&hash_secret(token)).await? else {
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
        // The principal (and the access token it came through) must still be good.
        let outcome = if let Some(pat_id) = &rec.pat_id {
            match self.store.access_token_get(pat_id).await? {
                Some(pat) if pat.owner == rec.subject => self.tokens.check(&pat).await?,
                _ => AuthOutcome::Rejected(Rejection::RevokedToken),
            }
        } else if rec.subject_kind == PrincipalKind::Robot.as_str() {
            self.robots.check(&rec.subject).await?
        } else if rec.source == "ldap" {
            // A directory user: still there, and in which groups today? (No password needed.)
            match self.ldap.as_ref() {
                None => AuthOutcome::Rejected(Rejection::UnknownUser),
                Some(ldap) => match ldap.lookup(&rec.subject).await? {
                    None => AuthOutcome::Rejected(Rejection::UnknownUser),
                    Some(u) => AuthOutcome::Authenticated(Authenticated::new(Identity::user(
                        rec.subject.clone(),
                        u.groups,
                        AuthSource::RefreshToken,
                    ))),
                },
            }
        } else {
            match self.store.user_get(&rec.subject).await? {
                None => AuthOutcome::Rejected(Rejection::UnknownUser),
                Some(u) if u.disabled => AuthOutcome::Rejected(Rejection::Disabled),
                Some(u) => {
                    let groups = self.store.user_groups(&u.name).await?;
                    AuthOutcome::Authenticated(Authenticated::new(Identity::user(
                        u.name,
                        groups,
                        AuthSource::RefreshToken,
                    )))
                }
            }
        };
        let AuthOutcome::Authenticated(mut who) = outcome else {
            return Ok(outcome);
        };
        who.identity.source = AuthSource::RefreshToken;
        who.expires_at = Some(
            who.expires_at
                .map_or(rec.expires_at, |e| e.min(rec.expires_at)),
        );
        if rec.last_used_at.is_none_or(|u| t - u >= TOUCH_INTERVAL) {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.refresh_token_touch(&rec.id, t).await {
                    tracing::warn!(error = %e, "could not record a refresh token's last use");
                }
            });
        }
        Ok(AuthOutcome::Authenticated(who))
    }
}

impl super::Authenticator for RefreshTokens {
    fn name(&self) -> &'static str {
        "refresh_token"
    }

    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        Box::pin(async move {
            match creds {
                super::Credentials::RefreshToken(token) => self.verify(token, service).await,
                _ => Ok(AuthOutcome::NoMatch),
            }
        })
    }

    fn unguessable(&self, creds: &super::Credentials) -> bool {
        matches!(creds, super::Credentials::RefreshToken(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScopeLimit;
    use crate::store::{memory_store, PasswordHash};

    async fn setup() -> (Store, RefreshTokens, Authenticated) {
        let store = memory_store().await;
        store
            .user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        let rt = RefreshTokens::new(store.clone(), Duration::from_secs(3600), 100);
        (
            store,
            rt,
            Authenticated::new(Identity::user("alice", vec![], AuthSource::Password)),
        )
    }

    fn identity(o: AuthOutcome) -> Identity {
        match o {
            AuthOutcome::Authenticated(a) => a.identity,
            other => panic!("expected authenticated, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refresh_token_authenticates_its_user_for_its_service_only() {
        let (_, rt, alice) = setup().await;
        let t = rt.issue(&alice, "svc", "docker").await.unwrap();
        assert!(t.expose_secret().starts_with("pcr_"));
        let id = identity(rt.verify(&t, "svc").await.unwrap());
        assert_eq!(
            (id.name.as_str(), id.source),
            ("alice", AuthSource::RefreshToken)
        );
        assert_eq!(
            rt.verify(&t, "other").await.unwrap(),
            AuthOutcome::Rejected(Rejection::WrongService)
        );
        // Not rotated: the same token keeps working.
        identity(rt.verify(&t, "svc").await.unwrap());
    }

    #[tokio::test]
    async fn revoked_unknown_and_disabled_owner_tokens_are_rejected() {
        let (store, rt, alice) = setup().await;
        let t = rt.issue(&alice, "svc", "docker").await.unwrap();
        store.user_set_disabled("alice", true).await.unwrap();
        assert_eq!(
            rt.verify(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::Disabled)
        );
        store.refresh_token_revoke_subject("alice").await.unwrap();
        assert_eq!(
            rt.verify(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::RevokedToken)
        );
        let forged = SecretString::from(format!("{REFRESH_TOKEN_PREFIX}{}", "A".repeat(43)));
        assert_eq!(
            rt.verify(&forged, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::UnknownToken)
        );
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_rejected() {
        let store = memory_store().await;
        store
            .user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        let rt = RefreshTokens::new(store, Duration::ZERO, 100);
        let who = Authenticated::new(Identity::user("alice", vec![], AuthSource::Password));
        let t = rt.issue(&who, "svc", "docker").await.unwrap();
        assert_eq!(
            rt.verify(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::ExpiredToken)
        );
    }

    #[tokio::test]
    async fn a_refresh_token_from_an_access_token_keeps_its_limit_and_dies_with_it() {
        let (store, rt, _) = setup().await;
        let tokens = AccessTokens::new(store.clone());
        let limit = ScopeLimit::parse(&["repository:team/app:pull"]).unwrap();
        let pat = crate::manage::AccessTokens::new(store.clone())
            .create(
                &crate::domain::Actor::server(),
                "alice",
                &crate::domain::TokenName::parse("ci").unwrap(),
                &limit,
                None,
            )
            .await
            .unwrap();
        let AuthOutcome::Authenticated(via_pat) =
            tokens.verify("alice", &pat.secret).await.unwrap()
        else {
            panic!("the token authenticates")
        };
        let t = rt.issue(&via_pat, "svc", "docker").await.unwrap();
        let id = identity(rt.verify(&t, "svc").await.unwrap());
        assert_eq!(id.limit.as_deref(), Some(&limit), "still limited");
        store.access_token_revoke(&pat.id).await.unwrap();
        assert_eq!(
            rt.verify(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::RevokedToken)
        );
    }

    #[tokio::test]
    async fn a_robots_refresh_token_follows_the_robot() {
        let store = memory_store().await;
        let robots = Robots::new(store.clone());
        let secret = crate::manage::RobotAdmin::create_for_test(&store, "ci").await;
        let AuthOutcome::Authenticated(bot) = robots.verify("ci", &secret).await.unwrap() else {
            panic!()
        };
        let rt = RefreshTokens::new(store.clone(), Duration::from_secs(3600), 100);
        let t = rt.issue(&bot, "svc", "docker").await.unwrap();
        let id = identity(rt.verify(&t, "svc").await.unwrap());
        assert_eq!((id.kind, id.name.as_str()), (PrincipalKind::Robot, "ci"));
        store.robot_set_disabled("ci", true).await.unwrap();
        assert_eq!(
            rt.verify(&t, "svc").await.unwrap(),
            AuthOutcome::Rejected(Rejection::Disabled)
        );
    }
}
