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

/// The authenticator could not answer. Which backend, and why (for the log).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{backend} is unavailable: {cause}")]
pub struct AuthError {
    pub backend: &'static str,
    pub cause: String,
}

impl From<crate::store::StoreError> for AuthError {
    fn from(e: crate::store::StoreError) -> Self {
        AuthError {
            backend: "database",
            cause: e.to_string(),
        }
    }
}
