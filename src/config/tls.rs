//! `[server.tls]`: HTTPS, and client certificates as a way for machines to authenticate.
//!
//! Only the shape is checked here. Whether the files hold a sound, unexpired, matching pair
//! is decided when they are loaded (`http/tls.rs`), at start-up and at each renewal, so
//! that `portcullis check` and the server give the same answer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};
use crate::domain::{PrincipalKind, Username, ROBOT_LOGIN_PREFIX};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// The certificate chain (PEM, leaf first). Empty: plain HTTP.
    pub cert_file: String,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// CAs (PEM) whose client certificates are accepted. Empty: none asked for.
    pub client_ca_file: String,
    /// A client certificate's name → who it logs in as:
    /// `"dns:ci.example.com" = "robot:ci"`, `"uri:spiffe://example.com/ci" = "robot:ci"`,
    /// `"email:alice@example.com" = "user:alice"`, `"cn:build-01" = "robot:build"`.
    pub client_identities: BTreeMap<String, String>,
}

/// HTTPS settings: where the pair is, and which client certificates name whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client: Option<ClientCertConfig>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertConfig {
    pub ca_file: PathBuf,
    pub identities: Vec<(CertificateName, ClientPrincipal)>,
}

/// One name a client certificate carries, as the configuration names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateName {
    /// A `dNSName` subject alternative name (compared without case).
    Dns(String),
    /// A `uniformResourceIdentifier` subject alternative name (SPIFFE ids, exact).
    Uri(String),
    /// An `rfc822Name` subject alternative name (compared without case).
    Email(String),
    /// The subject's common name (exact): for CAs that issue certificates without SANs.
    CommonName(String),
}

/// Who a client certificate logs in as: a robot or a local user, who must exist and be
/// enabled when the certificate is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPrincipal {
    pub kind: PrincipalKind,
    pub name: String,
    /// The name it logs in as (`robot+ci` or `alice`): what records of refused requests
    /// name, as for a password login.
    login: String,
}

impl ClientPrincipal {
    pub fn new(kind: PrincipalKind, name: &str) -> ClientPrincipal {
        let login = match kind {
            PrincipalKind::Robot => format!("{ROBOT_LOGIN_PREFIX}{name}"),
            _ => name.to_owned(),
        };
        ClientPrincipal {
            kind,
            name: name.to_owned(),
            login,
        }
    }

    pub fn login(&self) -> &str {
        &self.login
    }
}

const NAME_FIX: &str = "write the name as dns:HOST, uri:URI, email:ADDRESS or cn:COMMON-NAME, e.g. \"dns:ci.example.com\" = \"robot:ci\"";

pub(super) fn parse(raw: &RawTls, o: &Origins) -> Result<Option<TlsConfig>, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let cert = raw.cert_file.trim();
    let key = raw.key_file.trim();
    let ca = raw.client_ca_file.trim();
    if cert.is_empty() && key.is_empty() {
        if !ca.is_empty() || !raw.client_identities.is_empty() {
            return Err(err(
                "server.tls.client_ca_file",
                "client certificates are configured but HTTPS is not".into(),
                "set server.tls.cert_file and server.tls.key_file: client certificates are only seen over HTTPS",
            ));
        }
        return Ok(None);
    }
    if cert.is_empty() || key.is_empty() {
        let missing = if cert.is_empty() {
            "server.tls.cert_file"
        } else {
            "server.tls.key_file"
        };
        return Err(err(
            missing,
            "only one of the certificate and its key is set".into(),
            "set both server.tls.cert_file (the chain, PEM) and server.tls.key_file (its private key, PEM), or neither for plain HTTP",
        ));
    }
    let client = if ca.is_empty() {
        if !raw.client_identities.is_empty() {
            return Err(err(
                "server.tls.client_identities",
                "names are mapped but no CA is given to verify client certificates with".into(),
                "set server.tls.client_ca_file to the PEM file of the CA that issues your machines' certificates",
            ));
        }
        None
    } else {
        if raw.client_identities.is_empty() {
            return Err(err(
                "server.tls.client_identities",
                "a client CA is set but no certificate name is mapped to anyone".into(),
                "map each certificate name to a robot or user, e.g. [server.tls.client_identities] \"dns:ci.example.com\" = \"robot:ci\"",
            ));
        }
        let mut identities = Vec::new();
        for (name, who) in &raw.client_identities {
            let key = format!("server.tls.client_identities.{name:?}");
            let parsed = parse_name(name.trim()).ok_or_else(|| {
                err(
                    &key,
                    format!("{name:?} is not a certificate name"),
                    NAME_FIX,
                )
            })?;
            let principal = parse_principal(who.trim()).ok_or_else(|| {
                err(
                    &key,
                    format!("{who:?} is not robot:NAME or user:NAME"),
                    "name a robot (\"robot:ci\") or a local user (\"user:alice\")",
                )
            })?;
            identities.push((parsed, principal));
        }
        Some(ClientCertConfig {
            ca_file: PathBuf::from(ca),
            identities,
        })
    };
    Ok(Some(TlsConfig {
        cert_file: PathBuf::from(cert),
        key_file: PathBuf::from(key),
        client,
    }))
}

fn parse_name(s: &str) -> Option<CertificateName> {
    let (kind, value) = s.split_once(':')?;
    if value.is_empty() || value.trim() != value {
        return None;
    }
    Some(match kind {
        "dns" => CertificateName::Dns(value.to_ascii_lowercase()),
        "uri" => CertificateName::Uri(value.to_owned()),
        "email" => CertificateName::Email(value.to_ascii_lowercase()),
        "cn" => CertificateName::CommonName(value.to_owned()),
        _ => return None,
    })
}

fn parse_principal(s: &str) -> Option<ClientPrincipal> {
    let (kind, name) = s.split_once(':')?;
    let kind = match kind {
        "robot" => PrincipalKind::Robot,
        "user" => PrincipalKind::User,
        _ => return None,
    };
    let name = Username::parse(name).ok()?;
    Some(ClientPrincipal::new(kind, name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Origins {
        Origins {
            file: None,
            env: Default::default(),
        }
    }

    fn raw(cert: &str, key: &str, ca: &str, ids: &[(&str, &str)]) -> RawTls {
        RawTls {
            cert_file: cert.into(),
            key_file: key.into(),
            client_ca_file: ca.into(),
            client_identities: ids
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn no_files_is_plain_http_and_half_a_pair_names_the_missing_key() {
        assert_eq!(parse(&RawTls::default(), &origins()).unwrap(), None);
        let e = parse(&raw("c.pem", "", "", &[]), &origins()).unwrap_err();
        assert!(e.to_string().contains("server.tls.key_file"), "{e}");
        let e = parse(&raw("", "", "ca.pem", &[]), &origins()).unwrap_err();
        assert!(e.to_string().contains("server.tls.cert_file"), "{e}");
    }

    #[test]
    fn client_identities_are_parsed_and_bad_ones_are_named() {
        let c = parse(
            &raw(
                "c.pem",
                "k.pem",
                "ca.pem",
                &[
                    ("dns:CI.example.com", "robot:ci"),
                    ("cn:alice", "user:alice"),
                ],
            ),
            &origins(),
        )
        .unwrap()
        .unwrap();
        let client = c.client.unwrap();
        assert_eq!(
            client.identities,
            vec![
                (
                    CertificateName::CommonName("alice".into()),
                    ClientPrincipal::new(PrincipalKind::User, "alice")
                ),
                (
                    CertificateName::Dns("ci.example.com".into()),
                    ClientPrincipal::new(PrincipalKind::Robot, "ci")
                ),
            ]
        );
        for (name, who) in [
            ("host:x", "robot:ci"),
            ("dns:x", "admin:ci"),
            ("dns:x", "robot:"),
        ] {
            let e = parse(&raw("c", "k", "ca", &[(name, who)]), &origins()).unwrap_err();
            assert!(e.to_string().contains("client_identities"), "{e}");
        }
        let e = parse(&raw("c", "k", "ca", &[]), &origins()).unwrap_err();
        assert!(
            e.to_string().contains("no certificate name is mapped"),
            "{e}"
        );
        let e = parse(&raw("c", "k", "", &[("dns:x", "robot:ci")]), &origins()).unwrap_err();
        assert!(e.to_string().contains("client_ca_file"), "{e}");
    }
}
