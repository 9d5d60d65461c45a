//! `[token]`: what the issued tokens say and how they are signed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

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

pub(super) fn parse(raw: &RawToken, o: &Origins) -> Result<TokenConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let duration = |key: &str, value: &str| o.duration(key, value);
    let ttl = duration("token.ttl", &raw.ttl)?;
    if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(24 * 3600) {
        return Err(err(
            "token.ttl",
            format!("{} is out of range", raw.ttl),
            "use between 60s and 24h: clients treat anything under 60 s as 60 s (token spec), and a bearer token cannot be revoked before it expires",
        ));
    }
    let clock_skew = duration("token.clock_skew", &raw.clock_skew)?;
    if clock_skew > Duration::from_secs(300) {
        return Err(err(
            "token.clock_skew",
            format!("{} is more than 5m", raw.clock_skew),
            "synchronise the clocks (NTP) instead; 10s is usual",
        ));
    }
    let refresh_ttl = duration("token.refresh_ttl", &raw.refresh_ttl)?;
    if refresh_ttl > Duration::from_secs(3650 * 86400) {
        return Err(err(
            "token.refresh_ttl",
            format!("{} is more than 3650d", raw.refresh_ttl),
            "90d is usual: a refresh token is a long-lived credential",
        ));
    }
    let refresh_tokens_per_subject = match raw.refresh_tokens_per_subject {
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
            format!("{} is shorter than token.ttl", raw.refresh_ttl),
            "refresh tokens (docker's identity token) should outlive access tokens; 90d is usual",
        ));
    }
    let algorithm = match raw.algorithm.to_ascii_uppercase().as_str() {
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
    let kid_format = match raw.kid_format.to_ascii_lowercase().as_str() {
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
        ("token.service", &raw.service),
        ("token.issuer", &raw.issuer),
    ] {
        if value.trim().is_empty() || value.len() > 255 {
            return Err(err(
                key,
                "must be a non-empty string of at most 255 bytes".into(),
                "it must equal the registry's auth.token setting of the same name (`portcullis registry-config` prints it)",
            ));
        }
    }

    Ok(TokenConfig {
        service: raw.service.clone(),
        issuer: raw.issuer.clone(),
        ttl,
        algorithm,
        kid_format,
        clock_skew,
        refresh_ttl,
        x5c: raw.x5c,
        refresh_tokens_per_subject,
    })
}
