//! The token signing keys (see `token/key_ring.rs` for what the states mean). Every change
//! moves the credential epoch after committing, so that every replica reads the keys again
//! within a second. At most one key is `active`: a unique index says so, so two replicas
//! making the first key at once, or an activation racing another, cannot both win.

use super::{Run, Store, StoreError};

/// A key as stored. The private key is sealed; the store never sees it in the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's libtrust key ID.
    pub id: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    pub algorithm: String,
    /// `None` in a backup made without `--include-keys`.
    pub private_sealed: Option<String>,
    pub chain_pem: String,
    pub created_at: i64,
    pub created_by: String,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    state: String,
    algorithm: String,
    private_sealed: Option<String>,
    chain_pem: String,
    created_at: i64,
    created_by: String,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

impl From<KeyRow> for KeyRecord {
    fn from(r: KeyRow) -> KeyRecord {
        KeyRecord {
            id: r.id,
            state: r.state,
            algorithm: r.algorithm,
            private_sealed: r.private_sealed,
            chain_pem: r.chain_pem,
            created_at: r.created_at,
            created_by: r.created_by,
            activated_at: r.activated_at,
            retired_at: r.retired_at,
        }
    }
}

const COLUMNS: &str = "id, state, algorithm, private_sealed, chain_pem, created_at, created_by, activated_at, retired_at";

/// More keys than any rotation needs; a bound on what a script gone wrong can add.
pub const MAX_KEYS: i64 = 20;

impl Store {
    /// Every key, the active one first, then the next ones, then the retired ones (newest
    /// first within each).
    pub async fn key_list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM signing_keys ORDER BY CASE state WHEN 'active' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at DESC, id"
        )))
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Stores a new key. An `active` one is stored only if no key is active yet (the first
    /// start): `Ok(false)` when another process made one first.
    pub async fn key_insert(&self, k: &KeyRecord) -> Result<bool, StoreError> {
        let pool = self.pool()?;
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(&pool)
            .await
            .map_err(|e| self.unavailable(e))?;
        if count >= MAX_KEYS {
            return Err(StoreError::Limit(format!(
                "there are already {MAX_KEYS} signing keys. Fix: retire the ones no longer needed (portcullis key list)"
            )));
        }
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO signing_keys ({COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE $2 <> 'active' OR NOT EXISTS (SELECT 1 FROM signing_keys WHERE state = 'active')"
        )))
        .bind(&k.id)
        .bind(&k.state)
        .bind(&k.algorithm)
        .bind(&k.private_sealed)
        .bind(&k.chain_pem)
        .bind(k.created_at)
        .bind(&k.created_by)
        .bind(k.activated_at)
        .bind(k.retired_at)
        .execute(&pool)
        .await;
        let inserted = match inserted {
            Ok(r) => r.rows_affected() == 1,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                if k.state == "active" {
                    false
                } else {
                    return Err(StoreError::Conflict(format!("key {}", k.id)));
                }
            }
            Err(e) => return Err(self.unavailable(e)),
        };
        if inserted {
            self.changed().await;
        }
        Ok(inserted)
    }

    /// Makes `id` (a `next` key) the active one; the active one becomes retired at `at`.
    pub async fn key_activate(&self, id: &str, at: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1 WHERE state = 'active'",
        )
        .bind(at)
        .run_in(&mut tx, self)
        .await?;
        let n = sqlx::query(
            "UPDATE signing_keys SET state = 'active', activated_at = $1, retired_at = NULL WHERE id = $2 AND state = 'next'",
        )
        .bind(at)
        .bind(id)
        .run_in(&mut tx, self)
        .await?;
        if n != 1 {
            return Err(StoreError::NotFound(format!("next key {id}")));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Drops a key that is not active.
    pub async fn key_delete(&self, id: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM signing_keys WHERE id = $1 AND state <> 'active'")
            .bind(id)
            .run(self)
            .await?;
        if n != 1 {
            return Err(StoreError::NotFound(format!("key {id} (not active)")));
        }
        self.changed().await;
        Ok(())
    }
}
