//! The authenticator chain: which authenticator a credential goes to, and the
//! remembered-credentials fast path in front of all of them.
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
//! per request.

use secrecy::SecretString;

use super::access_token::AccessTokens;
use super::cache::CredentialCache;
use super::federation::Federation;
use super::ldap::LdapDirectory;
use super::robot::{Robots, ROBOT_LOGIN_PREFIX};
use super::{
    AuthError, AuthOutcome, Authenticated, Credentials, LocalUsers, RefreshTokens, Rejection,
};
pub use crate::config::PasswordBackend;
use crate::store::Store;

pub struct Authenticator {
    store: Store,
    local: LocalUsers,
    ldap: Option<LdapDirectory>,
    order: Vec<PasswordBackend>,
    federation: Option<Federation>,
    tokens: AccessTokens,
    robots: Robots,
    refresh: RefreshTokens,
    cache: CredentialCache,
}

const KIND_PASSWORD: u8 = 1;
const KIND_REFRESH: u8 = 2;

impl Authenticator {
    pub fn new(
        store: Store,
        local: LocalUsers,
        refresh: RefreshTokens,
        cache: CredentialCache,
    ) -> Authenticator {
        Authenticator {
            tokens: AccessTokens::new(store.clone()),
            robots: Robots::new(store.clone()),
            store,
            local,
            ldap: None,
            order: vec![PasswordBackend::Local],
            federation: None,
            refresh,
            cache,
        }
    }

    /// Adds the directory to the chain, in the given order of password backends.
    pub fn with_ldap(mut self, ldap: LdapDirectory, order: Vec<PasswordBackend>) -> Authenticator {
        self.ldap = Some(ldap);
        self.order = order;
        self
    }

    pub fn ldap(&self) -> Option<&LdapDirectory> {
        self.ldap.as_ref()
    }

    /// Trusts the workload issuers of `[[federation]]`.
    pub fn with_federation(mut self, federation: Federation) -> Authenticator {
        self.federation = Some(federation);
        self
    }

    pub fn federation(&self) -> Option<&Federation> {
        self.federation.as_ref()
    }

    /// The first password backend that knows the name decides; none: no match.
    async fn password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        for backend in &self.order {
            let outcome = match (backend, &self.ldap) {
                (PasswordBackend::Local, _) => self.local.authenticate(username, password).await?,
                (PasswordBackend::Ldap, Some(ldap)) => {
                    ldap.authenticate(username, password).await?
                }
                (PasswordBackend::Ldap, None) => AuthOutcome::NoMatch,
            };
            if outcome != AuthOutcome::NoMatch {
                return Ok(outcome);
            }
        }
        Ok(AuthOutcome::NoMatch)
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.refresh
    }

    /// Authenticates non-anonymous credentials for `service`: `Ok(Ok(who))`, `Ok(Err(why))`
    /// when refused (401), `Err` when a backend failed (503).
    pub async fn authenticate(
        &self,
        creds: &Credentials,
        service: &str,
    ) -> Result<Result<Authenticated, Rejection>, AuthError> {
        let (kind, name, secret): (u8, &str, &SecretString) = match creds {
            Credentials::Anonymous => return Ok(Err(Rejection::UnknownUser)),
            Credentials::Password { username, password } => (KIND_PASSWORD, username, password),
            Credentials::RefreshToken(token) => (KIND_REFRESH, "", token),
        };
        // The epoch is read before verifying: a change made meanwhile leaves this result
        // already stale.
        let epoch = self.store.credentials_epoch();
        let key = self.cache.key(kind, name, secret, service);
        if let Some(mut hit) = self.cache.get(&key, epoch) {
            hit.remembered = true;
            return Ok(Ok(hit));
        }
        let outcome = match creds {
            Credentials::Anonymous => unreachable!("handled above"),
            Credentials::Password { username, password } => {
                if let Some(fed) = self
                    .federation
                    .as_ref()
                    .filter(|f| f.handles(username, password))
                {
                    fed.authenticate(username, password).await?
                } else if let Some(robot) = username.strip_prefix(ROBOT_LOGIN_PREFIX) {
                    self.robots.authenticate(robot, password).await?
                } else {
                    match self.tokens.authenticate(username, password).await? {
                        AuthOutcome::NoMatch => self.password(username, password).await?,
                        decided => decided,
                    }
                }
            }
            Credentials::RefreshToken(token) => self.refresh.authenticate(token, service).await?,
        };
        match outcome {
            AuthOutcome::Authenticated(who) => {
                self.cache.put(key, who.clone(), epoch, who.expires_at);
                Ok(Ok(who))
            }
            AuthOutcome::NoMatch => Ok(Err(Rejection::UnknownUser)),
            AuthOutcome::Rejected(r) => Ok(Err(r)),
        }
    }
}
