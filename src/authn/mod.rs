//! Authentication: credentials in, an [`Identity`] or a refusal out.
//!
//! Every authenticator answers with the contract learned from docker_auth: an
//! [`AuthOutcome`] says *authenticated*, *no match* (someone else may know this name) or
//! *rejected* (stop: 401); an `Err` means the backend failed and the request gets a 503,
//! never a 401 that would make a user think their password is wrong.

mod local;
mod outcome;
mod password;
mod refresh_token;

pub use local::LocalUsers;
pub use outcome::{AuthError, AuthOutcome, Rejection};
pub use password::{hash_password, PasswordHasher};
pub use refresh_token::{RefreshTokens, REFRESH_TOKEN_PREFIX};

use crate::domain::Identity;
