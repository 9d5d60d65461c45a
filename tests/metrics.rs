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
    assert!(m.contains(&format!(
        "portcullis_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}

#[test]
fn the_grafana_dashboard_uses_exactly_metric_names_the_server_exposes() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    // One request of each kind the dashboard plots, so that every family has samples.
    http_get(&format!("{}/token?service=portcullis", p.url()), &[]).unwrap();
    let m = http_get(&format!("{}/metrics", p.url()), &[])
        .unwrap()
        .text();
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
