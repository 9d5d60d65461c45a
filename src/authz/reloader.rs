//! Keeps the policy in force up to date without a restart: the policy files, compiled again
//! on SIGHUP, on `POST /api/v1/policies/reload` and when a file in the directory changes;
//! the rules in the database, read again whenever the policy generation moves (on this
//! replica at once, on the others within a second: they notice the credential epoch move
//! and read the generation); and bindings that expire, dropped when they do.
//!
//! A file with an error never replaces the working policy: the old one stays in force, and
//! the error (file, line, fix) is logged, kept in [`ReloadStatus`] for the reload endpoint,
//! and reported by `/readyz` as a warning. Every swap is atomic ([`LivePolicies`]): a
//! request decides entirely under the old policy or entirely under the new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use serde::Serialize;

use super::engine::{DatabaseRules, PolicySet};
use super::policy_file::{ParsedFile, PolicyError};
use super::LivePolicies;
use crate::probe::{Probe, ProbeError};
use crate::store::{now, Store, StoreError};

/// How often the credential epoch and the next expiry are looked at. The epoch is an atomic
/// load (PostgreSQL's is polled every 500 ms by the store), so this costs nothing.
const POLL: Duration = Duration::from_millis(200);
/// File events arriving within this long of each other are one change (an editor writes a
/// temporary file, renames it, and touches the directory).
const SETTLE: Duration = Duration::from_millis(200);

/// What the last reloads did, for the reload endpoint, `/readyz` and the log.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReloadStatus {
    /// The policy in force: `3 files, 2 bindings in the database, 5 roles, 7 grants, 1 deny`.
    pub summary: String,
    /// When the policy files in force were read (Unix seconds).
    pub files_loaded_at: i64,
    /// The last attempt to read the files failed: the previous files stay in force.
    pub files_error: Option<FileError>,
    /// The policy generation of the database's rules in force.
    pub database_generation: i64,
    /// The last attempt to read the database's rules failed (they stay as they were).
    pub database_error: Option<String>,
    /// Rules from the database left out, and why.
    pub warnings: Vec<String>,
    /// When the policy in force was compiled (Unix seconds).
    pub compiled_at: i64,
    /// What asked for the last reload: `startup`, `SIGHUP`, `file change`, `api`,
    /// `database change`, `expiry`.
    pub last_trigger: String,
}

/// A policy file that does not load.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FileError {
    pub file: String,
    pub line: Option<usize>,
    /// The problem and its fix.
    pub message: String,
    /// When it was found (Unix seconds).
    pub at: i64,
}

impl From<&PolicyError> for FileError {
    fn from(e: &PolicyError) -> FileError {
        FileError {
            file: e.file().to_owned(),
            line: e.line(),
            message: e.message().to_owned(),
            at: now(),
        }
    }
}

struct State {
    files: Arc<Vec<ParsedFile>>,
    files_loaded_at: i64,
    database: Arc<DatabaseRules>,
    generation: i64,
    next_expiry: Option<i64>,
}

pub struct Reloader {
    dir: PathBuf,
    store: Store,
    live: Arc<LivePolicies>,
    state: tokio::sync::Mutex<State>,
    status: ArcSwap<ReloadStatus>,
    /// `State::next_expiry`, readable without the lock (`i64::MAX` for none).
    next_expiry: std::sync::atomic::AtomicI64,
}

impl Reloader {
    /// Loads the files and the database's rules. At startup an error in a file is fatal
    /// (there is no working policy to keep).
    pub async fn start(dir: &Path, store: Store) -> anyhow::Result<Arc<Reloader>> {
        let files = parse_dir(dir)?;
        let generation = store.policy_generation().await?;
        let database = read_database(&store).await?;
        let t = now();
        let compiled = PolicySet::compile(&files, &database, t)?;
        for w in &compiled.warnings {
            tracing::warn!("{w}");
        }
        let status = ReloadStatus {
            summary: compiled.set.summary(),
            files_loaded_at: t,
            files_error: None,
            database_generation: generation,
            database_error: None,
            warnings: compiled.warnings,
            compiled_at: t,
            last_trigger: "startup".into(),
        };
        Ok(Arc::new(Reloader {
            dir: dir.to_owned(),
            store,
            live: Arc::new(LivePolicies::new(compiled.set)),
            state: tokio::sync::Mutex::new(State {
                files: Arc::new(files),
                files_loaded_at: t,
                database: Arc::new(database),
                generation,
                next_expiry: compiled.next_expiry,
            }),
            status: ArcSwap::from_pointee(status),
            next_expiry: std::sync::atomic::AtomicI64::new(
                compiled.next_expiry.unwrap_or(i64::MAX),
            ),
        }))
    }

    /// The policy in force, for deciding.
    pub fn policies(&self) -> Arc<LivePolicies> {
        self.live.clone()
    }

    pub fn status(&self) -> Arc<ReloadStatus> {
        self.status.load_full()
    }

    /// Reads the files again (and the database's rules), and puts them in force unless a
    /// file has an error. `trigger` says who asked, for the log and the status.
    pub async fn reload(&self, trigger: &str) -> Arc<ReloadStatus> {
        let mut state = self.state.lock().await;
        let mut status = (*self.status()).clone();
        status.last_trigger = trigger.to_owned();
        match parse_dir(&self.dir) {
            Ok(files) => {
                state.files = Arc::new(files);
                state.files_loaded_at = now();
                status.files_error = None;
            }
            Err(e) => {
                tracing::error!(trigger, error = %e, "the policy files were not reloaded: the previous policy stays in force");
                status.files_error = Some(FileError::from(&e));
            }
        }
        status.files_loaded_at = state.files_loaded_at;
        self.read_database_into(&mut state, &mut status).await;
        self.compile(&mut state, status).await
    }

    /// Compiles the files in force with the database's rules as `change` leaves them,
    /// without putting anything in force: what a change to the rules would do (a role
    /// deleted that a file still uses is an error; a binding naming a role no one defines
    /// is a warning naming it).
    pub async fn try_database(
        &self,
        change: impl FnOnce(&mut DatabaseRules),
    ) -> Result<super::Compiled, PolicyError> {
        let state = self.state.lock().await;
        let mut database = (*state.database).clone();
        change(&mut database);
        let files = state.files.clone();
        drop(state);
        let t = now();
        tokio::task::spawn_blocking(move || PolicySet::compile(&files, &database, t))
            .await
            .unwrap_or_else(|e| {
                Err(PolicyError::whole(
                    "policies",
                    format!("compiling failed: {e}"),
                ))
            })
    }

    /// Puts a change this process just made to the database's rules in force here at once,
    /// without waiting for the next poll.
    pub async fn reload_database_now(&self) {
        self.reload_database("database change").await;
    }

    /// Reads the database's rules again if their generation moved; `true` if it did.
    async fn reload_database(&self, trigger: &str) -> bool {
        let known = self.state.lock().await.generation;
        let generation = match self.store.policy_generation().await {
            Ok(g) => g,
            Err(e) => {
                self.database_failed(&e);
                return false;
            }
        };
        if generation == known {
            return false;
        }
        // A moved generation may also be a reload asked for by `portcullis policy reload`
        // from another machine: the files are read again too (they are small).
        self.reload(trigger).await;
        true
    }

    /// Compiles again when a binding has expired.
    async fn expire(&self) {
        // Checked without the lock: this runs five times a second.
        let next = self.next_expiry.load(std::sync::atomic::Ordering::Relaxed);
        if next == i64::MAX || next > now() {
            return;
        }
        let mut state = self.state.lock().await;
        if state.next_expiry.is_none_or(|at| at > now()) {
            return;
        }
        let mut status = (*self.status()).clone();
        status.last_trigger = "expiry".into();
        self.compile(&mut state, status).await;
    }

    async fn read_database_into(&self, state: &mut State, status: &mut ReloadStatus) {
        let read = async {
            let generation = self.store.policy_generation().await?;
            let rules = read_database(&self.store).await?;
            Ok::<_, StoreError>((generation, rules))
        };
        match read.await {
            Ok((generation, rules)) => {
                state.generation = generation;
                state.database = Arc::new(rules);
                status.database_generation = generation;
                status.database_error = None;
            }
            Err(e) => {
                self.database_failed(&e);
                status.database_error = Some(e.to_string());
            }
        }
    }

    fn database_failed(&self, e: &StoreError) {
        tracing::error!(backend = self.store.backend().as_str(), error = %e, "the rules in the database were not read again: the policy in force stays as it was");
    }

    /// Compiles the state off the async threads (10,000 rules take ~70 ms) and puts it in
    /// force.
    async fn compile(&self, state: &mut State, mut status: ReloadStatus) -> Arc<ReloadStatus> {
        let (files, database) = (state.files.clone(), state.database.clone());
        let t = now();
        let compiled =
            tokio::task::spawn_blocking(move || PolicySet::compile(&files, &database, t)).await;
        match compiled {
            Ok(Ok(c)) => {
                for w in &c.warnings {
                    if !status.warnings.contains(w) {
                        tracing::warn!("{w}");
                    }
                }
                status.summary = c.set.summary();
                status.warnings = c.warnings;
                status.compiled_at = t;
                state.next_expiry = c.next_expiry;
                self.next_expiry.store(
                    c.next_expiry.unwrap_or(i64::MAX),
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.live.replace(c.set);
                tracing::info!(trigger = %status.last_trigger, summary = %status.summary, "policy reloaded");
            }
            // The files parsed, so only role resolution can fail here (a binding's role is
            // a warning, not an error): keep the policy in force.
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the policy was not reloaded: the previous policy stays in force");
                status.files_error = Some(FileError::from(&e));
            }
            Err(e) => {
                tracing::error!(error = %e, "compiling the policy failed");
            }
        }
        let status = Arc::new(status);
        self.status.store(status.clone());
        status
    }

    /// Starts what reloads by itself: SIGHUP, file changes in the directory (when `files`),
    /// the database's generation (through the credential epoch), and expiries. Each stops when
    /// the reloader is dropped.
    pub fn watch(self: &Arc<Self>, files: bool) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                tracing::warn!("cannot listen for SIGHUP: reload policies through the API");
                return;
            };
            while hup.recv().await.is_some() {
                let Some(r) = weak.upgrade() else { return };
                tracing::info!("SIGHUP: reloading the policy files");
                r.reload("SIGHUP").await;
            }
        });

        let weak = Arc::downgrade(self);
        let epoch_at_start = self.store.credentials_epoch();
        tokio::spawn(async move {
            let mut seen = epoch_at_start;
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(r) = weak.upgrade() else { return };
                let epoch = r.store.credentials_epoch();
                if epoch != seen {
                    seen = epoch;
                    r.reload_database("database change").await;
                }
                r.expire().await;
            }
        });

        if files {
            self.watch_files();
        }
    }

    fn watch_files(self: &Arc<Self>) {
        crate::dir_watch::watch(
            self,
            std::slice::from_ref(&self.dir),
            SETTLE,
            "policy directory",
            "reload with SIGHUP or the API",
            |r| {
                Box::pin(async move {
                    r.reload("file change").await;
                })
            },
        );
    }
}

fn parse_dir(dir: &Path) -> Result<Vec<ParsedFile>, PolicyError> {
    PolicySet::parse_sources(&PolicySet::read_dir(dir)?)
}

async fn read_database(store: &Store) -> Result<DatabaseRules, StoreError> {
    Ok(DatabaseRules {
        roles: store.role_list().await?,
        bindings: store.binding_list().await?,
    })
}

/// `/readyz` reports a policy file that does not load, or database rules left out, as a
/// warning: the replica still serves (with the previous policy), so it stays ready.
impl Probe for Reloader {
    fn name(&self) -> String {
        "policies".into()
    }

    fn check(&self) -> BoxFuture<'_, Result<Option<String>, ProbeError>> {
        Box::pin(async move { Ok(Some(self.status().summary.clone())) })
    }

    fn required(&self) -> bool {
        false
    }

    fn warnings(&self) -> Vec<String> {
        let s = self.status();
        let mut out = Vec::new();
        if let Some(e) = &s.files_error {
            let at = match e.line {
                Some(l) => format!("{}:{l}", e.file),
                None => e.file.clone(),
            };
            out.push(format!(
                "policy files not reloaded, the previous policy is in force: {at}: {}",
                e.message
            ));
        }
        if let Some(e) = &s.database_error {
            out.push(format!(
                "rules in the database not read again, the previous ones are in force: {e}"
            ));
        }
        out.extend(s.warnings.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthSource, Identity, Requester, Scope};
    use crate::store::{memory_store, BindingFields};

    fn granted(r: &Reloader, scope: &str) -> String {
        let alice = Requester::Authenticated(Identity::user(
            "alice",
            vec!["qa".into()],
            AuthSource::Password,
        ));
        let d =
            super::super::Authorizer::decide(&*r.policies(), &alice, &Scope::parse(scope).unwrap());
        d.granted
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    const READER: &str =
        "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\"**\"]\n";

    #[tokio::test]
    async fn a_broken_file_keeps_the_previous_policy_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), READER).unwrap();
        let r = Reloader::start(dir.path(), memory_store().await)
            .await
            .unwrap();
        assert_eq!(granted(&r, "repository:x:pull"), "pull");

        std::fs::write(
            dir.path().join("a.toml"),
            "[[grant]]\nto = [\"nobody:x\"]\n",
        )
        .unwrap();
        let s = r.reload("test").await;
        let e = s.files_error.as_ref().expect("an error");
        assert!(e.file.ends_with("a.toml") && e.line == Some(2), "{e:?}");
        assert_eq!(granted(&r, "repository:x:pull"), "pull");
        assert_eq!(r.warnings().len(), 1);

        std::fs::write(
            dir.path().join("a.toml"),
            READER.replace("reader", "writer"),
        )
        .unwrap();
        let s = r.reload("test").await;
        assert_eq!(s.files_error, None);
        assert_eq!(granted(&r, "repository:x:pull,push"), "pull,push");
    }

    #[tokio::test]
    async fn a_binding_is_in_force_after_a_database_change_and_leaves_when_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), READER).unwrap();
        let store = memory_store().await;
        let r = Reloader::start(dir.path(), store.clone()).await.unwrap();
        let fields = BindingFields {
            effect: "grant".into(),
            subjects: vec!["group:qa".into()],
            role: Some("writer".into()),
            actions: vec![],
            repositories: vec!["qa/**".into()],
            catalog: false,
            admin_api: false,
            description: None,
            expires_at: Some(now() + 2),
        };
        store.binding_create(&fields, "bob").await.unwrap();
        assert!(r.reload_database("test").await);
        assert!(!r.reload_database("test").await, "nothing moved since");
        assert_eq!(granted(&r, "repository:qa/app:push"), "push");
        tokio::time::sleep(Duration::from_millis(3100)).await;
        r.expire().await;
        assert_eq!(granted(&r, "repository:qa/app:push"), "");
        assert_eq!(r.status().last_trigger, "expiry");
    }
}
