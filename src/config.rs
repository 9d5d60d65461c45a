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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable naming the config file (same as `--config`).
pub const CONFIG_ENV: &str = "PORTCULLIS_CONFIG";
const ENV_PREFIX: &str = "PORTCULLIS_";

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
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    /// Empty: derived from `listen`.
    pub public_url: String,
    /// Serve `/bench/constant` and `/bench/sign`, the baselines of the benchmark.
    pub benchmark_routes: bool,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: i64,
    /// How long a request's head, and then its body, may take to arrive.
    pub request_timeout: String,
    /// How long an idle connection is kept open for the next request.
    pub keep_alive: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:5001".into(),
            public_url: String::new(),
            benchmark_routes: false,
            max_connections: 10_000,
            request_timeout: "10s".into(),
            keep_alive: "5s".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawToken {
    pub service: String,
    pub issuer: String,
    pub ttl: String,
    pub algorithm: String,
    pub kid_format: String,
    pub clock_skew: String,
    pub refresh_ttl: String,
    pub x5c: bool,
    /// Refresh tokens one user or robot keeps at most; the least recently used go first.
    pub refresh_tokens_per_subject: i64,
}

impl Default for RawToken {
    fn default() -> Self {
        RawToken {
            service: "portcullis".into(),
            issuer: "portcullis".into(),
            ttl: "5m".into(),
            algorithm: "ES256".into(),
            kid_format: "libtrust".into(),
            clock_skew: "10s".into(),
            refresh_ttl: "90d".into(),
            x5c: true,
            refresh_tokens_per_subject: 100,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: "sqlite://data/portcullis.db".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    pub dir: String,
}

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys { dir: "keys".into() }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicies {
    pub dir: String,
}

impl Default for RawPolicies {
    fn default() -> Self {
        RawPolicies {
            dir: "policies".into(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Concurrent argon2 verifications; 0 = one per core.
    pub hash_concurrency: i64,
    /// How long a verified credential is remembered; "0s" turns remembering off.
    pub cache_ttl: String,
    /// How many verified credentials are remembered at most.
    pub cache_max_entries: i64,
    /// Password authenticators, in the order they are asked.
    pub order: Vec<String>,
    /// Failed credentials allowed per client address, and per address and name, in a window.
    pub max_failures_per_ip: i64,
    pub max_failures_per_ip_and_name: i64,
    pub failure_window: String,
    /// Clients (addresses or IPv6 prefixes) and names the throttle keeps at most.
    pub throttle_max_entries: i64,
    /// Leading bits of an IPv6 address that make one client for the throttle.
    pub ipv6_prefix: i64,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            hash_concurrency: 0,
            cache_ttl: "60s".into(),
            cache_max_entries: 10_000,
            order: vec!["local".into(), "ldap".into()],
            max_failures_per_ip: 50,
            max_failures_per_ip_and_name: 10,
            failure_window: "5m".into(),
            throttle_max_entries: 100_000,
            ipv6_prefix: 64,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            level: "info".into(),
        }
    }
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
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Without a trailing slash; the realm is `public_url + "/token"`.
    pub public_url: String,
    /// True when `public_url` was derived from `listen` rather than set.
    pub public_url_derived: bool,
    pub benchmark_routes: bool,
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub keep_alive: Duration,
}

impl ServerConfig {
    pub fn realm(&self) -> String {
        format!("{}/token", self.public_url)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    ES256,
    RS256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }
}

/// How the JWT header's `kid` is computed. distribution 2.x looks keys up by the libtrust
/// fingerprint; 3.x by the RFC 7638 JWK thumbprint. Both also accept `x5c`, which is always sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KidFormat {
    Libtrust,
    Thumbprint,
}

#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub service: String,
    pub issuer: String,
    pub ttl: Duration,
    pub algorithm: Algorithm,
    pub kid_format: KidFormat,
    /// How far `nbf` is back-dated, for registries whose clock runs behind ours.
    pub clock_skew: Duration,
    pub refresh_ttl: Duration,
    /// Put the certificate chain in every token header (see `portcullis.example.toml`).
    pub x5c: bool,
    pub refresh_tokens_per_subject: usize,
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub url: String,
}

#[derive(Clone, Debug)]
pub struct KeysConfig {
    pub dir: PathBuf,
}

#[derive(Clone, Debug)]
pub struct PoliciesConfig {
    pub dir: PathBuf,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub hash_concurrency: usize,
    pub cache_ttl: Duration,
    pub cache_max_entries: usize,
    pub order: Vec<PasswordBackend>,
    pub max_failures_per_ip: u32,
    pub max_failures_per_ip_and_name: u32,
    /// Zero: throttling off.
    pub failure_window: Duration,
    pub throttle_max_entries: usize,
    pub ipv6_prefix: u8,
}

/// A password authenticator of the chain (`auth.order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordBackend {
    Local,
    Ldap,
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

/// One `[[federation]]` entry: which workload tokens are trusted, and as whom.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFederation {
    /// The user name the workload logs in with (its token is the password).
    pub name: String,
    pub issuer: String,
    pub audience: String,
    /// Claim conditions: every one must match (exact, or a glob with `*`).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// The token subject to give, with `${claim}` placeholders.
    pub subject: String,
    /// Groups the workload is in (policies bind `group:NAME`).
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// How old (since `iat`) a token may be.
    #[serde(default = "default_max_age")]
    pub max_age: String,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn default_max_age() -> String {
    "10m".into()
}

/// A validated federation entry.
#[derive(Clone, Debug)]
pub struct FederationEntry {
    pub name: String,
    /// Without a trailing slash.
    pub issuer: String,
    pub audience: String,
    pub claims: BTreeMap<String, String>,
    pub subject: String,
    pub groups: Vec<String>,
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub max_age: Duration,
}

/// A secret read from the configuration: never printed by `Debug`.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct RawSecret(pub String);

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
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

    /// Loads `path` (if any) and applies `PORTCULLIS_*` overrides from `env`.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
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
                fix: "e.g. PORTCULLIS_TOKEN__TTL=10m sets `ttl` in `[token]`; unset the variable if it is not meant for portcullis".into(),
            })?;
            let (section, field) = key.split_once('.').expect("env_key gives section.field");
            let slot = table
                .get_mut(section)
                .and_then(|s| s.as_table_mut())
                .and_then(|s| s.get_mut(field))
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
        Config::from_raw(raw, &origins)
    }

    fn from_raw(raw: RawConfig, o: &Origins) -> Result<Config, ConfigError> {
        let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);

        let listen: SocketAddr = raw.server.listen.trim().parse().map_err(|_| {
            err(
                "server.listen",
                format!("{:?} is not an IP address and port", raw.server.listen),
                "use a form like 127.0.0.1:5001 or 0.0.0.0:5001 (a host name is not accepted here)",
            )
        })?;
        let (public_url, public_url_derived) = if raw.server.public_url.trim().is_empty() {
            let host = if listen.ip().is_loopback() || listen.ip().is_unspecified() {
                // `localhost`, not 127.0.0.1: go-containerregistry (crane) refuses a realm on a
                // loopback IP address but accepts the name.
                "localhost".to_string()
            } else if listen.is_ipv6() {
                format!("[{}]", listen.ip())
            } else {
                listen.ip().to_string()
            };
            (format!("http://{host}:{}", listen.port()), true)
        } else {
            let url = raw
                .server
                .public_url
                .trim()
                .trim_end_matches('/')
                .to_string();
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .ok_or_else(|| {
                    err(
                        "server.public_url",
                        format!("{url:?} is not an http:// or https:// URL"),
                        "set the URL the registry's clients reach portcullis at, e.g. https://auth.example.com",
                    )
                })?;
            if rest.is_empty() || rest.contains(['?', '#', ' ']) {
                return Err(err(
                    "server.public_url",
                    format!("{url:?} has no host, or has a query or fragment"),
                    "give scheme, host, optional port and optional path prefix only",
                ));
            }
            (url, false)
        };

        let duration = |key: &str, value: &str| {
            parse_duration(value).map_err(|problem| {
                err(
                    key,
                    format!("{value:?} is not a duration: {problem}"),
                    "write a number with a unit: 90s, 5m, 1h, 30d (units can be combined: 1h30m)",
                )
            })
        };
        let max_connections = match raw.server.max_connections {
            n if (16..=1_000_000).contains(&n) => n as usize,
            n => return Err(err(
                "server.max_connections",
                format!("{n} is out of range"),
                "use 16 to 1000000; it must stay under the process's open-file limit (ulimit -n)",
            )),
        };
        let request_timeout = duration("server.request_timeout", &raw.server.request_timeout)?;
        if request_timeout < Duration::from_secs(1) || request_timeout > Duration::from_secs(300) {
            return Err(err(
                "server.request_timeout",
                format!("{} is out of range", raw.server.request_timeout),
                "use 1s to 5m; a token request is a few hundred bytes, 10s is plenty",
            ));
        }
        let keep_alive = duration("server.keep_alive", &raw.server.keep_alive)?;
        if keep_alive > Duration::from_secs(3600) {
            return Err(err(
                "server.keep_alive",
                format!("{} is more than 1h", raw.server.keep_alive),
                "use 0s (close after each request) to 1h; 5s is usual",
            ));
        }
        let ttl = duration("token.ttl", &raw.token.ttl)?;
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(24 * 3600) {
            return Err(err(
                "token.ttl",
                format!("{} is out of range", raw.token.ttl),
                "use between 60s and 24h: clients treat anything under 60 s as 60 s (token spec), and a bearer token cannot be revoked before it expires",
            ));
        }
        let clock_skew = duration("token.clock_skew", &raw.token.clock_skew)?;
        if clock_skew > Duration::from_secs(300) {
            return Err(err(
                "token.clock_skew",
                format!("{} is more than 5m", raw.token.clock_skew),
                "synchronise the clocks (NTP) instead; 10s is usual",
            ));
        }
        let refresh_ttl = duration("token.refresh_ttl", &raw.token.refresh_ttl)?;
        if refresh_ttl > Duration::from_secs(3650 * 86400) {
            return Err(err(
                "token.refresh_ttl",
                format!("{} is more than 3650d", raw.token.refresh_ttl),
                "90d is usual: a refresh token is a long-lived credential",
            ));
        }
        let refresh_tokens_per_subject = match raw.token.refresh_tokens_per_subject {
            n if (1..=100_000).contains(&n) => n as usize,
            n => {
                return Err(err(
                    "token.refresh_tokens_per_subject",
                    format!("{n} is out of range"),
                    "use 1 to 100000 (one per machine that runs `docker login`; 100 is usual)",
                ))
            }
        };
        if refresh_ttl < ttl {
            return Err(err(
                "token.refresh_ttl",
                format!("{} is shorter than token.ttl", raw.token.refresh_ttl),
                "refresh tokens (docker's identity token) should outlive access tokens; 90d is usual",
            ));
        }
        let algorithm = match raw.token.algorithm.to_ascii_uppercase().as_str() {
            "ES256" => Algorithm::ES256,
            "RS256" => Algorithm::RS256,
            other => {
                return Err(err(
                    "token.algorithm",
                    format!("{other:?} is not supported"),
                    "use \"ES256\" (default; P-256 ECDSA) or \"RS256\"; both work with distribution 2.x and 3.x",
                ))
            }
        };
        let kid_format = match raw.token.kid_format.to_ascii_lowercase().as_str() {
            "libtrust" => KidFormat::Libtrust,
            "thumbprint" | "jwk-thumbprint" | "rfc7638" => KidFormat::Thumbprint,
            other => {
                return Err(err(
                    "token.kid_format",
                    format!("{other:?} is not a kid format"),
                    "use \"libtrust\" for distribution 2.x or \"thumbprint\" (RFC 7638) for distribution 3.x",
                ))
            }
        };
        for (key, value) in [
            ("token.service", &raw.token.service),
            ("token.issuer", &raw.token.issuer),
        ] {
            if value.trim().is_empty() || value.len() > 255 {
                return Err(err(
                    key,
                    "must be a non-empty string of at most 255 bytes".into(),
                    "it must equal the registry's auth.token setting of the same name (`portcullis registry-config` prints it)",
                ));
            }
        }

        let url = raw.store.url.trim().to_string();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(err(
                "store.url",
                format!("{url:?} is neither a sqlite: nor a postgres:// URL"),
                "use sqlite://data/portcullis.db (embedded, default) or postgres://USER@HOST/DB (several replicas)",
            ));
        }

        let non_empty_path = |key: &str, value: &str| {
            if value.trim().is_empty() {
                Err(err(
                    key,
                    "must not be empty".into(),
                    "give a directory path",
                ))
            } else {
                Ok(PathBuf::from(value.trim()))
            }
        };
        let keys_dir = non_empty_path("keys.dir", &raw.keys.dir)?;
        let policies_dir = non_empty_path("policies.dir", &raw.policies.dir)?;
        if !policies_dir.is_dir() {
            return Err(err(
                "policies.dir",
                format!("{} is not a readable directory", policies_dir.display()),
                "create it with at least one *.toml policy (see policies/README.md), or point policies.dir at one; relative paths are relative to the working directory",
            ));
        }

        let hash_concurrency = match raw.auth.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if (1..=1024).contains(&n) => n as usize,
            n => {
                return Err(err(
                    "auth.hash_concurrency",
                    format!("{n} is out of range"),
                    "use 0 (one per core) or a number from 1 to 1024",
                ))
            }
        };

        let cache_ttl = duration("auth.cache_ttl", &raw.auth.cache_ttl)?;
        if cache_ttl > Duration::from_secs(3600) {
            return Err(err(
                "auth.cache_ttl",
                format!("{} is more than 1h", raw.auth.cache_ttl),
                "keep it short (60s is usual): a credential change is seen at once, but an upstream one (LDAP) only when this expires",
            ));
        }
        let cache_max_entries = match raw.auth.cache_max_entries {
            n if (0..=10_000_000).contains(&n) => n as usize,
            n => {
                return Err(err(
                    "auth.cache_max_entries",
                    format!("{n} is out of range"),
                    "use 0 (remember nothing) up to 10000000",
                ))
            }
        };
        let mut order = Vec::new();
        for name in &raw.auth.order {
            let b = match name.as_str() {
                "local" => PasswordBackend::Local,
                "ldap" => PasswordBackend::Ldap,
                other => {
                    return Err(err(
                        "auth.order",
                        format!("{other:?} is not a password authenticator"),
                        "list \"local\" and/or \"ldap\", in the order they should be asked",
                    ))
                }
            };
            if order.contains(&b) {
                return Err(err(
                    "auth.order",
                    format!("{name:?} is listed twice"),
                    "list each once",
                ));
            }
            order.push(b);
        }
        let failure_window = duration("auth.failure_window", &raw.auth.failure_window)?;
        let limit = |key: &str, n: i64| {
            u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                err(
                    key,
                    format!("{n} is out of range"),
                    "at least 1 (set auth.failure_window = \"0s\" to turn throttling off)",
                )
            })
        };
        let max_failures_per_ip = limit("auth.max_failures_per_ip", raw.auth.max_failures_per_ip)?;
        let max_failures_per_ip_and_name = limit(
            "auth.max_failures_per_ip_and_name",
            raw.auth.max_failures_per_ip_and_name,
        )?;
        if failure_window > Duration::from_secs(24 * 3600) {
            return Err(err(
                "auth.failure_window",
                format!("{} is more than 24h", raw.auth.failure_window),
                "use a window such as 5m (\"0s\" turns throttling off)",
            ));
        }
        let throttle_max_entries = match raw.auth.throttle_max_entries {
            n if (100..=10_000_000).contains(&n) => n as usize,
            n => {
                return Err(err(
                    "auth.throttle_max_entries",
                    format!("{n} is out of range"),
                    "use 100 up to 10000000 (each entry takes about 150 bytes)",
                ))
            }
        };
        let ipv6_prefix = match raw.auth.ipv6_prefix {
            n if (16..=128).contains(&n) => n as u8,
            n => {
                return Err(err(
                    "auth.ipv6_prefix",
                    format!("/{n} is out of range"),
                    "use 64 (one host usually owns a /64), or 48 to 128",
                ))
            }
        };
        let ldap = ldap_config(&raw.ldap, o)?;
        let federation = federation_config(&raw.federation, o)?;
        let oidc = oidc_config(&raw.oidc, o)?;
        if ldap.is_some() && !order.contains(&PasswordBackend::Ldap) {
            return Err(err(
                "auth.order",
                "ldap.urls is set but \"ldap\" is not in auth.order".into(),
                "add \"ldap\" to auth.order, or remove ldap.urls",
            ));
        }
        let format = match raw.log.format.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "log.format",
                    format!("{other:?} is not a log format"),
                    "use \"text\" or \"json\"",
                ))
            }
        };

        Ok(Config {
            source: o.file.clone(),
            server: ServerConfig {
                listen,
                public_url,
                public_url_derived,
                benchmark_routes: raw.server.benchmark_routes,
                max_connections,
                request_timeout,
                keep_alive,
            },
            token: TokenConfig {
                service: raw.token.service,
                issuer: raw.token.issuer,
                ttl,
                algorithm,
                kid_format,
                clock_skew,
                refresh_ttl,
                x5c: raw.token.x5c,
                refresh_tokens_per_subject,
            },
            store: StoreConfig { url },
            keys: KeysConfig { dir: keys_dir },
            policies: PoliciesConfig { dir: policies_dir },
            auth: AuthConfig {
                hash_concurrency,
                cache_ttl,
                cache_max_entries,
                order,
                max_failures_per_ip,
                max_failures_per_ip_and_name,
                failure_window,
                throttle_max_entries,
                ipv6_prefix,
            },
            ldap,
            oidc,
            federation,
            log: LogConfig {
                format,
                level: raw.log.level,
            },
        })
    }
}

fn oidc_config(raw: &RawOidc, o: &Origins) -> Result<Option<OidcConfig>, ConfigError> {
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

/// A group prefix and map of section `section` hold only names policies can bind.
fn group_names(
    section: &str,
    prefix: &str,
    map: &BTreeMap<String, String>,
    o: &Origins,
) -> Result<(), ConfigError> {
    if prefix.trim().chars().any(char::is_whitespace) {
        return Err(o.error(
            &format!("{section}.group_prefix"),
            format!("{prefix:?} holds a space"),
            "a prefix such as \"ldap:\" (ending in ':' keeps external groups apart from local ones, whose names cannot hold ':')",
        ));
    }
    if let Some((from, to)) = map
        .iter()
        .find(|(_, to)| to.is_empty() || to.chars().any(char::is_whitespace))
    {
        return Err(o.error(
            &format!("{section}.group_map"),
            format!("{from:?} maps to {to:?}, which cannot be a group name"),
            "map to a group name without spaces, as policies bind it (group:NAME)",
        ));
    }
    Ok(())
}

fn federation_config(
    raw: &[RawFederation],
    o: &Origins,
) -> Result<Vec<FederationEntry>, ConfigError> {
    let mut out = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let key = |k: &str| format!("federation[{i}].{k}");
        let err = |k: &str, problem: String, fix: &str| o.error(&key(k), problem, fix);
        if f.name.trim().is_empty() || f.name.contains(':') {
            return Err(err(
                "name",
                format!("{:?} cannot be a login name", f.name),
                "a plain name such as github-actions, without ':'",
            ));
        }
        let issuer = f.issuer.trim().trim_end_matches('/').to_string();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(err("issuer", format!("{issuer:?} is not an http(s) URL"), "the issuer exactly as its tokens' `iss`, e.g. https://token.actions.githubusercontent.com"));
        }
        if f.audience.trim().is_empty() {
            return Err(err("audience", "is empty".into(), "the audience the workload asks its token for, e.g. your registry's name; without one, any token of the issuer would do"));
        }
        if f.claims.is_empty() {
            return Err(err("claims", "no claim condition".into(), "add conditions such as repository = \"acme/api\": without any, every workload of the issuer would match"));
        }
        if f.subject.trim().is_empty() {
            return Err(err(
                "subject",
                "is empty".into(),
                "a template such as \"ci:${repository}\"",
            ));
        }
        let mut algorithms = Vec::new();
        for a in &f.algorithms {
            let alg = match a.as_str() {
                "RS256" => jsonwebtoken::Algorithm::RS256,
                "RS384" => jsonwebtoken::Algorithm::RS384,
                "RS512" => jsonwebtoken::Algorithm::RS512,
                "PS256" => jsonwebtoken::Algorithm::PS256,
                "ES256" => jsonwebtoken::Algorithm::ES256,
                "ES384" => jsonwebtoken::Algorithm::ES384,
                "EdDSA" => jsonwebtoken::Algorithm::EdDSA,
                other => return Err(err("algorithms", format!("{other:?} is not allowed"), "use asymmetric algorithms only: RS256, RS384, RS512, PS256, ES256, ES384, EdDSA (never none or HS*)")),
            };
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err(err(
                "algorithms",
                "is empty".into(),
                "e.g. [\"RS256\", \"ES256\"]",
            ));
        }
        let max_age = parse_duration(&f.max_age)
            .map_err(|p| err("max_age", format!("{:?}: {p}", f.max_age), "e.g. 10m"))?;
        out.push(FederationEntry {
            name: f.name.trim().to_string(),
            issuer,
            audience: f.audience.trim().to_string(),
            claims: f.claims.clone(),
            subject: f.subject.clone(),
            groups: f.groups.clone(),
            algorithms,
            max_age,
        });
    }
    Ok(out)
}

fn ldap_config(raw: &RawLdap, o: &Origins) -> Result<Option<LdapConfig>, ConfigError> {
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

/// `PORTCULLIS_TOKEN__TTL` → `token.ttl`.
fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    let (section, field) = rest.split_once("__")?;
    if section.is_empty() || field.is_empty() || field.contains("__") {
        return None;
    }
    Some(format!(
        "{}.{}",
        section.to_ascii_lowercase(),
        field.to_ascii_lowercase()
    ))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// `90s`, `5m`, `1h30m`, `30d`. A bare number is refused: `300` could be seconds or minutes,
/// and that confusion is a known support burden of other token servers.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return Err(format!("unknown unit {c:?}")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("a unit ({c}) without a number before it"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or("it is too large")?;
        num.clear();
    }
    if !num.is_empty() {
        return Err("a number without a unit".into());
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way the config takes it (`5m`, `1h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, secs) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= secs {
            out.push_str(&format!("{}{unit}", s / secs));
            s %= secs;
        }
    }
    out
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
