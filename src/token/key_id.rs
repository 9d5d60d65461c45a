//! The two ways a registry finds our key from a token header's `kid`.
//!
//! distribution 2.x keys its trusted set by the *libtrust key ID* of each bundle
//! certificate's public key; 3.x dropped libtrust and keys it by the RFC 7638 JWK
//! thumbprint instead. Both are computed from the canonical SubjectPublicKeyInfo, never from
//! the certificate bytes (hashing the certificate is the classic bug, distribution#813).

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use ring::digest::{digest, SHA256};
use serde_json::json;

/// The public half of a signing key, as a JWK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicJwk {
    /// P-256, with the 32-byte big-endian coordinates.
    P256 { x: Vec<u8>, y: Vec<u8> },
    /// RSA, with minimal big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicJwk {
    /// From ring's uncompressed P-256 point `04 || x || y`.
    pub fn from_p256_point(point: &[u8]) -> Option<PublicJwk> {
        if point.len() != 65 || point[0] != 4 {
            return None;
        }
        Some(PublicJwk::P256 {
            x: point[1..33].to_vec(),
            y: point[33..].to_vec(),
        })
    }

    /// The JWK as published in a JWKS file (for distribution 3.x `auth.token.jwks`).
    pub fn to_json(&self, kid: &str, alg: &str) -> serde_json::Value {
        match self {
            PublicJwk::P256 { x, y } => json!({
                "kty": "EC", "crv": "P-256", "x": BASE64URL_NOPAD.encode(x), "y": BASE64URL_NOPAD.encode(y),
                "kid": kid, "use": "sig", "alg": alg,
            }),
            PublicJwk::Rsa { n, e } => json!({
                "kty": "RSA", "n": BASE64URL_NOPAD.encode(n), "e": BASE64URL_NOPAD.encode(e),
                "kid": kid, "use": "sig", "alg": alg,
            }),
        }
    }

    /// distribution 3.1 computes EC thumbprints from `big.Int.Bytes()`, which drops leading
    /// zero bytes, so for such a key (about 1 in 128) its kid differs from RFC 7638's.
    pub fn has_leading_zero_coordinate(&self) -> bool {
        match self {
            PublicJwk::P256 { x, y } => x[0] == 0 || y[0] == 0,
            PublicJwk::Rsa { .. } => false,
        }
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
pub fn jwk_thumbprint(jwk: &PublicJwk) -> String {
    let canonical = match jwk {
        PublicJwk::P256 { x, y } => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            BASE64URL_NOPAD.encode(x),
            BASE64URL_NOPAD.encode(y)
        ),
        PublicJwk::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            BASE64URL_NOPAD.encode(e),
            BASE64URL_NOPAD.encode(n)
        ),
    };
    BASE64URL_NOPAD.encode(digest(&SHA256, canonical.as_bytes()).as_ref())
}

/// libtrust: SHA-256 of the DER SPKI, first 240 bits, base32 without padding, in twelve
/// groups of four joined by `:` (docker/libtrust util.go `keyIDEncode`).
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let hash = digest(&SHA256, spki_der);
    let b32 = BASE32_NOPAD.encode(&hash.as_ref()[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::der::p256_spki;

    /// The example key of the token spec's jwt.md.
    fn spec_key() -> PublicJwk {
        PublicJwk::P256 {
            x: BASE64URL_NOPAD
                .decode(b"m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q")
                .unwrap(),
            y: BASE64URL_NOPAD
                .decode(b"dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc")
                .unwrap(),
        }
    }

    #[test]
    fn the_spec_example_key_has_the_spec_libtrust_kid() {
        let PublicJwk::P256 { x, y } = spec_key() else {
            unreachable!()
        };
        let point = [&[4u8][..], &x, &y].concat();
        assert_eq!(
            libtrust_key_id(&p256_spki(&point)),
            "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"
        );
    }

    #[test]
    fn the_spec_example_key_has_the_rfc7638_thumbprint() {
        assert_eq!(
            jwk_thumbprint(&spec_key()),
            "8qjioA3ZA7ti2JIE7c-U8smBFuZolQZvhSHDPU3hhB8"
        );
    }

    #[test]
    fn the_rfc7638_rsa_example_has_its_published_thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = PublicJwk::Rsa {
            n: BASE64URL_NOPAD.decode(n.as_bytes()).unwrap(),
            e: BASE64URL_NOPAD.decode(b"AQAB").unwrap(),
        };
        assert_eq!(
            jwk_thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_jwks_entry_carries_the_kid_and_algorithm() {
        let v = spec_key().to_json("kid-1", "ES256");
        assert_eq!(v["kty"], "EC");
        assert_eq!(v["crv"], "P-256");
        assert_eq!(v["x"], "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q");
        assert_eq!(v["kid"], "kid-1");
        assert_eq!(v["alg"], "ES256");
    }
}
