//! The SQLite database as a file: created private, and watched for being replaced.
//!
//! - **Private.** The database holds password hashes and token hashes: its directory is
//!   created 0700, the file itself (and the epoch file beside it) 0600 before SQLite opens
//!   it; SQLite gives its journal the database file's mode. Wider modes on existing files
//!   are reported by `portcullis check` and at startup ([`mode_warnings`]).
//! - **Replaced under a running server** (a restore from backup, a `mv` of a copy), the
//!   pool's open connections would go on reading the *old* file for ever: a user disabled in
//!   the new one would still be let in. The file's identity (device and inode) is checked
//!   every second; when it changes, the pool is reopened on the new file (migrated, and the
//!   credential epoch moved, so nothing remembered from the old file is used), and the log
//!   says so. When the file is gone, requests that need it get a 503 (never an empty new
//!   database, which would turn every login into "wrong password") until it is back.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The file's identity: device and inode.
pub(super) type FileId = (u64, u64);

pub(super) struct SqliteFile {
    pub path: PathBuf,
    /// The identity of the file the pool has open.
    pub id: Mutex<Option<FileId>>,
    /// The file is gone (or could not be reopened): requests that need it fail with 503.
    pub gone: AtomicBool,
}

impl SqliteFile {
    pub fn new(path: PathBuf) -> SqliteFile {
        SqliteFile {
            path,
            id: Mutex::new(None),
            gone: AtomicBool::new(false),
        }
    }

    /// The identity of the file at the path now, `None` when it does not exist.
    pub fn current_id(&self) -> std::io::Result<Option<FileId>> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(Some((m.dev(), m.ino()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn remember_id(&self) {
        if let Ok(id) = self.current_id() {
            *self.id.lock().unwrap_or_else(|e| e.into_inner()) = id;
        }
    }

    pub fn opened_id(&self) -> Option<FileId> {
        *self.id.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    pub fn set_gone(&self, gone: bool) {
        self.gone.store(gone, Ordering::Release);
    }
}

/// Creates the database's directory (0700) and file (0600) when they do not exist yet.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// What is readable by others than the owner among the database's directory, file, journal
/// and epoch file, as messages with the fix.
pub fn mode_warnings(db: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut candidates = vec![(dir.to_path_buf(), 0o700)];
    for suffix in ["", "-journal", "-wal", "-shm", ".epoch"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        candidates.push((PathBuf::from(name), 0o600));
    }
    for (path, want) in candidates {
        let Ok(m) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push(format!(
                "{} is mode {mode:o}: others can read password and token hashes; chmod {want:o} {}",
                path.display(),
                path.display()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_is_private_and_wider_modes_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/p.db");
        create_private(&db).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(db.parent().unwrap()), 0o700);
        assert!(mode_warnings(&db).is_empty());
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = mode_warnings(&db);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("mode 644") && w[0].contains("chmod 600"),
            "{w:?}"
        );
    }
}
