//! The authenticator contract, learned from docker_auth: given credentials, an authenticator
//! answers
//! - *authenticated* (who, and what the credential carries),
//! - *no match*: not its kind of credential or a name it does not know; the next one in the
//!   chain is asked,
//! - *rejected*: its credential, and wrong (stop: 401),
//! - or `Err`: its backend failed (503, never a 401 that makes people think their password
//!   is wrong).
//!
//! Local users, the LDAP directory, personal access tokens, robots, refresh tokens and
//! workload federation each implement it in their own file; `startup.rs` puts them in a
//! chain in the configured order (`chain.rs`). A new way to log in (GitHub, client
//! certificates) is one new file implementing this, its configuration section, and one line
//! at startup.

use std::future::Future;

use futures_util::future::BoxFuture;
use secrecy::SecretString;

use super::{AuthError, AuthOutcome, Credentials};

pub trait Authenticator: Send + Sync {
    /// For logs and messages: `local`, `ldap`, `access_token`, …
    fn name(&self) -> &'static str;

    /// Decides `creds` (for `service`, which refresh tokens are bound to) if they are its
    /// kind; `NoMatch` otherwise.
    fn authenticate<'a>(
        &'a self,
        creds: &'a Credentials,
        service: &'a str,
    ) -> BoxFuture<'a, Result<AuthOutcome, AuthError>>;

    /// Whether `creds` are this authenticator's and too long to guess (a 256-bit secret, a
    /// signed token): the throttle then counts their failures per secret, not per client,
    /// so one client's stale secret locks out nobody else behind its address.
    fn unguessable(&self, _creds: &Credentials) -> bool {
        false
    }
}

/// For authenticators of a name and a password (or a secret in its place): runs `verify`
/// on them, and answers "no match" to any other kind of credential.
pub(super) fn with_password<'a, F, Fut>(
    creds: &'a Credentials,
    verify: F,
) -> BoxFuture<'a, Result<AuthOutcome, AuthError>>
where
    F: FnOnce(&'a str, &'a SecretString) -> Fut,
    Fut: Future<Output = Result<AuthOutcome, AuthError>> + Send + 'a,
{
    match creds {
        Credentials::Password { username, password } => Box::pin(verify(username, password)),
        _ => Box::pin(std::future::ready(Ok(AuthOutcome::NoMatch))),
    }
}
