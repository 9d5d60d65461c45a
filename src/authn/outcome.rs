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
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownUser => "unknown user",
            Rejection::WrongPassword => "wrong password",
            Rejection::Disabled => "account disabled",
            Rejection::UnknownToken => "unknown refresh token",
            Rejection::ExpiredToken => "refresh token expired",
            Rejection::RevokedToken => "refresh token revoked",
            Rejection::WrongService => "refresh token issued for another service",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Authenticated(Identity),
    /// This authenticator does not know the name; the next one may.
    NoMatch,
    Rejected(Rejection),
}

/// The authenticator could not answer. Which backend, and why (for the log).
#[derive(Debug, thiserror::Error)]
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
