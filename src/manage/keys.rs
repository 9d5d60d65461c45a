//! Signing-key rotation, for `portcullis key` and `/api/v1/keys`: add a `next` key, activate
//! it, retire the old one once every token it signed has expired. Each change is audited
//! with its actor and in force on every replica within a second (see `token/key_ring.rs`).

use std::sync::Arc;

use super::{audited, ManageError};
use crate::domain::Actor;
use crate::store::{now, KeyRecord, StoreError};
use crate::token::{KeyRing, KeyState, RingError, RingKey, SigningKey};

/// A key and certificate chain brought by the operator (PEM), instead of a generated one.
pub struct KeyImport {
    pub key_pem: String,
    pub chain_pem: String,
}

#[derive(Clone)]
pub struct Keys {
    ring: Arc<KeyRing>,
}

impl From<RingError> for ManageError {
    fn from(e: RingError) -> ManageError {
        match e {
            RingError::Store(e) => ManageError::Store(e),
            e => ManageError::Invalid(e.to_string()),
        }
    }
}

impl Keys {
    pub fn new(ring: Arc<KeyRing>) -> Keys {
        Keys { ring }
    }

    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// The keys as the database has them now.
    pub async fn list(&self) -> Result<Vec<RingKey>, ManageError> {
        self.ring.reload().await?;
        Ok(self.ring.keys().to_vec())
    }

    /// The one key whose id starts with `prefix` (ids are long; a unique prefix will do).
    pub async fn find(&self, prefix: &str) -> Result<RingKey, ManageError> {
        let prefix = prefix.trim();
        let keys = self.list().await?;
        let found: Vec<&RingKey> = keys
            .iter()
            .filter(|k| !prefix.is_empty() && k.id().starts_with(prefix))
            .collect();
        match found.as_slice() {
            [k] => Ok((*k).clone()),
            [] => Err(StoreError::NotFound(format!("key {prefix}")).into()),
            _ => Err(ManageError::Invalid(format!(
                "{prefix:?} names {} keys. Fix: give more of the id (portcullis key list)",
                found.len()
            ))),
        }
    }

    /// Adds a `next` key: published from now on (give the registry the new bundle), not
    /// signing until activated.
    pub async fn add(
        &self,
        actor: &Actor,
        import: Option<KeyImport>,
    ) -> Result<RingKey, ManageError> {
        let algorithm = self.ring.config().algorithm;
        let (key, key_pem, chain_pem) = match import {
            Some(i) => {
                let key =
                    SigningKey::from_pem(&i.key_pem, &i.chain_pem, algorithm, "the key given")
                        .map_err(|e| ManageError::Invalid(e.to_string()))?;
                (key, i.key_pem, i.chain_pem)
            }
            None => {
                SigningKey::generate(algorithm).map_err(|e| ManageError::Invalid(e.to_string()))?
            }
        };
        let id = key.libtrust_kid.clone();
        let record = KeyRecord {
            id: id.clone(),
            state: KeyState::Next.as_str().into(),
            algorithm: key.algorithm.as_str().into(),
            private_sealed: Some(self.ring.sealer().seal(&id, &key_pem)),
            chain_pem,
            created_at: now(),
            created_by: actor.as_str().into(),
            activated_at: None,
            retired_at: None,
        };
        self.ring.store().key_insert(&record).await?;
        audited("key_added", actor, &format!("key {id}"), "next");
        self.ring.reload().await?;
        self.find(&id).await
    }

    /// Makes a `next` key the one that signs; the active one becomes retired.
    pub async fn activate(&self, actor: &Actor, prefix: &str) -> Result<RingKey, ManageError> {
        let k = self.find(prefix).await?;
        match k.state {
            KeyState::Next => {}
            KeyState::Active => {
                return Err(ManageError::Refused(format!(
                    "key {} is already the active key",
                    k.id()
                )))
            }
            KeyState::Retired => {
                return Err(ManageError::Refused(format!(
                    "key {} is retired: a retired key is never activated again (the registry may already have dropped it). Fix: portcullis key add, then activate the new key",
                    k.id()
                )))
            }
        }
        let old = self.ring.active();
        self.ring.store().key_activate(k.id(), now()).await?;
        audited(
            "key_activated",
            actor,
            &format!("key {}", k.id()),
            &format!("retired {}", old.id()),
        );
        self.ring.reload().await?;
        self.find(k.id()).await
    }

    /// Drops a key from what is published. A retired key only once every token it signed
    /// has expired, unless `force`; the active key never (activate another first).
    pub async fn retire(
        &self,
        actor: &Actor,
        prefix: &str,
        force: bool,
    ) -> Result<(), ManageError> {
        let k = self.find(prefix).await?;
        match (k.state, k.retired_at) {
            (KeyState::Active, _) => {
                return Err(ManageError::Refused(format!(
                    "key {} is the active key: every token is signed with it. Fix: portcullis key add, give the registry the new bundle, portcullis key activate NEW, then retire this one after the window",
                    k.id()
                )))
            }
            (KeyState::Retired, Some(at)) if !force => {
                let safe = self.ring.safe_to_drop_at(at);
                let t = now();
                if t < safe {
                    let c = self.ring.config();
                    return Err(ManageError::Refused(format!(
                        "tokens signed by key {} may be valid until {} (retired at {}, + token.ttl {}s + token.clock_skew {}s + the registry's leeway 60s): retire it then, in {}s, or with --force now (pulls holding those tokens then fail)",
                        k.id(),
                        crate::timestamp::rfc3339(safe),
                        crate::timestamp::rfc3339(at),
                        c.ttl.as_secs(),
                        c.clock_skew.as_secs(),
                        safe - t
                    )));
                }
            }
            _ => {}
        }
        self.ring.store().key_delete(k.id()).await?;
        audited(
            "key_retired",
            actor,
            &format!("key {}", k.id()),
            if force { "forced" } else { k.state.as_str() },
        );
        self.ring.reload().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Algorithm, KidFormat, TokenConfig};
    use crate::token::{KeyFiles, KeyRing, TokenSigner};

    fn config() -> TokenConfig {
        TokenConfig {
            service: "svc".into(),
            issuer: "portcullis-test".into(),
            ttl: Duration::from_secs(300),
            algorithm: Algorithm::ES256,
            kid_format: KidFormat::Libtrust,
            clock_skew: Duration::from_secs(10),
            refresh_ttl: Duration::from_secs(3600),
            x5c: true,
            refresh_tokens_per_subject: 100,
        }
    }

    fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
    }

    fn certificates(files: &KeyFiles) -> usize {
        std::fs::read_to_string(&files.bundle)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count()
    }

    #[tokio::test]
    async fn a_rotation_publishes_the_next_key_first_then_signs_with_it_and_keeps_the_old_one_until_its_tokens_expire(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        let store = crate::store::memory_store().await;
        let ring = KeyRing::open(store.clone(), files.clone(), &config())
            .await
            .unwrap();
        let signer = TokenSigner::new(ring.slot(), &config());
        let first = ring.active().id().to_owned();
        assert_eq!(kid_of(&signer.issue("a", "svc", &[]).token), first);
        assert_eq!(certificates(&files), 1);

        let keys = Keys::new(ring.clone());
        let actor = Actor::cli();
        let next = keys.add(&actor, None).await.unwrap();
        assert_eq!(next.state, KeyState::Next);
        // Published, but not signing.
        assert_eq!(certificates(&files), 2);
        let jwks: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&files.jwks).unwrap()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
        assert_eq!(kid_of(&signer.issue("a", "svc", &[]).token), first);

        keys.activate(&actor, &next.id()[..9]).await.unwrap();
        assert_eq!(kid_of(&signer.issue("a", "svc", &[]).token), next.id());
        assert_eq!(certificates(&files), 2, "the old key stays published");

        // Its tokens may be valid for token.ttl + clock_skew + the registry's leeway.
        let e = keys
            .retire(&actor, &first, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("retire it then, in 37"), "{e}");
        assert!(e.contains("--force"), "{e}");
        let e = keys
            .retire(&actor, next.id(), true)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("is the active key"), "{e}");
        let e = keys.activate(&actor, &first).await.unwrap_err().to_string();
        assert!(e.contains("is retired"), "{e}");

        keys.retire(&actor, &first, true).await.unwrap();
        assert_eq!(certificates(&files), 1);
        assert_eq!(keys.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_key_of_an_earlier_version_is_imported_once_so_the_registry_keeps_trusting_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        let old = SigningKey::load_or_generate(&files, Algorithm::ES256).unwrap();
        let store = crate::store::memory_store().await;
        let ring = KeyRing::open(store.clone(), files.clone(), &config())
            .await
            .unwrap();
        assert_eq!(ring.active().id(), old.libtrust_kid);
        // Opened again (another replica, a restart), the same key; no second one.
        let again = KeyRing::open(store.clone(), files, &config())
            .await
            .unwrap();
        assert_eq!(again.active().id(), old.libtrust_kid);
        assert_eq!(again.keys().len(), 1);
    }

    #[tokio::test]
    async fn keys_sealed_under_another_key_encryption_key_are_refused_with_the_fix() {
        let store = crate::store::memory_store().await;
        let a = tempfile::tempdir().unwrap();
        KeyRing::open(store.clone(), KeyFiles::in_dir(a.path()), &config())
            .await
            .unwrap();
        let b = tempfile::tempdir().unwrap();
        let e = match KeyRing::open(store, KeyFiles::in_dir(b.path()), &config()).await {
            Ok(_) => panic!("opened keys sealed under another key-encryption key"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("does not open with"), "{e}");
        assert!(e.contains("Fix:"), "{e}");
    }
}
