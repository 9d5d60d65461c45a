//! Robot accounts: non-human principals (`robot:NAME` in policies) for pipelines and
//! services, with one or more secrets (`pcb_…`) that can be regenerated, an optional
//! expiry and a disabled state. They log in as `robot+NAME` (a `+` cannot appear in a
//! user name, so the two never collide).

use secrecy::{ExposeSecret, SecretString};

use super::secret::{hash_secret, looks_like};
use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::domain::{AuthSource, Identity};
use crate::store::{now, RobotRecord, Store};

pub const ROBOT_SECRET_PREFIX: &str = "pcb_";
pub use crate::domain::ROBOT_LOGIN_PREFIX;
const TOUCH_INTERVAL: i64 = 60;

#[derive(Clone)]
pub struct Robots {
    store: Store,
}

impl Robots {
    pub fn new(store: Store) -> Robots {
        Robots { store }
    }

    /// One statement whether or not the robot exists, the secret is right or the robot is
    /// disabled: the time taken tells nothing about which robots exist.
    pub async fn verify(
        &self,
        name: &str,
        secret: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let secret = secret.expose_secret();
        if !looks_like(secret, ROBOT_SECRET_PREFIX) {
            return Ok(AuthOutcome::Rejected(Rejection::WrongSecret));
        }
        let (robot, found) = self
            .store
            .robot_credential(name, &hash_secret(secret))
            .await?;
        let Some(robot) = robot else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownRobot));
        };
        let Some(rec) = found.filter(|s| s.robot == robot.name) else {
            return Ok(AuthOutcome::Rejected(Rejection::WrongSecret));
        };
        if rec.revoked_at.is_some() {
            return Ok(AuthOutcome::Rejected(Rejection::RevokedToken));
        }
        let outcome = active(robot);
        let t = now();
        if matches!(outcome, AuthOutcome::Authenticated(_))
            && rec.last_used_at.is_none_or(|u| t - u >= TOUCH_INTERVAL)
        {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.robot_secret_touch(&rec.id, t).await {
                    tracing::warn!(error = %e, "could not record a robot secret's last use");
                }
            });
        }
        Ok(outcome)
    }

    /// Whether robot NAME may act now (exists, enabled, not expired).
    pub async fn check(&self, name: &str) -> Result<AuthOutcome, AuthError> {
        Ok(match self.store.robot_get(name).await? {
            None => AuthOutcome::Rejected(Rejection::UnknownRobot),
            Some(robot) => active(robot),
        })
    }
}

impl super::Authenticator for Robots {
    fn name(&self) -> &'static str {
        "robot"
    }

    /// `robot+NAME` logins are robots' (decided here, never tried as passwords).
    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        _service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        Box::pin(async move {
            match creds {
                super::Credentials::Password { username, password } => {
                    match username.strip_prefix(ROBOT_LOGIN_PREFIX) {
                        Some(robot) => self.verify(robot, password).await,
                        None => Ok(AuthOutcome::NoMatch),
                    }
                }
                _ => Ok(AuthOutcome::NoMatch),
            }
        })
    }

    fn unguessable(&self, creds: &super::Credentials) -> bool {
        matches!(creds, super::Credentials::Password { username, .. } if username.starts_with(ROBOT_LOGIN_PREFIX))
    }
}

/// The robot as an identity, if it may act now (enabled, not expired).
fn active(robot: RobotRecord) -> AuthOutcome {
    if robot.disabled {
        return AuthOutcome::Rejected(Rejection::Disabled);
    }
    if !robot.is_active(now()) {
        return AuthOutcome::Rejected(Rejection::Expired);
    }
    AuthOutcome::Authenticated(Authenticated {
        expires_at: robot.expires_at,
        ..Authenticated::new(Identity::robot(robot.name, AuthSource::RobotSecret))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_store;

    #[tokio::test]
    async fn an_unknown_robot_costs_the_same_work_as_a_wrong_secret() {
        let store = memory_store().await;
        let robots = Robots::new(store.clone());
        let secret = crate::manage::RobotAdmin::create_for_test(&store, "ci").await;
        let wrong = SecretString::from(format!("{ROBOT_SECRET_PREFIX}{}", "A".repeat(43)));
        let cost = |name: &'static str, secret: SecretString| {
            let (store, robots) = (store.clone(), robots.clone());
            async move {
                let before = store.round_trips();
                let out = robots.verify(name, &secret).await.unwrap();
                (out, store.round_trips() - before)
            }
        };
        let (unknown, a) = cost("nobody", wrong.clone()).await;
        let (wrong_secret, b) = cost("ci", wrong.clone()).await;
        let (other_robots, c) = cost("nobody", secret.clone()).await;
        assert_eq!(unknown, AuthOutcome::Rejected(Rejection::UnknownRobot));
        assert_eq!(wrong_secret, AuthOutcome::Rejected(Rejection::WrongSecret));
        assert_eq!(other_robots, AuthOutcome::Rejected(Rejection::UnknownRobot));
        assert_eq!((a, b, c), (1, 1, 1), "one statement each");
        store.robot_set_disabled("ci", true).await.unwrap();
        let (disabled, d) = cost("ci", secret).await;
        assert_eq!(disabled, AuthOutcome::Rejected(Rejection::Disabled));
        assert_eq!(d, 1);
    }
}
