use std::fmt;

use super::{now, Run, Store, StoreError};

/// An argon2id PHC string. Not a secret in itself, but it never needs printing either.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub name: String,
    pub password_hash: PasswordHash,
    pub disabled: bool,
    pub created_at: i64,
    pub password_changed_at: i64,
}

type UserRow = (String, String, i64, i64, i64);

fn record((name, hash, disabled, created_at, password_changed_at): UserRow) -> UserRecord {
    UserRecord {
        name,
        password_hash: PasswordHash(hash),
        disabled: disabled != 0,
        created_at,
        password_changed_at,
    }
}

macro_rules! user_columns {
    () => {
        "name, password_hash, disabled, created_at, password_changed_at"
    };
}

impl Store {
    pub async fn user_create(&self, name: &str, hash: &PasswordHash) -> Result<(), StoreError> {
        let t = now();
        let res = sqlx::query(
            "INSERT INTO users (name, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, 0, $3, $3)",
        )
        .bind(name)
        .bind(&hash.0)
        .bind(t)
        .execute(&self.pool()?)
        .await;
        match res {
            Ok(_) => {
                self.changed().await;
                Ok(())
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict(format!("user {name:?}")))
            }
            Err(e) => Err(self.unavailable(e)),
        }
    }

    pub async fn user_get(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row.map(record))
    }

    pub async fn user_list(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Sets a new password and revokes the user's refresh tokens: a password change is how
    /// a user signs every machine out.
    pub async fn user_set_password(
        &self,
        name: &str,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self
            .pool()?
            .begin()
            .await
            .map_err(|e| self.unavailable(e))?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE name = $3",
        )
        .bind(&hash.0)
        .bind(t)
        .bind(name)
        .run_in(&mut tx, self)
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE subject_kind = 'user' AND subject = $2 AND revoked_at IS NULL",
        )
        .bind(t)
        .bind(name)
        .run_in(&mut tx, self).await?;
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Records a person who signed in through an identity provider (`source`, e.g. `oidc`):
    /// creates their user row on first sign-in (with a password hash that never verifies:
    /// they sign in at their provider, and use access tokens with registry clients) and
    /// replaces their groups with `groups`. A local user of the same name is left alone
    /// and refused (`Conflict`), so an identity provider can never take over a local account.
    pub async fn user_sign_in_external(
        &self,
        name: &str,
        source: &str,
        groups: &[String],
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self
            .pool()?
            .begin()
            .await
            .map_err(|e| self.unavailable(e))?;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT source FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.unavailable(e))?;
        match existing {
            Some((s,)) if s != source => {
                return Err(StoreError::Conflict(format!("a {s} user named {name:?}")));
            }
            Some(_) => {}
            None => {
                sqlx::query(
                    "INSERT INTO users (name, password_hash, disabled, created_at, password_changed_at, source) VALUES ($1, '!', 0, $2, $2, $3)",
                )
                .bind(name)
                .bind(t)
                .bind(source)
                .run_in(&mut tx, self)
                .await?;
            }
        }
        sqlx::query("DELETE FROM external_groups WHERE user_name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        for g in groups {
            sqlx::query("INSERT INTO external_groups (user_name, group_name) VALUES ($1, $2)")
                .bind(name)
                .bind(g)
                .run_in(&mut tx, self)
                .await?;
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    pub async fn user_set_disabled(&self, name: &str, disabled: bool) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .run(self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        self.changed().await;
        Ok(())
    }

    /// Removes the user, its group memberships and its refresh tokens.
    pub async fn user_delete(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self
            .pool()?
            .begin()
            .await
            .map_err(|e| self.unavailable(e))?;
        for sql in [
            "DELETE FROM refresh_tokens WHERE subject_kind = 'user' AND subject = $1",
            "DELETE FROM group_members WHERE user_name = $1",
            "DELETE FROM external_groups WHERE user_name = $1",
        ] {
            sqlx::query(sql).bind(name).run_in(&mut tx, self).await?;
        }
        let n = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// The user's groups: local memberships, and for people who sign in through OIDC the
    /// groups their identity provider gave them at their last sign-in.
    pub async fn user_groups(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT group_name FROM group_members WHERE user_name = $1 UNION SELECT group_name FROM external_groups WHERE user_name = $1 ORDER BY 1",
        )
        .bind(name)
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(|(g,)| g).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_store;

    fn h(s: &str) -> PasswordHash {
        PasswordHash(s.into())
    }

    #[tokio::test]
    async fn users_are_created_listed_disabled_and_removed() {
        let s = memory_store().await;
        s.user_create("alice", &h("x")).await.unwrap();
        assert!(matches!(
            s.user_create("alice", &h("y")).await,
            Err(StoreError::Conflict(_))
        ));
        s.user_set_disabled("alice", true).await.unwrap();
        let u = s.user_get("alice").await.unwrap().unwrap();
        assert!(u.disabled);
        assert_eq!(s.user_list().await.unwrap().len(), 1);
        s.user_delete("alice").await.unwrap();
        assert!(s.user_get("alice").await.unwrap().is_none());
        assert!(matches!(
            s.user_delete("alice").await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn people_signing_in_elsewhere_get_a_user_row_and_their_current_groups() {
        let s = memory_store().await;
        s.user_sign_in_external("carol", "oidc", &["dev".into(), "ops".into()])
            .await
            .unwrap();
        assert_eq!(s.user_groups("carol").await.unwrap(), ["dev", "ops"]);
        s.user_sign_in_external("carol", "oidc", &["dev".into()])
            .await
            .unwrap();
        assert_eq!(
            s.user_groups("carol").await.unwrap(),
            ["dev"],
            "replaced at each sign-in"
        );
        s.user_create("dave", &h("x")).await.unwrap();
        assert!(
            matches!(
                s.user_sign_in_external("dave", "oidc", &[]).await,
                Err(StoreError::Conflict(_))
            ),
            "a local account is never taken over"
        );
    }

    #[tokio::test]
    async fn a_password_hash_never_appears_in_debug_output() {
        assert!(!format!("{:?}", h("$argon2id$secret")).contains("argon2"));
    }
}
