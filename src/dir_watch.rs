//! Watching directories for changed files (the policy files, the HTTPS certificate): events
//! are let settle (an editor or a renewal writes several files, one after another), then
//! the owner is told once. The owner is held weakly: watching stops when it is dropped.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Calls `changed(owner)` `settle` after files in `dirs` change (access events aside), as
/// long as `owner` lives. A directory that cannot be watched is logged with `fallback`
/// (what to do instead, e.g. "reload with SIGHUP").
pub fn watch<T: Send + Sync + 'static>(
    owner: &Arc<T>,
    dirs: &[PathBuf],
    settle: Duration,
    what: &'static str,
    fallback: &'static str,
    changed: impl Fn(Arc<T>) -> futures_util::future::BoxFuture<'static, ()> + Send + 'static,
) {
    use notify::Watcher;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            // Full means a call is already due: nothing is lost.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the {what} for changes: {fallback}");
            return;
        }
    };
    let mut watched = 0;
    for dir in dirs {
        match watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => watched += 1,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the {what} for changes: {fallback}")
            }
        }
    }
    if watched == 0 {
        return;
    }
    let weak: Weak<T> = Arc::downgrade(owner);
    tokio::spawn(async move {
        // The watcher lives as long as this task.
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            tokio::time::sleep(settle).await;
            while rx.try_recv().is_ok() {}
            let Some(owner) = weak.upgrade() else { return };
            changed(owner).await;
        }
    });
}
