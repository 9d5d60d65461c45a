//! 32-byte secret keys kept in files of their own (mode 0600), made on first use: the
//! login-state sealing key and the key-encryption key of the signing keys. Replicas share
//! them by sharing the keys directory (a Kubernetes Secret, say).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

/// The key in `path`, made (0600) if there is none yet. `what` says, in an error, what is
/// lost by deleting a broken file.
pub fn load_or_generate(path: &Path, what: &str) -> std::io::Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} does not hold a 32-byte key: {what}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| std::io::Error::other("the system random number generator failed"))?;
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            // Written whole under a private name, then linked into place: replicas sharing
            // the directory and starting at once all end up with the one key that won,
            // and none reads a half-written file.
            let mut tmp = tempfile::Builder::new()
                .prefix(".key-")
                .permissions(std::fs::Permissions::from_mode(0o600))
                .tempfile_in(dir)?;
            tmp.write_all(&key)?;
            tmp.as_file().sync_all()?;
            match std::fs::hard_link(tmp.path(), path) {
                Ok(()) => Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_generate(path, what)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
