//! A small migration runner: numbered SQL files per backend, embedded in the binary, each
//! applied once in a transaction and recorded in `portcullis_migrations`. (sqlx's own
//! migrator needs its macros, and a compile-time database we do not want.)

use super::{now, Backend, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "machine_credentials",
        sqlite: include_str!("../../migrations/sqlite/0002_machine_credentials.sql"),
        postgres: include_str!("../../migrations/postgres/0002_machine_credentials.sql"),
    },
    Migration {
        version: 3,
        name: "refresh_token_source",
        sqlite: include_str!("../../migrations/sqlite/0003_refresh_token_source.sql"),
        postgres: include_str!("../../migrations/postgres/0003_refresh_token_source.sql"),
    },
    Migration {
        version: 4,
        name: "external_users",
        sqlite: include_str!("../../migrations/sqlite/0004_external_users.sql"),
        postgres: include_str!("../../migrations/postgres/0004_external_users.sql"),
    },
    Migration {
        version: 5,
        name: "external_identity",
        sqlite: include_str!("../../migrations/sqlite/0005_external_identity.sql"),
        postgres: include_str!("../../migrations/postgres/0005_external_identity.sql"),
    },
];

pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let e = |err| store.unavailable(err);
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS portcullis_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&store.pool()?)
    .await
    .map_err(e)?;
    let done = applied(store).await?;
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let mut tx = store.pool()?.begin().await.map_err(e)?;
        let sql = match store.backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(e)?;
        sqlx::query(
            "INSERT INTO portcullis_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied database migration"
        );
    }
    Ok(())
}

pub(super) async fn applied(store: &Store) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM portcullis_migrations ORDER BY version")
            .fetch_all(&store.pool()?)
            .await
            .map_err(|err| store.unavailable(err))?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}
