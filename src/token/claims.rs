use serde::Serialize;

use crate::domain::{Action, Scope};

/// One entry of the token's `access` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The class of `repository(plugin)`; the type stays `repository` so that the registry
    /// (which matches on type and name) finds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub name: String,
    pub actions: Vec<Action>,
}

impl From<&Scope> for AccessEntry {
    fn from(s: &Scope) -> Self {
        AccessEntry {
            resource_type: s.resource_type.name.clone(),
            class: s.resource_type.class.clone(),
            name: s.name.clone(),
            actions: s.actions.clone(),
        }
    }
}

/// The registry token's claim set (token spec jwt.md). Times are integer Unix seconds and
/// `aud` is a string: distribution 2.8 fails to decode an array.
#[derive(Debug, Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: &'a str,
    /// Always present, `[]` when nothing was granted (a login probe).
    pub access: &'a [AccessEntry],
}
