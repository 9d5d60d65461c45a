//! Role bindings and custom roles kept in the database: made, changed and deleted by admins
//! at run time (the admin API, `portcullis binding`/`role`), each change audited with its
//! actor and put in force before the call returns (on other replicas within a second).
//!
//! Every change is first compiled with the policy in force, so that what is stored is
//! exactly what will be in force: a binding naming a role nobody defines, or a role deleted
//! that a policy file still uses, is refused with the reason instead of being stored and
//! silently left out.

use std::sync::Arc;

use super::{audited, explain, Explanation, ManageError};
use crate::authz::{BindingSpec, Reloader, RoleSpec};
use crate::domain::{Actor, Scope};
use crate::store::{now, BindingRecord, RoleRecord, Store, StoreError};

/// A binding's effect before it is saved: the same questions asked of the policy in force
/// and of the policy with the binding added.
pub struct Preview {
    pub before: Explanation,
    pub after: Explanation,
}

impl Preview {
    /// Whether anything differs, action by action.
    pub fn changes_anything(&self) -> bool {
        self.before
            .scopes
            .iter()
            .zip(&self.after.scopes)
            .any(|(b, a)| b.decision.granted != a.decision.granted)
    }
}

#[derive(Clone)]
pub struct Bindings {
    store: Store,
    reloader: Arc<Reloader>,
}

impl Bindings {
    pub fn new(store: Store, reloader: Arc<Reloader>) -> Bindings {
        Bindings { store, reloader }
    }

    /// The policy in force (files and database) as this process compiled it.
    pub fn policies(&self) -> Arc<crate::authz::PolicySet> {
        self.reloader.policies().current()
    }

    pub async fn list(&self) -> Result<Vec<BindingRecord>, ManageError> {
        Ok(self.store.binding_list().await?)
    }

    pub async fn get(&self, id: i64) -> Result<BindingRecord, ManageError> {
        self.store
            .binding_get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("binding {id}")).into())
    }

    pub async fn create(
        &self,
        actor: &Actor,
        spec: &BindingSpec,
    ) -> Result<BindingRecord, ManageError> {
        self.check(spec, None).await?;
        let id = self
            .store
            .binding_create(&spec.fields(), actor.as_str())
            .await?;
        audited(
            "binding_created",
            actor,
            &format!("binding {id}"),
            &spec.text(),
        );
        self.in_force().await;
        self.get(id).await
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        spec: &BindingSpec,
    ) -> Result<BindingRecord, ManageError> {
        self.get(id).await?;
        self.check(spec, Some(id)).await?;
        self.store
            .binding_update(id, &spec.fields(), actor.as_str())
            .await?;
        audited(
            "binding_updated",
            actor,
            &format!("binding {id}"),
            &spec.text(),
        );
        self.in_force().await;
        self.get(id).await
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<(), ManageError> {
        let gone = self.store.binding_delete(id).await?;
        let text = BindingSpec::parse(&gone.fields, None)
            .map(|s| s.text())
            .unwrap_or_default();
        audited("binding_deleted", actor, &format!("binding {id}"), &text);
        self.in_force().await;
        Ok(())
    }

    pub async fn roles(&self) -> Result<Vec<RoleRecord>, ManageError> {
        Ok(self.store.role_list().await?)
    }

    pub async fn create_role(
        &self,
        actor: &Actor,
        role: &RoleSpec,
        description: Option<&str>,
    ) -> Result<(), ManageError> {
        if self.reloader.policies().current().has_role(&role.name) {
            return Err(StoreError::Conflict(format!("role {:?}", role.name)).into());
        }
        self.store
            .role_create(
                &role.name,
                &role.action_names(),
                description,
                actor.as_str(),
            )
            .await?;
        audited(
            "role_created",
            actor,
            &format!("role {}", role.name),
            &role.action_names().join(","),
        );
        self.in_force().await;
        Ok(())
    }

    pub async fn update_role(
        &self,
        actor: &Actor,
        role: &RoleSpec,
        description: Option<&str>,
    ) -> Result<(), ManageError> {
        self.store
            .role_update(
                &role.name,
                &role.action_names(),
                description,
                actor.as_str(),
            )
            .await?;
        audited(
            "role_updated",
            actor,
            &format!("role {}", role.name),
            &role.action_names().join(","),
        );
        self.in_force().await;
        Ok(())
    }

    pub async fn delete_role(&self, actor: &Actor, name: &str) -> Result<(), ManageError> {
        // A policy file may use a role kept in the database: deleting it would break the
        // next reload of the files.
        let compiled = self
            .reloader
            .try_database(|db| db.roles.retain(|r| r.name != name))
            .await;
        if let Err(e) = compiled {
            return Err(ManageError::Invalid(format!(
                "role {name:?} is still used: {e}. Fix: change that entry first"
            )));
        }
        self.store.role_delete(name).await?;
        audited("role_deleted", actor, &format!("role {name}"), "");
        self.in_force().await;
        Ok(())
    }

    /// What `spec` would change for `user` (with their groups from the database, plus
    /// `groups`) on `scopes`, without saving anything: the explanation with the policy in
    /// force, and with the binding added. A binding that would not be in force is refused
    /// as [`Bindings::create`] refuses it, so a preview never shows a change that saving
    /// would not make.
    pub async fn preview(
        &self,
        spec: &BindingSpec,
        user: &str,
        groups: &[String],
        scopes: &[Scope],
    ) -> Result<Preview, ManageError> {
        let with = self.check(spec, None).await?;
        let before = explain(&self.store, &*self.policies(), Some(user), groups, scopes).await?;
        let after = explain(&self.store, &with.set, Some(user), groups, scopes).await?;
        Ok(Preview { before, after })
    }

    /// Compiles the policy with `spec` in place of binding `replacing` (or added), and
    /// refuses it if it would not be in force; the policy it would make otherwise.
    async fn check(
        &self,
        spec: &BindingSpec,
        replacing: Option<i64>,
    ) -> Result<crate::authz::Compiled, ManageError> {
        let probe = BindingRecord {
            id: replacing.unwrap_or(0),
            fields: spec.fields(),
            made_by: String::new(),
            made_at: now(),
            updated_by: None,
            updated_at: None,
        };
        let me = format!("binding {} ", probe.id);
        let compiled = self
            .reloader
            .try_database(|db| {
                db.bindings.retain(|b| Some(b.id) != replacing);
                db.bindings.push(probe);
            })
            .await
            .map_err(|e| ManageError::Invalid(e.to_string()))?;
        match compiled.warnings.iter().find(|w| w.starts_with(&me)) {
            Some(w) => {
                let why = w.split_once(": ").map_or(w.as_str(), |(_, why)| why);
                let why = why
                    .trim_start_matches("grant entry: ")
                    .trim_start_matches("deny entry: ");
                Err(crate::authz::FieldError {
                    field: "role".into(),
                    message: why.to_owned(),
                }
                .into())
            }
            None => Ok(compiled),
        }
    }

    /// Puts the change in force on this replica before answering; other replicas follow
    /// within a second through the credential epoch.
    async fn in_force(&self) {
        self.reloader.reload_database_now().await;
    }
}
