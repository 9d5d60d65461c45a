//! The two DER structures the key code needs, through well-kept crates: what a certificate
//! says (`x509-parser`: its SubjectPublicKeyInfo and notAfter), and the canonical
//! SubjectPublicKeyInfo of a key (`spki`), which the libtrust key id is a hash of and which
//! a certificate must carry to match its private key (the classic "token signed by
//! untrusted key").

use spki::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use spki::der::Encode;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// What we need from an X.509 certificate.
pub struct CertInfo {
    pub spki: Vec<u8>,
    /// notAfter as Unix seconds.
    pub not_after: i64,
}

pub fn cert_info(cert: &[u8]) -> Option<CertInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(CertInfo {
        spki: c.tbs_certificate.subject_pki.raw.to_vec(),
        not_after: c.validity().not_after.timestamp(),
    })
}

fn spki(algorithm: ObjectIdentifier, parameters: AnyRef<'_>, key: &[u8]) -> Vec<u8> {
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef {
            oid: algorithm,
            parameters: Some(parameters),
        },
        subject_public_key: BitStringRef::from_bytes(key).expect("a key fits a BIT STRING"),
    }
    .to_der()
    .expect("a SubjectPublicKeyInfo encodes")
}

/// The canonical SPKI Go's `x509.MarshalPKIXPublicKey` produces for a P-256 key:
/// id-ecPublicKey with prime256v1, and the uncompressed point.
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    spki(ID_EC_PUBLIC_KEY, AnyRef::from(&PRIME256V1), point)
}

/// The canonical SPKI of an RSA key: rsaEncryption with NULL parameters and the PKCS#1
/// RSAPublicKey.
pub fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    spki(RSA_ENCRYPTION, AnyRef::NULL, pkcs1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_p256_spki_has_the_fixed_header_go_writes() {
        let point = [4u8; 65];
        let der = p256_spki(&point);
        assert_eq!(
            &der[..26],
            &[
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00
            ]
        );
        assert_eq!(&der[26..], &point);
    }
}
