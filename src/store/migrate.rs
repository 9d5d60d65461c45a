//! Database migrations through sqlx's [`Migrator`]: numbered SQL files per backend, embedded
//! in the binary (no macros, no database at compile time), each applied once in a
//! transaction, recorded with its checksum in `_sqlx_migrations` (an edited migration that
//! has shipped is refused), and applied under a lock, so that replicas starting at the same
//! moment on one PostgreSQL database migrate it once.
//!
//! Databases made before sqlx's migrator recorded their migrations in
//! `portcullis_migrations`: those records are carried over once, under the same lock.

use std::borrow::Cow;

use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::SqlSafeStr;

use super::{Backend, Store, StoreError};

/// `(version, name, SQLite, PostgreSQL)`.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "machine_credentials",
        include_str!("../../migrations/sqlite/0002_machine_credentials.sql"),
        include_str!("../../migrations/postgres/0002_machine_credentials.sql"),
    ),
    (
        3,
        "refresh_token_source",
        include_str!("../../migrations/sqlite/0003_refresh_token_source.sql"),
        include_str!("../../migrations/postgres/0003_refresh_token_source.sql"),
    ),
    (
        4,
        "external_users",
        include_str!("../../migrations/sqlite/0004_external_users.sql"),
        include_str!("../../migrations/postgres/0004_external_users.sql"),
    ),
    (
        5,
        "external_identity",
        include_str!("../../migrations/sqlite/0005_external_identity.sql"),
        include_str!("../../migrations/postgres/0005_external_identity.sql"),
    ),
    (
        6,
        "policy_bindings",
        include_str!("../../migrations/sqlite/0006_policy_bindings.sql"),
        include_str!("../../migrations/postgres/0006_policy_bindings.sql"),
    ),
    (
        7,
        "signing_keys",
        include_str!("../../migrations/sqlite/0007_signing_keys.sql"),
        include_str!("../../migrations/postgres/0007_signing_keys.sql"),
    ),
];

const TABLE: &str = "_sqlx_migrations";

fn migrations(backend: Backend) -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|(version, name, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect()
}

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let pool = store.pool()?;
    let list = migrations(store.backend);
    let unavailable = |e: sqlx::migrate::MigrateError| StoreError::Unavailable {
        backend: store.backend.as_str(),
        source: sqlx::Error::Migrate(Box::new(e)),
    };
    // The migrator works on a connection of its own and never waits for a lock: with
    // PostgreSQL, ours is held by another connection from the first read to the last write,
    // so that replicas starting together migrate one after the other, and what this one
    // reports as applied is what it applied. (SQLite has no such lock: one process at a
    // time writes the file anyway.)
    let mut migrator = Migrator::with_migrations(list.clone());
    migrator.set_locking(false);
    let mut conn = pool.acquire().await.map_err(|e| store.unavailable(e))?;
    let before = match store.backend {
        Backend::Postgres => {
            conn.lock().await.map_err(unavailable)?;
            let result = async {
                let before = prepare(&mut conn, &list).await?;
                migrator.run(&pool).await?;
                Ok(before)
            }
            .await;
            conn.unlock().await.map_err(unavailable)?;
            result.map_err(unavailable)?
        }
        Backend::Sqlite => {
            let before = prepare(&mut conn, &list).await.map_err(unavailable)?;
            // A database in memory has a single connection: the migrator needs it.
            drop(conn);
            migrator.run(&pool).await.map_err(unavailable)?;
            before
        }
    };
    for (version, name, _, _) in MIGRATIONS.iter().filter(|m| !before.contains(&m.0)) {
        tracing::info!(version, name, "applied database migration");
    }
    Ok(())
}

/// Carries old records over, makes sure the migrations table exists, and returns the
/// versions applied before this run.
async fn prepare(
    conn: &mut sqlx::AnyConnection,
    list: &[Migration],
) -> Result<Vec<i64>, sqlx::migrate::MigrateError> {
    adopt_legacy_records(conn, list).await?;
    conn.ensure_migrations_table(TABLE).await?;
    Ok(conn
        .list_applied_migrations(TABLE)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect())
}

/// Carries the records of a database migrated by the migrator before sqlx's over to
/// sqlx's table, once (the caller holds the migration lock: replicas may start together).
async fn adopt_legacy_records(
    conn: &mut sqlx::AnyConnection,
    list: &[Migration],
) -> Result<(), sqlx::migrate::MigrateError> {
    let legacy: Vec<(i64,)> = match sqlx::query_as("SELECT version FROM portcullis_migrations")
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        // No legacy table: a new database, or one already carried over.
        Err(_) => return Ok(()),
    };
    conn.ensure_migrations_table(TABLE).await?;
    let done: Vec<i64> = conn
        .list_applied_migrations(TABLE)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    for m in list
        .iter()
        .filter(|m| legacy.iter().any(|(v,)| *v == m.version) && !done.contains(&m.version))
    {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, 0)",
        )
        .bind(m.version)
        .bind(m.description.as_ref())
        .bind(m.checksum.to_vec())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DROP TABLE portcullis_migrations")
        .execute(&mut *conn)
        .await?;
    tracing::info!(
        migrations = legacy.len(),
        "carried the database's migration records over to sqlx's migrator"
    );
    Ok(())
}

/// Every migration this version knows.
pub fn known() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.0).collect()
}

/// The versions applied so far.
pub(super) async fn applied(store: &Store) -> Result<Vec<i64>, StoreError> {
    let rows: Result<Vec<(i64,)>, _> = sqlx::query_as(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(&store.pool()?)
    .await;
    match rows {
        Ok(rows) => Ok(rows.into_iter().map(|(v,)| v).collect()),
        // Not made yet: nothing applied.
        Err(sqlx::Error::Database(_)) => Ok(Vec::new()),
        Err(e) => Err(store.unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_migrated_by_the_old_runner_is_carried_over_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        // What the old runner left: every migration applied, recorded in its own table.
        {
            let s = Store::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE _sqlx_migrations")
                .execute(&s.pool().unwrap())
                .await
                .unwrap();
            sqlx::query("CREATE TABLE portcullis_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                .execute(&s.pool().unwrap())
                .await
                .unwrap();
            for (v, name, _, _) in MIGRATIONS {
                sqlx::query("INSERT INTO portcullis_migrations VALUES ($1, $2, 0)")
                    .bind(*v)
                    .bind(*name)
                    .execute(&s.pool().unwrap())
                    .await
                    .unwrap();
            }
            s.close().await;
        }
        let s = Store::connect(&url).await.unwrap();
        assert_eq!(applied(&s).await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7]);
        s.ping().await.unwrap();
    }
}
