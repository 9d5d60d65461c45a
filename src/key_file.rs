//! 32-byte secret keys kept in files of their own (mode 0600), made on first use: the
//! login-state sealing key and the key-encryption key of the signing keys. Replicas share
//! them by sharing the keys directory (a Kubernetes Secret, say).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

/// The key in `path`, made (0600) if there is none yet. `what` says, in an error, what is
/// lost by deleting a broken file.
pub fn load_or_generate(path: &Path, what: &str) -> std::io::Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} does not hold a 32-byte key: {what}",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| std::io::Error::other("the system random number generator failed"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}
