//! Several signing keys known at once, so that the key the registry trusts can be rotated
//! without a failed pull:
//!
//! - `next`: published (in the bundle and the JWKS), not signing yet. Added so that the
//!   registry can be given the new bundle (it reads it only when it starts) before anything
//!   is signed with it;
//! - `active`: signs every token; exactly one;
//! - `retired`: signed until another key was activated; published until every token it
//!   signed has expired (`token.ttl` + the registry's leeway), then dropped by
//!   `portcullis key retire`.
//!
//! **Where keys live.** In the database, so that every replica signs with the same key and
//! all switch within a second of `activate` (each replica reads the keys again when the
//! credential epoch moves). The private keys are sealed under the key-encryption key in
//! `keys.dir` (see `key_sealer.rs`), which replicas share as they share `login-state.key`,
//! and which a backup holds only when asked to. A replica signs only with the key the
//! database says is active, never one of its own making: the first key is made by whichever
//! process starts first (the others find it), or imported once from `signing-key.pem` and
//! `signing-cert.pem` of earlier versions, so an upgrade keeps the key the registry trusts.
//!
//! Every change writes `bundle.pem` and `jwks.json` in `keys.dir` with every published key.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::key_sealer::KeySealer;
use super::signer::{ActiveKey, KeySlot};
use super::signing_key::{KeyError, KeyFiles, SigningKey};
use crate::config::{Algorithm, TokenConfig};
use crate::store::{now, KeyRecord, Store, StoreError};

/// How long distribution accepts a token after its `exp` (and before its `nbf`): its
/// `Leeway` constant, 60 s in 2.x and 3.x.
pub const REGISTRY_LEEWAY: Duration = Duration::from_secs(60);
/// How often the credential epoch is looked at for a change of keys.
const POLL: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Option<KeyState> {
        match s {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A published key and what is known of it (`Debug` shows no key material).
#[derive(Clone, Debug)]
pub struct RingKey {
    pub key: Arc<SigningKey>,
    pub state: KeyState,
    pub created_at: i64,
    pub created_by: String,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl RingKey {
    pub fn id(&self) -> &str {
        &self.key.libtrust_kid
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Broken(String),
}

/// The keys in force, and the slot the signer signs from.
pub struct KeyRing {
    store: Store,
    sealer: KeySealer,
    files: KeyFiles,
    config: TokenConfig,
    keys: ArcSwap<Vec<RingKey>>,
    slot: KeySlot,
}

impl KeyRing {
    /// Reads the keys, making (or importing) the first one if there is none, and writes the
    /// bundle and the JWKS.
    pub async fn open(
        store: Store,
        files: KeyFiles,
        config: &TokenConfig,
    ) -> Result<Arc<KeyRing>, RingError> {
        std::fs::create_dir_all(&files.dir)
            .map_err(|e| RingError::Broken(format!("keys.dir {}: {e}", files.dir.display())))?;
        let sealer = KeySealer::load_or_generate(&files.dir).map_err(|e| {
            RingError::Broken(format!(
                "{}: {e}",
                files.dir.join(super::key_sealer::KEK_FILE).display()
            ))
        })?;
        let mut rows = store.key_list().await?;
        if !rows.iter().any(|r| r.state == "active") {
            let (key, key_pem, chain_pem, how) = if files.key.exists() || files.cert.exists() {
                let key = SigningKey::load(&files, config.algorithm)?;
                let (k, c) = SigningKey::read_pem_files(&files)?;
                (key, k, c, "imported from signing-key.pem")
            } else {
                let (key, k, c) = SigningKey::generate(config.algorithm)?;
                (key, k, c, "generated")
            };
            let id = key.libtrust_kid.clone();
            let t = now();
            let record = KeyRecord {
                id: id.clone(),
                state: "active".into(),
                algorithm: key.algorithm.as_str().into(),
                private_sealed: Some(sealer.seal(&id, &key_pem)),
                chain_pem,
                created_at: t,
                created_by: "portcullis".into(),
                activated_at: Some(t),
                retired_at: None,
            };
            // A key already stored under this id (a retired one imported again) is left.
            match store.key_insert(&record).await {
                Ok(true) => tracing::info!(kid = %id, "the first signing key was {how}"),
                Ok(false) => tracing::info!("another process made the first signing key"),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            rows = store.key_list().await?;
        }
        let keys = build(&rows, &sealer)?;
        let active = keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .ok_or_else(|| RingError::Broken("no signing key is active".into()))?;
        let slot = ActiveKey::new(active.key.clone(), config).slot();
        let ring = Arc::new(KeyRing {
            store,
            sealer,
            files,
            config: config.clone(),
            keys: ArcSwap::from_pointee(keys),
            slot,
        });
        ring.write_files()?;
        Ok(ring)
    }

    /// The keys in the database, opened, without making or writing anything (for `check`).
    /// Empty when there are none yet.
    pub async fn inspect(store: &Store, files: &KeyFiles) -> Result<Vec<RingKey>, RingError> {
        let rows = store.key_list().await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sealer = KeySealer::load_existing(&files.dir).map_err(|e| {
            RingError::Broken(format!(
                "{}: {e}. The database holds signing keys sealed under it. Fix: put the keys directory the server uses in place",
                files.dir.join(super::key_sealer::KEK_FILE).display()
            ))
        })?;
        build(&rows, &sealer)
    }

    /// The slot the token signer signs from.
    pub fn slot(&self) -> KeySlot {
        self.slot.clone()
    }

    pub fn sealer(&self) -> &KeySealer {
        &self.sealer
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// Every published key: the active one first, then the next ones, then the retired.
    pub fn keys(&self) -> Arc<Vec<RingKey>> {
        self.keys.load_full()
    }

    pub fn active(&self) -> RingKey {
        self.keys()
            .iter()
            .find(|k| k.state == KeyState::Active)
            .cloned()
            .expect("a ring always has an active key")
    }

    /// When tokens signed by a key retired at `retired_at` have all expired, for every
    /// registry: their lifetime, the back-dating of `nbf`, the registry's leeway, and a
    /// second for replicas that had not yet switched.
    pub fn safe_to_drop_at(&self, retired_at: i64) -> i64 {
        retired_at
            + (self.config.ttl + self.config.clock_skew + REGISTRY_LEEWAY).as_secs() as i64
            + 1
    }

    /// What the registry's `auth.token.rootcertbundle` must hold: every published key's chain.
    pub fn bundle_pem(&self) -> String {
        self.keys().iter().map(|k| k.key.bundle_pem()).collect()
    }

    /// Every published key, each under its thumbprint and its libtrust kid.
    pub fn jwks_json(&self) -> String {
        let mut keys = Vec::new();
        for k in self.keys().iter() {
            let alg = k.key.algorithm.as_str();
            keys.push(k.key.jwk.to_json(&k.key.thumbprint, alg));
            keys.push(k.key.jwk.to_json(&k.key.libtrust_kid, alg));
        }
        let mut s =
            serde_json::to_string_pretty(&serde_json::json!({ "keys": keys })).expect("JSON");
        s.push('\n');
        s
    }

    pub fn files(&self) -> &KeyFiles {
        &self.files
    }

    fn write_files(&self) -> Result<(), KeyError> {
        super::signing_key::write_if_changed(&self.files.bundle, self.bundle_pem().as_bytes())?;
        super::signing_key::write_if_changed(&self.files.jwks, self.jwks_json().as_bytes())
    }

    /// Reads the keys again; swaps the signing key and rewrites the files if they changed.
    /// A failure leaves the keys in force as they were (and says why).
    pub async fn reload(&self) -> Result<bool, RingError> {
        let rows = self.store.key_list().await?;
        // Any other move of the credential epoch leaves the keys (ids and states) as they are.
        let unchanged = {
            let keys = self.keys();
            keys.len() == rows.len()
                && keys
                    .iter()
                    .zip(&rows)
                    .all(|(k, r)| k.id() == r.id && k.state.as_str() == r.state)
        };
        if unchanged {
            return Ok(false);
        }
        let keys = build(&rows, &self.sealer)?;
        let active = keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .ok_or_else(|| RingError::Broken("no signing key is active in the database".into()))?
            .clone();
        if active.id() != self.slot.load().key.libtrust_kid {
            self.slot
                .store(Arc::new(ActiveKey::new(active.key.clone(), &self.config)));
        }
        let summary: Vec<String> = keys
            .iter()
            .map(|k| format!("{} {}", k.state.as_str(), k.id()))
            .collect();
        self.keys.store(Arc::new(keys));
        self.write_files()?;
        tracing::info!(active = %active.id(), keys = ?summary, bundle = %self.files.bundle.display(), "signing keys changed");
        Ok(true)
    }

    /// Reads the keys again whenever the credential epoch moves (another process changed
    /// them, or anything else: reading them is one small query). Stops when the ring is
    /// dropped.
    pub fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut seen = self.store.credentials_epoch();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(ring) = weak.upgrade() else { return };
                let epoch = ring.store.credentials_epoch();
                if epoch == seen {
                    continue;
                }
                match ring.reload().await {
                    Ok(_) => seen = epoch,
                    Err(e) => {
                        tracing::error!(backend = ring.store.backend().as_str(), error = %e, "the signing keys were not read again: the keys in force stay as they were");
                    }
                }
            }
        });
    }
}

/// The keys of `rows`, opened. Every one must open: a next key must be able to sign once
/// activated, and a key that cannot be opened means the key-encryption key is not the one
/// the database was sealed with.
fn build(rows: &[KeyRecord], sealer: &KeySealer) -> Result<Vec<RingKey>, RingError> {
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows {
        let state = KeyState::parse(&r.state).ok_or_else(|| {
            RingError::Broken(format!("key {} has an unknown state {:?}", r.id, r.state))
        })?;
        let algorithm = match r.algorithm.as_str() {
            "ES256" => Algorithm::ES256,
            "RS256" => Algorithm::RS256,
            other => {
                return Err(RingError::Broken(format!(
                    "key {} has an unknown algorithm {other:?}",
                    r.id
                )))
            }
        };
        let Some(sealed) = &r.private_sealed else {
            return Err(RingError::Broken(format!(
                "the private key of {} key {} is not in the database (a backup restored without --include-keys). Fix: `portcullis key add`, give the registry the new bundle, `portcullis key activate` it, then `portcullis key retire --force {}`",
                r.state, r.id, r.id
            )));
        };
        let pem = sealer.open(&r.id, sealed).ok_or_else(|| {
            RingError::Broken(format!(
                "the private key of {} key {} does not open with {}: that file is not the key-encryption key the database's keys were sealed with. Fix: put the keys directory every replica shares (or the one the backup was made with) in place",
                r.state,
                r.id,
                sealer.path.display()
            ))
        })?;
        let key = SigningKey::from_pem(&pem, &r.chain_pem, algorithm, &format!("key {}", r.id))?;
        if key.libtrust_kid != r.id {
            return Err(RingError::Broken(format!(
                "key {} holds the key {}: the row was altered",
                r.id, key.libtrust_kid
            )));
        }
        keys.push(RingKey {
            key: Arc::new(key),
            state,
            created_at: r.created_at,
            created_by: r.created_by.clone(),
            activated_at: r.activated_at,
            retired_at: r.retired_at,
        });
    }
    Ok(keys)
}
