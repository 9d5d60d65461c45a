use super::{now, Run, Store, StoreError};

impl Store {
    pub async fn group_create(&self, name: &str) -> Result<(), StoreError> {
        match sqlx::query("INSERT INTO groups (name, created_at) VALUES ($1, $2)")
            .bind(name)
            .bind(now())
            .execute(&self.pool()?)
            .await
        {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict(format!("group {name:?}")))
            }
            Err(e) => Err(self.unavailable(e)),
        }
    }

    pub async fn group_delete(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM group_members WHERE group_name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        let n = sqlx::query("DELETE FROM groups WHERE name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("group {name:?}")));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Every group with its member count.
    pub async fn group_list(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT g.name, (SELECT COUNT(*) FROM group_members m WHERE m.group_name = g.name) FROM groups g ORDER BY g.name",
        )
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))
    }

    pub async fn group_members(&self, name: &str) -> Result<Vec<String>, StoreError> {
        self.group_must_exist(name).await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT user_name FROM group_members WHERE group_name = $1 ORDER BY user_name",
        )
        .bind(name)
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Adds a member; adding one already there is not an error.
    pub async fn group_add_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        self.group_must_exist(group).await?;
        if self.user_get(user).await?.is_none() {
            return Err(StoreError::NotFound(format!("user {user:?}")));
        }
        sqlx::query(
            "INSERT INTO group_members (group_name, user_name) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM group_members WHERE group_name = $1 AND user_name = $2)",
        )
        .bind(group)
        .bind(user)
        .run(self).await?;
        self.changed().await;
        Ok(())
    }

    pub async fn group_remove_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        self.group_must_exist(group).await?;
        let n = sqlx::query("DELETE FROM group_members WHERE group_name = $1 AND user_name = $2")
            .bind(group)
            .bind(user)
            .run(self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "member {user:?} of group {group:?}"
            )));
        }
        self.changed().await;
        Ok(())
    }

    async fn group_must_exist(&self, name: &str) -> Result<(), StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT name FROM groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))?;
        found
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("group {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{memory_store, PasswordHash, StoreError};

    #[tokio::test]
    async fn group_membership_follows_users_and_groups() {
        let s = memory_store().await;
        s.user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        s.group_create("dev").await.unwrap();
        s.group_add_member("dev", "alice").await.unwrap();
        s.group_add_member("dev", "alice").await.unwrap();
        assert_eq!(s.group_members("dev").await.unwrap(), ["alice"]);
        assert_eq!(s.user_groups("alice").await.unwrap(), ["dev"]);
        assert_eq!(s.group_list().await.unwrap(), [("dev".to_string(), 1)]);
        assert!(matches!(
            s.group_add_member("dev", "bob").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.group_add_member("ops", "alice").await,
            Err(StoreError::NotFound(_))
        ));
        s.user_delete("alice").await.unwrap();
        assert!(s.group_members("dev").await.unwrap().is_empty());
        s.group_delete("dev").await.unwrap();
        assert!(s.group_list().await.unwrap().is_empty());
    }
}
