use super::{now, Run, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RobotRecord {
    pub name: String,
    pub description: String,
    pub disabled: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl RobotRecord {
    pub fn is_active(&self, at: i64) -> bool {
        !self.disabled && self.expires_at.is_none_or(|e| e > at)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RobotSecretRecord {
    pub id: String,
    pub robot: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A robot as its row holds it (flags are 0/1 integers in both databases).
#[derive(sqlx::FromRow)]
struct RobotRow {
    name: String,
    description: String,
    disabled: i64,
    created_at: i64,
    expires_at: Option<i64>,
}

impl From<RobotRow> for RobotRecord {
    fn from(r: RobotRow) -> RobotRecord {
        RobotRecord {
            name: r.name,
            description: r.description,
            disabled: r.disabled != 0,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl Store {
    /// Creates a robot with its first secret (given as its hash and public id).
    pub async fn robot_create(
        &self,
        name: &str,
        description: &str,
        expires_at: Option<i64>,
        secret_id: &str,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("INSERT INTO robots (name, description, disabled, created_at, expires_at) VALUES ($1, $2, 0, $3, $4)")
            .bind(name)
            .bind(description)
            .bind(t)
            .bind(expires_at)
            .execute(&mut *tx)
            .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("robot {name:?}")))
            }
            Err(e) => return Err(self.unavailable(e)),
        }
        sqlx::query("INSERT INTO robot_secrets (id, secret_hash, robot, created_at) VALUES ($1, $2, $3, $4)")
            .bind(secret_id)
            .bind(secret_hash)
            .bind(name)
            .bind(t)
            .run_in(&mut tx, self).await?;
        tx.commit().await.map_err(|e| self.unavailable(e))
    }

    pub async fn robot_get(&self, name: &str) -> Result<Option<RobotRecord>, StoreError> {
        let row: Option<RobotRow> =
            sqlx::query_as("SELECT name, description, disabled, created_at, expires_at FROM robots WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool()?)
                .await
                .map_err(|e| self.unavailable(e))?;
        Ok(row.map(RobotRecord::from))
    }

    /// The robot called `name` and the secret whose hash is `secret_hash`, each if it
    /// exists, in one statement that does the same work whether or not the robot exists (two
    /// index lookups), so that timing does not tell which robots exist.
    pub async fn robot_credential(
        &self,
        name: &str,
        secret_hash: &str,
    ) -> Result<(Option<RobotRecord>, Option<RobotSecretRecord>), StoreError> {
        /// Both sides of the outer joins, each column absent when its side is.
        #[derive(sqlx::FromRow)]
        struct Row {
            name: Option<String>,
            description: Option<String>,
            disabled: Option<i64>,
            created_at: Option<i64>,
            expires_at: Option<i64>,
            secret_id: Option<String>,
            secret_robot: Option<String>,
            secret_created_at: Option<i64>,
            secret_last_used_at: Option<i64>,
            secret_revoked_at: Option<i64>,
        }
        let row: Row = sqlx::query_as(
            "SELECT r.name, r.description, r.disabled, r.created_at, r.expires_at, \
             s.id AS secret_id, s.robot AS secret_robot, s.created_at AS secret_created_at, \
             s.last_used_at AS secret_last_used_at, s.revoked_at AS secret_revoked_at \
             FROM (SELECT CAST($1 AS TEXT) AS name, CAST($2 AS TEXT) AS hash) q \
             LEFT JOIN robots r ON r.name = q.name \
             LEFT JOIN robot_secrets s ON s.secret_hash = q.hash",
        )
        .bind(name)
        .bind(secret_hash)
        .fetch_one(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        let robot = match (row.name, row.description, row.disabled, row.created_at) {
            (Some(name), Some(description), Some(disabled), Some(created_at)) => {
                Some(RobotRecord {
                    name,
                    description,
                    disabled: disabled != 0,
                    created_at,
                    expires_at: row.expires_at,
                })
            }
            _ => None,
        };
        let found = match (row.secret_id, row.secret_robot, row.secret_created_at) {
            (Some(id), Some(robot), Some(created_at)) => Some(RobotSecretRecord {
                id,
                robot,
                created_at,
                last_used_at: row.secret_last_used_at,
                revoked_at: row.secret_revoked_at,
            }),
            _ => None,
        };
        Ok((robot, found))
    }

    pub async fn robot_list(&self) -> Result<Vec<RobotRecord>, StoreError> {
        let rows: Vec<RobotRow> = sqlx::query_as(
            "SELECT name, description, disabled, created_at, expires_at FROM robots ORDER BY name",
        )
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(RobotRecord::from).collect())
    }

    pub async fn robot_set_disabled(&self, name: &str, disabled: bool) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE robots SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .run(self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("robot {name:?}")));
        }
        self.changed().await;
        Ok(())
    }

    /// Removes the robot, its secrets and its refresh tokens.
    pub async fn robot_delete(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM robot_secrets WHERE robot = $1",
            "DELETE FROM refresh_tokens WHERE subject_kind = 'robot' AND subject = $1",
        ] {
            sqlx::query(sql).bind(name).run_in(&mut tx, self).await?;
        }
        let n = sqlx::query("DELETE FROM robots WHERE name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("robot {name:?}")));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Adds a secret; unless `keep_old`, every other live secret (and the robot's refresh
    /// tokens) is revoked in the same transaction.
    pub async fn robot_add_secret(
        &self,
        name: &str,
        secret_id: &str,
        secret_hash: &str,
        keep_old: bool,
    ) -> Result<(), StoreError> {
        if self.robot_get(name).await?.is_none() {
            return Err(StoreError::NotFound(format!("robot {name:?}")));
        }
        let t = now();
        let mut tx = self.begin_write().await?;
        if !keep_old {
            for sql in [
                "UPDATE robot_secrets SET revoked_at = $1 WHERE robot = $2 AND revoked_at IS NULL",
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE subject_kind = 'robot' AND subject = $2 AND revoked_at IS NULL",
            ] {
                sqlx::query(sql)
                    .bind(t)
                    .bind(name)
                    .run_in(&mut tx, self).await?;
            }
        }
        sqlx::query("INSERT INTO robot_secrets (id, secret_hash, robot, created_at) VALUES ($1, $2, $3, $4)")
            .bind(secret_id)
            .bind(secret_hash)
            .bind(name)
            .bind(t)
            .run_in(&mut tx, self).await?;
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    pub async fn robot_secret_find(
        &self,
        secret_hash: &str,
    ) -> Result<Option<RobotSecretRecord>, StoreError> {
        let row: Option<RobotSecretRecord> = sqlx::query_as(
            "SELECT id, robot, created_at, last_used_at, revoked_at FROM robot_secrets WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row)
    }

    pub async fn robot_secrets(&self, name: &str) -> Result<Vec<RobotSecretRecord>, StoreError> {
        let rows: Vec<RobotSecretRecord> = sqlx::query_as(
            "SELECT id, robot, created_at, last_used_at, revoked_at FROM robot_secrets WHERE robot = $1 ORDER BY created_at, id",
        )
        .bind(name)
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows)
    }

    pub async fn robot_secret_touch(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE robot_secrets SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::memory_store;

    #[tokio::test]
    async fn a_robots_secrets_are_rotated_and_removed_with_it() {
        let s = memory_store().await;
        s.robot_create("ci", "the CI pipeline", None, "s1", "h1")
            .await
            .unwrap();
        assert!(s
            .robot_create("ci", "again", None, "s9", "h9")
            .await
            .is_err());
        s.robot_add_secret("ci", "s2", "h2", true).await.unwrap();
        assert!(
            s.robot_secrets("ci")
                .await
                .unwrap()
                .iter()
                .all(|x| x.revoked_at.is_none()),
            "--keep-old"
        );
        s.robot_add_secret("ci", "s3", "h3", false).await.unwrap();
        let live: Vec<String> = s
            .robot_secrets("ci")
            .await
            .unwrap()
            .into_iter()
            .filter(|x| x.revoked_at.is_none())
            .map(|x| x.id)
            .collect();
        assert_eq!(live, ["s3"]);
        s.robot_set_disabled("ci", true).await.unwrap();
        assert!(s.robot_get("ci").await.unwrap().unwrap().disabled);
        s.robot_delete("ci").await.unwrap();
        assert!(s.robot_secret_find("h3").await.unwrap().is_none());
    }
}
