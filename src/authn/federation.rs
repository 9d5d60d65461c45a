//! Workload identity federation: CI jobs log in with the OIDC token their platform gives
//! them (GitHub Actions, GitLab CI, Kubernetes service accounts), so a pipeline holds no
//! registry secret at all.
//!
//! The job sends `docker login -u NAME -p $TOKEN`, where NAME is a `[[federation]]` entry's
//! name. The token is accepted only when all of these hold:
//! - its issuer is one an entry of that name trusts;
//! - its signature verifies with a key from the issuer's JWKS (discovered, cached, fetched
//!   again on an unknown `kid` at most once a second);
//! - its `alg` is on the entry's allowlist (asymmetric only: never `none`, and never HMAC,
//!   which with a public key as the secret is the classic forgery);
//! - `aud` holds the entry's audience, `exp` and `nbf` hold (with 30 s leeway), and `iat` is
//!   at most `max_age` old;
//! - every claim condition of the entry matches.
//!
//! The first matching entry gives the identity: its subject from the template, and its
//! groups. Which check failed is logged; the client only learns that it was refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{AuthError, AuthOutcome, Authenticated, Rejection};
use crate::config::FederationEntry;
use crate::domain::{AuthSource, Identity, PrincipalKind};

const LEEWAY: u64 = 30;
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Federation {
    entries: Arc<Vec<FederationEntry>>,
    issuers: Arc<HashMap<String, Arc<IssuerKeys>>>,
    http: reqwest::Client,
}

/// One issuer's keys, by `kid`.
struct IssuerKeys {
    issuer: String,
    state: Mutex<KeyState>,
}

#[derive(Default)]
struct KeyState {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// When the keys were last asked for, and why that failed if it did: within the
    /// cooldown the answer is the same (an outage stays a 503, never "no such key").
    fetched: Option<(Instant, Option<AuthError>)>,
}

impl Federation {
    pub fn new(entries: Vec<FederationEntry>) -> Federation {
        let mut issuers = HashMap::new();
        for e in &entries {
            issuers.entry(e.issuer.clone()).or_insert_with(|| {
                Arc::new(IssuerKeys {
                    issuer: e.issuer.clone(),
                    state: Mutex::new(KeyState::default()),
                })
            });
        }
        Federation {
            entries: Arc::new(entries),
            issuers: Arc::new(issuers),
            http: reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Whether `username` names a federation entry and `secret` looks like a JWT.
    pub fn handles(&self, username: &str, secret: &SecretString) -> bool {
        self.entries.iter().any(|e| e.name == username)
            && secret.expose_secret().split('.').count() == 3
    }

    pub async fn verify(
        &self,
        username: &str,
        token: &SecretString,
    ) -> Result<AuthOutcome, AuthError> {
        let token = token.expose_secret();
        let refuse = |check: &'static str, detail: String| {
            tracing::info!(entry = username, check, detail = %detail, "federated token refused");
            Ok(AuthOutcome::Rejected(Rejection::Federation(check)))
        };
        // `alg: none` and unknown algorithms already fail here.
        let header = match jsonwebtoken::decode_header(token) {
            Ok(h) => h,
            Err(e) => return refuse("malformed token or algorithm", e.to_string()),
        };
        let Some(claims) = unverified_claims(token) else {
            return refuse("malformed token", "the payload is not a JSON object".into());
        };
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_end_matches('/');
        let candidates: Vec<&FederationEntry> = self
            .entries
            .iter()
            .filter(|e| e.name == username && e.issuer == iss)
            .collect();
        let Some(first) = candidates.first() else {
            return refuse("issuer", format!("{iss:?} is not trusted for {username:?}"));
        };
        if !candidates
            .iter()
            .any(|e| e.algorithms.contains(&header.alg))
        {
            return refuse("algorithm", format!("{:?} is not allowed", header.alg));
        }
        let Some(kid) = header.kid.clone() else {
            return refuse("key id", "the token has no kid".into());
        };
        let keys = self
            .issuers
            .get(&first.issuer)
            .expect("every entry's issuer has keys")
            .clone();
        let Some(key) = self.key(&keys, &kid).await? else {
            return refuse("key id", format!("no key {kid:?} in the issuer's JWKS"));
        };

        let now = crate::store::now();
        let mut last = "claims";
        for entry in candidates {
            if !entry.algorithms.contains(&header.alg) {
                continue;
            }
            let mut v = Validation::new(header.alg);
            // The allowlist was checked above. jsonwebtoken wants every listed algorithm to be
            // of the key's family, so list only the token's own; an HMAC `alg` against an
            // RSA or EC key still fails that family check.
            v.algorithms = vec![header.alg];
            v.leeway = LEEWAY;
            v.validate_nbf = true;
            v.set_issuer(&[entry.issuer.as_str(), &format!("{}/", entry.issuer)]);
            v.set_audience(&[entry.audience.as_str()]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "iat"]);
            let verified =
                match jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &v) {
                    Ok(t) => t.claims,
                    Err(e) => {
                        use jsonwebtoken::errors::ErrorKind as K;
                        let check = match e.kind() {
                            K::InvalidSignature => "signature",
                            K::ExpiredSignature => "expiry (exp)",
                            K::ImmatureSignature => "not before (nbf)",
                            K::InvalidAudience => "audience",
                            K::InvalidIssuer => "issuer",
                            K::InvalidAlgorithm => "algorithm",
                            K::MissingRequiredClaim(_) => "required claim",
                            _ => "token",
                        };
                        // A signature, expiry or shape problem is the same for every entry.
                        if check != "audience" {
                            return refuse(check, e.to_string());
                        }
                        last = check;
                        continue;
                    }
                };
            let iat = verified.get("iat").and_then(Value::as_i64).unwrap_or(0);
            if iat > now + LEEWAY as i64 || now - iat > entry.max_age.as_secs() as i64 {
                return refuse(
                    "issued at (iat)",
                    format!(
                        "issued {}s ago, max_age is {}s",
                        now - iat,
                        entry.max_age.as_secs()
                    ),
                );
            }
            if let Some((claim, pattern)) = entry
                .claims
                .iter()
                .find(|(c, p)| !claim_matches(verified.get(*c), p))
            {
                tracing::debug!(entry = username, claim, pattern, "claim condition not met");
                last = "claims";
                continue;
            }
            let Some(subject) = render(&entry.subject, &verified) else {
                return refuse(
                    "subject",
                    format!(
                        "a claim of the subject template {:?} is missing",
                        entry.subject
                    ),
                );
            };
            let identity = Identity {
                kind: PrincipalKind::Workload,
                name: subject,
                groups: entry.groups.clone(),
                source: AuthSource::Federation,
                limit: None,
            };
            return Ok(AuthOutcome::Authenticated(Authenticated {
                expires_at: verified.get("exp").and_then(Value::as_i64),
                ..Authenticated::new(identity)
            }));
        }
        refuse(
            if last == "audience" {
                "audience"
            } else {
                "claims"
            },
            format!("no {username:?} entry matches the token's {last}"),
        )
    }

    /// The key `kid` of `keys`' issuer: from the cache, or from a fresh JWKS when unknown
    /// (at most once a second). `Err` when the issuer cannot be reached and the key is not
    /// known: a 503, not a 401.
    async fn key(
        &self,
        keys: &IssuerKeys,
        kid: &str,
    ) -> Result<Option<Arc<DecodingKey>>, AuthError> {
        let mut st = keys.state.lock().await;
        if let Some(k) = st.keys.get(kid) {
            return Ok(Some(k.clone()));
        }
        if let Some((at, failed)) = &st.fetched {
            if at.elapsed() < REFETCH_AT_MOST_EVERY {
                return match failed {
                    Some(e) => Err(e.clone()),
                    None => Ok(None),
                };
            }
        }
        let fetched = self.fetch_jwks(&keys.issuer).await;
        st.fetched = Some((Instant::now(), fetched.as_ref().err().cloned()));
        let set = fetched?;
        st.keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|k| (kid, Arc::new(k)))
            })
            .collect();
        tracing::info!(issuer = %keys.issuer, keys = st.keys.len(), "fetched the issuer's signing keys");
        Ok(st.keys.get(kid).cloned())
    }

    async fn fetch_jwks(&self, issuer: &str) -> Result<JwkSet, AuthError> {
        let failed = |what: &str, e: reqwest::Error| {
            AuthError::caused("oidc issuer", format!("{issuer}: {what}"), e)
        };
        let discovery: Value = self
            .http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed("discovery", e))?
            .json()
            .await
            .map_err(|e| failed("discovery document", e))?;
        let uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuthError::new(
                    "oidc issuer",
                    format!("{issuer}: the discovery document has no jwks_uri"),
                )
            })?;
        self.http
            .get(uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed("JWKS", e))?
            .json()
            .await
            .map_err(|e| failed("JWKS document", e))
    }

    /// One readiness probe per trusted issuer: its discovery document and JWKS can be
    /// fetched.
    pub fn probes(&self) -> Vec<std::sync::Arc<dyn crate::probe::Probe>> {
        let mut issuers: Vec<String> = self.issuers.keys().cloned().collect();
        issuers.sort();
        issuers
            .into_iter()
            .map(|issuer| {
                std::sync::Arc::new(IssuerProbe {
                    federation: self.clone(),
                    issuer,
                }) as std::sync::Arc<dyn crate::probe::Probe>
            })
            .collect()
    }
}

impl super::Authenticator for Federation {
    fn name(&self) -> &'static str {
        "federation"
    }

    /// A JWT as the password of a `[[federation]]` entry's name is a workload's.
    fn authenticate<'a>(
        &'a self,
        creds: &'a super::Credentials,
        _service: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<AuthOutcome, AuthError>> {
        Box::pin(async move {
            match creds {
                super::Credentials::Password { username, password }
                    if self.handles(username, password) =>
                {
                    self.verify(username, password).await
                }
                _ => Ok(AuthOutcome::NoMatch),
            }
        })
    }

    fn unguessable(&self, creds: &super::Credentials) -> bool {
        matches!(creds, super::Credentials::Password { username, password } if self.handles(username, password))
    }
}

/// Readiness of one trusted workload issuer.
struct IssuerProbe {
    federation: Federation,
    issuer: String,
}

impl crate::probe::Probe for IssuerProbe {
    fn name(&self) -> String {
        format!("oidc issuer {}", self.issuer)
    }

    fn check(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<String>, crate::probe::ProbeError>> {
        Box::pin(async move {
            self.federation.fetch_jwks(&self.issuer).await?;
            Ok(None)
        })
    }
}

/// The payload, unverified: only to choose the issuer's entries and keys.
fn unverified_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = BASE64URL_NOPAD
        .decode(payload.trim_end_matches('=').as_bytes())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A claim condition: the claim (a string, number or boolean) equals the pattern, where `*`
/// in the pattern matches any run of characters.
fn claim_matches(value: Option<&Value>, pattern: &str) -> bool {
    let text = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => return false,
    };
    glob(pattern.as_bytes(), text.as_bytes())
}

fn glob(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `ci:${repository}` with the claim's value; `None` when a claim is missing.
fn render(template: &str, claims: &serde_json::Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 2..end];
        match claims.get(name)? {
            Value::String(s) => out.push_str(s),
            Value::Number(n) => out.push_str(&n.to_string()),
            _ => return None,
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_conditions_are_exact_or_star_globs() {
        let cases = [
            ("acme/api", "acme/api", true),
            ("acme/api", "acme/apix", false),
            ("acme/*", "acme/api", true),
            ("acme/*", "other/api", false),
            (
                "*/.github/workflows/release.yml@refs/heads/main",
                "acme/api/.github/workflows/release.yml@refs/heads/main",
                true,
            ),
            ("refs/heads/*", "refs/tags/v1", false),
            ("*", "", true),
        ];
        for (pattern, value, want) in cases {
            assert_eq!(
                claim_matches(Some(&json!(value)), pattern),
                want,
                "{pattern} ~ {value}"
            );
        }
        assert!(claim_matches(Some(&json!(42)), "42"));
        assert!(!claim_matches(None, "*"), "a missing claim never matches");
        assert!(!claim_matches(Some(&json!(["a"])), "*"));
    }

    #[test]
    fn subject_templates_take_claim_values() {
        let claims = json!({"repository": "acme/api", "run": 7})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            render("ci:${repository}", &claims).as_deref(),
            Some("ci:acme/api")
        );
        assert_eq!(
            render("${repository}#${run}", &claims).as_deref(),
            Some("acme/api#7")
        );
        assert_eq!(render("ci:${missing}", &claims), None);
        assert_eq!(render("plain", &claims).as_deref(), Some("plain"));
    }

    #[test]
    fn the_payload_is_read_for_routing_only() {
        let payload = BASE64URL_NOPAD.encode(br#"{"iss":"https://x"}"#);
        let claims = unverified_claims(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["iss"], "https://x");
        assert!(unverified_claims("a.b").is_none());
    }
}
