//! Rules kept in the database: role bindings (grants and denies) and custom roles, made at
//! run time through the admin API or the CLI. The store keeps them as text; `authz` parses
//! and compiles them with the policy files, so a row here never bypasses the checks a file
//! gets.
//!
//! Every change moves the policy generation in the same transaction and then the
//! credential epoch: every replica notices the epoch within half a second, reads the
//! generation, and recompiles when it moved.

use super::{now, Run, Store, StoreError};

/// What a binding says, as stored (lists split on spaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingFields {
    /// `grant` or `deny`.
    pub effect: String,
    pub subjects: Vec<String>,
    pub role: Option<String>,
    pub actions: Vec<String>,
    pub repositories: Vec<String>,
    pub catalog: bool,
    pub admin_api: bool,
    pub description: Option<String>,
    /// Unix seconds; from then on the binding is no longer in force.
    pub expires_at: Option<i64>,
}

/// A binding and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRecord {
    pub id: i64,
    pub fields: BindingFields,
    pub made_by: String,
    pub made_at: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

/// A custom role kept in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRecord {
    pub name: String,
    pub actions: Vec<String>,
    pub description: Option<String>,
    pub made_by: String,
    pub made_at: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    id: i64,
    effect: String,
    subjects: String,
    role: Option<String>,
    actions: Option<String>,
    repositories: String,
    catalog: i64,
    admin_api: i64,
    description: Option<String>,
    expires_at: Option<i64>,
    made_by: String,
    made_at: i64,
    updated_by: Option<String>,
    updated_at: Option<i64>,
}

fn split(list: &str) -> Vec<String> {
    list.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl From<BindingRow> for BindingRecord {
    fn from(r: BindingRow) -> BindingRecord {
        BindingRecord {
            id: r.id,
            fields: BindingFields {
                effect: r.effect,
                subjects: split(&r.subjects),
                role: r.role,
                actions: r.actions.as_deref().map(split).unwrap_or_default(),
                repositories: split(&r.repositories),
                catalog: r.catalog != 0,
                admin_api: r.admin_api != 0,
                description: r.description,
                expires_at: r.expires_at,
            },
            made_by: r.made_by,
            made_at: r.made_at,
            updated_by: r.updated_by,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    name: String,
    actions: String,
    description: Option<String>,
    made_by: String,
    made_at: i64,
    updated_by: Option<String>,
    updated_at: Option<i64>,
}

impl From<RoleRow> for RoleRecord {
    fn from(r: RoleRow) -> RoleRecord {
        RoleRecord {
            name: r.name,
            actions: split(&r.actions),
            description: r.description,
            made_by: r.made_by,
            made_at: r.made_at,
            updated_by: r.updated_by,
            updated_at: r.updated_at,
        }
    }
}

const BINDING_COLUMNS: &str = "id, effect, subjects, role, actions, repositories, catalog, admin_api, description, expires_at, made_by, made_at, updated_by, updated_at";
const ROLE_COLUMNS: &str = "name, actions, description, made_by, made_at, updated_by, updated_at";

/// At most this many bindings and roles each: the whole set is compiled on every change.
pub const MAX_BINDINGS: i64 = 10_000;
pub const MAX_ROLES: i64 = 1_000;

const BUMP: &str = "UPDATE policy_state SET generation = generation + 1 WHERE id = 1";

impl Store {
    /// Commits a change to the rules: the policy generation moves in the same transaction,
    /// then the credential epoch, which is how every replica hears of it.
    async fn commit_rules(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
    ) -> Result<(), StoreError> {
        sqlx::query(BUMP).run_in(&mut tx, self).await?;
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Stores a new binding; its id.
    pub async fn binding_create(&self, f: &BindingFields, actor: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM policy_bindings")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.unavailable(e))?;
        if count >= MAX_BINDINGS {
            return Err(StoreError::Limit(format!(
                "there are already {MAX_BINDINGS} bindings in the database. Fix: delete unused ones, or put long-lived rules in policy files"
            )));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO policy_bindings (effect, subjects, role, actions, repositories, catalog, admin_api, description, expires_at, made_by, made_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&f.effect)
        .bind(f.subjects.join(" "))
        .bind(&f.role)
        .bind((!f.actions.is_empty()).then(|| f.actions.join(" ")))
        .bind(f.repositories.join(" "))
        .bind(i64::from(f.catalog))
        .bind(i64::from(f.admin_api))
        .bind(&f.description)
        .bind(f.expires_at)
        .bind(actor)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        self.commit_rules(tx).await?;
        Ok(id)
    }

    /// Replaces what binding `id` says; who made it and when stay, and who changed it is
    /// recorded.
    pub async fn binding_update(
        &self,
        id: i64,
        f: &BindingFields,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE policy_bindings SET effect = $1, subjects = $2, role = $3, actions = $4, repositories = $5, catalog = $6, admin_api = $7, description = $8, expires_at = $9, updated_by = $10, updated_at = $11 WHERE id = $12",
        )
        .bind(&f.effect)
        .bind(f.subjects.join(" "))
        .bind(&f.role)
        .bind((!f.actions.is_empty()).then(|| f.actions.join(" ")))
        .bind(f.repositories.join(" "))
        .bind(i64::from(f.catalog))
        .bind(i64::from(f.admin_api))
        .bind(&f.description)
        .bind(f.expires_at)
        .bind(actor)
        .bind(now())
        .bind(id)
        .run_in(&mut tx, self)
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("binding {id}")));
        }
        self.commit_rules(tx).await?;
        Ok(())
    }

    pub async fn binding_delete(&self, id: i64) -> Result<BindingRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<BindingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM policy_bindings WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("binding {id}")));
        };
        sqlx::query("DELETE FROM policy_bindings WHERE id = $1")
            .bind(id)
            .run_in(&mut tx, self)
            .await?;
        self.commit_rules(tx).await?;
        Ok(row.into())
    }

    pub async fn binding_get(&self, id: i64) -> Result<Option<BindingRecord>, StoreError> {
        let row: Option<BindingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM policy_bindings WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row.map(Into::into))
    }

    /// Every binding, oldest first (the order they are compiled in).
    pub async fn binding_list(&self) -> Result<Vec<BindingRecord>, StoreError> {
        let rows: Vec<BindingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM policy_bindings ORDER BY id"
        )))
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn role_create(
        &self,
        name: &str,
        actions: &[String],
        description: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM policy_roles")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.unavailable(e))?;
        if count >= MAX_ROLES {
            return Err(StoreError::Limit(format!(
                "there are already {MAX_ROLES} roles in the database. Fix: delete unused ones"
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO policy_roles (name, actions, description, made_by, made_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(actions.join(" "))
        .bind(description)
        .bind(actor)
        .bind(now())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("role {name:?}")))
            }
            Err(e) => return Err(self.unavailable(e)),
        }
        self.commit_rules(tx).await?;
        Ok(())
    }

    pub async fn role_update(
        &self,
        name: &str,
        actions: &[String],
        description: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE policy_roles SET actions = $1, description = $2, updated_by = $3, updated_at = $4 WHERE name = $5",
        )
        .bind(actions.join(" "))
        .bind(description)
        .bind(actor)
        .bind(now())
        .bind(name)
        .run_in(&mut tx, self)
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("role {name:?}")));
        }
        self.commit_rules(tx).await?;
        Ok(())
    }

    /// Deletes a role no binding in the database uses (a binding naming it would silently
    /// stop granting anything).
    pub async fn role_delete(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let users: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM policy_bindings WHERE role = $1 ORDER BY id")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.unavailable(e))?;
        if !users.is_empty() {
            let ids: Vec<String> = users.iter().map(|(i,)| i.to_string()).collect();
            return Err(StoreError::Limit(format!(
                "role {name:?} is used by binding {}. Fix: delete those bindings or give them another role first",
                ids.join(", ")
            )));
        }
        let n = sqlx::query("DELETE FROM policy_roles WHERE name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("role {name:?}")));
        }
        self.commit_rules(tx).await?;
        Ok(())
    }

    pub async fn role_list(&self) -> Result<Vec<RoleRecord>, StoreError> {
        let rows: Vec<RoleRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROLE_COLUMNS} FROM policy_roles ORDER BY name"
        )))
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The policy generation: moves with every change to the rules in the database and
    /// every reload asked for.
    pub async fn policy_generation(&self) -> Result<i64, StoreError> {
        let (g,): (i64,) = sqlx::query_as("SELECT generation FROM policy_state WHERE id = 1")
            .fetch_one(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(g)
    }

    /// Asks every replica sharing this database to reload its policy files.
    pub async fn policy_reload_requested(&self) -> Result<(), StoreError> {
        sqlx::query(BUMP).run(self).await?;
        self.changed().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_store;

    fn fields() -> BindingFields {
        BindingFields {
            effect: "grant".into(),
            subjects: vec!["group:qa".into(), "user:bob".into()],
            role: Some("writer".into()),
            actions: vec![],
            repositories: vec!["team/**".into(), "shared/*".into()],
            catalog: false,
            admin_api: false,
            description: Some("qa pushes".into()),
            expires_at: Some(2_000_000_000),
        }
    }

    #[tokio::test]
    async fn a_binding_round_trips_and_every_change_moves_the_generation() {
        let s = memory_store().await;
        let g0 = s.policy_generation().await.unwrap();
        let id = s.binding_create(&fields(), "alice").await.unwrap();
        let g1 = s.policy_generation().await.unwrap();
        assert!(g1 > g0);
        let got = s.binding_get(id).await.unwrap().unwrap();
        assert_eq!(got.fields, fields());
        assert_eq!(got.made_by, "alice");
        assert_eq!(got.updated_by, None);

        let mut changed = fields();
        changed.role = None;
        changed.actions = vec!["pull".into(), "tag".into()];
        s.binding_update(id, &changed, "carol").await.unwrap();
        let got = s.binding_get(id).await.unwrap().unwrap();
        assert_eq!(got.fields, changed);
        assert_eq!(
            (got.made_by.as_str(), got.updated_by.as_deref()),
            ("alice", Some("carol"))
        );
        assert!(s.policy_generation().await.unwrap() > g1);

        s.binding_delete(id).await.unwrap();
        assert!(s.binding_list().await.unwrap().is_empty());
        assert!(matches!(
            s.binding_delete(id).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_role_in_use_by_a_binding_cannot_be_deleted() {
        let s = memory_store().await;
        s.role_create("tagger", &["pull".into(), "tag".into()], None, "alice")
            .await
            .unwrap();
        assert!(matches!(
            s.role_create("tagger", &["pull".into()], None, "alice")
                .await,
            Err(StoreError::Conflict(_))
        ));
        let mut f = fields();
        f.role = Some("tagger".into());
        let id = s.binding_create(&f, "alice").await.unwrap();
        let e = s.role_delete("tagger").await.unwrap_err().to_string();
        assert!(e.contains(&format!("used by binding {id}")), "{e}");
        s.binding_delete(id).await.unwrap();
        s.role_delete("tagger").await.unwrap();
        assert!(s.role_list().await.unwrap().is_empty());
    }
}
