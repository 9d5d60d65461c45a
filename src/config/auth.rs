//! `[auth]`: the password authenticators' order, remembered credentials, argon2, and the
//! throttling of failed credentials.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

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

pub(super) fn parse(raw: &RawAuth, o: &Origins) -> Result<AuthConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let duration = |key: &str, value: &str| o.duration(key, value);
    let hash_concurrency = match raw.hash_concurrency {
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

    let cache_ttl = duration("auth.cache_ttl", &raw.cache_ttl)?;
    if cache_ttl > Duration::from_secs(3600) {
        return Err(err(
            "auth.cache_ttl",
            format!("{} is more than 1h", raw.cache_ttl),
            "keep it short (60s is usual): a credential change is seen at once, but an upstream one (LDAP) only when this expires",
        ));
    }
    let cache_max_entries = match raw.cache_max_entries {
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
    for name in &raw.order {
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
    let failure_window = duration("auth.failure_window", &raw.failure_window)?;
    let limit = |key: &str, n: i64| {
        u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            err(
                key,
                format!("{n} is out of range"),
                "at least 1 (set auth.failure_window = \"0s\" to turn throttling off)",
            )
        })
    };
    let max_failures_per_ip = limit("auth.max_failures_per_ip", raw.max_failures_per_ip)?;
    let max_failures_per_ip_and_name = limit(
        "auth.max_failures_per_ip_and_name",
        raw.max_failures_per_ip_and_name,
    )?;
    if failure_window > Duration::from_secs(24 * 3600) {
        return Err(err(
            "auth.failure_window",
            format!("{} is more than 24h", raw.failure_window),
            "use a window such as 5m (\"0s\" turns throttling off)",
        ));
    }
    let throttle_max_entries = match raw.throttle_max_entries {
        n if (100..=10_000_000).contains(&n) => n as usize,
        n => {
            return Err(err(
                "auth.throttle_max_entries",
                format!("{n} is out of range"),
                "use 100 up to 10000000 (each entry takes about 150 bytes)",
            ))
        }
    };
    let ipv6_prefix = match raw.ipv6_prefix {
        n if (16..=128).contains(&n) => n as u8,
        n => {
            return Err(err(
                "auth.ipv6_prefix",
                format!("/{n} is out of range"),
                "use 64 (one host usually owns a /64), or 48 to 128",
            ))
        }
    };
    Ok(AuthConfig {
        hash_concurrency,
        cache_ttl,
        cache_max_entries,
        order,
        max_failures_per_ip,
        max_failures_per_ip_and_name,
        failure_window,
        throttle_max_entries,
        ipv6_prefix,
    })
}
