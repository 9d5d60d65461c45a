//! Authentication: credentials in, an [`Authenticated`] identity or a refusal out.
//!
//! Every authenticator answers with the contract learned from docker_auth: an
//! [`AuthOutcome`] says *authenticated*, *no match* (someone else may know this name) or
//! *rejected* (stop: 401); an `Err` means the backend failed and the request gets a 503,
//! never a 401 that would make a user think their password is wrong.

mod access_token;
mod authenticator;
mod cache;
mod chain;
mod client_certificate;
mod credentials;
mod federation;
mod ldap;
mod local;
mod login_state;
mod oidc_login;
mod outcome;
mod password;
mod refresh_token;
mod robot;
mod secret;
mod throttle;

pub use access_token::{AccessTokens, ACCESS_TOKEN_PREFIX};
pub use authenticator::Authenticator;
pub use cache::{CredentialCache, CredentialKind};
pub use chain::AuthChain;
pub use client_certificate::ClientCertificates;
pub use credentials::Credentials;
pub use federation::Federation;
pub use ldap::{DirectoryUser, LdapDirectory};
pub use local::LocalUsers;
pub use login_state::{LoginSealer, LoginState, LOGIN_STATE_TTL};
pub use oidc_login::{LoginError, OidcLogin, SignedIn};
pub use outcome::{AuthError, AuthOutcome, Authenticated, Rejection};
pub use password::{hash_password, verify_password, PasswordHasher};
pub use refresh_token::{RefreshTokens, REFRESH_TOKEN_PREFIX};
pub use robot::{Robots, ROBOT_LOGIN_PREFIX, ROBOT_SECRET_PREFIX};
pub use secret::{hash_secret, new_secret, NewSecret};
pub use throttle::{Claim, ClientKey, Throttle, ThrottleSettings};

use crate::domain::Identity;
