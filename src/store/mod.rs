//! Persistent state: local users, groups, refresh tokens. SQLite is the embedded default;
//! PostgreSQL lets several replicas share state. Both are reached through sqlx's `Any`
//! driver with runtime queries written once (`$1` placeholders work in both), so there is
//! no compile-time database and no per-backend copy of the code.

mod access_tokens;
mod audit_events;
mod bindings;
mod epoch;
mod groups;
mod migrate;
mod refresh_tokens;
mod robots;
mod signing_keys;
mod snapshot;
mod sqlite_file;
mod users;
mod web_sessions;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

pub use access_tokens::{AccessTokenRecord, NewAccessToken};
pub use audit_events::{AuditQuery, AuditRecord, AuditRow};
pub use bindings::{BindingFields, BindingRecord, RoleRecord, MAX_BINDINGS, MAX_ROLES};
pub use migrate::known as migrations_known;
pub use refresh_tokens::{NewRefreshToken, RefreshTokenRecord};
pub use robots::{RobotRecord, RobotSecretRecord};
pub use signing_keys::{KeyRecord, MAX_KEYS};
pub use snapshot::edit_sqlite_file;

use epoch::Epoch;
pub use sqlite_file::mode_warnings;
use sqlite_file::SqliteFile;
pub use users::{ExternalSignIn, PasswordHash, UserRecord};
pub use web_sessions::SessionRecord;

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
    /// A bound on what one principal may own was reached; the message says which and what
    /// to do.
    #[error("{0}")]
    Limit(String),
}

#[derive(Clone)]
pub struct Store {
    /// Swapped for a new pool when the SQLite file is replaced (see `sqlite_file.rs`).
    pool: Arc<RwLock<AnyPool>>,
    backend: Backend,
    /// The URL without credentials, for messages.
    display_url: String,
    epoch: Arc<Epoch>,
    /// The SQLite file, when the database is one.
    file: Option<Arc<SqliteFile>>,
    /// Statements and transactions started: what one operation costs, as a count.
    round_trips: Arc<AtomicU64>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.display_url)
            .finish()
    }
}

impl Store {
    /// Connects and applies pending migrations. For SQLite the file (0600) and its directory
    /// (0700) are created if missing, and the file is watched for being replaced.
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
        let mut file = None;
        let io_error = |e: std::io::Error| StoreError::Unavailable {
            backend: "sqlite",
            source: sqlx::Error::Io(e),
        };
        let url = match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                if memory {
                    // Every connection to `:memory:` is its own database.
                    options = options.max_connections(1);
                    epoch = Epoch::Memory(AtomicU64::new(0));
                } else if let Some(path) = sqlite_path(url) {
                    sqlite_file::create_private(&path).map_err(io_error)?;
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
                    file = Some(Arc::new(SqliteFile::new(path)));
                }
                // The file exists by now: never let SQLite create one (a file that vanished
                // must not come back empty).
                if url.contains("mode=") || memory {
                    url.to_string()
                } else if url.contains('?') {
                    format!("{url}&mode=rw")
                } else {
                    format!("{url}?mode=rw")
                }
            }
            Backend::Postgres => {
                options = options.max_connections(16);
                url.to_string()
            }
        };
        let pool =
            options
                .clone()
                .connect(&url)
                .await
                .map_err(|source| StoreError::Unavailable {
                    backend: backend.as_str(),
                    source,
                })?;
        let store = Store {
            pool: Arc::new(RwLock::new(pool)),
            backend,
            display_url,
            epoch: Arc::new(epoch),
            file,
            round_trips: Arc::new(AtomicU64::new(0)),
        };
        if let Some(f) = &store.file {
            f.remember_id();
        }
        migrate::run(&store).await?;
        store.epoch.start_polling(store.current_pool());
        store.watch_file(url, options);
        Ok(store)
    }

    /// The pool to run a statement on; fails (503) while the SQLite file is gone.
    fn pool(&self) -> Result<AnyPool, StoreError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self.file.as_ref().filter(|f| f.is_gone()) {
            return Err(StoreError::Unavailable {
                backend: "sqlite",
                source: sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "the database file {} is gone or could not be reopened",
                        f.path.display()
                    ),
                )),
            });
        }
        Ok(self.current_pool())
    }

    fn current_pool(&self) -> AnyPool {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Statements and transactions this store (and its clones) has started so far.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Checks the SQLite file's identity every second, and reopens the pool on a file that
    /// replaced it (see `sqlite_file.rs`). Stops when the store is dropped.
    fn watch_file(&self, url: String, options: AnyPoolOptions) {
        let Some(file) = self.file.clone() else {
            return;
        };
        let pool = Arc::downgrade(&self.pool);
        let epoch = self.epoch.clone();
        let display_url = self.display_url.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                let now = match file.current_id() {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::warn!(file = %file.path.display(), error = %e, "cannot check the database file");
                        continue;
                    }
                };
                match now {
                    None => {
                        if !file.is_gone() {
                            file.set_gone(true);
                            tracing::error!(file = %file.path.display(), "the database file was removed under the running server: requests that need the database get 503 until it is back (it is never recreated empty)");
                        }
                    }
                    Some(id) if Some(id) == file.opened_id() => {
                        if file.is_gone() {
                            file.set_gone(false);
                            tracing::info!(file = %file.path.display(), "the database file is back");
                        }
                    }
                    Some(id) => {
                        let reopened = async {
                            let new = options.clone().connect(&url).await.map_err(|source| {
                                StoreError::Unavailable {
                                    backend: "sqlite",
                                    source,
                                }
                            })?;
                            let probe = Store {
                                pool: Arc::new(RwLock::new(new.clone())),
                                backend: Backend::Sqlite,
                                display_url: display_url.clone(),
                                epoch: epoch.clone(),
                                file: None,
                                round_trips: Arc::new(AtomicU64::new(0)),
                            };
                            migrate::run(&probe).await?;
                            Ok::<_, StoreError>(new)
                        }
                        .await;
                        match reopened {
                            Ok(new) => {
                                let old = std::mem::replace(
                                    &mut *pool.write().unwrap_or_else(|e| e.into_inner()),
                                    new.clone(),
                                );
                                *file.id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                                file.set_gone(false);
                                // Nothing remembered from the old file may be used again.
                                epoch.bump(&new).await;
                                tokio::spawn(async move { old.close().await });
                                tracing::warn!(file = %file.path.display(), inode = id.1, "the database file was replaced under the running server: reopened the new file and forgot every remembered credential");
                            }
                            Err(e) => {
                                if !file.is_gone() {
                                    file.set_gone(true);
                                    tracing::error!(file = %file.path.display(), error = %e, "the database file was replaced under the running server and the new file cannot be opened: requests that need the database get 503");
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        // A file replaced within the last second is not the one the pool has open.
        if let Some(f) = &self.file {
            if f.current_id().ok().flatten() != f.opened_id() {
                return Err(StoreError::Unavailable {
                    backend: "sqlite",
                    source: sqlx::Error::Io(std::io::Error::other(format!(
                        "the database file {} was replaced or removed; reopening",
                        f.path.display()
                    ))),
                });
            }
        }
        // Reads a real table: `SELECT 1` succeeds on a SQLite connection whose file is
        // corrupt or gone.
        sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// Changes whenever any credential changes, in this process or another one sharing the
    /// database (see `epoch.rs`). Cheap: meant to be read on every request.
    pub fn credentials_epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// A transaction that writes. On SQLite, `BEGIN IMMEDIATE`: the write lock is taken at
    /// once (waiting within the busy timeout), so a transaction that reads before it writes
    /// never meets another writer halfway. A deferred one would then fail at once with
    /// "database is locked" (SQLite does not wait in that deadlock), which a request saw as
    /// a 503 under concurrent changes.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let pool = self.pool()?;
        match self.backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        }
        .map_err(|e| self.unavailable(e))
    }

    /// Records that credentials changed; every mutating method calls it after committing.
    async fn changed(&self) {
        self.epoch.bump(&self.current_pool()).await;
    }

    pub async fn close(&self) {
        self.current_pool().close().await;
    }

    /// The SQLite database file, when the store is one.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref().map(|f| f.path.as_path())
    }

    fn unavailable(&self, source: sqlx::Error) -> StoreError {
        StoreError::Unavailable {
            backend: self.backend.as_str(),
            source,
        }
    }
}

impl crate::probe::Probe for Store {
    fn name(&self) -> String {
        "database".into()
    }

    fn check(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<String>, crate::probe::ProbeError>> {
        Box::pin(async move {
            self.ping().await?;
            Ok(None)
        })
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
        self.execute(&store.pool()?)
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

/// The file of a `sqlite:` URL (`None` for PostgreSQL or an in-memory database).
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
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
        assert_eq!(
            migrate::applied(&s).await.unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7]
        );
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_changes_that_read_before_they_write_never_fail_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::connect(&format!("sqlite://{}/p.db", dir.path().display()))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let f = BindingFields {
                    effect: "grant".into(),
                    subjects: vec![format!("user:u{i}")],
                    role: Some("reader".into()),
                    actions: Vec::new(),
                    repositories: vec![format!("r{i}/**")],
                    catalog: false,
                    admin_api: false,
                    description: None,
                    expires_at: None,
                };
                s.binding_create(&f, "test").await.map(|_| ())
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("a concurrent change failed");
        }
        assert_eq!(s.binding_list().await.unwrap().len(), 40);
    }
}
