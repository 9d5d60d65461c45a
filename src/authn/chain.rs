//! The authenticator chain: every configured authenticator in order (the first that does
//! not answer "no match" decides), and the remembered-credentials fast path in front of them.
//! The order is built at startup from the configuration:
//!
//! - a `[[federation]]` entry's name with a JWT → workload identity federation;
//! - `robot+NAME` with a secret → the robot accounts;
//! - a `pcp_…` secret → the personal access tokens (no match: tried as a password);
//! - any other name and password → the password authenticators in `auth.order`: local
//!   users (argon2id) and the LDAP directory, the first that knows the name deciding;
//! - a refresh token → the refresh tokens.
//!
//! A credential verified once is remembered (see `cache.rs`), so a pull storm costs one
//! argon2 verification or one database lookup per credential per `auth.cache_ttl`, not one
//! per request. Requests presenting the *same* credential while it is being verified wait
//! for that one verification instead of starting their own (a cold pull storm of 64
//! parallel requests costs one argon2 run, and takes one place in the throttle).
//!
//! Guessing is throttled here (see `throttle.rs`): a locked-out client is refused before the
//! remembered credentials are even looked at, and every verification is reserved first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::cache::{CacheKey, CredentialCache, CredentialKind};
use super::throttle::{Claim, Throttle};
use super::{AuthError, AuthOutcome, Authenticator, Credentials, RefreshTokens, Rejection};
use crate::store::Store;

pub struct AuthChain {
    store: Store,
    authenticators: Vec<Arc<dyn Authenticator>>,
    refresh: RefreshTokens,
    cache: CredentialCache,
    throttle: Arc<Throttle>,
    /// Verifications in progress, by credential (the cache key): later requests with the
    /// same credential wait for the first one's result.
    in_flight: Mutex<HashMap<CacheKey, Arc<OnceCell<Verified>>>>,
}

type Verified = Result<AuthOutcome, AuthError>;

impl AuthChain {
    /// `authenticators` in the order they are asked; `refresh` also issues refresh tokens.
    pub fn new(
        store: Store,
        authenticators: Vec<Arc<dyn Authenticator>>,
        refresh: RefreshTokens,
        cache: CredentialCache,
        throttle: Arc<Throttle>,
    ) -> AuthChain {
        AuthChain {
            store,
            authenticators,
            refresh,
            cache,
            throttle,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The authenticators' names, in the order they are asked.
    pub fn names(&self) -> Vec<&'static str> {
        self.authenticators.iter().map(|a| a.name()).collect()
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.refresh
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// What the throttle counts a credential under: guessable ones by the name they claim,
    /// unguessable ones (refresh tokens, robot secrets, workload JWTs) by their fingerprint.
    fn claim<'a>(&self, creds: &'a Credentials) -> Claim<'a> {
        let unguessable = self.authenticators.iter().any(|a| a.unguessable(creds));
        match creds {
            Credentials::Anonymous => Claim::Name(""),
            Credentials::RefreshToken(t) | Credentials::Bearer(t) => {
                Claim::Secret(t.expose_secret())
            }
            Credentials::Password { password, .. } if unguessable => {
                Claim::Secret(password.expose_secret())
            }
            Credentials::Password { username, .. } => Claim::Name(username),
            Credentials::ClientCertificate(_) => Claim::Name(""),
        }
    }

    /// Authenticates non-anonymous credentials for `service`, sent from `client`:
    /// authenticated, or rejected (401; `Rejection::Throttled` is a 429), never `NoMatch`;
    /// `Err` when a backend failed (503).
    pub async fn authenticate(
        &self,
        creds: &Credentials,
        service: &str,
        client: Option<IpAddr>,
    ) -> Result<AuthOutcome, AuthError> {
        let (kind, name, secret): (CredentialKind, &str, &SecretString) = match creds {
            Credentials::Anonymous => return Ok(AuthOutcome::Rejected(Rejection::UnknownUser)),
            Credentials::Password { username, password } => {
                (CredentialKind::Password, username, password)
            }
            Credentials::RefreshToken(token) => (CredentialKind::RefreshToken, "", token),
            Credentials::Bearer(token) => (CredentialKind::Bearer, "", token),
            // Nothing to guess and nothing to remember: the handshake verified the
            // certificate; what is left is one look at its principal.
            Credentials::ClientCertificate(_) => return self.verify(creds, service).await,
        };
        let claim = self.claim(creds);
        if let Err(retry_after) = self.throttle.check(client, claim) {
            return Ok(AuthOutcome::Rejected(Rejection::Throttled { retry_after }));
        }
        // The epoch is read before verifying: a change made meanwhile leaves this result
        // already stale.
        let epoch = self.store.credentials_epoch();
        let key = self.cache.key(kind, name, secret, service);
        if let Some(mut hit) = self.cache.get(&key, epoch) {
            hit.remembered = true;
            return Ok(AuthOutcome::Authenticated(hit));
        }
        let cell = self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let waiting = InFlight {
            map: &self.in_flight,
            key,
            cell,
        };
        waiting
            .cell
            .get_or_init(|| async {
                let attempt = match self.throttle.reserve(client, claim) {
                    Ok(a) => a,
                    Err(retry_after) => {
                        return Ok(AuthOutcome::Rejected(Rejection::Throttled { retry_after }))
                    }
                };
                // An `Err` drops the attempt unsettled: an outage counts as no guess.
                match self.verify(creds, service).await? {
                    AuthOutcome::Authenticated(who) => {
                        attempt.succeeded();
                        self.cache.put(key, who.clone(), epoch, who.expires_at);
                        Ok(AuthOutcome::Authenticated(who))
                    }
                    AuthOutcome::NoMatch => {
                        attempt.failed();
                        Ok(AuthOutcome::Rejected(Rejection::UnknownUser))
                    }
                    AuthOutcome::Rejected(r) => {
                        attempt.failed();
                        Ok(AuthOutcome::Rejected(r))
                    }
                }
            })
            .await
            .clone()
    }

    /// The chain proper, for a credential that is not remembered: the first authenticator
    /// that does not answer "no match" decides.
    async fn verify(&self, creds: &Credentials, service: &str) -> Result<AuthOutcome, AuthError> {
        for a in &self.authenticators {
            let started = std::time::Instant::now();
            let outcome = a.authenticate(creds, service).await;
            if !matches!(outcome, Ok(AuthOutcome::NoMatch)) {
                crate::metrics::authentication(a.name(), started.elapsed());
            }
            match outcome? {
                AuthOutcome::NoMatch => continue,
                decided => return Ok(decided),
            }
        }
        Ok(AuthOutcome::NoMatch)
    }
}

/// A request's place among those waiting for one credential's verification. The last one
/// to leave (or any, once the result is in) removes the entry, so requests that give up
/// leave nothing behind.
struct InFlight<'a> {
    map: &'a Mutex<HashMap<CacheKey, Arc<OnceCell<Verified>>>>,
    key: CacheKey,
    cell: Arc<OnceCell<Verified>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let ours = map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell));
        // Two holders left: the map's and ours.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            map.remove(&self.key);
        }
    }
}
