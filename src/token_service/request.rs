//! One token request, as the token flow sees it: who (credentials), for which service, which
//! scopes, and whether a refresh token is wanted. The HTTP edge parses `GET` and `POST`
//! requests into it (`http/token_request.rs`); nothing here knows about HTTP.

pub use crate::authn::Credentials;
use crate::domain::Scope;

#[derive(Debug)]
pub struct TokenRequest {
    pub credentials: Credentials,
    /// `None` when absent or empty (go-containerregistry sends `service=` when the challenge
    /// had none).
    pub service: Option<String>,
    pub scopes: Vec<Scope>,
    /// `offline_token=true` (GET) or `access_type=offline` (POST).
    pub offline: bool,
    pub client_id: Option<String>,
    /// `account`: the name the client believes it logged in as. Checked against the Basic or
    /// form user when parsing, and against a refresh token's owner once it is known.
    pub account: Option<String>,
}

/// The message for an `account` that names someone other than the credentials' owner.
pub const ACCOUNT_MISMATCH: &str =
    "the account parameter does not match the user the credentials belong to";
