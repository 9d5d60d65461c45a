//! `portcullis doctor --registry URL`: probes a live registry as a client would, compares
//! what it says with portcullis's configuration, and proves it accepts a token, naming the
//! setting at fault and its fix when it does not.
//!
//! What can be seen from outside is little: the `/v2/` challenge (realm, service), the
//! `Date` header, and whether a token is accepted (200) or not (401, the same answer for
//! every reason). So besides a token from the realm, the doctor signs probe tokens itself
//! with the key under test in each form a registry may verify (`x5c`; `kid` in the libtrust
//! form of distribution 2.x; `kid` as the RFC 7638 thumbprint of 3.x): which forms are
//! accepted tells the kid form the registry wants and whether it trusts the key at all. A
//! refused issuer and an untrusted key cannot be told apart from outside; on the registry's
//! host, `--registry-config` reads its config.yml and tells which.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, KidFormat, TokenConfig};
use crate::token::{ActiveKey, KeyRing, KeyState, RingKey, TokenSigner, REGISTRY_LEEWAY};

/// How sure a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One line of the report: what was looked at, and what was found (with the fix).
#[derive(Clone, Debug)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Whether the registry accepted a token signed with the key under test, in the form
    /// portcullis signs them.
    pub accepted: bool,
}

impl Report {
    fn push(&mut self, level: Level, topic: &'static str, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            topic,
            message: message.into(),
        });
    }
}

/// What to probe.
pub struct Options {
    pub registry: String,
    /// Which key to prove: the active one, or the next one before activating it.
    pub key: KeyState,
    /// A CA certificate (PEM) to trust for the registry's TLS, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// The registry's config.yml, when the doctor runs on its host.
    pub registry_config: Option<std::path::PathBuf>,
}

/// The `Bearer` challenge's parameters.
#[derive(Debug, Default, PartialEq, Eq)]
struct Challenge {
    realm: String,
    service: String,
}

pub async fn diagnose(config: &Config, ring: &Arc<KeyRing>, o: &Options) -> Report {
    let mut r = Report::default();
    let base = o.registry.trim_end_matches('/').to_owned();
    let Ok(url) = reqwest::Url::parse(&base) else {
        r.push(
            Level::Error,
            "registry",
            format!("{base:?} is not a URL: give the registry's address, e.g. https://registry.example.com"),
        );
        return r;
    };
    let client = match client(o) {
        Ok(c) => c,
        Err(e) => {
            r.push(Level::Error, "tls", e);
            return r;
        }
    };

    // 1. The challenge, as a client first sees it.
    let v2 = format!("{base}/v2/");
    let resp = match client.get(&v2).send().await {
        Ok(resp) => resp,
        Err(e) => {
            r.push(
                Level::Error,
                "tls",
                connection_problem(&e, &url, &url, Server::Registry),
            );
            return r;
        }
    };
    r.push(
        Level::Ok,
        "registry",
        format!("{v2} answers {}", resp.status().as_u16()),
    );
    let date = resp
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok());
    let challenge_header = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let challenge = match challenge_header.as_deref() {
        None if resp.status().is_success() => {
            r.push(Level::Error, "auth", "the registry lets anyone in: it has no auth section, so it never asks for a token. Fix: add the auth section `portcullis registry-config` prints to its config.yml, and restart it");
            return r;
        }
        None => {
            r.push(Level::Error, "auth", format!("the registry answers {} without a WWW-Authenticate challenge: it is not a registry speaking the token spec, or a proxy in front of it drops the header", resp.status().as_u16()));
            return r;
        }
        Some(h) if h.trim_start().to_ascii_lowercase().starts_with("basic") => {
            r.push(Level::Error, "auth", format!("the registry uses password files (htpasswd: {h}), not token auth. Fix: replace its auth section with the one `portcullis registry-config` prints, and restart it"));
            return r;
        }
        Some(h) => match parse_challenge(h) {
            Some(c) => c,
            None => {
                r.push(Level::Error, "auth", format!("the registry's challenge {h:?} is not a Bearer challenge with a realm: set auth.token as `portcullis registry-config` prints it"));
                return r;
            }
        },
    };
    r.push(
        Level::Ok,
        "challenge",
        format!(
            "Bearer realm={:?} service={:?}",
            challenge.realm, challenge.service
        ),
    );

    // 2. The challenge against our configuration.
    let realm = config.server.realm();
    if challenge.realm != realm {
        r.push(Level::Error, "realm", format!("the registry sends clients to {:?} for tokens, but portcullis's realm is {realm:?} (server.public_url). Fix: set the registry's auth.token.realm to {realm:?}, or server.public_url to the address clients reach portcullis at", challenge.realm));
    }
    let realm_url = reqwest::Url::parse(&challenge.realm).ok();
    if let Some(ru) = &realm_url {
        if url.scheme() == "https" && ru.scheme() == "http" {
            r.push(Level::Error, "realm", format!("the realm {:?} is plain HTTP behind an HTTPS registry: passwords cross the network in clear, and crane refuses it (\"realm scheme http not allowed for a secure registry\"). Fix: serve portcullis over HTTPS and set server.public_url to its https:// address", challenge.realm));
        }
        if let Some(w) = private_realm(ru, &url) {
            r.push(Level::Warning, "realm", w);
        }
    }
    if challenge.service != config.token.service {
        r.push(Level::Error, "service", format!("the registry's auth.token.service is {:?}, portcullis's token.service is {:?}: every token is for another audience. Fix: make them equal (token.service = {:?} in portcullis's configuration, or auth.token.service: {:?} in the registry's)", challenge.service, config.token.service, challenge.service, config.token.service));
    }

    // 3. Clocks: the registry refuses a token before its nbf and after its exp, each with
    // 60 s of leeway.
    if let Some(registry_now) = date {
        let ours = std::time::SystemTime::now();
        let behind = ours
            .duration_since(registry_now)
            .unwrap_or_default()
            .saturating_sub(Duration::from_secs(1));
        let ahead = registry_now
            .duration_since(ours)
            .unwrap_or_default()
            .saturating_sub(Duration::from_secs(1));
        let tolerated_behind = config.token.clock_skew + REGISTRY_LEEWAY;
        if behind > tolerated_behind {
            r.push(Level::Error, "clock", format!("the registry's clock is {} s behind this host's: it sees every token as not yet valid (it tolerates {} s: token.clock_skew + its 60 s leeway). Fix: synchronise both clocks (NTP)", behind.as_secs(), tolerated_behind.as_secs()));
        } else if ahead > config.token.ttl + REGISTRY_LEEWAY {
            r.push(Level::Error, "clock", format!("the registry's clock is {} s ahead of this host's: every token has expired when it arrives (token.ttl is {} s). Fix: synchronise both clocks (NTP)", ahead.as_secs(), config.token.ttl.as_secs()));
        } else if ahead > Duration::from_secs(30) || behind > Duration::from_secs(30) {
            r.push(
                Level::Warning,
                "clock",
                format!(
                    "the clocks differ by {} s: tokens still verify, but synchronise them (NTP)",
                    ahead.max(behind).as_secs()
                ),
            );
        } else {
            r.push(
                Level::Ok,
                "clock",
                "the registry's clock agrees with this host's",
            );
        }
    }

    // 4. A token from the realm, as a client gets it, presented to the registry.
    let mut realm_token = None;
    if let Some(ru) = &realm_url {
        let mut ask = ru.clone();
        ask.query_pairs_mut()
            .append_pair("service", &challenge.service);
        match client.get(ask.clone()).send().await {
            Ok(resp) if resp.status().is_success() => {
                match resp.json::<serde_json::Value>().await {
                    Ok(v) => realm_token = v["token"].as_str().map(str::to_owned),
                    Err(e) => r.push(
                        Level::Error,
                        "realm",
                        format!("{ask} answered without a token: {e}"),
                    ),
                }
            }
            Ok(resp) => r.push(
                Level::Error,
                "realm",
                format!(
                    "{} answers {} to an anonymous token request: is it portcullis?",
                    challenge.realm,
                    resp.status().as_u16()
                ),
            ),
            Err(e) => r.push(
                Level::Error,
                "realm",
                format!(
                    "clients cannot get tokens at the realm {:?}: {}",
                    challenge.realm,
                    connection_problem(&e, ru, &url, Server::Realm)
                ),
            ),
        }
    }
    if let Some(t) = &realm_token {
        if accepted(&client, &v2, t).await {
            r.push(
                Level::Ok,
                "token",
                format!("the registry accepts a token from {}", challenge.realm),
            );
        } else {
            r.push(
                Level::Error,
                "token",
                format!(
                    "the registry refuses the token {} gave (see below)",
                    challenge.realm
                ),
            );
        }
    }

    // 5. Probe tokens signed here with the key under test, in every form.
    let keys = ring.keys();
    let Some(key) = keys.iter().find(|k| k.state == o.key).cloned() else {
        r.push(
            Level::Error,
            "keys",
            format!(
                "there is no {} key (portcullis key list){}",
                o.key.as_str(),
                if o.key == KeyState::Next {
                    ": add one with `portcullis key add`"
                } else {
                    ""
                }
            ),
        );
        return r;
    };
    let probe = |form: Form| {
        let cfg = form.config(&config.token);
        let signer = TokenSigner::new(ActiveKey::new(key.key.clone(), &cfg).slot(), &cfg);
        signer
            .issue("portcullis-doctor", &config.token.service, &[])
            .token
    };
    let configured = if config.token.x5c {
        Form::X5c
    } else {
        match config.token.kid_format {
            KidFormat::Libtrust => Form::Libtrust,
            KidFormat::Thumbprint => Form::Thumbprint,
        }
    };
    let mut verdicts = Vec::new();
    for form in [Form::X5c, Form::Libtrust, Form::Thumbprint] {
        verdicts.push((form, accepted(&client, &v2, &probe(form)).await));
    }
    let ok = |f: Form| verdicts.iter().any(|(g, a)| *g == f && *a);
    let which = format!("{} key {}", o.key.as_str(), key.id());
    if ok(configured) {
        r.accepted = true;
        r.push(
            Level::Ok,
            "key",
            format!(
                "the registry accepts tokens signed with the {which} ({})",
                configured.describe()
            ),
        );
        let others: Vec<&str> = verdicts
            .iter()
            .filter(|(f, a)| *f != configured && *a)
            .map(|(f, _)| f.describe())
            .collect();
        if !others.is_empty() {
            r.push(
                Level::Ok,
                "key",
                format!("it also accepts {}", others.join(" and ")),
            );
        }
    } else if let Some(f) = [Form::Libtrust, Form::Thumbprint, Form::X5c]
        .into_iter()
        .find(|f| ok(*f))
    {
        r.push(Level::Error, "kid", format!("the registry trusts the {which}, but not in the form portcullis signs ({}): it accepts {}. Fix: {}", configured.describe(), f.describe(), f.fix()));
    } else {
        untrusted(&mut r, config, &key, &which, o);
    }
    r
}

/// The forms a registry may verify a token by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    X5c,
    Libtrust,
    Thumbprint,
}

impl Form {
    fn config(self, base: &TokenConfig) -> TokenConfig {
        let mut c = base.clone();
        c.x5c = self == Form::X5c;
        c.kid_format = match self {
            Form::Thumbprint => KidFormat::Thumbprint,
            Form::Libtrust => KidFormat::Libtrust,
            Form::X5c => base.kid_format,
        };
        c
    }

    fn describe(self) -> &'static str {
        match self {
            Form::X5c => "the certificate chain in x5c",
            Form::Libtrust => "kid in the libtrust form (distribution 2.x)",
            Form::Thumbprint => "kid as the RFC 7638 thumbprint (distribution 3.x)",
        }
    }

    fn fix(self) -> &'static str {
        match self {
            Form::X5c => "set token.x5c = true (distribution 3.x with no auth.token.jwks verifies by x5c only)",
            Form::Libtrust => "set token.kid_format = \"libtrust\" (or token.x5c = true, which both versions verify)",
            Form::Thumbprint => "set token.kid_format = \"thumbprint\" (or token.x5c = true, which both versions verify)",
        }
    }
}

/// Every form refused: the issuer or the bundle. Told apart with the registry's config.
fn untrusted(r: &mut Report, config: &Config, key: &RingKey, which: &str, o: &Options) {
    let issuer = &config.token.issuer;
    let Some(path) = &o.registry_config else {
        r.push(Level::Error, "key", format!("the registry refuses every token signed with the {which}: either its auth.token.issuer is not {issuer:?} (token.issuer), or its rootcertbundle does not hold this key. Its log says which: \"token from untrusted issuer\", or \"untrusted key\" / \"certificate signed by unknown authority\". Fix: give it keys.dir/bundle.pem (`portcullis registry-config`) and restart it, or rerun on its host with --registry-config /etc/docker/registry/config.yml"));
        return;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            r.push(Level::Error, "key", format!("{}: {e}", path.display()));
            return;
        }
    };
    let theirs = token_settings(&text);
    let mut found = false;
    match theirs.get("issuer") {
        Some(i) if i != issuer => {
            found = true;
            r.push(Level::Error, "issuer", format!("{}: auth.token.issuer is {i:?}, portcullis's token.issuer is {issuer:?}: every token is from an untrusted issuer. Fix: make them equal, and restart the registry", path.display()));
        }
        _ => {}
    }
    if let Some(bundle) = theirs.get("rootcertbundle") {
        match std::fs::read_to_string(bundle) {
            Ok(pem) => {
                let kids = bundle_kids(&pem);
                if !kids.iter().any(|k| k == key.id()) {
                    found = true;
                    r.push(Level::Error, "key", format!("{bundle} (the registry's rootcertbundle) holds {}, not the {which}. Fix: copy {} there (or point rootcertbundle at it) and restart the registry", if kids.is_empty() { "no certificate".to_owned() } else { format!("kid {}", kids.join(", ")) }, config.keys.dir.join("bundle.pem").display()));
                } else {
                    found = true;
                    r.push(Level::Error, "key", format!("{bundle} holds the {which}, but the running registry refuses it: it reads the bundle only when it starts. Fix: restart the registry"));
                }
            }
            Err(e) => {
                found = true;
                r.push(
                    Level::Error,
                    "key",
                    format!("the registry's rootcertbundle {bundle}: {e}"),
                );
            }
        }
    }
    if !found {
        r.push(Level::Error, "key", format!("the registry refuses every token signed with the {which}, and {} does not say why (REGISTRY_AUTH_TOKEN_* variables override it): read the registry's log", path.display()));
    }
}

/// The `auth.token` settings of a registry's config.yml (the few lines needed; a YAML
/// parser for four scalars would be more than the doctor needs).
fn token_settings(yaml: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let (mut in_auth, mut in_token) = (false, false);
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent == 0 {
            in_auth = t == "auth:";
            in_token = false;
            continue;
        }
        if in_auth && t == "token:" {
            in_token = true;
            continue;
        }
        if in_auth && t.ends_with(':') {
            in_token = false;
            continue;
        }
        if in_token {
            if let Some((k, v)) = t.split_once(':') {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                out.insert(k.trim().to_owned(), v.to_owned());
            }
        }
    }
    out
}

/// The libtrust kids of the certificates in a PEM bundle.
fn bundle_kids(pem: &str) -> Vec<String> {
    crate::token::decode_pem(pem)
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .filter_map(|b| crate::token::cert_spki(&b.der))
        .map(|spki| crate::token::libtrust_key_id(&spki))
        .collect()
}

async fn accepted(client: &reqwest::Client, v2: &str, token: &str) -> bool {
    client
        .get(v2)
        .bearer_auth(token)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

fn client(o: &Options) -> Result<reqwest::Client, String> {
    // Named, so that the probes refused on purpose (the kid forms the registry does not
    // read) are told apart from clients' in the registry's log.
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("portcullis-doctor/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = &o.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| e.to_string())
}

/// Whose server a connection went to: the registry, or portcullis (the realm).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    Registry,
    Realm,
}

impl Server {
    fn whose(self) -> &'static str {
        match self {
            Server::Registry => "the registry's",
            Server::Realm => "portcullis's",
        }
    }

    /// How its certificate is renewed.
    fn renewal(self) -> &'static str {
        match self {
            Server::Registry => "the registry's http.tls.certificate, then restart the registry",
            Server::Realm => {
                "server.tls.cert_file: portcullis reads a renewed pair without a restart"
            }
        }
    }
}

/// What a failed connection to `url` (on `server`) means, with the fix: the TLS problems by
/// name. Clients trust a CA per
/// *registry* (`certs.d/REGISTRY:PORT`), and fetch tokens with that registry's trust, so the
/// directories named are the registry's even when the realm's certificate is the problem.
fn connection_problem(
    e: &reqwest::Error,
    url: &reqwest::Url,
    registry: &reqwest::Url,
    server: Server,
) -> String {
    let whose = server.whose();
    let chain = format!("{e:?}");
    let host = url.host_str().unwrap_or("");
    let registry_host = registry.host_str().unwrap_or("");
    let host_port = match registry.port_or_known_default() {
        Some(p) => format!("{registry_host}:{p}"),
        None => registry_host.to_owned(),
    };
    let where_to_put = format!("put the CA certificate that signed it in /usr/local/share/ca-certificates/ and run update-ca-certificates (this host, crane, containerd), /etc/docker/certs.d/{host_port}/ca.crt (docker) and /etc/containers/certs.d/{host_port}/ca.crt (podman, skopeo); or name it here with --ca-file");
    if chain.contains("UnknownIssuer") || chain.contains("unknown issuer") {
        format!("{url}: the TLS certificate is signed by a CA this host does not trust. Fix: {where_to_put}")
    } else if chain.contains("Expired") || chain.contains("expired") {
        format!(
            "{url}: {whose} TLS certificate has expired ({}). Fix: renew it ({})",
            tls_detail(&chain),
            server.renewal()
        )
    } else if chain.contains("NotValidYet") {
        format!("{url}: {whose} TLS certificate is not valid yet: check this host's clock, or the certificate's notBefore")
    } else if chain.contains("NotValidForName") || chain.contains("not valid for name") {
        format!("{url}: {whose} TLS certificate is not for {host:?} ({}). Fix: use a name the certificate has, or issue one with {host:?} in its subjectAltName", tls_detail(&chain))
    } else if chain.contains("InvalidContentType")
        || chain.contains("CorruptMessage")
        || chain.contains("record overflow")
    {
        format!("{url}: nothing speaks TLS there: use http://")
    } else if e.is_connect() {
        format!(
            "nothing answers at {url} ({}): check the address and port, and that the registry runs",
            innermost(&chain)
        )
    } else if e.is_timeout() {
        format!("{url} did not answer within 10 s")
    } else {
        format!("{url}: {}", innermost(&chain))
    }
}

/// The rustls part of an error chain, for the message.
fn tls_detail(chain: &str) -> String {
    chain
        .split("InvalidCertificate(")
        .nth(1)
        .map(|s| {
            let s: String = s.chars().take(300).collect();
            s.trim_end_matches(')').to_owned()
        })
        .unwrap_or_default()
}

fn innermost(chain: &str) -> String {
    chain
        .rsplit("source: ")
        .next()
        .unwrap_or(chain)
        .chars()
        .take(200)
        .collect()
}

/// A realm whose host is a private, loopback or link-local IP literal that is not the
/// registry's own host and port: crane (go-containerregistry 0.21.4 and later) refuses it.
fn private_realm(realm: &reqwest::Url, registry: &reqwest::Url) -> Option<String> {
    let host = realm.host_str()?;
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    let same = realm.host_str() == registry.host_str()
        && realm.port_or_known_default() == registry.port_or_known_default();
    (private && !same).then(|| format!("the realm names the address {host}, a private or loopback IP that is not the registry's own host and port: docker, skopeo and podman accept it, but crane (go-containerregistry 0.21.4 and later) refuses it (\"realm host is a private or link-local address\"). Fix: set server.public_url to a host name (e.g. http://localhost:PORT or the machine's DNS name)"))
}

/// `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let rest = h.trim_start().strip_prefix("Bearer")?.trim_start();
    let mut c = Challenge::default();
    let mut s = rest;
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let (value, after) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        match key {
            "realm" => c.realm = value.to_owned(),
            "service" => c.service = value.to_owned(),
            _ => {}
        }
        s = after.trim_start_matches(',').trim_start();
    }
    (!c.realm.is_empty()).then_some(c)
}

/// The realm warning `registry-config` prints too.
pub fn realm_warning(config: &Config) -> Option<String> {
    let realm = reqwest::Url::parse(&config.server.realm()).ok()?;
    // The registry's own address is unknown here: any private IP literal is worth a word.
    let nowhere = reqwest::Url::parse("https://registry.invalid/").ok()?;
    private_realm(&realm, &nowhere)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_is_read_whatever_the_order_and_quoting() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://a/token",service="reg",scope="repository:x:pull""#
            ),
            Some(Challenge {
                realm: "http://a/token".into(),
                service: "reg".into()
            })
        );
        assert_eq!(
            parse_challenge(r#"Bearer service="s", realm="https://b/t""#)
                .unwrap()
                .realm,
            "https://b/t"
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), None);
    }

    #[test]
    fn a_private_ip_realm_is_flagged_unless_it_is_the_registrys_own_address() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(private_realm(
            &u("http://127.0.0.1:5001/token"),
            &u("http://127.0.0.1:5000")
        )
        .is_some());
        assert!(
            private_realm(&u("http://10.1.2.3/token"), &u("https://reg.example.com")).is_some()
        );
        assert!(private_realm(
            &u("http://127.0.0.1:5000/token"),
            &u("http://127.0.0.1:5000")
        )
        .is_none());
        assert!(private_realm(
            &u("http://localhost:5001/token"),
            &u("http://127.0.0.1:5000")
        )
        .is_none());
        assert!(
            private_realm(&u("https://8.8.8.8/token"), &u("https://reg.example.com")).is_none()
        );
    }

    #[test]
    fn the_token_settings_of_a_registry_config_are_read() {
        let y = "version: 0.1\nhttp:\n  addr: x\nauth:\n  token:\n    realm: \"http://a/token\"\n    issuer: 'iss'\n    rootcertbundle: /b.pem\nstorage:\n  issuer: no\n";
        let s = token_settings(y);
        assert_eq!(s["issuer"], "iss");
        assert_eq!(s["rootcertbundle"], "/b.pem");
        assert_eq!(s.len(), 3);
    }
}
