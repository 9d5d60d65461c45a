//! LDAP and Active Directory users and groups.
//!
//! The usual dance: bind as a service account, search for the user (the name escaped into
//! the filter, so `*)(uid=*` finds nobody), then bind as the user's DN with the password
//! given. Or, for directories that allow it, bind directly with a DN built from a template.
//! Groups come from an attribute of the user entry (`memberOf`, DN → CN) or from a group
//! search (`member`, `uniqueMember`, `memberUid`, or AD's in-chain rule for nested groups),
//! optionally renamed or restricted by a mapping table.
//!
//! The contract with the chain:
//! - a name the directory does not know is *no match*;
//! - a wrong password is *rejected* (401);
//! - a directory that cannot be reached is an `Err`, so the client gets a 503 and the log
//!   gets a line naming the server and the error. It is never a 401, which would make a user
//!   think their password is wrong.
//!
//! Servers are tried in order (failover), each with a connect timeout and an operation
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use secrecy::{ExposeSecret, SecretString};

use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::config::LdapConfig as LdapSettings;
use crate::domain::GroupMapping;
use crate::domain::{AuthSource, Identity};

/// Invalid credentials (RFC 4511 resultCode 49).
const INVALID_CREDENTIALS: u32 = 49;

/// What the directory says about a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    /// Group names as the directory has them, before mapping.
    pub directory_groups: Vec<String>,
    /// The `group:` names policies see, after mapping.
    pub groups: Vec<String>,
}

#[derive(Clone)]
pub struct LdapDirectory {
    settings: Arc<LdapSettings>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl LdapDirectory {
    pub fn new(settings: LdapSettings) -> Result<LdapDirectory, String> {
        let tls = match &settings.ca_pem {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                let blocks = pem::parse_many(pem).map_err(|e| format!("not valid PEM: {e}"))?;
                for b in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
                    roots
                        .add(rustls::pki_types::CertificateDer::from(b.into_contents()))
                        .map_err(|e| format!("a CA certificate cannot be used: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("the CA file holds no certificate".into());
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(Arc::new(config))
            }
            None => None,
        };
        Ok(LdapDirectory {
            settings: Arc::new(settings),
            tls,
        })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// A bound connection to the first server that answers; the error names every server
    /// tried and why it failed.
    async fn connect(&self) -> Result<(Ldap, String), AuthError> {
        let mut failures = Vec::new();
        for url in &self.settings.urls {
            let mut conn_settings = LdapConnSettings::new()
                .set_conn_timeout(self.settings.connect_timeout)
                .set_starttls(self.settings.starttls);
            if let Some(tls) = &self.tls {
                conn_settings = conn_settings.set_config(tls.clone());
            }
            match tokio::time::timeout(
                self.settings.connect_timeout + Duration::from_secs(1),
                LdapConnAsync::with_settings(conn_settings, url),
            )
            .await
            {
                Ok(Ok((conn, mut ldap))) => {
                    ldap3::drive!(conn);
                    ldap.with_timeout(self.settings.timeout);
                    return Ok((ldap, url.clone()));
                }
                Ok(Err(e)) => failures.push(format!("{url}: {e}")),
                Err(_) => failures.push(format!("{url}: no answer within the connect timeout")),
            }
            tracing::warn!(server = %url, error = %failures.last().unwrap(), "LDAP server unreachable; trying the next one");
        }
        Err(AuthError::new("ldap", failures.join("; ")))
    }

    /// Binds as the service account (a failure here is a configuration or outage problem,
    /// never the user's).
    async fn service_bind(&self, ldap: &mut Ldap, url: &str) -> Result<(), AuthError> {
        let res = ldap
            .simple_bind(
                &self.settings.bind_dn,
                self.settings.bind_password.expose_secret(),
            )
            .await
            .map_err(|e| ldap_error(url, "service bind", e))?;
        if res.rc != 0 {
            return Err(AuthError::new(
                "ldap",
                format!("{url}: the service bind as {:?} failed: {} (rc {}): check ldap.bind_dn and ldap.bind_password", self.settings.bind_dn, res.text, res.rc),
            ));
        }
        Ok(())
    }

    /// Finds a user by name: `None` when the directory has no such entry.
    async fn find_user(
        &self,
        ldap: &mut Ldap,
        url: &str,
        username: &str,
    ) -> Result<Option<SearchEntry>, AuthError> {
        let filter = self
            .settings
            .user_filter
            .replace("{username}", &ldap_escape(username));
        let scope = if self.settings.user_scope_one_level {
            Scope::OneLevel
        } else {
            Scope::Subtree
        };
        let mut attrs = vec!["1.1".to_string()];
        if !self.settings.group_attribute.is_empty() {
            attrs = vec![self.settings.group_attribute.clone()];
        }
        let (entries, res) = ldap
            .search(&self.settings.user_base, scope, &filter, attrs)
            .await
            .map_err(|e| ldap_error(url, "user search", e))?
            .non_error()
            .map_err(|e| ldap_error(url, "user search", e))?;
        let _ = res;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(Some(SearchEntry::construct(
                entries.into_iter().next().expect("one entry"),
            ))),
            n => {
                tracing::warn!(server = %url, filter = %filter, entries = n, "the LDAP user filter matched several entries; refusing to guess which one is meant");
                Ok(None)
            }
        }
    }

    async fn groups(
        &self,
        ldap: &mut Ldap,
        url: &str,
        entry: &SearchEntry,
        username: &str,
    ) -> Result<Vec<String>, AuthError> {
        let mut names = Vec::new();
        if !self.settings.group_attribute.is_empty() {
            let attr = entry
                .attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&self.settings.group_attribute))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            names.extend(attr.iter().map(|dn| first_rdn_value(dn)));
        }
        if !self.settings.group_base.is_empty() {
            let filter = self.group_filter(&entry.dn, username);
            let name_attr = self.settings.group_name_attribute.clone();
            let (entries, _) = ldap
                .search(
                    &self.settings.group_base,
                    Scope::Subtree,
                    &filter,
                    vec![name_attr.clone()],
                )
                .await
                .map_err(|e| ldap_error(url, "group search", e))?
                .non_error()
                .map_err(|e| ldap_error(url, "group search", e))?;
            for e in entries.into_iter().map(SearchEntry::construct) {
                match e
                    .attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&name_attr))
                    .and_then(|(_, v)| v.first())
                {
                    Some(n) => names.push(n.clone()),
                    None => names.push(first_rdn_value(&e.dn)),
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The group search filter for a user: the configured one with `{dn}` and `{username}`
    /// escaped in, or Active Directory's in-chain rule, which also finds the groups of groups.
    fn group_filter(&self, dn: &str, username: &str) -> String {
        if self.settings.nested_groups {
            return format!("(member:1.2.840.113556.1.4.1941:={})", ldap_escape(dn));
        }
        self.settings
            .group_filter
            .replace("{dn}", &ldap_escape(dn))
            .replace("{username}", &ldap_escape(username))
    }

    /// Maps directory group names to the `group:` names policies use: a `group_map` entry
    /// gives the exact name; other groups get `group_prefix` (`ldap:` by default), unless
    /// only mapped groups count.
    pub fn map_groups(&self, directory_groups: &[String]) -> Vec<String> {
        let mapped = GroupMapping {
            prefix: &self.settings.group_prefix,
            map: &self.settings.group_map,
            only_mapped: self.settings.only_mapped_groups,
        }
        .apply(directory_groups);
        if mapped.dropped > 0 {
            tracing::warn!(
                dropped = mapped.dropped,
                "some directory groups were ignored: too many, or names too long or holding control characters"
            );
        }
        mapped.groups
    }

    /// What the directory says about `username` (for `portcullis ldap test`): no password
    /// involved.
    pub async fn lookup(&self, username: &str) -> Result<Option<DirectoryUser>, AuthError> {
        let (mut ldap, url) = self.connect().await?;
        let result = async {
            if self.settings.direct_bind.is_some() && self.settings.bind_dn.is_empty() {
                return Err(AuthError::new(
                    "ldap",
                    "looking a user up needs a service account (ldap.bind_dn) when direct bind is used",
                ));
            }
            self.service_bind(&mut ldap, &url).await?;
            let Some(entry) = self.find_user(&mut ldap, &url, username).await? else {
                return Ok(None);
            };
            let directory_groups = self.groups(&mut ldap, &url, &entry, username).await?;
            Ok(Some(DirectoryUser {
                dn: entry.dn.clone(),
                groups: self.map_groups(&directory_groups),
                directory_groups,
            }))
        }
        .await;
        let _ = ldap.unbind().await;
        result
    }

    pub async fn verify(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        // An empty password is an "unauthenticated bind", which many directories accept.
        if password.expose_secret().is_empty() {
            return Ok(AuthOutcome::Rejected(Rejection::WrongPassword));
        }
        let (mut ldap, url) = self.connect().await?;
        let result = self
            .authenticate_on(&mut ldap, &url, username, password)
            .await;
        let _ = ldap.unbind().await;
        result
    }

    async fn authenticate_on(
        &self,
        ldap: &mut Ldap,
        url: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let entry = match &self.settings.direct_bind {
            Some(template) => {
                let dn = template.replace("{username}", &dn_escape(username));
                if !self.user_bind(ldap, url, &dn, password).await? {
                    // A direct bind cannot tell an unknown name from a wrong password.
                    return Ok(AuthOutcome::Rejected(Rejection::WrongPassword));
                }
                if !self.settings.bind_dn.is_empty() {
                    self.service_bind(ldap, url).await?;
                }
                match self.find_user(ldap, url, username).await? {
                    Some(e) => e,
                    None => SearchEntry {
                        dn,
                        attrs: Default::default(),
                        bin_attrs: Default::default(),
                    },
                }
            }
            None => {
                self.service_bind(ldap, url).await?;
                let Some(entry) = self.find_user(ldap, url, username).await? else {
                    return Ok(AuthOutcome::NoMatch);
                };
                if !self.user_bind(ldap, url, &entry.dn, password).await? {
                    return Ok(AuthOutcome::Rejected(Rejection::WrongPassword));
                }
                // Back to the service account: users often may not read groups.
                self.service_bind(ldap, url).await?;
                entry
            }
        };
        let directory_groups = self.groups(ldap, url, &entry, username).await?;
        let identity = Identity::user(
            username.to_ascii_lowercase(),
            self.map_groups(&directory_groups),
            AuthSource::Ldap,
        );
        Ok(AuthOutcome::Authenticated(Authenticated::new(identity)))
    }

    /// Binds as `dn`: true when the password is right, false when it is not (rc 49 and the
    /// other "you may not log in" codes), `Err` when the server failed.
    async fn user_bind(
        &self,
        ldap: &mut Ldap,
        url: &str,
        dn: &str,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let res = ldap
            .simple_bind(dn, password.expose_secret())
            .await
            .map_err(|e| ldap_error(url, "user bind", e))?;
        match res.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            // 48 inappropriate authentication, 50 insufficient access, 53 unwilling to
            // perform (e.g. a locked AD account): a refusal of this user, not an outage.
            48 | 50 | 53 => {
                tracing::info!(server = %url, rc = res.rc, message = %res.text, "the directory refused the user's bind");
                Ok(false)
            }
            rc => Err(AuthError::new(
                "ldap",
                format!("{url}: user bind failed: {} (rc {rc})", res.text),
            )),
        }
    }

    /// Readiness: some server answers and the service bind works (or, with direct bind
    /// and no service account, some server answers).
    pub async fn ping(&self) -> Result<String, AuthError> {
        let (mut ldap, url) = self.connect().await?;
        let result = if self.settings.bind_dn.is_empty() {
            Ok(url.clone())
        } else {
            self.service_bind(&mut ldap, &url)
                .await
                .map(|_| url.clone())
        };
        let _ = ldap.unbind().await;
        result
    }
}

impl super::Authenticator for LdapDirectory {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        _service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        super::authenticator::with_password(creds, |name, password| self.verify(name, password))
    }
}

impl crate::probe::Probe for LdapDirectory {
    fn name(&self) -> String {
        "ldap".into()
    }

    fn check(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<String>, crate::probe::ProbeError>> {
        Box::pin(async move { Ok(Some(self.ping().await?)) })
    }
}

fn ldap_error(url: &str, what: &str, e: ldap3::LdapError) -> AuthError {
    AuthError::caused("ldap", format!("{url}: {what} failed"), e)
}

/// `cn=developers,ou=groups,dc=example,dc=org` → `developers`.
fn first_rdn_value(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or(dn);
    first
        .split_once('=')
        .map_or(first, |(_, v)| v)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(map: &[(&str, &str)], only_mapped: bool) -> LdapSettings {
        LdapSettings {
            urls: vec!["ldap://127.0.0.1:1".into()],
            starttls: false,
            ca_pem: None,
            connect_timeout: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
            bind_dn: "cn=svc".into(),
            bind_password: SecretString::from("x"),
            user_base: "dc=example,dc=org".into(),
            user_filter: "(uid={username})".into(),
            user_scope_one_level: false,
            direct_bind: None,
            group_attribute: "memberOf".into(),
            group_base: String::new(),
            group_filter: "(member={dn})".into(),
            group_name_attribute: "cn".into(),
            nested_groups: false,
            group_map: map
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            only_mapped_groups: only_mapped,
            group_prefix: String::new(),
        }
    }

    #[test]
    fn group_filters_escape_their_values_and_nested_groups_use_the_in_chain_rule() {
        let mut s = settings(&[], false);
        s.group_filter = "(|(member={dn})(memberUid={username}))".into();
        let d = LdapDirectory::new(s.clone()).unwrap();
        assert_eq!(
            d.group_filter("uid=a*b,ou=people", "a*b"),
            "(|(member=uid=a\\2ab,ou=people)(memberUid=a\\2ab))"
        );
        s.nested_groups = true;
        let d = LdapDirectory::new(s).unwrap();
        assert_eq!(
            d.group_filter("cn=x,dc=y", "x"),
            "(member:1.2.840.113556.1.4.1941:=cn=x,dc=y)"
        );
    }

    #[test]
    fn a_group_prefix_applies_to_unmapped_groups_only() {
        let mut s = settings(&[("registry-admins", "admins")], false);
        s.group_prefix = "ldap-".into();
        let d = LdapDirectory::new(s).unwrap();
        let groups = vec!["registry-admins".to_string(), "developers".to_string()];
        assert_eq!(d.map_groups(&groups), ["admins", "ldap-developers"]);
    }

    #[test]
    fn group_dns_become_their_first_rdn_value() {
        assert_eq!(
            first_rdn_value("cn=developers,ou=groups,dc=example,dc=org"),
            "developers"
        );
        assert_eq!(
            first_rdn_value("CN=Domain Users,CN=Users,DC=corp"),
            "Domain Users"
        );
        assert_eq!(first_rdn_value("plain"), "plain");
    }

    #[test]
    fn the_group_map_renames_and_can_restrict() {
        let groups = vec![
            "registry-admins".to_string(),
            "developers".to_string(),
            "Domain Users".to_string(),
        ];
        let d = LdapDirectory::new(settings(&[("registry-admins", "admins")], false)).unwrap();
        assert_eq!(
            d.map_groups(&groups),
            ["Domain Users", "admins", "developers"]
        );
        let d = LdapDirectory::new(settings(
            &[("registry-admins", "admins"), ("Developers", "developers")],
            true,
        ))
        .unwrap();
        assert_eq!(
            d.map_groups(&groups),
            ["admins", "developers"],
            "only mapped groups, matched case-insensitively"
        );
    }

    #[test]
    fn usernames_are_escaped_into_filters() {
        assert_eq!(ldap_escape("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
    }

    #[tokio::test]
    async fn an_unreachable_directory_is_an_error_naming_each_server_never_a_rejection() {
        let mut s = settings(&[], false);
        s.urls = vec!["ldap://127.0.0.1:1".into(), "ldap://127.0.0.1:2".into()];
        let d = LdapDirectory::new(s).unwrap();
        let e = d
            .verify("alice", &SecretString::from("pw"))
            .await
            .unwrap_err();
        assert_eq!(e.backend, "ldap");
        assert!(
            e.report().contains("ldap://127.0.0.1:1") && e.report().contains("ldap://127.0.0.1:2"),
            "{}",
            e.report()
        );
    }

    #[tokio::test]
    async fn an_empty_password_is_refused_before_any_bind() {
        let d = LdapDirectory::new(settings(&[], false)).unwrap();
        assert_eq!(
            d.verify("alice", &SecretString::from("")).await.unwrap(),
            AuthOutcome::Rejected(Rejection::WrongPassword)
        );
    }
}
