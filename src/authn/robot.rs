//! Robot accounts: non-human principals (`robot:NAME` in policies) for pipelines and
//! services, with one or more secrets (`pcb_…`) that can be regenerated, an optional
//! expiry and a disabled state. They log in as `robot+NAME` (a `+` cannot appear in a
//! user name, so the two never collide).

use secrecy::{ExposeSecret, SecretString};

use super::secret::{hash_secret, looks_like, new_secret};
use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::domain::{AuthSource, Identity};
use crate::store::{now, Store};

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

    /// Creates a robot; returns its first secret (the only copy).
    pub async fn create(
        &self,
        name: &str,
        description: &str,
        expires_at: Option<i64>,
    ) -> anyhow::Result<SecretString> {
        let s = new_secret(ROBOT_SECRET_PREFIX)?;
        self.store
            .robot_create(name, description, expires_at, &s.id, &s.hash)
            .await?;
        Ok(s.secret)
    }

    /// A new secret; the old ones stop working unless `keep_old` (for a rotation window).
    pub async fn regenerate(&self, name: &str, keep_old: bool) -> anyhow::Result<SecretString> {
        let s = new_secret(ROBOT_SECRET_PREFIX)?;
        self.store
            .robot_add_secret(name, &s.id, &s.hash, keep_old)
            .await?;
        Ok(s.secret)
    }

    pub async fn authenticate(
        &self,
        name: &str,
        secret: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let secret = secret.expose_secret();
        let Some(robot) = self.store.robot_get(name).await? else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownRobot));
        };
        if !looks_like(secret, ROBOT_SECRET_PREFIX) {
            return Ok(AuthOutcome::Rejected(Rejection::WrongSecret));
        }
        let found = self.store.robot_secret_find(&hash_secret(secret)).await?;
        let Some(rec) = found.filter(|s| s.robot == robot.name) else {
            return Ok(AuthOutcome::Rejected(Rejection::WrongSecret));
        };
        if rec.revoked_at.is_some() {
            return Ok(AuthOutcome::Rejected(Rejection::RevokedToken));
        }
        let outcome = self.check(name).await?;
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
        let Some(robot) = self.store.robot_get(name).await? else {
            return Ok(AuthOutcome::Rejected(Rejection::UnknownRobot));
        };
        if robot.disabled {
            return Ok(AuthOutcome::Rejected(Rejection::Disabled));
        }
        if !robot.is_active(now()) {
            return Ok(AuthOutcome::Rejected(Rejection::Expired));
        }
        Ok(AuthOutcome::Authenticated(Authenticated {
            expires_at: robot.expires_at,
            ..Authenticated::new(Identity::robot(robot.name, AuthSource::RobotSecret))
        }))
    }
}
