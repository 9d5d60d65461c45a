//! A consistent copy of the SQLite database taken while the server runs and serves:
//! `VACUUM INTO` reads it in one transaction (writers wait at most a moment, within the
//! busy timeout) and writes a compact copy that passes `integrity_check`.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sqlx::{ConnectOptions, Connection};

use super::{Backend, Store, StoreError};

impl Store {
    /// Writes a snapshot of the SQLite database to `to` (which must not exist), mode 0600.
    pub async fn snapshot_sqlite(&self, to: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Limit(
                "only a SQLite database can be copied here: use pg_dump for PostgreSQL".into(),
            ));
        }
        // VACUUM INTO writes into an empty file with the file's mode: make it private first.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(|e| self.unavailable(sqlx::Error::Io(e)))?;
        sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// The migrations applied, for a backup's manifest.
    pub async fn migrations_applied(&self) -> Result<Vec<i64>, StoreError> {
        super::migrate::applied(self).await
    }
}

/// Runs `sql` on the SQLite file at `path` alone (a snapshot, never the live database),
/// and checks its integrity.
pub async fn edit_sqlite_file(path: &Path, sql: &[&str]) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await?;
    for q in sql {
        sqlx::query(sqlx::AssertSqlSafe(q.to_string()))
            .execute(&mut conn)
            .await?;
    }
    let (ok,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if ok != "ok" {
        return Err(sqlx::Error::Protocol(format!(
            "{} fails SQLite's integrity check: {ok}",
            path.display()
        )));
    }
    Ok(())
}
