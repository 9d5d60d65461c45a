//! Client certificates: a machine that holds a certificate from the configured client CA
//! logs in as the robot or user its name maps to (`server.tls.client_identities`), with no
//! secret to rotate or leak. The TLS handshake has verified the certificate; what is left
//! is whether that principal may act now: it exists, is enabled, is not expired.

use futures_util::future::BoxFuture;

use super::{AuthError, AuthOutcome, Authenticated, Credentials, Rejection, Robots};
use crate::config::ClientPrincipal;
use crate::domain::{AuthSource, Identity, PrincipalKind};
use crate::store::Store;

pub struct ClientCertificates {
    store: Store,
    robots: Robots,
}

impl ClientCertificates {
    pub fn new(store: Store) -> ClientCertificates {
        ClientCertificates {
            robots: Robots::new(store.clone()),
            store,
        }
    }

    async fn verify(&self, who: &ClientPrincipal) -> Result<AuthOutcome, AuthError> {
        match who.kind {
            PrincipalKind::Robot => Ok(match self.robots.check(&who.name).await? {
                AuthOutcome::Authenticated(mut a) => {
                    a.identity.source = AuthSource::ClientCertificate;
                    AuthOutcome::Authenticated(a)
                }
                other => other,
            }),
            _ => {
                let Some(user) = self.store.user_get(&who.name).await? else {
                    return Ok(AuthOutcome::Rejected(Rejection::UnknownUser));
                };
                if user.disabled {
                    return Ok(AuthOutcome::Rejected(Rejection::Disabled));
                }
                let groups = self.store.user_groups(&user.name).await?;
                Ok(AuthOutcome::Authenticated(Authenticated::new(
                    Identity::user(user.name, groups, AuthSource::ClientCertificate),
                )))
            }
        }
    }
}

impl super::Authenticator for ClientCertificates {
    fn name(&self) -> &'static str {
        "client_certificate"
    }

    fn authenticate<'a>(
        &'a self,
        creds: &'a Credentials,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        Box::pin(async move {
            match creds {
                Credentials::ClientCertificate(who) => self.verify(who).await,
                _ => Ok(AuthOutcome::NoMatch),
            }
        })
    }

    /// Nothing to guess: the handshake proved possession of the certificate's key.
    fn unguessable(&self, creds: &Credentials) -> bool {
        matches!(creds, Credentials::ClientCertificate(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Authenticator;
    use crate::store::memory_store;

    #[tokio::test]
    async fn a_certificate_logs_in_as_its_robot_or_user_while_they_are_enabled() {
        let store = memory_store().await;
        crate::manage::RobotAdmin::create_for_test(&store, "ci").await;
        let certs = ClientCertificates::new(store.clone());
        let robot =
            Credentials::ClientCertificate(ClientPrincipal::new(PrincipalKind::Robot, "ci"));
        match certs.authenticate(&robot, "registry").await.unwrap() {
            AuthOutcome::Authenticated(a) => {
                assert_eq!(a.identity.subject(), "robot:ci");
                assert_eq!(a.identity.source, AuthSource::ClientCertificate);
            }
            other => panic!("{other:?}"),
        }
        store.robot_set_disabled("ci", true).await.unwrap();
        assert_eq!(
            certs.authenticate(&robot, "registry").await.unwrap(),
            AuthOutcome::Rejected(Rejection::Disabled)
        );
        let nobody =
            Credentials::ClientCertificate(ClientPrincipal::new(PrincipalKind::User, "nobody"));
        assert_eq!(
            certs.authenticate(&nobody, "registry").await.unwrap(),
            AuthOutcome::Rejected(Rejection::UnknownUser)
        );
        let password = Credentials::Password {
            username: "ci".into(),
            password: "x".to_string().into(),
        };
        assert_eq!(
            certs.authenticate(&password, "registry").await.unwrap(),
            AuthOutcome::NoMatch
        );
    }
}
