//! Robot accounts: made, given new secrets, disabled, removed. Authenticating as one is
//! `authn/robot.rs`.

use secrecy::SecretString;

use super::{audited, ManageError};
use crate::authn::{new_secret, ROBOT_SECRET_PREFIX};
use crate::domain::{Actor, Lifetime, Username};
use crate::store::{now, RobotRecord, Store, StoreError};

#[derive(Clone)]
pub struct RobotAdmin {
    store: Store,
}

/// A robot as listed, with how many of its secrets are live.
pub struct RobotSummary {
    pub robot: RobotRecord,
    pub live_secrets: usize,
}

impl RobotAdmin {
    /// For unit tests: robot NAME, made by the server, without expiry; its secret.
    #[cfg(test)]
    pub(crate) async fn create_for_test(store: &crate::store::Store, name: &str) -> SecretString {
        RobotAdmin::new(store.clone())
            .create(
                &Actor::server(),
                &Username::parse(name).unwrap(),
                "pipeline",
                None,
            )
            .await
            .unwrap()
    }

    pub fn new(store: Store) -> RobotAdmin {
        RobotAdmin { store }
    }

    /// Creates a robot; returns its first secret (the only copy).
    pub async fn create(
        &self,
        actor: &Actor,
        name: &Username,
        description: &str,
        lifetime: Option<Lifetime>,
    ) -> Result<SecretString, ManageError> {
        let s = new_secret(ROBOT_SECRET_PREFIX).map_err(|e| ManageError::Invalid(e.to_string()))?;
        let expires_at = lifetime.map(|l| l.expires_at(now()));
        self.store
            .robot_create(name.as_str(), description, expires_at, &s.id, &s.hash)
            .await?;
        audited("robot_created", actor, &format!("robot:{name}"), "");
        Ok(s.secret)
    }

    /// A new secret; the old ones stop working (with the robot's refresh tokens) unless
    /// `keep_old`, for a rotation window.
    pub async fn regenerate(
        &self,
        actor: &Actor,
        name: &str,
        keep_old: bool,
    ) -> Result<SecretString, ManageError> {
        let s = new_secret(ROBOT_SECRET_PREFIX).map_err(|e| ManageError::Invalid(e.to_string()))?;
        self.store
            .robot_add_secret(name, &s.id, &s.hash, keep_old)
            .await?;
        audited(
            "robot_secret_regenerated",
            actor,
            &format!("robot:{name}"),
            if keep_old {
                "the old secrets still work"
            } else {
                "the old secrets were revoked"
            },
        );
        Ok(s.secret)
    }

    pub async fn set_disabled(
        &self,
        actor: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<(), ManageError> {
        self.store.robot_set_disabled(name, disabled).await?;
        let event = if disabled {
            "robot_disabled"
        } else {
            "robot_enabled"
        };
        audited(event, actor, &format!("robot:{name}"), "");
        Ok(())
    }

    pub async fn remove(&self, actor: &Actor, name: &str) -> Result<(), ManageError> {
        if self.store.robot_get(name).await?.is_none() {
            return Err(StoreError::NotFound(format!("robot {name:?}")).into());
        }
        self.store.robot_delete(name).await?;
        audited("robot_removed", actor, &format!("robot:{name}"), "");
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<RobotSummary>, ManageError> {
        let mut out = Vec::new();
        for robot in self.store.robot_list().await? {
            let live_secrets = self
                .store
                .robot_secrets(&robot.name)
                .await?
                .iter()
                .filter(|s| s.revoked_at.is_none())
                .count();
            out.push(RobotSummary {
                robot,
                live_secrets,
            });
        }
        Ok(out)
    }
}
