//! Sessions of the sign-in pages (`web_sessions`): kept by the hash of their id, bounded per
//! person and in all (see `http/login/session.rs` for the policy).

use super::{now, Run, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    pub groups: Vec<String>,
    pub csrf: String,
    pub expires_at: i64,
    /// Unused until then, the session ends (moved on as it is used).
    pub idle_until: i64,
}

impl Store {
    /// The live session with this id hash; using it moves its idle deadline to `now +
    /// idle` (written at most once a minute per session).
    pub async fn session_get(
        &self,
        id_hash: &str,
        idle: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let t = now();
        let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT user_name, groups, csrf, expires_at, idle_until FROM web_sessions WHERE id_hash = $1 AND expires_at > $2 AND idle_until > $2",
        )
        .bind(id_hash)
        .bind(t)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        let Some((user, groups, csrf, expires_at, idle_until)) = row else {
            return Ok(None);
        };
        let next = (t + idle).min(expires_at);
        if next - idle_until >= 60 {
            sqlx::query("UPDATE web_sessions SET idle_until = $1 WHERE id_hash = $2")
                .bind(next)
                .bind(id_hash)
                .run(self)
                .await?;
        }
        Ok(Some(SessionRecord {
            user,
            groups: serde_json::from_str(&groups).unwrap_or_default(),
            csrf,
            expires_at,
            idle_until: next,
        }))
    }

    /// Stores a session. The person's sessions beyond `per_user - 1` (oldest first), and
    /// past `max_total` in all the one closest to its end, go first; expired ones too.
    pub async fn session_open(
        &self,
        id_hash: &str,
        s: &SessionRecord,
        per_user: usize,
        max_total: usize,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR idle_until <= $1")
            .bind(t)
            .run_in(&mut tx, self)
            .await?;
        let theirs: Vec<(String,)> = sqlx::query_as(
            "SELECT id_hash FROM web_sessions WHERE user_name = $1 ORDER BY expires_at DESC",
        )
        .bind(&s.user)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        for (old,) in theirs.iter().skip(per_user.saturating_sub(1)) {
            sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                .bind(old)
                .run_in(&mut tx, self)
                .await?;
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.unavailable(e))?;
        if count as usize >= max_total {
            sqlx::query(
                "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions ORDER BY expires_at LIMIT $1)",
            )
            .bind(count - max_total as i64 + 1)
            .run_in(&mut tx, self)
            .await?;
        }
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_name, groups, csrf, created_at, expires_at, idle_until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id_hash)
        .bind(&s.user)
        .bind(serde_json::to_string(&s.groups).unwrap_or_else(|_| "[]".into()))
        .bind(&s.csrf)
        .bind(t)
        .bind(s.expires_at)
        .bind(s.idle_until)
        .run_in(&mut tx, self)
        .await?;
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    pub async fn session_close(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .run(self)
            .await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn session_count(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(&self.pool().unwrap())
            .await
            .unwrap();
        n
    }
}
