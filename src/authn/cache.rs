//! Remembered credentials: the fast path that spares a busy registry an argon2
//! verification (~25 ms of a core) or a database round trip per token request.
//!
//! - Keyed by a MAC, under a key made fresh at every start, of the credential kind, the
//!   name, the secret and the service: the password itself is never kept, a key is useless
//!   outside this process, and no one without the key can make two credentials share an
//!   entry. The MAC is keyed BLAKE3, which costs a third of HMAC-SHA256 on these ~80 bytes
//!   (2,000 instructions against 7,600 per request under callgrind; it is computed on every
//!   warm token request).
//! - Each entry is tagged with the credential epoch it was learned in (see
//!   `store/epoch.rs`) and ignored once the epoch moves: a password change, a disabled user,
//!   a revoked token or a changed group membership takes effect on the next request, even
//!   when made by the CLI in another process.
//! - Entries live `auth.cache_ttl` at most (less when the credential expires sooner), and the
//!   cache holds `auth.cache_max_entries` at most. It is `quick_cache`'s: when full, it drops
//!   the entries least likely to be asked for again (S3-FIFO), where the hand-written map it
//!   replaced started over and sent every client back to argon2 at once; and it measured
//!   cheaper per request (see the README's performance section).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

use super::Authenticated;

/// A credential's place in the cache: a MAC of its kind, name, secret and service.
pub type CacheKey = [u8; 32];
type Key = CacheKey;

/// What kind of credential a key is for, so that a password and a refresh token with the
/// same bytes can never be taken for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    Password,
    RefreshToken,
    Bearer,
}

impl CredentialKind {
    fn tag(self) -> u8 {
        match self {
            CredentialKind::Password => 1,
            CredentialKind::RefreshToken => 2,
            CredentialKind::Bearer => 3,
        }
    }
}

pub struct CredentialCache {
    mac_key: [u8; 32],
    ttl: Duration,
    max_entries: usize,
    map: quick_cache::sync::Cache<Key, Arc<Entry>>,
}

struct Entry {
    value: Authenticated,
    epoch: u64,
    until: Instant,
}

impl CredentialCache {
    pub fn new(ttl: Duration, max_entries: usize) -> CredentialCache {
        CredentialCache {
            mac_key: {
                let mut key = [0u8; 32];
                SystemRandom::new().fill(&mut key).expect("system RNG");
                key
            },
            ttl,
            max_entries,
            map: quick_cache::sync::Cache::new(max_entries.max(1)),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    /// The key for a credential: kind (distinguishes passwords, tokens, robots), the name
    /// presented, the secret, and the service (refresh tokens are bound to one).
    pub fn key(
        &self,
        kind: CredentialKind,
        name: &str,
        secret: &SecretString,
        service: &str,
    ) -> Key {
        let parts = [
            name.as_bytes(),
            secret.expose_secret().as_bytes(),
            service.as_bytes(),
        ];
        // Usually all of it fits a block on the stack and is hashed in one call (cheaper than
        // seven updates); a long secret streams instead.
        let mut input = [0u8; 192];
        let len = 1 + parts.iter().map(|p| 8 + p.len()).sum::<usize>();
        if len <= input.len() {
            input[0] = kind.tag();
            let mut at = 1;
            for part in parts {
                input[at..at + 8].copy_from_slice(&(part.len() as u64).to_be_bytes());
                input[at + 8..at + 8 + part.len()].copy_from_slice(part);
                at += 8 + part.len();
            }
            let key = *blake3::keyed_hash(&self.mac_key, &input[..len]).as_bytes();
            // The secret does not outlive the call in this buffer either.
            input.fill(0);
            std::hint::black_box(&input);
            return key;
        }
        let mut mac = blake3::Hasher::new_keyed(&self.mac_key);
        mac.update(&[kind.tag()]);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        *mac.finalize().as_bytes()
    }

    pub fn get(&self, key: &Key, epoch: u64) -> Option<Authenticated> {
        if !self.enabled() {
            return None;
        }
        let e = self.map.get(key)?;
        (e.epoch == epoch && e.until > Instant::now()).then(|| e.value.clone())
    }

    /// Remembers a successful authentication learned in `epoch`, until the TTL or
    /// `expires_at` (Unix seconds) if sooner.
    pub fn put(&self, key: Key, value: Authenticated, epoch: u64, expires_at: Option<i64>) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut until = now + self.ttl;
        if let Some(exp) = expires_at {
            let left = exp - crate::store::now();
            if left <= 0 {
                return;
            }
            until = until.min(now + Duration::from_secs(left as u64));
        }
        self.map.insert(
            key,
            Arc::new(Entry {
                value,
                epoch,
                until,
            }),
        );
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthSource, Identity};

    fn alice() -> Authenticated {
        Authenticated::new(Identity::user("alice", vec![], AuthSource::Password))
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn a_remembered_credential_is_found_only_with_the_same_secret_and_epoch() {
        let c = CredentialCache::new(Duration::from_secs(60), 10);
        let k = c.key(CredentialKind::Password, "alice", &secret("pw"), "svc");
        c.put(k, alice(), 7, None);
        assert!(c.get(&k, 7).is_some());
        assert!(c.get(&k, 8).is_none(), "the epoch moved: forgotten");
        assert!(c
            .get(
                &c.key(CredentialKind::Password, "alice", &secret("other"), "svc"),
                7
            )
            .is_none());
        assert_ne!(
            k,
            c.key(CredentialKind::RefreshToken, "alice", &secret("pw"), "svc"),
            "kinds are kept apart"
        );
        assert_ne!(
            c.key(CredentialKind::Password, "ab", &secret("c"), "s"),
            c.key(CredentialKind::Password, "a", &secret("bc"), "s"),
            "parts are length-prefixed"
        );
    }

    #[test]
    fn short_and_long_credentials_are_keyed_the_same_way() {
        let c = CredentialCache::new(Duration::from_secs(1), 1);
        for secret_len in [10, 150, 4000] {
            let pw = "p".repeat(secret_len);
            let mut mac = blake3::Hasher::new_keyed(&c.mac_key);
            mac.update(&[CredentialKind::Password.tag()]);
            for part in [&b"alice"[..], pw.as_bytes(), b"svc"] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            assert_eq!(
                c.key(CredentialKind::Password, "alice", &secret(&pw), "svc"),
                *mac.finalize().as_bytes(),
                "{secret_len}"
            );
        }
    }

    #[test]
    fn keys_differ_between_processes_and_hold_no_password() {
        let (a, b) = (
            CredentialCache::new(Duration::from_secs(1), 1),
            CredentialCache::new(Duration::from_secs(1), 1),
        );
        let (ka, kb) = (
            a.key(CredentialKind::Password, "alice", &secret("pw"), ""),
            b.key(CredentialKind::Password, "alice", &secret("pw"), ""),
        );
        assert_ne!(ka, kb);
        assert!(!ka.windows(2).any(|w| w == b"pw"));
    }

    #[test]
    fn the_cache_is_bounded_and_respects_credential_expiry() {
        let c = CredentialCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            c.put(
                c.key(
                    CredentialKind::Password,
                    &format!("u{i}"),
                    &secret("pw"),
                    "",
                ),
                alice(),
                1,
                None,
            );
            assert!(c.len() <= 3);
        }
        let k = c.key(CredentialKind::Password, "expired", &secret("pw"), "");
        c.put(k, alice(), 1, Some(crate::store::now() - 1));
        assert!(c.get(&k, 1).is_none());
    }

    #[test]
    fn a_zero_ttl_disables_remembering() {
        let c = CredentialCache::new(Duration::ZERO, 10);
        let k = c.key(CredentialKind::Password, "alice", &secret("pw"), "");
        c.put(k, alice(), 1, None);
        assert!(c.get(&k, 1).is_none());
    }
}
