//! Local groups and their members (policies bind them as `group:NAME`).

use super::{audited, ManageError};
use crate::domain::{Actor, Username};
use crate::store::Store;

#[derive(Clone)]
pub struct Groups {
    store: Store,
}

impl Groups {
    pub fn new(store: Store) -> Groups {
        Groups { store }
    }

    /// A local group's name follows the login-name rules, so it can never hold the `:` of
    /// the groups that come from outside (`ldap:…`, `oidc:…`).
    pub async fn create(&self, actor: &Actor, name: &Username) -> Result<(), ManageError> {
        self.store.group_create(name.as_str()).await?;
        audited("group_created", actor, name.as_str(), "");
        Ok(())
    }

    pub async fn remove(&self, actor: &Actor, name: &str) -> Result<(), ManageError> {
        self.store.group_delete(name).await?;
        audited("group_removed", actor, name, "");
        Ok(())
    }

    /// Every group with its member count.
    pub async fn list(&self) -> Result<Vec<(String, i64)>, ManageError> {
        Ok(self.store.group_list().await?)
    }

    pub async fn members(&self, name: &str) -> Result<Vec<String>, ManageError> {
        Ok(self.store.group_members(name).await?)
    }

    pub async fn add_member(
        &self,
        actor: &Actor,
        group: &str,
        user: &str,
    ) -> Result<(), ManageError> {
        self.store.group_add_member(group, user).await?;
        audited("group_member_added", actor, group, user);
        Ok(())
    }

    pub async fn remove_member(
        &self,
        actor: &Actor,
        group: &str,
        user: &str,
    ) -> Result<(), ManageError> {
        self.store.group_remove_member(group, user).await?;
        audited("group_member_removed", actor, group, user);
        Ok(())
    }
}
