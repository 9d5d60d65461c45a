//! The credential epoch: a number that changes whenever any credential changes (a password,
//! a disabled flag, a group membership, a revoked token…). Whatever the server remembers
//! about credentials is tagged with the epoch it was learned in and ignored once the epoch
//! moves, so a change takes effect on the very next request, even when it was made by
//! `portcullis user passwd` in another process.
//!
//! Reading it must cost next to nothing, because every remembered credential is checked
//! against it:
//! - SQLite in a file: a file beside the database (`…db.epoch`) that every change replaces
//!   (write a new file, rename it over), so its inode changes; reading is one `stat`.
//! - In-memory SQLite: one process, one counter.
//! - PostgreSQL (replicas on several machines): a row every change increments, polled
//!   twice a second, plus this process's own changes at once.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

pub(super) enum Epoch {
    File(PathBuf),
    Memory(AtomicU64),
    Polled { polled: AtomicU64, local: AtomicU64 },
}

impl Epoch {
    pub(super) fn current(&self) -> u64 {
        match self {
            Epoch::File(path) => match std::fs::metadata(path) {
                Ok(m) => {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (m.ino(), m.mtime(), m.mtime_nsec(), m.size()).hash(&mut h);
                    h.finish()
                }
                Err(_) => 0,
            },
            Epoch::Memory(n) => n.load(Ordering::Acquire),
            Epoch::Polled { polled, local } => polled
                .load(Ordering::Acquire)
                .wrapping_add(local.load(Ordering::Acquire) << 32),
        }
    }

    /// Moves the epoch. Errors are logged, not returned: the change itself is committed,
    /// and remembered credentials still expire with their short TTL.
    pub(super) async fn bump(&self, pool: &AnyPool) {
        match self {
            Epoch::File(path) => {
                let tmp = path.with_extension(format!("epoch.{}", std::process::id()));
                let stamp = format!("{:?}\n", std::time::SystemTime::now());
                if let Err(e) =
                    std::fs::write(&tmp, stamp).and_then(|_| std::fs::rename(&tmp, path))
                {
                    tracing::warn!(file = %path.display(), error = %e, "could not record a credential change; remembered credentials expire with auth.cache_ttl instead");
                }
            }
            Epoch::Memory(n) => {
                n.fetch_add(1, Ordering::AcqRel);
            }
            Epoch::Polled { local, .. } => {
                local.fetch_add(1, Ordering::AcqRel);
                if let Err(e) =
                    sqlx::query("UPDATE credential_epoch SET value = value + 1 WHERE id = 1")
                        .execute(pool)
                        .await
                {
                    tracing::warn!(error = %e, "could not record a credential change for other replicas");
                }
            }
        }
    }

    /// For PostgreSQL: follows the shared row in the background.
    pub(super) fn start_polling(self: &Arc<Self>, pool: AnyPool) {
        if !matches!(**self, Epoch::Polled { .. }) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let Some(epoch) = weak.upgrade() else { return };
                let Epoch::Polled { polled, .. } = &*epoch else {
                    return;
                };
                match sqlx::query_as::<_, (i64,)>("SELECT value FROM credential_epoch WHERE id = 1")
                    .fetch_one(&pool)
                    .await
                {
                    Ok((v,)) => polled.store(v as u64, Ordering::Release),
                    Err(e) => tracing::debug!(error = %e, "credential epoch poll failed"),
                }
            }
        });
    }
}
