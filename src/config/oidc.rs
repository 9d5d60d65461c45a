//! `[oidc]`: browser sign-in at `/login`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::groups::group_names;
use super::secret::RawSecret;
use super::{parse_duration, ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: RawSecret,
    pub client_secret_file: String,
    pub scopes: Vec<String>,
    pub username_claim: String,
    pub groups_claim: String,
    pub session_ttl: String,
    /// Put before the provider's group names (unless mapped), so they stay apart from
    /// local groups.
    pub group_prefix: String,
    /// Count only the groups named in `group_map`.
    pub only_mapped_groups: bool,
    /// Provider group name → the `group:` name policies use.
    pub group_map: BTreeMap<String, String>,
}

impl Default for RawOidc {
    fn default() -> Self {
        RawOidc {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: RawSecret::default(),
            client_secret_file: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            session_ttl: "8h".into(),
            group_prefix: "oidc:".into(),
            only_mapped_groups: false,
            group_map: BTreeMap::new(),
        }
    }
}

/// The `[oidc]` section, validated: browser sign-in at `/login`.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE alone).
    pub client_secret: Option<secrecy::SecretString>,
    pub scopes: Vec<String>,
    pub username_claim: String,
    pub groups_claim: String,
    pub session_ttl: Duration,
    pub group_prefix: String,
    pub only_mapped_groups: bool,
    pub group_map: BTreeMap<String, String>,
}

pub(super) fn parse(raw: &RawOidc, o: &Origins) -> Result<Option<OidcConfig>, ConfigError> {
    if raw.issuer.trim().is_empty() {
        return Ok(None);
    }
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let issuer = raw.issuer.trim().trim_end_matches('/').to_string();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(err(
            "oidc.issuer",
            format!("{issuer:?} is not an http(s) URL"),
            "the identity provider's issuer, e.g. https://login.example.com/realms/main",
        ));
    }
    if raw.client_id.trim().is_empty() {
        return Err(err("oidc.client_id", "is empty".into(), "register portcullis as a client at the identity provider, with redirect URI <public_url>/login/callback"));
    }
    let secret = if raw.client_secret_file.trim().is_empty() {
        raw.client_secret.0.clone()
    } else {
        std::fs::read_to_string(raw.client_secret_file.trim())
            .map_err(|e| {
                err(
                    "oidc.client_secret_file",
                    format!("cannot read {}: {e}", raw.client_secret_file),
                    "give a readable file holding the secret",
                )
            })?
            .trim_end_matches(['\n', '\r'])
            .to_string()
    };
    if !raw.scopes.iter().any(|s| s == "openid") {
        return Err(err(
            "oidc.scopes",
            "does not include \"openid\"".into(),
            "add \"openid\": without it there is no ID token",
        ));
    }
    let session_ttl = parse_duration(&raw.session_ttl).map_err(|p| {
        err(
            "oidc.session_ttl",
            format!("{:?}: {p}", raw.session_ttl),
            "e.g. 8h",
        )
    })?;
    if session_ttl < Duration::from_secs(60) || session_ttl > Duration::from_secs(30 * 86400) {
        return Err(err(
            "oidc.session_ttl",
            format!("{} is out of range", raw.session_ttl),
            "use between 1m and 30d; 8h is usual",
        ));
    }
    group_names("oidc", &raw.group_prefix, &raw.group_map, o)?;
    Ok(Some(OidcConfig {
        issuer,
        client_id: raw.client_id.trim().to_string(),
        client_secret: (!secret.is_empty()).then(|| secrecy::SecretString::from(secret)),
        scopes: raw.scopes.clone(),
        username_claim: raw.username_claim.clone(),
        groups_claim: raw.groups_claim.clone(),
        session_ttl,
        group_prefix: raw.group_prefix.trim().to_string(),
        only_mapped_groups: raw.only_mapped_groups,
        group_map: raw.group_map.clone(),
    }))
}
