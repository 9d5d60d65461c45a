//! Configuration: one TOML file, every key overridable by `PORTCULLIS_SECTION__KEY`.
//!
//! Loading is two steps, so that each error can say exactly where it came from:
//! 1. [`RawConfig`] is the file's shape (serde, `deny_unknown_fields`). A typo in the file is
//!    an error with the file, the line and the keys that do exist; docker_auth's habit of
//!    silently dropping an unknown key once made a rule match everyone.
//! 2. [`Config`] is the typed result: durations, addresses, URLs and paths are parsed once,
//!    and an error names the key, where its value came from (file or variable) and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable naming the config file (same as `--config`).
pub const CONFIG_ENV: &str = "PORTCULLIS_CONFIG";
const ENV_PREFIX: &str = "PORTCULLIS_";

mod audit;
mod auth;
mod federation;
mod groups;
mod ldap;
mod log;
mod oidc;
mod paths;
mod secret;
mod server;
mod store;
mod tls;
mod token;

pub use crate::domain::{format_duration, parse_duration};
pub use audit::{parse_size, AuditConfig, AuditFile, RawAudit};
pub use auth::{AuthConfig, PasswordBackend, RawAuth};
pub use federation::{FederationEntry, RawFederation};
pub use ldap::{LdapConfig, RawLdap};
pub use log::{LogConfig, LogFormat, RawLog};
pub use oidc::{OidcConfig, RawOidc};
pub use paths::{KeysConfig, PoliciesConfig, RawKeys, RawPolicies};
pub use secret::RawSecret;
pub use server::{CorsConfig, RawServer, ServerConfig};
pub use store::{RawStore, StoreConfig};
pub use tls::{CertificateName, ClientCertConfig, ClientPrincipal, RawTls, TlsConfig};
pub use token::{Algorithm, KidFormat, RawToken, TokenConfig};

/// The file's shape. Every field has a default, so an empty file (or none) is valid.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub token: RawToken,
    pub store: RawStore,
    pub keys: RawKeys,
    pub policies: RawPolicies,
    pub auth: RawAuth,
    pub ldap: RawLdap,
    pub oidc: RawOidc,
    pub federation: Vec<RawFederation>,
    pub log: RawLog,
    pub audit: RawAudit,
}

/// The validated configuration every other module reads.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from, if any (for messages).
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub token: TokenConfig,
    pub store: StoreConfig,
    pub keys: KeysConfig,
    pub policies: PoliciesConfig,
    pub auth: AuthConfig,
    /// `None` when no `ldap.urls` are set.
    pub ldap: Option<LdapConfig>,
    /// Browser sign-in (`[oidc]`); `None` when no issuer is set.
    pub oidc: Option<OidcConfig>,
    /// Trusted workload issuers (`[[federation]]`), in file order.
    pub federation: Vec<FederationEntry>,
    pub log: LogConfig,
    /// The window of recent audit records kept for the admin API.
    pub audit: AuditConfig,
}

/// A configuration error: where, what, and how to fix it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// `portcullis.toml:12`, `PORTCULLIS_TOKEN__TTL`, or `token.ttl (default)`.
    pub location: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error in {}: {}",
            self.location, self.problem
        )?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where each key's value came from, to name it in an error.
struct Origins {
    file: Option<PathBuf>,
    env: BTreeMap<String, String>,
}

impl Origins {
    /// `value` of `key` as a duration, or an error naming the key and the fix.
    fn duration(&self, key: &str, value: &str) -> Result<Duration, ConfigError> {
        parse_duration(value).map_err(|problem| {
            self.error(
                key,
                format!("{value:?} is not a duration: {problem}"),
                "write a number with a unit: 90s, 5m, 1h, 30d (units can be combined: 1h30m)",
            )
        })
    }

    /// An error about `key`, located where its value came from.
    fn error(&self, key: &str, problem: String, fix: &str) -> ConfigError {
        ConfigError {
            location: self.of(key),
            problem,
            fix: fix.to_string(),
        }
    }

    fn of(&self, key: &str) -> String {
        if let Some(var) = self.env.get(key) {
            return format!("{var} (environment, key `{key}`)");
        }
        match &self.file {
            Some(f) => format!("{} (key `{key}`)", f.display()),
            None => format!("`{key}` (built-in default)"),
        }
    }
}

impl Config {
    /// The configuration on embedded defaults and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(path, std::env::vars())
    }

    /// As [`Config::load`], but `policies.dir` may not exist yet: `portcullis restore`
    /// makes it.
    pub fn load_for_restore(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(path, std::env::vars(), false)
    }

    /// Loads `path` (if any) and applies `PORTCULLIS_*` overrides from `env`.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::load_with(path, env, true)
    }

    fn load_with(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        require_policies: bool,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
                location: p.display().to_string(),
                problem: format!("cannot read the configuration file: {e}"),
                fix: format!(
                    "check the path given by --config or {CONFIG_ENV}; `portcullis.example.toml` documents every key"
                ),
            })?,
            None => String::new(),
        };
        let file_name = path.map(|p| p.display().to_string()).unwrap_or_default();

        // Step 1: the file alone, for errors with line numbers.
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError {
            location: match e.span() {
                Some(span) => format!("{file_name}:{}", line_of(&text, span.start)),
                None => file_name.clone(),
            },
            problem: e.message().trim().to_string(),
            fix: "remove or correct the key; `portcullis.example.toml` lists every key with its meaning".into(),
        })?;

        // Step 2: environment overrides on the table form.
        let mut table = toml::Table::try_from(&raw).expect("RawConfig serializes to a table");
        let mut origins = Origins {
            file: path.map(Path::to_path_buf),
            env: BTreeMap::new(),
        };
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != CONFIG_ENV)
            .collect();
        env.sort();
        for (var, value) in env {
            let key = env_key(&var).ok_or_else(|| ConfigError {
                location: var.clone(),
                problem: "not of the form PORTCULLIS_SECTION__KEY".into(),
                fix: "e.g. PORTCULLIS_TOKEN__TTL=10m sets `ttl` in `[token]`, PORTCULLIS_SERVER__TLS__CERT_FILE sets `cert_file` in `[server.tls]`; unset the variable if it is not meant for portcullis".into(),
            })?;
            let mut path = key.split('.');
            let first = path.next().expect("env_key gives section.field");
            let slot = path
                .try_fold(table.get_mut(first), |slot, segment| {
                    Some(
                        slot.and_then(|s| s.as_table_mut())
                            .and_then(|s| s.get_mut(segment)),
                    )
                })
                .flatten()
                .ok_or_else(|| ConfigError {
                    location: var.clone(),
                    problem: format!("there is no configuration key `{key}`"),
                    fix:
                        "check the spelling against portcullis.example.toml, or unset the variable"
                            .into(),
                })?;
            *slot = match slot {
                toml::Value::Integer(_) => {
                    toml::Value::Integer(value.trim().parse().map_err(|_| ConfigError {
                        location: var.clone(),
                        problem: format!("`{key}` must be a whole number, got {value:?}"),
                        fix: "set it to a number such as 4".into(),
                    })?)
                }
                toml::Value::Array(_) => toml::Value::Array(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| toml::Value::String(v.to_string()))
                        .collect(),
                ),
                toml::Value::Table(_) => {
                    return Err(ConfigError {
                        location: var.clone(),
                        problem: format!(
                            "`{key}` is a table and cannot be set from the environment"
                        ),
                        fix: "set it in the configuration file".into(),
                    })
                }
                toml::Value::Boolean(_) => match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => toml::Value::Boolean(true),
                    "false" | "0" | "no" => toml::Value::Boolean(false),
                    _ => {
                        return Err(ConfigError {
                            location: var.clone(),
                            problem: format!("`{key}` must be true or false, got {value:?}"),
                            fix: "set it to true or false".into(),
                        })
                    }
                },
                _ => toml::Value::String(value),
            };
            origins.env.insert(key, var);
        }
        let raw: RawConfig = table.try_into().expect("overrides keep the table's shape");
        Config::from_raw(raw, &origins, require_policies)
    }

    fn from_raw(
        raw: RawConfig,
        o: &Origins,
        require_policies: bool,
    ) -> Result<Config, ConfigError> {
        let server = server::parse(&raw.server, o)?;
        let token = token::parse(&raw.token, o)?;
        let store = store::parse(&raw.store, o)?;
        let (keys, policies) = paths::parse(&raw.keys, &raw.policies, o, require_policies)?;
        let auth = auth::parse(&raw.auth, o)?;
        let ldap = ldap::parse(&raw.ldap, o)?;
        let federation = federation::parse(&raw.federation, o)?;
        let oidc = oidc::parse(&raw.oidc, o)?;
        if ldap.is_some() && !auth.order.contains(&PasswordBackend::Ldap) {
            return Err(o.error(
                "auth.order",
                "ldap.urls is set but \"ldap\" is not in auth.order".into(),
                "add \"ldap\" to auth.order, or remove ldap.urls",
            ));
        }
        let log = log::parse(&raw.log, o)?;
        let audit = audit::parse(&raw.audit, o)?;
        Ok(Config {
            source: o.file.clone(),
            server,
            token,
            store,
            keys,
            policies,
            auth,
            ldap,
            oidc,
            federation,
            log,
            audit,
        })
    }
}

/// `PORTCULLIS_TOKEN__TTL` → `token.ttl`; `PORTCULLIS_SERVER__TLS__CERT_FILE` →
/// `server.tls.cert_file` (a table inside a section).
fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    let segments: Vec<&str> = rest.split("__").collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(segments.join(".").to_ascii_lowercase())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies_dir() -> String {
        format!("{}/policies", env!("CARGO_MANIFEST_DIR"))
    }

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, text).unwrap();
        let mut vars: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !vars.iter().any(|(k, _)| k == "PORTCULLIS_POLICIES__DIR") {
            vars.push(("PORTCULLIS_POLICIES__DIR".into(), policies_dir()));
        }
        Config::load_from(Some(&path), vars).map_err(|mut e| {
            e.location = e
                .location
                .replace(&path.display().to_string(), "portcullis.toml");
            e
        })
    }

    #[test]
    fn an_empty_file_gives_the_embedded_defaults() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:5001");
        assert_eq!(c.server.realm(), "http://localhost:5001/token");
        assert_eq!(c.token.service, "portcullis");
        assert_eq!(c.token.ttl, Duration::from_secs(300));
        assert_eq!(c.token.algorithm, Algorithm::ES256);
        assert_eq!(c.token.kid_format, KidFormat::Libtrust);
        assert_eq!(c.store.url, "sqlite://data/portcullis.db");
        assert_eq!(c.keys.dir, PathBuf::from("keys"));
    }

    #[test]
    fn an_unknown_key_names_the_file_line_and_the_known_keys() {
        let e = load("[token]\nservice = \"x\"\nttl_seconds = 300\n", &[]).unwrap_err();
        assert_eq!(e.location, "portcullis.toml:3");
        assert!(e.problem.contains("unknown field `ttl_seconds`"), "{e}");
        assert!(e.problem.contains("`ttl`"), "lists the known keys: {e}");
    }

    #[test]
    fn an_unknown_section_is_an_error() {
        let e = load("[tokens]\nttl = \"5m\"\n", &[]).unwrap_err();
        assert_eq!(e.location, "portcullis.toml:1");
        assert!(e.problem.contains("unknown field `tokens`"), "{e}");
    }

    #[test]
    fn a_bad_duration_names_the_key_and_the_fix() {
        let e = load("[token]\nttl = \"300\"\n", &[]).unwrap_err();
        assert!(e.location.contains("token.ttl"), "{e}");
        assert!(e.problem.contains("without a unit"), "{e}");
        assert!(e.fix.contains("5m"), "{e}");
    }

    #[test]
    fn a_ttl_under_sixty_seconds_is_refused() {
        let e = load("[token]\nttl = \"30s\"\n", &[]).unwrap_err();
        assert!(e.problem.contains("out of range"), "{e}");
    }

    #[test]
    fn environment_variables_override_the_file_and_are_named_in_errors() {
        let c = load(
            "[token]\nttl = \"5m\"\n",
            &[("PORTCULLIS_TOKEN__TTL", "10m")],
        )
        .unwrap();
        assert_eq!(c.token.ttl, Duration::from_secs(600));
        let e = load("", &[("PORTCULLIS_TOKEN__TTL", "soon")]).unwrap_err();
        assert!(e.location.starts_with("PORTCULLIS_TOKEN__TTL"), "{e}");
        let e = load("", &[("PORTCULLIS_TOKEN__TTLS", "5m")]).unwrap_err();
        assert_eq!(e.location, "PORTCULLIS_TOKEN__TTLS");
        assert!(
            e.problem.contains("no configuration key `token.ttls`"),
            "{e}"
        );
        let e = load("", &[("PORTCULLIS_TOKEN_TTL", "5m")]).unwrap_err();
        assert!(e.problem.contains("PORTCULLIS_SECTION__KEY"), "{e}");
    }

    #[test]
    fn a_table_inside_a_section_is_set_from_the_environment_with_one_more_level() {
        let c = load(
            "",
            &[
                ("PORTCULLIS_SERVER__TLS__CERT_FILE", "/tls/tls.crt"),
                ("PORTCULLIS_SERVER__TLS__KEY_FILE", "/tls/tls.key"),
            ],
        )
        .unwrap();
        let tls = c.server.tls.expect("HTTPS from the environment");
        assert_eq!(tls.cert_file, std::path::PathBuf::from("/tls/tls.crt"));
        assert!(c.server.public_url.starts_with("https://"));
        // Half a pair names the key that is missing.
        let e = load("", &[("PORTCULLIS_SERVER__TLS__CERT_FILE", "/tls/tls.crt")]).unwrap_err();
        assert!(e.to_string().contains("server.tls.key_file"), "{e}");
        let e = load("", &[("PORTCULLIS_SERVER__TLS__CERTFILE", "x")]).unwrap_err();
        assert!(
            e.problem
                .contains("no configuration key `server.tls.certfile`"),
            "{e}"
        );
        let e = load("", &[("PORTCULLIS_SERVER__TLS__CLIENT_IDENTITIES", "x")]).unwrap_err();
        assert!(e.problem.contains("is a table"), "{e}");
        let e = load("", &[("PORTCULLIS_TOKEN__TTL__X", "x")]).unwrap_err();
        assert!(
            e.problem.contains("no configuration key `token.ttl.x`"),
            "{e}"
        );
    }

    #[test]
    fn numeric_keys_from_the_environment_are_parsed_as_numbers() {
        let c = load("", &[("PORTCULLIS_AUTH__HASH_CONCURRENCY", "3")]).unwrap();
        assert_eq!(c.auth.hash_concurrency, 3);
        let e = load("", &[("PORTCULLIS_AUTH__HASH_CONCURRENCY", "many")]).unwrap_err();
        assert!(e.problem.contains("whole number"), "{e}");
    }

    #[test]
    fn a_public_url_sets_the_realm_and_loses_its_trailing_slash() {
        let c = load(
            "[server]\npublic_url = \"https://auth.example.com/\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.server.realm(), "https://auth.example.com/token");
        let e = load("[server]\npublic_url = \"auth.example.com\"\n", &[]).unwrap_err();
        assert!(e.problem.contains("not an http"), "{e}");
    }

    #[test]
    fn a_missing_policies_directory_is_an_error_naming_the_key() {
        let e = load("", &[("PORTCULLIS_POLICIES__DIR", "/nonexistent/policies")]).unwrap_err();
        assert!(e.location.contains("policies.dir"), "{e}");
    }

    #[test]
    fn a_listen_address_must_be_an_ip_and_port() {
        let e = load("[server]\nlisten = \"localhost:5001\"\n", &[]).unwrap_err();
        assert!(e.location.contains("server.listen"), "{e}");
    }

    #[test]
    fn durations_parse_and_format_round_trip() {
        let cases = [
            ("90s", 90),
            ("5m", 300),
            ("1h30m", 5400),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        for bad in ["", "5", "m", "5x", "1.5h", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
