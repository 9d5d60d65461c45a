//! `[[federation]]`: the workload issuers trusted, and as whom.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{parse_duration, ConfigError, Origins};

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

pub(super) fn parse(
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
