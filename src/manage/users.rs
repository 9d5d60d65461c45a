//! Local users: made, given a password, disabled, removed.

use secrecy::SecretString;

use super::{audited, ManageError};
use crate::authn::hash_password;
use crate::domain::{Actor, Username};
use crate::store::{PasswordHash, Store, StoreError, UserRecord};

#[derive(Clone)]
pub struct Users {
    store: Store,
}

/// A user as listed: the record and every group it is in (local and external).
pub struct UserSummary {
    pub user: UserRecord,
    pub groups: Vec<String>,
}

impl Users {
    pub fn new(store: Store) -> Users {
        Users { store }
    }

    /// Creates `name` with `password`, in `groups` (which must exist).
    pub async fn create(
        &self,
        actor: &Actor,
        name: &Username,
        password: SecretString,
        groups: &[String],
    ) -> Result<(), ManageError> {
        // Every group must exist before anything is made: nothing half-done is left.
        let known: Vec<String> = self
            .store
            .group_list()
            .await?
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        if let Some(g) = groups.iter().find(|g| !known.contains(g)) {
            return Err(ManageError::Invalid(format!(
                "group {g:?} does not exist, so user {name} was not created. Fix: create the group first (`portcullis group add {g}`)"
            )));
        }
        let hash = hash(password).await?;
        self.store.user_create(name.as_str(), &hash).await?;
        audited("user_created", actor, name.as_str(), "");
        for g in groups {
            self.store
                .group_add_member(g, name.as_str())
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(_) => ManageError::Invalid(format!(
                        "user {name} was created, but not added to group {g:?}: it does not exist (create it with `portcullis group add {g}`)"
                    )),
                    other => other.into(),
                })?;
            audited("group_member_added", actor, g, name.as_str());
        }
        Ok(())
    }

    /// Sets a new password, which also revokes the user's refresh tokens.
    pub async fn set_password(
        &self,
        actor: &Actor,
        name: &str,
        password: SecretString,
    ) -> Result<(), ManageError> {
        if self.store.user_get(name).await?.is_none() {
            return Err(StoreError::NotFound(format!("user {name:?}")).into());
        }
        let hash = hash(password).await?;
        self.store.user_set_password(name, &hash).await?;
        audited(
            "password_changed",
            actor,
            name,
            "the user's refresh tokens are revoked",
        );
        Ok(())
    }

    pub async fn set_disabled(
        &self,
        actor: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<(), ManageError> {
        self.store.user_set_disabled(name, disabled).await?;
        let event = if disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        audited(event, actor, name, "");
        Ok(())
    }

    pub async fn remove(&self, actor: &Actor, name: &str) -> Result<(), ManageError> {
        self.store.user_delete(name).await?;
        audited("user_removed", actor, name, "");
        Ok(())
    }

    pub async fn get(&self, name: &str) -> Result<Option<UserRecord>, ManageError> {
        Ok(self.store.user_get(name).await?)
    }

    /// Every group `name` is in: local memberships and, for people who sign in at an
    /// identity provider, the groups it gave at their last sign-in.
    pub async fn groups(&self, name: &str) -> Result<Vec<String>, ManageError> {
        Ok(self.store.user_groups(name).await?)
    }

    pub async fn list(&self) -> Result<Vec<UserSummary>, ManageError> {
        let mut out = Vec::new();
        for user in self.store.user_list().await? {
            let groups = self.store.user_groups(&user.name).await?;
            out.push(UserSummary { user, groups });
        }
        Ok(out)
    }
}

/// argon2id off the async threads.
async fn hash(password: SecretString) -> Result<PasswordHash, ManageError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ManageError::Invalid(format!("hashing the password failed: {e}")))?
        .map_err(|e| ManageError::Invalid(format!("hashing the password failed: {e}")))
}
