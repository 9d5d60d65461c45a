//! `[ldap]`: the directory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::groups::group_names;
use super::secret::RawSecret;
use super::{parse_duration, ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLdap {
    pub urls: Vec<String>,
    pub starttls: bool,
    pub ca_file: String,
    pub connect_timeout: String,
    pub timeout: String,
    pub bind_dn: String,
    pub bind_password: RawSecret,
    pub bind_password_file: String,
    pub user_base: String,
    pub user_filter: String,
    pub user_scope: String,
    pub direct_bind: String,
    pub group_attribute: String,
    pub group_base: String,
    pub group_filter: String,
    pub group_name_attribute: String,
    pub nested_groups: bool,
    pub group_map: BTreeMap<String, String>,
    pub only_mapped_groups: bool,
    pub group_prefix: String,
}

impl Default for RawLdap {
    fn default() -> Self {
        RawLdap {
            urls: Vec::new(),
            starttls: false,
            ca_file: String::new(),
            connect_timeout: "5s".into(),
            timeout: "10s".into(),
            bind_dn: String::new(),
            bind_password: RawSecret::default(),
            bind_password_file: String::new(),
            user_base: String::new(),
            user_filter: "(uid={username})".into(),
            user_scope: "sub".into(),
            direct_bind: String::new(),
            group_attribute: "memberOf".into(),
            group_base: String::new(),
            group_filter: "(member={dn})".into(),
            group_name_attribute: "cn".into(),
            nested_groups: false,
            group_map: BTreeMap::new(),
            only_mapped_groups: false,
            group_prefix: "ldap:".into(),
        }
    }
}

/// The `[ldap]` section, validated.
#[derive(Clone, Debug)]
pub struct LdapConfig {
    pub urls: Vec<String>,
    pub starttls: bool,
    /// PEM bundle of the CAs to trust for StartTLS/LDAPS; `None`: the system's roots are not
    /// consulted, so TLS needs this.
    pub ca_pem: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub bind_dn: String,
    pub bind_password: secrecy::SecretString,
    pub user_base: String,
    /// With `{username}`, replaced by the escaped name.
    pub user_filter: String,
    pub user_scope_one_level: bool,
    /// A DN template with `{username}`: bind directly as it (no service account needed).
    pub direct_bind: Option<String>,
    /// Attribute of the user entry holding group DNs (`memberOf`); empty: none.
    pub group_attribute: String,
    /// Group search base; empty: no group search.
    pub group_base: String,
    /// With `{dn}` and/or `{username}` (escaped).
    pub group_filter: String,
    pub group_name_attribute: String,
    /// Active Directory: match groups containing the user through nested groups too.
    pub nested_groups: bool,
    /// Directory group name → portcullis group name.
    pub group_map: BTreeMap<String, String>,
    /// Count only the groups named in `group_map`.
    pub only_mapped_groups: bool,
    /// Put before the names of unmapped directory groups (e.g. `ldap-`).
    pub group_prefix: String,
}

pub(super) fn parse(raw: &RawLdap, o: &Origins) -> Result<Option<LdapConfig>, ConfigError> {
    if raw.urls.is_empty() {
        return Ok(None);
    }
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    for url in &raw.urls {
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
            return Err(err(
                "ldap.urls",
                format!("{url:?} is not an ldap:// or ldaps:// URL"),
                "e.g. ldaps://ldap.example.com or ldap://10.0.0.5:389",
            ));
        }
        if raw.starttls && url.starts_with("ldaps://") {
            return Err(err(
                "ldap.starttls",
                format!("StartTLS on {url:?}, which is already TLS"),
                "use ldap:// URLs with starttls = true, or ldaps:// with starttls = false",
            ));
        }
    }
    let tls = raw.starttls || raw.urls.iter().any(|u| u.starts_with("ldaps://"));
    let ca_pem = if raw.ca_file.trim().is_empty() {
        if tls {
            return Err(err(
                "ldap.ca_file",
                "TLS is used but no CA file is given".into(),
                "name the PEM file of the CA that issued the directory's certificate",
            ));
        }
        None
    } else {
        Some(std::fs::read(raw.ca_file.trim()).map_err(|e| {
            err(
                "ldap.ca_file",
                format!("cannot read {}: {e}", raw.ca_file),
                "give a readable PEM file",
            )
        })?)
    };
    let duration = |key: &str, v: &str| {
        parse_duration(v).map_err(|p| {
            err(
                key,
                format!("{v:?} is not a duration: {p}"),
                "write e.g. 5s",
            )
        })
    };
    let bind_password = if raw.bind_password_file.trim().is_empty() {
        raw.bind_password.0.clone()
    } else {
        std::fs::read_to_string(raw.bind_password_file.trim())
            .map_err(|e| {
                err(
                    "ldap.bind_password_file",
                    format!("cannot read {}: {e}", raw.bind_password_file),
                    "give a readable file holding the password",
                )
            })?
            .trim_end_matches(['\n', '\r'])
            .to_string()
    };
    let direct_bind =
        (!raw.direct_bind.trim().is_empty()).then(|| raw.direct_bind.trim().to_string());
    if let Some(t) = &direct_bind {
        if !t.contains("{username}") {
            return Err(err(
                "ldap.direct_bind",
                format!("{t:?} has no {{username}}"),
                "e.g. uid={username},ou=people,dc=example,dc=org",
            ));
        }
    } else {
        if raw.bind_dn.trim().is_empty() || bind_password.is_empty() {
            return Err(err("ldap.bind_dn", "a service account is needed to search for users".into(), "set ldap.bind_dn and ldap.bind_password (or bind_password_file), or use ldap.direct_bind"));
        }
        if raw.user_base.trim().is_empty() {
            return Err(err(
                "ldap.user_base",
                "no base DN to search users under".into(),
                "e.g. ou=people,dc=example,dc=org",
            ));
        }
    }
    if !raw.user_filter.contains("{username}") {
        return Err(err(
            "ldap.user_filter",
            format!("{:?} has no {{username}}", raw.user_filter),
            "e.g. (uid={username}) or (sAMAccountName={username})",
        ));
    }
    let user_scope_one_level = match raw.user_scope.as_str() {
        "sub" => false,
        "one" => true,
        other => {
            return Err(err(
                "ldap.user_scope",
                format!("{other:?} is not a scope"),
                "use \"sub\" (the whole subtree) or \"one\" (one level)",
            ))
        }
    };
    group_names("ldap", &raw.group_prefix, &raw.group_map, o)?;
    Ok(Some(LdapConfig {
        urls: raw.urls.clone(),
        starttls: raw.starttls,
        ca_pem,
        connect_timeout: duration("ldap.connect_timeout", &raw.connect_timeout)?,
        timeout: duration("ldap.timeout", &raw.timeout)?,
        bind_dn: raw.bind_dn.trim().to_string(),
        bind_password: secrecy::SecretString::from(bind_password),
        user_base: raw.user_base.trim().to_string(),
        user_filter: raw.user_filter.clone(),
        user_scope_one_level,
        direct_bind,
        group_attribute: raw.group_attribute.trim().to_string(),
        group_base: raw.group_base.trim().to_string(),
        group_filter: raw.group_filter.clone(),
        group_name_attribute: raw.group_name_attribute.clone(),
        nested_groups: raw.nested_groups,
        group_map: raw.group_map.clone(),
        only_mapped_groups: raw.only_mapped_groups,
        group_prefix: raw.group_prefix.trim().to_string(),
    }))
}
