//! Secrets made for machines (refresh tokens, personal access tokens, robot secrets): 32
//! random bytes, base64url, behind a prefix that says what they are (`pcr_`, `pcp_`,
//! `pcb_`), so a secret scanner can recognise a leaked one and a person can tell them apart.
//! Stored only as a SHA-256: a 256-bit random secret needs no slow hash, and a fast one keeps
//! their use cheap.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ring::rand::SecureRandom;
use secrecy::SecretString;

use super::AuthError;

pub struct NewSecret {
    /// The only copy of the secret: shown once, never stored.
    pub secret: SecretString,
    /// Hex SHA-256 of the secret: what is stored and looked up.
    pub hash: String,
    /// A short public handle for listing and revoking (the first 12 hex digits of the hash).
    pub id: String,
}

pub fn new_secret(prefix: &str) -> Result<NewSecret, AuthError> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::new("random number generator", "no entropy"))?;
    let secret = format!("{prefix}{}", BASE64URL_NOPAD.encode(&bytes));
    let hash = hash_secret(&secret);
    Ok(NewSecret {
        id: hash[..12].to_string(),
        hash,
        secret: SecretString::from(secret),
    })
}

pub fn hash_secret(secret: &str) -> String {
    HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// Whether `s` has the shape of one of our secrets with `prefix` (cheap pre-check before a
/// database lookup).
pub fn looks_like(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 43 && s.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_are_prefixed_random_and_stored_as_their_hash() {
        let a = new_secret("pcp_").unwrap();
        let b = new_secret("pcp_").unwrap();
        assert!(looks_like(a.secret.expose_secret(), "pcp_"));
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_eq!(a.hash, hash_secret(a.secret.expose_secret()));
        assert_eq!(a.hash.len(), 64);
        assert!(a.hash.starts_with(&a.id));
        assert!(!looks_like("pcp_short", "pcp_"));
    }
}
