//! The token signing key and its certificate chain, in `keys.dir`:
//!
//! | file | what | written |
//! |---|---|---|
//! | `signing-key.pem` | PKCS#8 private key, mode 0600 | generated once if absent, **never overwritten** |
//! | `signing-cert.pem` | certificate chain, leaf first (self-signed by default) | generated once if absent |
//! | `bundle.pem` | what the registry's `auth.token.rootcertbundle` must name | rewritten from the chain |
//! | `jwks.json` | for distribution 3.x `auth.token.jwks` | by `portcullis registry-config --jwks` |
//!
//! Loading checks that the certificate's public key *is* the private key's: a mismatch is
//! the most common cause of the registry's "token signed by untrusted key" and is far easier
//! to explain at start-up than in the registry's log.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};

use super::der;
use super::key_id::{jwk_thumbprint, libtrust_key_id, PublicJwk};
use super::pem::{decode_pem, encode_pem};
use crate::config::{Algorithm, KidFormat};

/// Where the key files live.
#[derive(Clone, Debug)]
pub struct KeyFiles {
    pub dir: PathBuf,
    pub key: PathBuf,
    pub cert: PathBuf,
    pub bundle: PathBuf,
    pub jwks: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> KeyFiles {
        KeyFiles {
            dir: dir.to_path_buf(),
            key: dir.join("signing-key.pem"),
            cert: dir.join("signing-cert.pem"),
            bundle: dir.join("bundle.pem"),
            jwks: dir.join("jwks.json"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {problem}\n  fix: {fix}")]
    File {
        path: PathBuf,
        problem: String,
        fix: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn file_err(path: &Path, problem: impl Into<String>, fix: impl Into<String>) -> KeyError {
    KeyError::File {
        path: path.to_path_buf(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

enum Material {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A loaded signing key. Its `Debug` never shows key material.
pub struct SigningKey {
    pub algorithm: Algorithm,
    material: Material,
    rng: SystemRandom,
    pub jwk: PublicJwk,
    /// Canonical DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Certificate chain, leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
    pub libtrust_kid: String,
    pub thumbprint: String,
    /// Whether this call created the key (first start).
    pub generated: bool,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("libtrust_kid", &self.libtrust_kid)
            .field("thumbprint", &self.thumbprint)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Loads the key and certificate, generating whichever is missing (the key only when the
    /// certificate is missing too), and writes `bundle.pem`.
    pub fn load_or_generate(
        files: &KeyFiles,
        algorithm: Algorithm,
    ) -> Result<SigningKey, KeyError> {
        fs::create_dir_all(&files.dir).map_err(io_err(&files.dir))?;
        let mut generated = false;
        if !files.key.exists() {
            if files.cert.exists() {
                return Err(file_err(
                    &files.cert,
                    format!("a certificate exists but its private key {} does not", files.key.display()),
                    "restore the private key, or move the certificate away so that a new key and certificate are generated (then update the registry's bundle)",
                ));
            }
            let pkcs8 = generate_pkcs8(algorithm)?;
            write_new(
                &files.key,
                encode_pem("PRIVATE KEY", &pkcs8).as_bytes(),
                0o600,
            )?;
            generated = true;
        }
        let (material, pkcs8) = read_key(&files.key, algorithm)?;
        if !files.cert.exists() {
            let pem = self_signed_cert(&pkcs8).map_err(|e| {
                file_err(
                    &files.cert,
                    format!("cannot create a certificate: {e}"),
                    "report this as a bug",
                )
            })?;
            write_new(&files.cert, pem.as_bytes(), 0o644)?;
        }
        let mut key = SigningKey::assemble(files, algorithm, material)?;
        key.generated = generated;
        key.write_bundle(files)?;
        Ok(key)
    }

    /// Loads without creating or writing anything (for `portcullis check`).
    pub fn load(files: &KeyFiles, algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        for path in [&files.key, &files.cert] {
            if !path.exists() {
                return Err(file_err(
                    path,
                    "does not exist",
                    "run `portcullis serve` (or `portcullis registry-config`) once to generate the key and certificate, or put yours there",
                ));
            }
        }
        let (material, _) = read_key(&files.key, algorithm)?;
        SigningKey::assemble(files, algorithm, material)
    }

    /// A key from its PEM private key and certificate chain (as kept in the database);
    /// `source` names it in errors.
    pub fn from_pem(
        key_pem: &str,
        chain_pem: &str,
        algorithm: Algorithm,
        source: &str,
    ) -> Result<SigningKey, KeyError> {
        let where_ = Path::new(source);
        let (material, _) = parse_key(key_pem, where_, algorithm)?;
        SigningKey::assemble_chain(chain_pem, where_, where_, algorithm, material)
    }

    /// A new key with a self-signed certificate: the key, its PEM private key, its chain.
    pub fn generate(algorithm: Algorithm) -> Result<(SigningKey, String, String), KeyError> {
        let pkcs8 = generate_pkcs8(algorithm)?;
        let key_pem = encode_pem("PRIVATE KEY", &pkcs8);
        let chain_pem = self_signed_cert(&pkcs8).map_err(|e| {
            file_err(
                Path::new("(new key)"),
                format!("cannot create a certificate: {e}"),
                "report this as a bug",
            )
        })?;
        let mut key = SigningKey::from_pem(&key_pem, &chain_pem, algorithm, "(new key)")?;
        key.generated = true;
        Ok((key, key_pem, chain_pem))
    }

    /// The key files of `files`, as PEM text (to import them).
    pub fn read_pem_files(files: &KeyFiles) -> Result<(String, String), KeyError> {
        let key = fs::read_to_string(&files.key).map_err(io_err(&files.key))?;
        let cert = fs::read_to_string(&files.cert).map_err(io_err(&files.cert))?;
        Ok((key, cert))
    }

    fn assemble(
        files: &KeyFiles,
        algorithm: Algorithm,
        material: Material,
    ) -> Result<SigningKey, KeyError> {
        let text = fs::read_to_string(&files.cert).map_err(io_err(&files.cert))?;
        SigningKey::assemble_chain(&text, &files.cert, &files.key, algorithm, material)
    }

    /// `cert_at` and `key_at` name where the chain and the key came from, in errors.
    fn assemble_chain(
        text: &str,
        cert_at: &Path,
        key_at: &Path,
        algorithm: Algorithm,
        material: Material,
    ) -> Result<SigningKey, KeyError> {
        let (jwk, spki) = match &material {
            Material::Ec(k) => {
                let point = k.public_key().as_ref();
                (
                    PublicJwk::from_p256_point(point)
                        .expect("ring gives an uncompressed P-256 point"),
                    der::p256_spki(point),
                )
            }
            Material::Rsa(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                (
                    PublicJwk::Rsa { n: c.n, e: c.e },
                    der::rsa_spki(k.public().as_ref()),
                )
            }
        };
        let blocks = decode_pem(text).map_err(|e| {
            file_err(
                cert_at,
                e,
                "the file must hold PEM certificates, leaf first",
            )
        })?;
        let chain: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der)
            .collect();
        let leaf = chain.first().ok_or_else(|| {
            file_err(
                cert_at,
                "holds no CERTIFICATE block",
                "put the signing certificate (leaf first) here, or remove the file to generate one",
            )
        })?;
        let info = der::cert_info(leaf).ok_or_else(|| {
            file_err(
                cert_at,
                "the first certificate cannot be parsed",
                "check that it is an X.509 certificate in PEM form",
            )
        })?;
        if info.spki != spki {
            return Err(file_err(
                cert_at,
                format!("the certificate's public key is not the public key of {}", key_at.display()),
                "put the certificate issued for this key here, or remove both files to generate a new pair (then update the registry's bundle); tokens signed with a mismatched pair are rejected by the registry as 'signed by untrusted key'",
            ));
        }
        let not_after = info.not_after;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if not_after < now {
            return Err(file_err(
                cert_at,
                format!("the certificate expired at {}", crate::timestamp::rfc3339(not_after)),
                "remove signing-cert.pem to generate a new self-signed certificate for the same key (the kid stays the same), then update the registry's bundle",
            ));
        }
        Ok(SigningKey {
            algorithm,
            material,
            rng: SystemRandom::new(),
            libtrust_kid: libtrust_key_id(&spki),
            thumbprint: jwk_thumbprint(&jwk),
            jwk,
            spki,
            chain,
            not_after,
            generated: false,
        })
    }

    /// Signs `message` (JWS signing input): fixed-length `R||S` for ES256, PKCS#1 v1.5 for RS256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.material {
            Material::Ec(k) => k
                .sign(&self.rng, message)
                .expect("ECDSA signing fails only when the system RNG does")
                .as_ref()
                .to_vec(),
            Material::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .expect("RSA signing fails only when the system RNG does");
                sig
            }
        }
    }

    pub fn kid(&self, format: KidFormat) -> &str {
        match format {
            KidFormat::Libtrust => &self.libtrust_kid,
            KidFormat::Thumbprint => &self.thumbprint,
        }
    }

    /// The registry's `rootcertbundle`: the whole chain, so the registry trusts the leaf
    /// whether it verifies by `kid` (needs the leaf's key) or by `x5c` (needs the root).
    pub fn bundle_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| encode_pem("CERTIFICATE", c))
            .collect()
    }

    pub fn write_bundle(&self, files: &KeyFiles) -> Result<(), KeyError> {
        write_if_changed(&files.bundle, self.bundle_pem().as_bytes())
    }

    /// A JWKS for distribution 3.x holding the key twice, under its thumbprint and its
    /// libtrust kid, so that tokens verify whichever `token.kid_format` is configured.
    pub fn jwks_json(&self) -> String {
        let alg = self.algorithm.as_str();
        let keys = vec![
            self.jwk.to_json(&self.thumbprint, alg),
            self.jwk.to_json(&self.libtrust_kid, alg),
        ];
        let mut s =
            serde_json::to_string_pretty(&serde_json::json!({ "keys": keys })).expect("JSON");
        s.push('\n');
        s
    }

    pub fn write_jwks(&self, files: &KeyFiles) -> Result<(), KeyError> {
        write_if_changed(&files.jwks, self.jwks_json().as_bytes())
    }
}

fn generate_pkcs8(algorithm: Algorithm) -> Result<Vec<u8>, KeyError> {
    match algorithm {
        Algorithm::ES256 => {
            let rng = SystemRandom::new();
            loop {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                        .expect("P-256 key generation fails only when the system RNG does");
                let kp = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    doc.as_ref(),
                    &rng,
                )
                .expect("ring parses the key it generated");
                let jwk =
                    PublicJwk::from_p256_point(kp.public_key().as_ref()).expect("P-256 point");
                // Skip keys whose thumbprint distribution 3.1 computes wrongly (see PublicJwk).
                if !jwk.has_leading_zero_coordinate() {
                    return Ok(doc.as_ref().to_vec());
                }
            }
        }
        Algorithm::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| {
                file_err(
                    Path::new("(rsa)"),
                    format!("RSA key generation failed: {e}"),
                    "retry",
                )
            })?;
            let doc = key.to_pkcs8_der().map_err(|e| {
                file_err(
                    Path::new("(rsa)"),
                    format!("RSA key encoding failed: {e}"),
                    "retry",
                )
            })?;
            Ok(doc.as_bytes().to_vec())
        }
    }
}

fn read_key(path: &Path, algorithm: Algorithm) -> Result<(Material, Vec<u8>), KeyError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    parse_key(&text, path, algorithm)
}

/// The private key in PEM `text`; `path` names where it came from in errors.
fn parse_key(
    text: &str,
    path: &Path,
    algorithm: Algorithm,
) -> Result<(Material, Vec<u8>), KeyError> {
    let blocks = decode_pem(text)
        .map_err(|e| file_err(path, e, "the file must hold one PEM private key"))?;
    let block = blocks.into_iter().find(|b| b.label.ends_with("PRIVATE KEY")).ok_or_else(|| {
        file_err(path, "holds no PRIVATE KEY block", "put a PKCS#8 PEM private key here, or remove the file (and the certificate) to generate one")
    })?;
    let rng = SystemRandom::new();
    let mismatch = |found: &str| {
        file_err(
            path,
            format!("holds {found} key but token.algorithm is {}", algorithm.as_str()),
            "set token.algorithm to match the key, or move keys.dir's files away to generate a key of the configured kind",
        )
    };
    let material = match (block.label.as_str(), algorithm) {
        ("PRIVATE KEY", Algorithm::ES256) => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &block.der, &rng)
                .map(Material::Ec)
                .map_err(|_| {
                    if RsaKeyPair::from_pkcs8(&block.der).is_ok() {
                        mismatch("an RSA")
                    } else {
                        file_err(path, "is not a P-256 PKCS#8 private key", "convert it: openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out signing-key.pem")
                    }
                })?
        }
        ("PRIVATE KEY", Algorithm::RS256) => RsaKeyPair::from_pkcs8(&block.der).map(Material::Rsa).map_err(|_| {
            if EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &block.der, &rng).is_ok() {
                mismatch("a P-256")
            } else {
                file_err(path, "is not an RSA PKCS#8 private key (2048 bits or more)", "convert it: openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out signing-key.pem")
            }
        })?,
        ("RSA PRIVATE KEY", Algorithm::RS256) => RsaKeyPair::from_der(&block.der)
            .map(Material::Rsa)
            .map_err(|_| file_err(path, "is not a valid RSA private key", "check the file"))?,
        (label, _) => {
            return Err(file_err(
                path,
                format!("holds a {label:?} block, which is not supported"),
                "convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out signing-key.pem",
            ))
        }
    };
    Ok((material, block.der))
}

fn self_signed_cert(pkcs8: &[u8]) -> Result<String, rcgen::Error> {
    let key_pair = rcgen::KeyPair::try_from(pkcs8)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "portcullis token signing key");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "portcullis");
    let now = time::OffsetDateTime::now_utc();
    // Back-dated an hour for registries whose clock is behind; ten years, because the
    // registry needs a *valid* certificate on the x5c path and a self-signed signing cert
    // has nothing to gain from a short life (rotate the key instead).
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    Ok(params.self_signed(&key_pair)?.pem())
}

/// Creates `path` with `mode`; fails if it exists (a key is never overwritten).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(contents).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

pub(super) fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    if fs::read(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    // A temporary file of its own: replicas sharing the directory write the same file at
    // the same moment (the last rename wins; both hold the same keys).
    let dir = path.parent().unwrap_or(Path::new("."));
    // Public material, read by the registry (often another user).
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(contents).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| KeyError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_first_start_generates_a_private_key_readable_only_by_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        let key = SigningKey::load_or_generate(&files, Algorithm::ES256).unwrap();
        assert!(key.generated);
        let mode = fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(fs::read_to_string(&files.bundle)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(key.libtrust_kid.len(), 59);
        assert!(
            !format!("{key:?}").contains("PRIVATE"),
            "Debug redacts the key"
        );
    }

    #[test]
    fn a_second_start_keeps_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        let first = SigningKey::load_or_generate(&files, Algorithm::ES256).unwrap();
        let before = fs::read(&files.key).unwrap();
        let second = SigningKey::load_or_generate(&files, Algorithm::ES256).unwrap();
        assert!(!second.generated);
        assert_eq!(first.libtrust_kid, second.libtrust_kid);
        assert_eq!(before, fs::read(&files.key).unwrap());
    }

    #[test]
    fn a_certificate_for_another_key_is_refused_with_the_fix() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (fa, fb) = (KeyFiles::in_dir(a.path()), KeyFiles::in_dir(b.path()));
        SigningKey::load_or_generate(&fa, Algorithm::ES256).unwrap();
        SigningKey::load_or_generate(&fb, Algorithm::ES256).unwrap();
        fs::copy(&fb.cert, &fa.cert).unwrap();
        let e = SigningKey::load(&fa, Algorithm::ES256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not the public key of"), "{e}");
        assert!(e.contains("fix:"), "{e}");
    }

    #[test]
    fn a_key_of_the_wrong_algorithm_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        SigningKey::load_or_generate(&files, Algorithm::ES256).unwrap();
        let e = SigningKey::load(&files, Algorithm::RS256)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds a P-256 key but token.algorithm is RS256"),
            "{e}"
        );
    }

    #[test]
    fn a_lone_certificate_is_not_replaced_by_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        fs::write(&files.cert, "x").unwrap();
        let e = SigningKey::load_or_generate(&files, Algorithm::ES256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("its private key"), "{e}");
        assert!(!files.key.exists());
    }

    #[test]
    fn rsa_keys_are_generated_and_sign_with_pkcs1() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::in_dir(dir.path());
        let key = SigningKey::load_or_generate(&files, Algorithm::RS256).unwrap();
        assert_eq!(key.sign(b"x").len(), 256);
        let PublicJwk::Rsa { n, e } = &key.jwk else {
            panic!("RSA jwk")
        };
        let public = signature::RsaPublicKeyComponents { n, e };
        public
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                b"x",
                &key.sign(b"x"),
            )
            .unwrap();
    }

    #[test]
    fn the_jwks_lists_the_key_under_both_kids() {
        let dir = tempfile::tempdir().unwrap();
        let key =
            SigningKey::load_or_generate(&KeyFiles::in_dir(dir.path()), Algorithm::ES256).unwrap();
        let v: serde_json::Value = serde_json::from_str(&key.jwks_json()).unwrap();
        let kids: Vec<&str> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [key.thumbprint.as_str(), key.libtrust_kid.as_str()]);
    }
}
