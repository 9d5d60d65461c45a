//! The credential epoch: a number that changes whenever any credential changes (a password,
//! a disabled flag, a group membership, a revoked token…). Whatever the server remembers
//! about credentials is tagged with the epoch it was learned in and ignored once the epoch
//! moves, so a change takes effect on the very next request, even when it was made by
//! `portcullis user passwd` in another process.
//!
//! Reading it must cost next to nothing, because every request with a remembered
//! credential checks it:
//! - SQLite in a file: an 8-byte counter in a file beside the database (`…db.epoch`),
//!   mapped shared into the memory of every process using the database (server, CLI). A
//!   change is an atomic increment, a check an atomic load: no system call, and another
//!   process's change is seen by the very next check. (A `stat` per request cost 4% of the
//!   warm path.)
//! - In-memory SQLite: one process, one counter.
//! - PostgreSQL (replicas on several machines): a row every change increments, polled
//!   twice a second, plus this process's own changes at once.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

pub(super) enum Epoch {
    Shared(SharedCounter),
    Memory(AtomicU64),
    Polled { polled: AtomicU64, local: AtomicU64 },
}

/// A `u64` in a file, mapped `MAP_SHARED`: the same physical memory in every process that
/// maps it, so atomic operations on it are coherent between processes.
pub(super) struct SharedCounter {
    counter: *const AtomicU64,
}

// SAFETY: the pointer is to a shared mapping that lives as long as this value and is only
// accessed through atomic operations.
unsafe impl Send for SharedCounter {}
unsafe impl Sync for SharedCounter {}

impl SharedCounter {
    pub(super) fn open(path: &Path) -> std::io::Result<SharedCounter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        if file.metadata()?.len() < 8 {
            file.set_len(8)?;
        }
        // SAFETY: maps 8 bytes of a file we hold open and sized; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // The mapping stays valid after the file is closed. It is page-aligned, so it is
        // aligned for an AtomicU64.
        Ok(SharedCounter {
            counter: ptr as *const AtomicU64,
        })
    }

    fn get(&self) -> &AtomicU64 {
        // SAFETY: see the type's invariant.
        unsafe { &*self.counter }
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `open`, which nothing uses any more.
        unsafe {
            libc::munmap(self.counter as *mut libc::c_void, 8);
        }
    }
}

impl Epoch {
    pub(super) fn current(&self) -> u64 {
        match self {
            Epoch::Shared(c) => c.get().load(Ordering::Acquire),
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
            Epoch::Shared(c) => {
                c.get().fetch_add(1, Ordering::AcqRel);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_the_counter_see_each_others_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db.epoch");
        let (a, b) = (
            SharedCounter::open(&path).unwrap(),
            SharedCounter::open(&path).unwrap(),
        );
        let before = b.get().load(Ordering::Acquire);
        a.get().fetch_add(1, Ordering::AcqRel);
        assert_eq!(b.get().load(Ordering::Acquire), before + 1);
        drop(a);
        let c = SharedCounter::open(&path).unwrap();
        assert_eq!(
            c.get().load(Ordering::Acquire),
            before + 1,
            "kept in the file"
        );
    }
}
