//! argon2id hashing with bounded concurrency.
//!
//! A verification costs ~25 ms of a core at OWASP parameters. It runs on the blocking pool,
//! never on the async threads, and at most `hash_concurrency` at once, so a flood of
//! password attempts queues instead of starving every other request.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::AuthError;
use crate::store::PasswordHash;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when a user does not exist, so that an unknown name costs the same
    /// time as a wrong password and cannot be told apart by timing.
    dummy: Arc<PasswordHash>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> PasswordHasher {
        let dummy =
            hash_password(&SecretString::from(random_string())).expect("hashing a random password");
        PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        }
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no user
    /// (the result is then always false).
    pub async fn verify(
        &self,
        hash: Option<&PasswordHash>,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let real = hash.is_some();
        let phc = hash.unwrap_or(&self.dummy).0.clone();
        let password = password.clone();
        let _permit = self.permits.acquire().await.map_err(|_| AuthError {
            backend: "password hasher",
            cause: "shutting down".into(),
        })?;
        let ok = tokio::task::spawn_blocking(move || verify_password(&phc, &password))
            .await
            .map_err(|e| AuthError {
                backend: "password hasher",
                cause: e.to_string(),
            })?;
        Ok(real && ok)
    }
}

/// A new argon2id hash with a random salt, OWASP parameters (m=19 MiB, t=2, p=1).
pub fn hash_password(password: &SecretString) -> Result<PasswordHash, String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| e.to_string())
}

/// One argon2 verification on the calling thread (the benchmark measures the cores with it).
pub fn verify_password(phc: &str, password: &SecretString) -> bool {
    match PhcHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn random_string() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    data_encoding::BASE64URL_NOPAD.encode(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let h = hash_password(&SecretString::from("correct horse")).unwrap();
        assert!(h.0.starts_with("$argon2id$"));
        let hasher = PasswordHasher::new(2);
        assert!(hasher
            .verify(Some(&h), &SecretString::from("correct horse"))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Some(&h), &SecretString::from("wrong"))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher
            .verify(None, &SecretString::from("anything"))
            .await
            .unwrap());
    }
}
