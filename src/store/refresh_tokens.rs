use super::{now, Run, Store, StoreError};

/// What is stored for a refresh token: never the token, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    /// A short public handle for listing and revoking.
    pub id: String,
    /// `user` or `robot`.
    pub subject_kind: String,
    pub subject: String,
    /// The personal access token it was issued to, whose scopes then limit every grant.
    pub pat_id: Option<String>,
    /// Which authenticator vouches for the subject: `local` or `ldap`.
    pub source: String,
    pub service: String,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub id: &'a str,
    pub subject_kind: &'a str,
    pub subject: &'a str,
    pub pat_id: Option<&'a str>,
    pub source: &'a str,
    pub service: &'a str,
    pub client_id: &'a str,
    pub expires_at: i64,
}

macro_rules! columns {
    () => {
        "id, subject_kind, subject, pat_id, source, service, client_id, created_at, expires_at, last_used_at, revoked_at"
    };
}

impl Store {
    /// Stores a new refresh token and keeps at most `keep` of its subject's (the new one
    /// always among them): the ones used (or made) least recently go, so that nobody can fill the disk by logging in in a loop.
    /// (Those removed are not revoked: a token unused for longest is not in use.)
    pub async fn refresh_token_insert(
        &self,
        t: &NewRefreshToken<'_>,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, id, subject_kind, subject, pat_id, source, service, client_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.token_hash)
        .bind(t.id)
        .bind(t.subject_kind)
        .bind(t.subject)
        .bind(t.pat_id)
        .bind(t.source)
        .bind(t.service)
        .bind(t.client_id)
        .bind(now())
        .bind(t.expires_at)
        .run_in(&mut tx, self).await?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE subject_kind = $1 AND subject = $2 AND token_hash <> $4 AND token_hash NOT IN (SELECT token_hash FROM refresh_tokens WHERE subject_kind = $1 AND subject = $2 AND token_hash <> $4 ORDER BY COALESCE(last_used_at, created_at) DESC, created_at DESC, id LIMIT $3)",
        )
        .bind(t.subject_kind)
        .bind(t.subject)
        .bind(keep.max(1) as i64 - 1)
        .bind(t.token_hash)
        .run_in(&mut tx, self)
        .await?;
        tx.commit().await.map_err(|e| self.unavailable(e))
    }

    /// Deletes refresh tokens that expired or were revoked before `cutoff` (Unix seconds);
    /// returns how many.
    pub async fn refresh_token_purge(&self, cutoff: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1 OR revoked_at < $1")
            .bind(cutoff)
            .run(self)
            .await
    }

    pub async fn refresh_token_find(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row: Option<RefreshTokenRecord> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM refresh_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row)
    }

    pub async fn refresh_token_touch(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE refresh_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .run(self)
            .await?;
        Ok(())
    }

    /// Refresh tokens, newest first; all of them, or one subject's (`robot:NAME` for a robot).
    pub async fn refresh_token_list(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<RefreshTokenRecord>, StoreError> {
        let rows: Vec<RefreshTokenRecord> = match subject {
            Some(s) => {
                let (kind, name) = split_subject(s);
                sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM refresh_tokens WHERE subject_kind = $1 AND subject = $2 ORDER BY created_at DESC, id"
                ))
                .bind(kind)
                .bind(name)
                .fetch_all(&self.pool()?)
                .await
            }
            None => {
                sqlx::query_as(concat!("SELECT ", columns!(), " FROM refresh_tokens ORDER BY created_at DESC, id"))
                    .fetch_all(&self.pool()?)
                    .await
            }
        }
        .map_err(|e| self.unavailable(e))?;
        Ok(rows)
    }

    /// Revokes one token by its id; false when there is no such (unrevoked) token.
    pub async fn refresh_token_revoke(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .run(self)
        .await?;
        self.changed().await;
        Ok(n > 0)
    }

    /// Revokes every live token of a subject (`NAME` for a user, `robot:NAME`); returns how many.
    pub async fn refresh_token_revoke_subject(&self, subject: &str) -> Result<u64, StoreError> {
        let (kind, name) = split_subject(subject);
        let n = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE subject_kind = $2 AND subject = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(kind)
        .bind(name)
        .run(self).await?;
        self.changed().await;
        Ok(n)
    }
}

/// `robot:ci` → (`robot`, `ci`); `alice` → (`user`, `alice`).
fn split_subject(s: &str) -> (&str, &str) {
    s.strip_prefix("robot:")
        .map_or(("user", s), |name| ("robot", name))
}

#[cfg(test)]
mod tests {
    use crate::store::{memory_store, now, NewRefreshToken, PasswordHash};

    fn new<'a>(hash: &'a str, id: &'a str, subject: &'a str) -> NewRefreshToken<'a> {
        NewRefreshToken {
            token_hash: hash,
            id,
            subject_kind: "user",
            subject,
            pat_id: None,
            source: "local",
            service: "svc",
            client_id: "docker",
            expires_at: i64::MAX,
        }
    }

    #[tokio::test]
    async fn refresh_tokens_are_found_by_hash_and_revoked_by_id_or_by_user() {
        let s = memory_store().await;
        s.user_create("alice", &PasswordHash("x".into()))
            .await
            .unwrap();
        s.refresh_token_insert(&new("h1", "id1", "alice"), 100)
            .await
            .unwrap();
        s.refresh_token_insert(&new("h2", "id2", "alice"), 100)
            .await
            .unwrap();
        let r = s.refresh_token_find("h1").await.unwrap().unwrap();
        assert_eq!(
            (r.id.as_str(), r.subject.as_str(), r.revoked_at),
            ("id1", "alice", None)
        );
        assert!(s.refresh_token_find("nope").await.unwrap().is_none());
        assert!(s.refresh_token_revoke("id1").await.unwrap());
        assert!(
            !s.refresh_token_revoke("id1").await.unwrap(),
            "already revoked"
        );
        assert_eq!(s.refresh_token_revoke_subject("alice").await.unwrap(), 1);
        assert!(s
            .refresh_token_list(Some("alice"))
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some()));
    }

    #[tokio::test]
    async fn a_subject_keeps_its_most_recently_used_tokens_and_old_ones_are_purged() {
        let s = memory_store().await;
        for i in 0..5 {
            s.refresh_token_insert(&new(&format!("h{i}"), &format!("id{i}"), "carol"), 3)
                .await
                .unwrap();
        }
        let kept = s.refresh_token_list(Some("carol")).await.unwrap();
        assert_eq!(kept.len(), 3);
        // A token in use survives the ones made after it.
        let used = kept[2].id.clone();
        s.refresh_token_touch(&used, now() + 100).await.unwrap();
        for i in 5..8 {
            s.refresh_token_insert(&new(&format!("h{i}"), &format!("id{i}"), "carol"), 3)
                .await
                .unwrap();
        }
        let ids: Vec<String> = s
            .refresh_token_list(Some("carol"))
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&used), "{ids:?}");

        let mut expired = new("hx", "idx", "dave");
        expired.expires_at = now() - 10;
        s.refresh_token_insert(&expired, 3).await.unwrap();
        s.refresh_token_insert(&new("hr", "idr", "dave"), 3)
            .await
            .unwrap();
        s.refresh_token_revoke("idr").await.unwrap();
        assert_eq!(s.refresh_token_purge(now() + 1).await.unwrap(), 2);
        assert!(s.refresh_token_list(Some("dave")).await.unwrap().is_empty());
        assert_eq!(s.refresh_token_list(Some("carol")).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_password_change_revokes_the_users_refresh_tokens_and_moves_the_epoch() {
        let s = memory_store().await;
        s.user_create("bob", &PasswordHash("x".into()))
            .await
            .unwrap();
        s.refresh_token_insert(&new("h", "i", "bob"), 100)
            .await
            .unwrap();
        let before = s.credentials_epoch();
        s.user_set_password("bob", &PasswordHash("y".into()))
            .await
            .unwrap();
        assert!(s
            .refresh_token_find("h")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some());
        assert_ne!(s.credentials_epoch(), before);
    }
}
