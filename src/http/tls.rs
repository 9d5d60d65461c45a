//! HTTPS: the server's certificate, renewed in place, and client certificates as a way to
//! log in.
//!
//! The pair is served through a [`ResolvesServerCert`] that hands out whatever pair is
//! current: a renewal (cert-manager's Secret update, an ACME client's new files, SIGHUP)
//! swaps it for the next handshake while open connections keep theirs, so nothing is
//! dropped and nothing restarts. A renewal that is broken (unreadable, expired, the key of
//! another certificate) is refused and the previous pair keeps serving; the log says why.
//! At start-up the same checks stop the server instead.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Extensions;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use crate::config::{CertificateName, ClientPrincipal, TlsConfig};

/// How long file events are let settle before the pair is read: a renewal writes the
/// certificate and the key one after the other.
const SETTLE: Duration = Duration::from_millis(500);
/// How often a refused renewal is tried again.
const RETRY_REFUSED: Duration = Duration::from_secs(60);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, read and checked.
struct Pair {
    key: Arc<CertifiedKey>,
    /// The leaf's notAfter (Unix seconds).
    not_after: i64,
    /// A digest of what the files held, to tell a renewal from an event that changed
    /// nothing (not the key's bytes themselves, kept no longer than they are needed).
    digest: [u8; 32],
}

/// Reads and checks the pair: the chain parses, the key is one rustls can sign with and
/// belongs to the leaf, and the leaf is valid now.
fn load_pair(cert_file: &Path, key_file: &Path, now: i64) -> Result<Pair, String> {
    let read = |p: &Path, what: &str| {
        std::fs::read(p).map_err(|e| format!("cannot read the {what} {}: {e}", p.display()))
    };
    let cert_bytes = read(cert_file, "certificate file")?;
    let key_bytes = read(key_file, "key file")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "{} is not a PEM certificate chain: {e}",
                cert_file.display()
            )
        })?;
    let Some(leaf) = chain.first() else {
        return Err(format!(
            "{} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks, the server's first)",
            cert_file.display()
        ));
    };
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| {
        format!(
            "the first certificate in {} cannot be parsed: {e}",
            cert_file.display()
        )
    })?;
    let validity = parsed.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let subject = parsed.subject().to_string();
    if not_after <= now {
        return Err(format!(
            "the certificate in {} ({subject}) expired at {}",
            cert_file.display(),
            validity.not_after
        ));
    }
    if not_before > now {
        return Err(format!(
            "the certificate in {} ({subject}) is not valid before {}: check this machine's clock",
            cert_file.display(),
            validity.not_before
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        format!(
            "{} is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key_file.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "the key in {} is not the key of the certificate in {} ({subject}): give the key that was issued with this certificate",
            key_file.display(),
            cert_file.display()
        ),
        e => format!("the key in {} cannot be used: {e}", key_file.display()),
    })?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(&cert_bytes);
    digest.update(&key_bytes);
    let mut d = [0u8; 32];
    d.copy_from_slice(digest.finish().as_ref());
    Ok(Pair {
        key: Arc::new(certified),
        not_after,
        digest: d,
    })
}

/// The server's certificate, swapped whole when it is renewed.
pub struct ServerCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The digest of the files in use; its lock also keeps reloads one at a time.
    digest: Mutex<[u8; 32]>,
    not_after: AtomicI64,
    last_reload_ok: AtomicBool,
}

/// By hand: rustls asks for `Debug`, and nothing of the key is printed.
impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

impl ServerCertificate {
    /// Loads the pair, or says what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ServerCertificate, String> {
        let pair = load_pair(cert_file, key_file, crate::store::now())?;
        Ok(ServerCertificate {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: ArcSwap::new(pair.key),
            digest: Mutex::new(pair.digest),
            not_after: AtomicI64::new(pair.not_after),
            last_reload_ok: AtomicBool::new(true),
        })
    }

    /// The leaf certificate's notAfter, Unix seconds (for the expiry metric).
    pub fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    /// Whether the last renewal read was used (false: the previous pair still serves).
    pub fn last_reload_ok(&self) -> bool {
        self.last_reload_ok.load(Ordering::Relaxed)
    }

    /// Reads the files again and serves them from the next handshake on, if they changed
    /// and are sound; otherwise keeps the pair in use and logs why.
    pub fn reload(&self, why: &str) {
        // One reload at a time: one that read older files must not finish last.
        let mut digest = self.digest.lock().unwrap_or_else(|e| e.into_inner());
        match load_pair(&self.cert_file, &self.key_file, crate::store::now()) {
            Ok(pair) => {
                self.last_reload_ok.store(true, Ordering::Relaxed);
                if *digest == pair.digest {
                    return;
                }
                *digest = pair.digest;
                self.current.store(pair.key);
                self.not_after.store(pair.not_after, Ordering::Relaxed);
                tracing::info!(
                    cert_file = %self.cert_file.display(),
                    reason = why,
                    expires = pair.not_after,
                    "TLS certificate renewed: new connections get the new one"
                );
            }
            Err(problem) => {
                self.last_reload_ok.store(false, Ordering::Relaxed);
                tracing::error!(
                    reason = why,
                    problem = %problem,
                    "the renewed TLS certificate cannot be used: the previous one keeps serving until this is fixed"
                );
            }
        }
    }

    /// Reloads on SIGHUP and when a file in the certificate's or key's directory changes
    /// (Kubernetes Secret volumes swap a symbolic link: the directory sees it), and every
    /// minute while the last renewal was refused (a certificate not valid yet, say, becomes
    /// usable without another event).
    pub fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETRY_REFUSED);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(c) = weak.upgrade() else { return };
                if !c.last_reload_ok() {
                    c.reload("retry");
                }
            }
        });
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                let Some(c) = weak.upgrade() else { return };
                c.reload("SIGHUP");
            }
        });

        let mut dirs: Vec<PathBuf> = [&self.cert_file, &self.key_file]
            .iter()
            .map(|f| match f.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        dirs.dedup();
        crate::dir_watch::watch(
            self,
            &dirs,
            SETTLE,
            "TLS certificate's directory",
            "send SIGHUP after renewing",
            |c| Box::pin(async move { c.reload("file change") }),
        );
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Whom the client certificates name: the configured names, matched against a verified
/// leaf's subject alternative names and common name.
#[derive(Debug)]
pub struct ClientCertificates {
    identities: Vec<(CertificateName, ClientPrincipal)>,
}

/// What a connection's verified client certificate logs in as, kept in the connection's
/// data for every request on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificateLogin(pub ClientPrincipal);

impl ClientCertificates {
    /// The principal the names in `leaf` map to: its subject alternative names, or, only for
    /// a certificate without any, its one common name (a CA that checks SANs may let a
    /// requester choose the CN). A certificate whose names map to two principals, or that
    /// is not valid now, names no one. (A resumed TLS session presents the certificate
    /// again without the handshake checking it: its dates are checked here.)
    pub fn identify(&self, leaf: &[u8]) -> Option<ClientPrincipal> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        let now = crate::store::now();
        let validity = cert.validity();
        if validity.not_after.timestamp() <= now || validity.not_before.timestamp() > now {
            return None;
        }
        let mut names = Vec::new();
        match cert.subject_alternative_name() {
            Ok(Some(san)) => {
                for n in &san.value.general_names {
                    match n {
                        GeneralName::DNSName(d) => {
                            names.push(CertificateName::Dns(d.to_ascii_lowercase()))
                        }
                        GeneralName::URI(u) => names.push(CertificateName::Uri((*u).to_owned())),
                        GeneralName::RFC822Name(e) => {
                            names.push(CertificateName::Email(e.to_ascii_lowercase()))
                        }
                        _ => {}
                    }
                }
            }
            Ok(None) => {
                let cns: Vec<_> = cert.subject().iter_common_name().collect();
                if let [cn] = cns[..] {
                    names.push(CertificateName::CommonName(cn.as_str().ok()?.to_owned()));
                }
            }
            Err(_) => return None,
        }
        let mut found: Option<&ClientPrincipal> = None;
        for (name, who) in &self.identities {
            if names.contains(name) {
                match found {
                    Some(f) if f != who => return None,
                    _ => found = Some(who),
                }
            }
        }
        found.cloned()
    }

    /// For `HttpServer::on_connect`: a TLS connection whose client sent a certificate (the
    /// handshake already verified it against the CA) that maps to someone is marked with
    /// [`ClientCertificateLogin`].
    pub fn on_connect(&self, conn: &dyn Any, data: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let Some(tls) = conn.downcast_ref::<Tls>() else {
            return;
        };
        let (_, session) = tls.get_ref();
        let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) else {
            return;
        };
        match self.identify(leaf) {
            Some(who) => {
                data.insert(ClientCertificateLogin(who));
            }
            None => tracing::debug!(
                "a client certificate signed by the client CA names no one in server.tls.client_identities: its connection is anonymous"
            ),
        }
    }
}

/// What serving HTTPS takes: rustls's configuration, the certificate it serves (renewed in
/// place), and whom client certificates name (when a client CA is configured).
pub type Https = (
    rustls::ServerConfig,
    Arc<ServerCertificate>,
    Option<Arc<ClientCertificates>>,
);

/// The rustls configuration for `tls`: TLS 1.2 and 1.3 (rustls has nothing older), HTTP/1.1,
/// the pair through a [`ServerCertificate`], and client certificates asked for (never
/// required) when a client CA is configured.
pub fn server_config(tls: &TlsConfig) -> Result<Https, String> {
    let cert = Arc::new(ServerCertificate::load(&tls.cert_file, &tls.key_file)?);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let (builder, clients) = match &tls.client {
        None => (builder.with_no_client_auth(), None),
        Some(client) => {
            let mut roots = rustls::RootCertStore::empty();
            let bytes = std::fs::read(&client.ca_file).map_err(|e| {
                format!(
                    "cannot read server.tls.client_ca_file {}: {e}",
                    client.ca_file.display()
                )
            })?;
            for c in CertificateDer::pem_slice_iter(&bytes) {
                let c = c.map_err(|e| {
                    format!(
                        "{} is not a PEM certificate file: {e}",
                        client.ca_file.display()
                    )
                })?;
                roots.add(c).map_err(|e| {
                    format!(
                        "a certificate in {} is not a usable CA: {e}",
                        client.ca_file.display()
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "server.tls.client_ca_file {} holds no certificate",
                    client.ca_file.display()
                ));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("server.tls.client_ca_file: {e}"))?;
            (
                builder.with_client_cert_verifier(verifier),
                Some(Arc::new(ClientCertificates {
                    identities: client.identities.clone(),
                })),
            )
        }
    };
    let mut config = builder.with_cert_resolver(cert.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, cert, clients))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    /// A self-signed pair for `name`, valid from `from` to `until` (Unix seconds).
    fn pair(name: &str, from: i64, until: i64) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(until).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn now() -> i64 {
        crate::store::now()
    }

    #[test]
    fn a_sound_pair_loads_and_its_expiry_is_known() {
        let f = Files::new();
        let (c, k) = pair("localhost", now() - 60, now() + 86400);
        let cert = ServerCertificate::load(&f.write("c.pem", &c), &f.write("k.pem", &k)).unwrap();
        assert!((cert.not_after() - (now() + 86400)).abs() <= 1);
    }

    #[test]
    fn an_expired_a_mismatched_or_an_empty_pair_is_refused_naming_the_file() {
        let f = Files::new();
        let (expired, expired_key) = pair("localhost", now() - 86400, now() - 60);
        let e =
            ServerCertificate::load(&f.write("c.pem", &expired), &f.write("k.pem", &expired_key))
                .unwrap_err();
        assert!(e.contains("c.pem") && e.contains("expired at"), "{e}");

        let (c, _) = pair("localhost", now() - 60, now() + 86400);
        let (_, other_key) = pair("localhost", now() - 60, now() + 86400);
        let e = ServerCertificate::load(&f.write("c2.pem", &c), &f.write("k2.pem", &other_key))
            .unwrap_err();
        assert!(
            e.contains("k2.pem") && e.contains("is not the key of the certificate"),
            "{e}"
        );

        let e = ServerCertificate::load(
            &f.write("c3.pem", "nothing"),
            &f.write("k3.pem", &other_key),
        )
        .unwrap_err();
        assert!(e.contains("c3.pem") && e.contains("no certificate"), "{e}");

        let e = ServerCertificate::load(&f.write("c4.pem", &c), &f.write("k4.pem", "nothing"))
            .unwrap_err();
        assert!(
            e.contains("k4.pem") && e.contains("not a PEM private key"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_renewal_keeps_the_previous_pair_and_a_sound_one_replaces_it() {
        let f = Files::new();
        let (c, k) = pair("localhost", now() - 60, now() + 86400);
        let (cf, kf) = (f.write("c.pem", &c), f.write("k.pem", &k));
        let cert = ServerCertificate::load(&cf, &kf).unwrap();
        let first = cert.current.load_full();

        // A renewal that wrote the certificate but not yet its key.
        let (c2, k2) = pair("localhost", now() - 60, now() + 2 * 86400);
        f.write("c.pem", &c2);
        cert.reload("test");
        assert!(!cert.last_reload_ok());
        assert!(
            Arc::ptr_eq(&first, &cert.current.load_full()),
            "still the first pair"
        );

        f.write("k.pem", &k2);
        cert.reload("test");
        assert!(cert.last_reload_ok());
        assert!(
            !Arc::ptr_eq(&first, &cert.current.load_full()),
            "the renewed pair"
        );
        assert!((cert.not_after() - (now() + 2 * 86400)).abs() <= 1);
    }

    #[test]
    fn a_client_certificate_maps_by_its_sans_or_without_any_by_its_one_common_name() {
        use crate::domain::PrincipalKind;
        let robot = ClientPrincipal::new(PrincipalKind::Robot, "ci");
        let user = ClientPrincipal::new(PrincipalKind::User, "alice");
        let clients = ClientCertificates {
            identities: vec![
                (CertificateName::Dns("ci.example.com".into()), robot.clone()),
                (
                    CertificateName::Dns("both.example.com".into()),
                    robot.clone(),
                ),
                (
                    CertificateName::Email("alice@example.com".into()),
                    user.clone(),
                ),
                (CertificateName::CommonName("alice".into()), user.clone()),
            ],
        };
        let der = |sans: Vec<&str>, cn: &str, valid_days: (i64, i64)| {
            let mut p = rcgen::CertificateParams::new(
                sans.into_iter().map(String::from).collect::<Vec<_>>(),
            )
            .unwrap();
            p.distinguished_name
                .push(rcgen::DnType::CommonName, cn.to_string());
            let now = time::OffsetDateTime::now_utc();
            p.not_before = now + time::Duration::days(valid_days.0);
            p.not_after = now + time::Duration::days(valid_days.1);
            let key = rcgen::KeyPair::generate().unwrap();
            p.self_signed(&key).unwrap().der().to_vec()
        };
        let now = (-1, 30);
        assert_eq!(
            clients.identify(&der(vec!["CI.example.com"], "x", now)),
            Some(robot.clone())
        );
        // The common name counts only in a certificate without SANs.
        assert_eq!(
            clients.identify(&der(vec![], "alice", now)),
            Some(user.clone())
        );
        assert_eq!(
            clients.identify(&der(vec!["other.example.com"], "alice", now)),
            None,
            "a CN beside SANs names no one"
        );
        // Names that map to two principals: no one.
        let mut p = rcgen::CertificateParams::new(vec!["ci.example.com".to_string()]).unwrap();
        p.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "alice@example.com".try_into().unwrap(),
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let two = p.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(clients.identify(&two), None);
        // Two names of the same robot: the robot.
        assert_eq!(
            clients.identify(&der(vec!["ci.example.com", "both.example.com"], "x", now)),
            Some(robot)
        );
        // Expired (a resumed session presents it again): no one.
        assert_eq!(
            clients.identify(&der(vec!["ci.example.com"], "x", (-30, -1))),
            None
        );
        assert_eq!(clients.identify(b"not a certificate"), None);
    }
}
