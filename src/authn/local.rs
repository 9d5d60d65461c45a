//! Local users: names and argon2id hashes in the store, managed by `portcullis user`.

use secrecy::SecretString;

use super::{AuthError, AuthOutcome, Authenticated, PasswordHasher, Rejection};
use crate::domain::{AuthSource, Identity};
use crate::store::Store;

#[derive(Clone)]
pub struct LocalUsers {
    store: Store,
    hasher: PasswordHasher,
}

impl LocalUsers {
    pub fn new(store: Store, hasher: PasswordHasher) -> LocalUsers {
        LocalUsers { store, hasher }
    }

    pub async fn verify(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let user = self.store.user_get(username).await?;
        // Always pay for one verification, so that timing does not reveal which names exist
        // or are disabled.
        let ok = self
            .hasher
            .verify(user.as_ref().map(|u| &u.password_hash), password)
            .await?;
        let Some(user) = user else {
            return Ok(AuthOutcome::NoMatch);
        };
        if !ok {
            return Ok(AuthOutcome::Rejected(Rejection::WrongPassword));
        }
        if user.disabled {
            return Ok(AuthOutcome::Rejected(Rejection::Disabled));
        }
        let groups = self.store.user_groups(&user.name).await?;
        Ok(AuthOutcome::Authenticated(Authenticated::new(
            Identity::user(user.name, groups, AuthSource::Password),
        )))
    }
}

impl super::Authenticator for LocalUsers {
    fn name(&self) -> &'static str {
        "local"
    }

    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        _service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        super::authenticator::with_password(creds, |name, password| self.verify(name, password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::password::hash_password;
    use crate::store::memory_store;

    async fn setup() -> LocalUsers {
        let store = memory_store().await;
        let hash = hash_password(&SecretString::from("alicepass")).unwrap();
        store.user_create("alice", &hash).await.unwrap();
        store.group_create("dev").await.unwrap();
        store.group_add_member("dev", "alice").await.unwrap();
        LocalUsers::new(store, PasswordHasher::new(2))
    }

    #[tokio::test]
    async fn the_right_password_yields_the_user_with_their_groups() {
        let l = setup().await;
        let out = l
            .verify("alice", &SecretString::from("alicepass"))
            .await
            .unwrap();
        assert_eq!(
            out,
            AuthOutcome::Authenticated(Authenticated::new(Identity::user(
                "alice",
                vec!["dev".into()],
                AuthSource::Password
            )))
        );
    }

    #[tokio::test]
    async fn a_wrong_password_is_rejected_and_an_unknown_user_is_no_match() {
        let l = setup().await;
        assert_eq!(
            l.verify("alice", &SecretString::from("nope"))
                .await
                .unwrap(),
            AuthOutcome::Rejected(Rejection::WrongPassword)
        );
        assert_eq!(
            l.verify("mallory", &SecretString::from("x")).await.unwrap(),
            AuthOutcome::NoMatch
        );
    }

    #[tokio::test]
    async fn a_user_who_signs_in_elsewhere_costs_the_same_verification_as_an_unknown_name() {
        let l = setup().await;
        l.store
            .user_sign_in_external("oidc", "https://idp.example", "sub", "sso-user", &[])
            .await
            .unwrap();
        let runs = l.hasher.runs();
        let out = l
            .verify("sso-user", &SecretString::from("guess"))
            .await
            .unwrap();
        assert_eq!(out, AuthOutcome::Rejected(Rejection::WrongPassword));
        assert_eq!(l.hasher.runs(), runs + 1, "a full dummy verification");
        l.verify("nobody", &SecretString::from("guess"))
            .await
            .unwrap();
        assert_eq!(l.hasher.runs(), runs + 2, "the same as an unknown name");
    }

    #[tokio::test]
    async fn a_disabled_user_is_rejected_even_with_the_right_password() {
        let l = setup().await;
        l.store.user_set_disabled("alice", true).await.unwrap();
        assert_eq!(
            l.verify("alice", &SecretString::from("alicepass"))
                .await
                .unwrap(),
            AuthOutcome::Rejected(Rejection::Disabled)
        );
    }
}
