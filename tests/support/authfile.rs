//! Client credential files: containers-image `auth.json` and docker's `config.json` share the
//! `{"auths": {"HOST": {"auth": base64("user:password"), "identitytoken": …}}}` format.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::encoding::{base64_decode, base64_encode};
use super::process::write_private_file;

/// One credential entry.
#[derive(Debug, Clone)]
pub enum AuthEntry {
    /// `auth` = base64("user:password") (what `login` writes for a password).
    Basic { user: String, password: String },
    /// A refresh token as `identitytoken`, with `auth` = base64("user:") as docker writes
    /// it: containers-image ignores an entry whose `auth` field is empty or missing, even
    /// when it has an `identitytoken`.
    IdentityToken { user: String, token: String },
}

impl AuthEntry {
    pub fn basic(user: &str, password: &str) -> AuthEntry {
        AuthEntry::Basic {
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    pub fn identity_token(user: &str, token: &str) -> AuthEntry {
        AuthEntry::IdentityToken {
            user: user.to_string(),
            token: token.to_string(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            AuthEntry::Basic { user, password } => {
                json!({ "auth": base64_encode(format!("{user}:{password}").as_bytes()) })
            }
            AuthEntry::IdentityToken { user, token } => json!({
                "auth": base64_encode(format!("{user}:").as_bytes()),
                "identitytoken": token,
            }),
        }
    }
}

/// The JSON of an auth file with `entries` (host such as "127.0.0.1:5000", entry).
pub fn auth_file_json(entries: &[(&str, AuthEntry)]) -> Value {
    let mut auths = Map::new();
    for (host, entry) in entries {
        auths.insert((*host).to_string(), entry.to_json());
    }
    json!({ "auths": auths })
}

/// Writes an auth file (mode 0600) usable as skopeo/podman `--authfile` or as docker's
/// `config.json`.
pub fn write_auth_file(path: &Path, entries: &[(&str, AuthEntry)]) {
    let text = serde_json::to_string_pretty(&auth_file_json(entries)).expect("serialize");
    write_private_file(path, text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write auth file {}: {e}", path.display()));
}

/// Splits an `auth` field (base64 of "user:password") into (user, password).
pub fn decode_auth_field(auth: &str) -> Option<(String, String)> {
    let raw = base64_decode(auth)?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}
