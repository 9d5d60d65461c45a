//! Persistent state: local users, groups, refresh tokens. SQLite is the embedded default;
//! PostgreSQL lets several replicas share state. Both are reached through sqlx's `Any`
//! driver with runtime queries written once (`$1` placeholders work in both), so there is
//! no compile-time database and no per-backend copy of the code.

mod access_tokens;
mod epoch;
mod groups;
mod migrate;
mod refresh_tokens;
mod robots;
mod users;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

pub use access_tokens::{AccessTokenRecord, NewAccessToken};
pub use refresh_tokens::{NewRefreshToken, RefreshTokenRecord};
pub use robots::{RobotRecord, RobotSecretRecord};

use epoch::Epoch;
pub use users::{PasswordHash, UserRecord};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Why a store operation failed. `Unavailable` is the service's failure (a 503 on the token
/// path); the others describe the request (a CLI message, or a 4xx).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the {backend} database is unavailable: {source}")]
    Unavailable {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} does not exist")]
    NotFound(String),
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL without credentials, for messages.
    display_url: String,
    epoch: Arc<Epoch>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.display_url)
            .finish()
    }
}

impl Store {
    /// Connects and applies pending migrations. For SQLite the file and its directory are
    /// created if missing.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let display_url = redact_url(url);
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let mut epoch = Epoch::Polled {
            polled: AtomicU64::new(0),
            local: AtomicU64::new(0),
        };
        let url = match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                if memory {
                    // Every connection to `:memory:` is its own database.
                    options = options.max_connections(1);
                    epoch = Epoch::Memory(AtomicU64::new(0));
                } else if let Some(path) = sqlite_path(url) {
                    let parent = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(&parent).map_err(|e| StoreError::Unavailable {
                            backend: "sqlite",
                            source: sqlx::Error::Io(e),
                        })?;
                    }
                    let mut name = path.clone().into_os_string();
                    name.push(".epoch");
                    let name = std::path::PathBuf::from(name);
                    epoch = match epoch::SharedCounter::open(&name) {
                        Ok(c) => Epoch::Shared(c),
                        Err(e) => {
                            tracing::warn!(file = %name.display(), error = %e, "cannot share the credential epoch with other processes: changes made by the CLI are seen when remembered credentials expire (auth.cache_ttl)");
                            Epoch::Memory(AtomicU64::new(0))
                        }
                    };
                }
                if url.contains("mode=") || memory {
                    url.to_string()
                } else if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            Backend::Postgres => {
                options = options.max_connections(16);
                url.to_string()
            }
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Unavailable {
                backend: backend.as_str(),
                source,
            })?;
        let store = Store {
            pool,
            backend,
            display_url,
            epoch: Arc::new(epoch),
        };
        migrate::run(&store).await?;
        store.epoch.start_polling(store.pool.clone());
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        // Reads a real table: `SELECT 1` succeeds on a SQLite connection whose file is
        // corrupt or gone.
        sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// Changes whenever any credential changes, in this process or another one sharing the
    /// database (see `epoch.rs`). Cheap: meant to be read on every request.
    pub fn credentials_epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// Records that credentials changed; every mutating method calls it after committing.
    async fn changed(&self) {
        self.epoch.bump(&self.pool).await;
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn unavailable(&self, source: sqlx::Error) -> StoreError {
        StoreError::Unavailable {
            backend: self.backend.as_str(),
            source,
        }
    }
}

/// Runs a statement on the store's pool: how many rows it touched, or the database being
/// unavailable. (Every mutation in this module ends this way.)
trait Run {
    async fn run(self, store: &Store) -> Result<u64, StoreError>;
    /// The same inside a transaction (`&mut *tx`).
    async fn run_in(self, conn: &mut sqlx::AnyConnection, store: &Store)
        -> Result<u64, StoreError>;
}

impl Run for sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    async fn run(self, store: &Store) -> Result<u64, StoreError> {
        self.execute(&store.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| store.unavailable(e))
    }

    async fn run_in(
        self,
        conn: &mut sqlx::AnyConnection,
        store: &Store,
    ) -> Result<u64, StoreError> {
        self.execute(conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| store.unavailable(e))
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
pub(crate) async fn memory_store() -> Store {
    Store::connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("sqlite://data/p.db"), "sqlite://data/p.db");
    }

    #[tokio::test]
    async fn a_sqlite_file_and_its_directory_are_created_and_migrated_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/p.db", dir.path().display());
        let s = Store::connect(&url).await.unwrap();
        s.ping().await.unwrap();
        s.close().await;
        // A second connect finds the migrations applied.
        let s = Store::connect(&url).await.unwrap();
        assert_eq!(migrate::applied(&s).await.unwrap(), vec![1, 2, 3, 4]);
    }
}
