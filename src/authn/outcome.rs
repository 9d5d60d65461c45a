use std::sync::Arc;

use super::Identity;

/// Why credentials were refused. For the audit log only: the client always gets the same
/// message, so that it cannot tell an unknown user from a wrong password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    UnknownUser,
    WrongPassword,
    Disabled,
    UnknownToken,
    ExpiredToken,
    RevokedToken,
    WrongService,
    /// A personal access token presented with another user's name.
    NotTheOwner,
    UnknownRobot,
    WrongSecret,
    Expired,
    /// A federated workload token failed this check (`signature`, `audience`, …).
    Federation(&'static str),
    /// Not verified: too many failed attempts from this client (a 429, not a 401).
    Throttled {
        retry_after: std::time::Duration,
    },
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownUser => "unknown user",
            Rejection::WrongPassword => "wrong password",
            Rejection::Disabled => "account disabled",
            Rejection::UnknownToken => "unknown token",
            Rejection::ExpiredToken => "token expired",
            Rejection::RevokedToken => "token revoked",
            Rejection::WrongService => "refresh token issued for another service",
            Rejection::NotTheOwner => "access token presented with another user's name",
            Rejection::UnknownRobot => "unknown robot",
            Rejection::WrongSecret => "wrong robot secret",
            Rejection::Expired => "account expired",
            Rejection::Federation(check) => check,
            Rejection::Throttled { .. } => "too many failed attempts from this address",
        }
    }
}

/// A successful authentication: who, and what the credential carries with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub identity: Identity,
    /// The personal access token used, if any: a refresh token issued through it stays
    /// limited by its scopes and dies with it.
    pub pat_id: Option<String>,
    /// When the credential expires (Unix seconds), if it does: nothing may remember it longer.
    pub expires_at: Option<i64>,
    /// Served from the remembered-credentials cache rather than verified again.
    pub remembered: bool,
}

impl Authenticated {
    pub fn new(identity: Identity) -> Authenticated {
        Authenticated {
            identity,
            pat_id: None,
            expires_at: None,
            remembered: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Authenticated(Authenticated),
    /// This authenticator does not know the name; the next one may.
    NoMatch,
    Rejected(Rejection),
}

/// The authenticator could not answer: which backend, what it was doing, and the error that
/// stopped it (kept as the error's `source`, so the log shows the whole chain). Cloneable,
/// because requests waiting for the same verification all get its answer.
#[derive(Clone, Debug)]
pub struct AuthError {
    pub backend: &'static str,
    /// What failed, in the backend's terms (which server, which step).
    pub context: Arc<str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl AuthError {
    /// A failure described by `context` alone.
    pub fn new(backend: &'static str, context: impl Into<String>) -> AuthError {
        AuthError {
            backend,
            context: context.into().into(),
            source: None,
        }
    }

    /// A failure caused by `source`.
    pub fn caused(
        backend: &'static str,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> AuthError {
        AuthError {
            backend,
            context: context.into().into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The whole chain in one line, for the log: `context: cause: its cause…`.
    pub fn report(&self) -> String {
        let mut out = self.context.to_string();
        let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = next {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.context.is_empty() {
            write!(f, "{} is unavailable", self.backend)
        } else {
            write!(f, "{} is unavailable: {}", self.backend, self.context)
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::store::StoreError> for AuthError {
    fn from(e: crate::store::StoreError) -> Self {
        AuthError::caused("database", "", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_error_keeps_its_cause_chain() {
        let io = std::io::Error::other("connection refused");
        let e = AuthError::caused("ldap", "ldap://a: connect", io);
        assert_eq!(e.to_string(), "ldap is unavailable: ldap://a: connect");
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "connection refused"
        );
        assert_eq!(e.report(), "ldap://a: connect: connection refused");
    }
}
