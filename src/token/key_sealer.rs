//! Seals private signing keys for the database: AES-256-GCM under the key-encryption key in
//! `keys.dir/key-encryption.key` (32 random bytes, mode 0600, made on first start). The
//! database, and any backup of it, holds only sealed keys; whoever also holds the
//! key-encryption key can sign. Each sealed key is bound to its key ID (the additional data),
//! so a sealed key copied onto another row does not open.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::zeroize::Zeroizing;

pub const KEK_FILE: &str = "key-encryption.key";
const AAD_PREFIX: &str = "portcullis signing key v1 ";

pub struct KeySealer {
    key: LessSafeKey,
    rng: SystemRandom,
    pub path: PathBuf,
}

impl KeySealer {
    /// The key-encryption key of `keys_dir`, made if there is none yet.
    pub fn load_or_generate(keys_dir: &Path) -> std::io::Result<KeySealer> {
        let path = keys_dir.join(KEK_FILE);
        let key = crate::key_file::load_or_generate(
            &path,
            "it must be the file the signing keys in the database were sealed with (every replica shares it); restore it from the keys directory of another replica or a backup made with --include-keys",
        )?;
        Ok(KeySealer::new(key, path))
    }

    fn new(key: [u8; 32], path: PathBuf) -> KeySealer {
        KeySealer {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 256-bit key")),
            rng: SystemRandom::new(),
            path,
        }
    }

    /// The key-encryption key of `keys_dir`, which must exist.
    pub fn load_existing(keys_dir: &Path) -> std::io::Result<KeySealer> {
        let path = keys_dir.join(KEK_FILE);
        let bytes = std::fs::read(&path)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it does not hold a 32-byte key",
            )
        })?;
        Ok(KeySealer::new(key, path))
    }

    pub fn seal(&self, id: &str, private_pem: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system RNG");
        let mut data = private_pem.as_bytes().to_vec();
        let aad = format!("{AAD_PREFIX}{id}");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .expect("sealing");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        BASE64.encode(&out)
    }

    /// The private key sealed for `id`, if this key-encryption key sealed it.
    pub fn open(&self, id: &str, sealed: &str) -> Option<Zeroizing<String>> {
        let raw = BASE64.decode(sealed.as_bytes()).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let mut body = Zeroizing::new(body.to_vec());
        let aad = format!("{AAD_PREFIX}{id}");
        let plain = self
            .key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).ok()?,
                Aad::from(aad.as_bytes()),
                &mut body,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_under_its_own_id_and_key_encryption_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeySealer::load_or_generate(dir.path()).unwrap();
        let sealed = s.seal("AAAA", "-----BEGIN PRIVATE KEY-----");
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(
            s.open("AAAA", &sealed).unwrap().as_str(),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert!(s.open("BBBB", &sealed).is_none(), "bound to its id");
        let other = tempfile::tempdir().unwrap();
        let t = KeySealer::load_or_generate(other.path()).unwrap();
        assert!(t.open("AAAA", &sealed).is_none(), "another KEK");
        // The same file is read again, not replaced.
        let again = KeySealer::load_or_generate(dir.path()).unwrap();
        assert!(again.open("AAAA", &sealed).is_some());
    }
}
