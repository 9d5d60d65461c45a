//! `GET /metrics` scraped after a known set of token requests: the counters say exactly
//! what was asked, and the gauges read when scraped are there.

mod support;

use support::{basic_auth, http_get, Portcullis};

/// The value of the sample `name{labels}` (labels as Prometheus writes them, sorted).
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_counters_after_a_known_set_of_requests_are_exactly_those_requests() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    p.add_user("alice", "alice-pass-1", &[]);
    let token = |auth: Option<(&str, &str)>| {
        let header = auth.map(|(u, pw)| basic_auth(u, pw));
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        http_get(
            &format!(
                "{}/token?service=portcullis&scope=repository:public/x:pull",
                p.url()
            ),
            &headers,
        )
        .unwrap()
        .status
    };
    assert_eq!(token(None), 200);
    assert_eq!(token(None), 200);
    assert_eq!(token(Some(("alice", "wrong-password-1"))), 401);
    assert_eq!(token(Some(("alice", "alice-pass-1"))), 200);
    assert_eq!(token(Some(("alice", "alice-pass-1"))), 200);
    let bad = http_get(&format!("{}/token?service=other", p.url()), &[]).unwrap();
    assert_eq!(bad.status, 400);

    let scraped = http_get(&format!("{}/metrics", p.url()), &[]).unwrap();
    assert_eq!(scraped.status, 200);
    assert!(scraped
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/plain"));
    let m = scraped.text();
    let count = |labels: &str| sample(&m, &format!("portcullis_token_requests_total{{{labels}}}"));
    assert_eq!(
        count(r#"auth="anonymous",outcome="issued",remembered="false""#),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        count(r#"auth="password",outcome="rejected",remembered="false""#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        count(r#"auth="password",outcome="issued",remembered="false""#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        count(r#"auth="password",outcome="issued",remembered="true""#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        count(r#"auth="anonymous",outcome="invalid",remembered="false""#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "portcullis_token_request_duration_seconds_count"),
        Some(6.0),
        "{m}"
    );
    let expiry = m
        .lines()
        .find(|l| l.starts_with("portcullis_signing_certificate_expiry_seconds{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{m}"));
    assert!(
        expiry > 3000.0 * 86400.0,
        "a new certificate has ten years: {expiry}"
    );
    assert_eq!(
        sample(&m, r#"portcullis_signing_keys{state="active"}"#),
        Some(1.0)
    );
    assert!(m.contains("portcullis_policy_reload_ok{"), "{m}");
    // Two passwords were verified (the wrong one and the first right one), each through the
    // argon2 queue, which is empty now; the database answered its probe.
    assert_eq!(
        sample(
            &m,
            r#"portcullis_authentication_duration_seconds_count{authenticator="local"}"#
        ),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "portcullis_password_verification_wait_seconds_count"),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "portcullis_password_verifications_waiting"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"portcullis_backend_up{backend="database"}"#),
        Some(1.0),
        "{m}"
    );
    assert!(
        !m.contains("portcullis_tls_certificate"),
        "no TLS, no TLS gauges: {m}"
    );
    assert!(m.contains(&format!(
        "portcullis_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn the_grafana_dashboard_uses_exactly_metric_names_the_server_exposes() {
    // Every family the dashboard plots gets samples: HTTPS (the certificate gauges), a
    // directory that does not answer (a failed probe), and a password verified.
    let ca = support::TestCa::new("metrics test CA");
    let pair = ca.server(&["localhost", "127.0.0.1"], -1, 30);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (cert, key, ca_file) = (
        file("tls.crt", &pair.cert_pem),
        file("tls.key", &pair.key_pem),
        file("ca.pem", ca.pem()),
    );
    let config = file(
        "portcullis.toml",
        &format!(
            "[server.tls]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n[auth]\norder = [\"local\", \"ldap\"]\n[ldap]\nurls = [\"ldap://127.0.0.1:1\"]\ndirect_bind = \"uid={{username}},ou=people,dc=example,dc=org\"\nconnect_timeout = \"1s\"\n"
        ),
    );
    let p = Portcullis::start_https(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.as_str())],
    );
    p.add_user("alice", "alice-pass-1", &[]);
    let curl = |args: &[&str]| support::curl(&[&["--cacert", ca_file.as_str()], args].concat());
    let base = format!("https://localhost:{}", p.port());
    curl(&[
        "-u",
        "alice:alice-pass-1",
        &format!("{base}/token?service=portcullis"),
    ])
    .assert_success("a password token request");
    p.wait_for_log_line("backend probe failed");
    let m = curl(&[&format!("{base}/metrics")]).stdout;
    let exposed: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/portcullis.json"
    ))
    .unwrap();
    let d: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut used = 0;
    for panel in d["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (i, _) in expr.match_indices("portcullis_") {
                let name: String = expr[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(
                    exposed.contains(family),
                    "{} uses {name}, which /metrics does not expose: {exposed:?}",
                    panel["title"]
                );
                used += 1;
            }
        }
    }
    assert!(used >= 9, "{used}");
}

#[test]
fn with_metrics_listen_metrics_are_served_there_only_and_nothing_else_is() {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_SERVER__METRICS_LISTEN", &addr)],
    );
    let public = http_get(&format!("{}/metrics", p.url()), &[]).unwrap();
    assert_eq!(public.status, 404, "not on server.listen");
    let private = http_get(&format!("http://{addr}/metrics"), &[]).unwrap();
    assert_eq!(private.status, 200);
    assert!(private.text().contains("portcullis_build_info"));
    for path in ["/token", "/healthz", "/api/v1/users"] {
        let other = http_get(&format!("http://{addr}{path}"), &[]).unwrap();
        assert_eq!(other.status, 404, "{path} is not on the metrics listener");
    }
}
