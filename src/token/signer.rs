//! Signs registry tokens. The JOSE header never changes for a key, so it is encoded once;
//! a token costs its claims written into the token's own buffer, one base64 encoding and one
//! signature.
//!
//! The `jti` comes from a user-space CSPRNG (`rand`'s thread-local ChaCha, seeded and
//! periodically reseeded from the operating system): 128 random bits per token without a
//! system call for them. (ring's ECDSA nonce still comes from the system's generator: ring
//! accepts no other.)

use std::sync::Arc;
use std::time::Duration;

use data_encoding::{BASE64, BASE64URL_NOPAD};
use rand::RngCore;
use serde_json::json;

use super::claims::{Access, Claims};
use super::signing_key::SigningKey;
use crate::config::TokenConfig;

/// A freshly signed token and what the response and the audit log need of it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_in: u64,
}

/// The key that signs, with its header encoded once.
pub struct ActiveKey {
    pub(super) key: Arc<SigningKey>,
    /// `base64url(header) + "."`.
    header_prefix: String,
}

/// Where the signer finds the active key: swapped whole by the key ring when another key is
/// activated, so a token is signed wholly with one key and its header, never a mix.
pub type KeySlot = Arc<arc_swap::ArcSwap<ActiveKey>>;

pub struct TokenSigner {
    slot: KeySlot,
    issuer: String,
    ttl: Duration,
    clock_skew: Duration,
}

impl ActiveKey {
    pub fn new(key: Arc<SigningKey>, config: &TokenConfig) -> ActiveKey {
        let mut header = json!({
            "alg": key.algorithm.as_str(),
            "typ": "JWT",
            "kid": key.kid(config.kid_format),
        });
        // x5c: both distribution 2.x and 3.x try it before `kid`, so a token verifies
        // whichever kid format the registry expects as long as it trusts the bundle. The
        // price is a certificate chain verification in the registry on every request.
        if config.x5c {
            header["x5c"] = json!(key
                .chain
                .iter()
                .map(|c| BASE64.encode(c))
                .collect::<Vec<_>>());
        }
        let header_prefix = format!("{}.", BASE64URL_NOPAD.encode(header.to_string().as_bytes()));
        ActiveKey { key, header_prefix }
    }

    /// A slot holding this key.
    pub fn slot(self) -> KeySlot {
        Arc::new(arc_swap::ArcSwap::from_pointee(self))
    }
}

impl TokenSigner {
    pub fn new(slot: KeySlot, config: &TokenConfig) -> TokenSigner {
        TokenSigner {
            slot,
            issuer: config.issuer.clone(),
            ttl: config.ttl,
            clock_skew: config.clock_skew,
        }
    }

    /// The key signing now.
    pub fn key(&self) -> Arc<SigningKey> {
        self.slot.load().key.clone()
    }

    pub fn issue(&self, subject: &str, audience: &str, access: &[Access<'_>]) -> IssuedToken {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let jti = BASE64URL_NOPAD.encode(&id);
        let mut claims = String::with_capacity(256);
        Claims {
            iss: &self.issuer,
            sub: subject,
            aud: audience,
            exp: now + self.ttl.as_secs() as i64,
            nbf: now - self.clock_skew.as_secs() as i64,
            iat: now,
            jti: &jti,
            access,
        }
        .write_json(&mut claims);
        let active = self.slot.load();
        let mut token =
            String::with_capacity(active.header_prefix.len() + claims.len() * 4 / 3 + 100);
        token.push_str(&active.header_prefix);
        BASE64URL_NOPAD.encode_append(claims.as_bytes(), &mut token);
        let signature = active.key.sign(token.as_bytes());
        token.push('.');
        BASE64URL_NOPAD.encode_append(&signature, &mut token);
        IssuedToken {
            token,
            jti,
            issued_at: now,
            expires_in: self.ttl.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, KidFormat};
    use crate::domain::Scope;
    use crate::token::{KeyFiles, PublicJwk};

    fn config(alg: Algorithm, kid: KidFormat, x5c: bool) -> TokenConfig {
        TokenConfig {
            service: "svc".into(),
            issuer: "portcullis-test".into(),
            ttl: Duration::from_secs(300),
            algorithm: alg,
            kid_format: kid,
            clock_skew: Duration::from_secs(10),
            refresh_ttl: Duration::from_secs(3600),
            x5c,
            refresh_tokens_per_subject: 100,
        }
    }

    fn signer(dir: &std::path::Path, alg: Algorithm, kid: KidFormat) -> TokenSigner {
        let key = SigningKey::load_or_generate(&KeyFiles::in_dir(dir), alg).unwrap();
        let c = config(alg, kid, true);
        TokenSigner::new(ActiveKey::new(Arc::new(key), &c).slot(), &c)
    }

    #[test]
    fn x5c_can_be_left_out_of_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let key =
            SigningKey::load_or_generate(&KeyFiles::in_dir(dir.path()), Algorithm::ES256).unwrap();
        let c = config(Algorithm::ES256, KidFormat::Libtrust, false);
        let s = TokenSigner::new(ActiveKey::new(Arc::new(key), &c).slot(), &c);
        let header = jsonwebtoken::decode_header(&s.issue("a", "svc", &[]).token).unwrap();
        assert!(header.x5c.is_none());
        assert_eq!(header.kid.as_deref(), Some(s.key().libtrust_kid.as_str()));
    }

    fn decoding_key(s: &TokenSigner) -> jsonwebtoken::DecodingKey {
        match &s.key().jwk {
            PublicJwk::P256 { x, y } => jsonwebtoken::DecodingKey::from_ec_components(
                &BASE64URL_NOPAD.encode(x),
                &BASE64URL_NOPAD.encode(y),
            )
            .unwrap(),
            PublicJwk::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
        }
    }

    #[test]
    fn an_es256_token_verifies_and_carries_every_claim_the_registry_checks() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path(), Algorithm::ES256, KidFormat::Libtrust);
        let scope = Scope::parse("repository(plugin):team/app:pull,push").unwrap();
        let access = [Access::from(&scope)];
        let t = s.issue("alice", "registry.example", &access);

        let header = jsonwebtoken::decode_header(&t.token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(s.key().libtrust_kid.as_str()));
        assert_eq!(header.x5c.as_ref().map(Vec::len), Some(1));

        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["registry.example"]);
        v.set_issuer(&["portcullis-test"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&t.token, &decoding_key(&s), &v)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "alice");
        assert_eq!(
            claims["aud"], "registry.example",
            "aud is a string, not an array"
        );
        assert_eq!(claims["jti"], t.jti.as_str());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            300
        );
        assert_eq!(
            claims["iat"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
            10
        );
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "class": "plugin", "name": "team/app", "actions": ["pull", "push"]}])
        );
    }

    #[test]
    fn a_login_token_has_an_empty_access_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path(), Algorithm::ES256, KidFormat::Thumbprint);
        let t = s.issue("", "svc", &[]);
        let payload = t.token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap();
        assert_eq!(claims["access"], json!([]));
        assert_eq!(claims["sub"], "");
        let header = jsonwebtoken::decode_header(&t.token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(s.key().thumbprint.as_str()));
    }

    #[test]
    fn every_token_has_a_fresh_jti() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path(), Algorithm::ES256, KidFormat::Libtrust);
        let ids: std::collections::HashSet<String> =
            (0..100).map(|_| s.issue("a", "s", &[]).jti).collect();
        assert_eq!(ids.len(), 100);
    }

    #[test]
    fn an_rs256_token_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path(), Algorithm::RS256, KidFormat::Libtrust);
        let t = s.issue("bob", "svc", &[]);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["svc"]);
        jsonwebtoken::decode::<serde_json::Value>(&t.token, &decoding_key(&s), &v).unwrap();
    }
}
