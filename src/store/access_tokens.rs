use super::{now, Run, Store, StoreError};

/// A personal access token as stored: never the token, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenRecord {
    pub id: String,
    pub owner: String,
    pub name: String,
    /// Space-separated scope limits, e.g. `repository:team/app:pull,push`.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl AccessTokenRecord {
    pub fn is_live(&self, at: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > at)
    }
}

pub struct NewAccessToken<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub owner: &'a str,
    pub name: &'a str,
    pub scopes: &'a str,
    pub expires_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, owner, name, scopes, created_at, expires_at, last_used_at, revoked_at"
    };
}

/// Live personal access tokens one user may have (and revoked or expired ones kept for their
/// list): each is made by hand, so this is far more than anyone needs, and it bounds what a
/// signed-in user can make the server store.
pub const MAX_LIVE_ACCESS_TOKENS: i64 = 100;

impl Store {
    /// Stores a new token. A live token of the same owner and name is a conflict: names are
    /// how people tell their tokens apart ("ci-build", "laptop").
    pub async fn access_token_insert(&self, t: &NewAccessToken<'_>) -> Result<(), StoreError> {
        if self.user_get(t.owner).await?.is_none() {
            return Err(StoreError::NotFound(format!("user {:?}", t.owner)));
        }
        let at = now();
        let (live, same_name): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN name = $3 THEN 1 ELSE 0 END), 0) FROM access_tokens WHERE owner = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(t.owner)
        .bind(at)
        .bind(t.name)
        .fetch_one(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        if same_name > 0 {
            return Err(StoreError::Conflict(format!(
                "a live token named {:?} of {:?}",
                t.name, t.owner
            )));
        }
        if live >= MAX_LIVE_ACCESS_TOKENS {
            return Err(StoreError::Limit(format!(
                "{:?} already has {live} live access tokens, the most one user may have: revoke the ones no longer used first",
                t.owner
            )));
        }
        sqlx::query(
            "INSERT INTO access_tokens (id, token_hash, owner, name, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id)
        .bind(t.token_hash)
        .bind(t.owner)
        .bind(t.name)
        .bind(t.scopes)
        .bind(at)
        .bind(t.expires_at)
        .run(self).await?;
        // Revoked and expired tokens are kept for the owner's list, but only the newest.
        sqlx::query(
            "DELETE FROM access_tokens WHERE owner = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2) AND id NOT IN (SELECT id FROM access_tokens WHERE owner = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2) ORDER BY created_at DESC, id LIMIT $3)",
        )
        .bind(t.owner)
        .bind(at)
        .bind(MAX_LIVE_ACCESS_TOKENS)
        .run(self)
        .await?;
        Ok(())
    }

    pub async fn access_token_find(
        &self,
        token_hash: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row: Option<AccessTokenRecord> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM access_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row)
    }

    pub async fn access_token_get(
        &self,
        id: &str,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row: Option<AccessTokenRecord> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM access_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row)
    }

    pub async fn access_token_list(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let rows: Vec<AccessTokenRecord> = match owner {
            Some(o) => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM access_tokens WHERE owner = $1 ORDER BY created_at, id"
                ))
                .bind(o)
                .fetch_all(&self.pool()?)
                .await
            }
            None => {
                sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM access_tokens ORDER BY owner, created_at, id"
                ))
                .fetch_all(&self.pool()?)
                .await
            }
        }
        .map_err(|e| self.unavailable(e))?;
        Ok(rows)
    }

    pub async fn access_token_touch(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Revokes a live token; false when there is none with that id.
    pub async fn access_token_revoke(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .run(self)
        .await?;
        self.changed().await;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{memory_store, PasswordHash};

    fn new<'a>(id: &'a str, hash: &'a str, name: &'a str) -> NewAccessToken<'a> {
        NewAccessToken {
            id,
            token_hash: hash,
            owner: "alice",
            name,
            scopes: "repository:a:pull",
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_user_has_at_most_a_hundred_live_tokens_and_keeps_a_hundred_dead_ones() {
        let s = memory_store().await;
        s.user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        for i in 0..MAX_LIVE_ACCESS_TOKENS {
            s.access_token_insert(&new(&format!("i{i}"), &format!("h{i}"), &format!("t{i}")))
                .await
                .unwrap();
        }
        let e = s.access_token_insert(&new("x", "hx", "one-more")).await;
        assert!(
            matches!(&e, Err(StoreError::Limit(m)) if m.contains("revoke")),
            "{e:?}"
        );
        // Make and revoke in a loop: the dead ones kept stay bounded too.
        for i in 0..250 {
            let old = if i < 100 {
                format!("i{i}")
            } else {
                format!("n{}", i - 100)
            };
            assert!(s.access_token_revoke(&old).await.unwrap());
            s.access_token_insert(&new(&format!("n{i}"), &format!("hn{i}"), &format!("n{i}")))
                .await
                .unwrap();
        }
        let all = s.access_token_list(Some("alice")).await.unwrap();
        assert!(
            all.len() <= 2 * MAX_LIVE_ACCESS_TOKENS as usize,
            "{}",
            all.len()
        );
    }

    #[tokio::test]
    async fn access_tokens_are_named_per_owner_found_by_hash_and_revoked() {
        let s = memory_store().await;
        s.user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        s.access_token_insert(&new("i1", "h1", "ci")).await.unwrap();
        assert!(matches!(
            s.access_token_insert(&new("i2", "h2", "ci")).await,
            Err(StoreError::Conflict(_))
        ));
        let t = s.access_token_find("h1").await.unwrap().unwrap();
        assert_eq!((t.owner.as_str(), t.name.as_str()), ("alice", "ci"));
        let before = s.credentials_epoch();
        assert!(s.access_token_revoke("i1").await.unwrap());
        assert_ne!(
            s.credentials_epoch(),
            before,
            "a revocation moves the credential epoch"
        );
        assert!(!s.access_token_revoke("i1").await.unwrap());
        // The name is free again once the old token is revoked.
        s.access_token_insert(&new("i3", "h3", "ci")).await.unwrap();
        s.user_delete("alice").await.unwrap();
        assert!(
            s.access_token_find("h3").await.unwrap().is_none(),
            "removed with their owner"
        );
    }
}
