//! `portcullis doctor --registry URL` against Debian's real registry, healthy and
//! misconfigured in each way the doctor names: it must say which setting and the fix, and
//! exit 0 only when the registry accepted a token.

mod support;

use support::{CmdOutput, Portcullis, Registry, Stack};

fn doctor(p: &Portcullis, registry: &str, more: &[&str]) -> CmdOutput {
    let mut args = vec!["doctor", "--registry", registry];
    args.extend_from_slice(more);
    p.cli(&args, None)
}

/// The registry's auth section as portcullis prints it, with `from` replaced by `to`.
fn auth_with(p: &Portcullis, from: &str, to: &str) -> String {
    let yaml = p.registry_config();
    assert!(yaml.contains(from), "{yaml}");
    yaml.replace(from, to)
}

fn started() -> Portcullis {
    Portcullis::start(&Portcullis::fixture_policies(), &[])
}

#[test]
fn a_healthy_registry_accepts_the_probe_token_and_the_doctor_exits_0() {
    let s = Stack::start(&[], &[]);
    let out = doctor(&s.portcullis, &s.registry.url(), &[]);
    out.assert_success("doctor on a healthy registry");
    for line in [
        "ok       challenge",
        "ok       clock",
        "ok       token      the registry accepts a token from",
        "ok       key        the registry accepts tokens signed with the active key",
        "accepts portcullis's tokens",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("error"), "{}", out.stdout);
}

#[test]
fn a_registry_using_htpasswd_or_no_auth_at_all_is_named_as_such() {
    let p = started();
    let reg = Registry::start_htpasswd(&[("someone", "some-password-1")]);
    let out = doctor(&p, &reg.url(), &[]);
    out.assert_failure("doctor on an htpasswd registry");
    assert!(
        out.stdout.contains("uses password files (htpasswd"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("portcullis registry-config"),
        "{}",
        out.stdout
    );

    let open = Registry::start_no_auth();
    let out = doctor(&p, &open.url(), &[]);
    out.assert_failure("doctor on a registry without auth");
    assert!(out.stdout.contains("lets anyone in"), "{}", out.stdout);
}

#[test]
fn a_realm_pointing_elsewhere_is_named_with_both_addresses() {
    let p = started();
    // Port 9 (discard): nothing answers there.
    let ours = format!("{}/token", p.public_url());
    let reg = Registry::start(&auth_with(&p, &ours, "http://localhost:9/token"));
    let out = doctor(&p, &reg.url(), &[]);
    out.assert_failure("doctor with a wrong realm");
    assert!(
        out.stdout.contains("error    realm")
            && out.stdout.contains("auth.token.realm")
            && out
                .stdout
                .contains("clients cannot get tokens at the realm"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_service_that_differs_is_named_with_both_values_and_the_fix() {
    let p = started();
    let reg = Registry::start(&auth_with(
        &p,
        "service: \"portcullis\"",
        "service: \"registry\"",
    ));
    let out = doctor(&p, &reg.url(), &[]);
    out.assert_failure("doctor with another service");
    assert!(
        out.stdout.contains(r#"the registry's auth.token.service is "registry", portcullis's token.service is "portcullis""#),
        "{}",
        out.stdout
    );
}

#[test]
fn a_wrong_issuer_is_told_apart_from_a_missing_key_with_the_registrys_config() {
    let p = started();
    let reg = Registry::start(&auth_with(
        &p,
        "issuer: \"portcullis\"",
        "issuer: \"someone-else\"",
    ));
    // From outside the two look the same: both are named, with where to look.
    let out = doctor(&p, &reg.url(), &[]);
    out.assert_failure("doctor with another issuer");
    assert!(
        out.stdout
            .contains("either its auth.token.issuer is not \"portcullis\"")
            && out.stdout.contains("token from untrusted issuer"),
        "{}",
        out.stdout
    );
    let config = reg.config_path().to_str().unwrap().to_owned();
    let out = doctor(&p, &reg.url(), &["--registry-config", &config]);
    out.assert_failure("doctor with another issuer, on the registry's host");
    assert!(
        out.stdout.contains(
            r#"auth.token.issuer is "someone-else", portcullis's token.issuer is "portcullis""#
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("not the active key"), "{}", out.stdout);
}

#[test]
fn a_next_key_the_registry_has_not_read_yet_is_caught_before_it_is_activated() {
    let mut s = Stack::start(&[], &[]);
    let added = s.portcullis.cli(&["key", "add"], None);
    added.assert_success("key add");
    let config = s.registry.config_path().to_str().unwrap().to_owned();
    let out = doctor(
        &s.portcullis,
        &s.registry.url(),
        &["--key", "next", "--registry-config", &config],
    );
    out.assert_failure("doctor --key next before the registry restarted");
    assert!(
        out.stdout
            .contains(&format!("holds the next key {}", added.stdout.trim()))
            && out
                .stdout
                .contains("reads the bundle only when it starts. Fix: restart the registry"),
        "{}",
        out.stdout
    );
    // A registry given a copy of the bundle from before the key was added.
    s.registry.restart();
    doctor(&s.portcullis, &s.registry.url(), &["--key", "next"])
        .assert_success("doctor --key next once the registry restarted");
}

#[test]
fn a_bundle_copied_before_the_key_was_added_names_the_kids_on_each_side() {
    let p = started();
    let yaml = p.registry_config();
    let copy = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(p.dir().join("keys/bundle.pem"), copy.path()).unwrap();
    let stale = copy.path().to_str().unwrap();
    let bundle = std::fs::canonicalize(p.dir().join("keys/bundle.pem")).unwrap();
    let reg = Registry::start(&yaml.replace(bundle.to_str().unwrap(), stale));
    let added = p.cli(&["key", "add"], None);
    added.assert_success("key add");
    let next = added.stdout.trim();
    let config = reg.config_path().to_str().unwrap().to_owned();
    let out = doctor(
        &p,
        &reg.url(),
        &["--key", "next", "--registry-config", &config],
    );
    out.assert_failure("doctor --key next with a stale bundle");
    assert!(
        out.stdout.contains(&format!(
            "{stale} (the registry's rootcertbundle) holds kid "
        )) && out.stdout.contains(&format!("not the next key {next}"))
            && out.stdout.contains("bundle.pem there"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_kid_in_the_form_the_registry_does_not_read_is_named_with_the_setting_to_change() {
    // Thumbprint kids without x5c: distribution 3.x's form, which 2.8 does not read.
    let s = Stack::start(
        &[
            ("PORTCULLIS_TOKEN__X5C", "false"),
            ("PORTCULLIS_TOKEN__KID_FORMAT", "thumbprint"),
        ],
        &[],
    );
    let out = doctor(&s.portcullis, &s.registry.url(), &[]);
    out.assert_failure("doctor with the wrong kid form");
    assert!(
        out.stdout
            .contains("but not in the form portcullis signs (kid as the RFC 7638 thumbprint")
            && out.stdout.contains("set token.kid_format = \"libtrust\""),
        "{}",
        out.stdout
    );
}

#[test]
fn a_realm_at_a_private_ip_address_is_accepted_but_warned_about_for_crane() {
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://127.0.0.1:{port}");
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_SERVER__LISTEN", &listen),
            ("PORTCULLIS_SERVER__PUBLIC_URL", &public),
        ],
    );
    let printed = p.cli(&["registry-config"], None);
    printed.assert_success("registry-config");
    assert!(printed.stderr.contains("crane"), "{}", printed.stderr);
    let s = Stack::around(p);
    let out = doctor(&s.portcullis, &s.registry.url(), &[]);
    out.assert_success("doctor with a private IP realm (a warning, not an error)");
    assert!(
        out.stdout.contains("warning  realm")
            && out
                .stdout
                .contains("crane (go-containerregistry 0.21.4 and later) refuses it"),
        "{}",
        out.stdout
    );
}

/// A self-signed certificate for `names`, valid from `from_days` to `to_days` from now:
/// (certificate PEM, key PEM).
fn certificate(names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_registry_certificate_this_host_does_not_trust_says_which_file_to_put_where() {
    let p = started();
    let (cert, key) = certificate(&["127.0.0.1"], -1, 30);
    let reg = Registry::start_tls(&p.registry_config(), &cert, &key);
    let url = format!("https://127.0.0.1:{}", reg.port());
    let out = doctor(&p, &url, &[]);
    out.assert_failure("doctor with an untrusted registry certificate");
    assert!(
        out.stdout
            .contains("signed by a CA this host does not trust")
            && out.stdout.contains(&format!(
                "/etc/docker/certs.d/127.0.0.1:{}/ca.crt",
                reg.port()
            ))
            && out.stdout.contains("/etc/containers/certs.d/"),
        "{}",
        out.stdout
    );
    // Trusted with --ca-file, the TLS complaint is gone, and the next problem shows: the
    // realm is plain HTTP behind this HTTPS registry.
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &cert).unwrap();
    let out = doctor(&p, &url, &["--ca-file", ca.path().to_str().unwrap()]);
    assert!(!out.stdout.contains("does not trust"), "{}", out.stdout);
    assert!(
        out.stdout.contains("plain HTTP behind an HTTPS registry"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_registry_certificate_for_another_name_or_expired_is_named_as_such() {
    let p = started();
    let (cert, key) = certificate(&["registry.example"], -1, 30);
    let reg = Registry::start_tls(&p.registry_config(), &cert, &key);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &cert).unwrap();
    let trust = ["--ca-file", ca.path().to_str().unwrap()];
    let out = doctor(&p, &format!("https://127.0.0.1:{}", reg.port()), &trust);
    out.assert_failure("doctor with a certificate for another name");
    assert!(
        out.stdout
            .contains("the registry's TLS certificate is not for \"127.0.0.1\""),
        "{}",
        out.stdout
    );

    let (cert, key) = certificate(&["127.0.0.1"], -30, -1);
    let reg = Registry::start_tls(&p.registry_config(), &cert, &key);
    std::fs::write(ca.path(), &cert).unwrap();
    let out = doctor(&p, &format!("https://127.0.0.1:{}", reg.port()), &trust);
    out.assert_failure("doctor with an expired certificate");
    assert!(
        out.stdout
            .contains("the registry's TLS certificate has expired"),
        "{}",
        out.stdout
    );
}
