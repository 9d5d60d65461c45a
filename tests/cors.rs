//! Cross-origin access (`server.cors`): real preflight requests as a browser sends them, for
//! `/token` and the admin API; nothing allowed unless configured; credentials never with `*`.

mod support;

use support::{basic_auth, http_request, HttpResponse, Portcullis};

const UI: &str = "https://ui.example.com";

fn with_config(toml: &str) -> (Portcullis, tempfile::NamedTempFile) {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), toml).unwrap();
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.path().to_str().unwrap())],
    );
    (p, config)
}

fn preflight(p: &Portcullis, path: &str, origin: &str, method: &str) -> HttpResponse {
    http_request(
        "OPTIONS",
        &format!("{}{path}", p.url()),
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            (
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
        ],
        None,
    )
    .unwrap()
}

#[test]
fn a_configured_origin_gets_its_preflight_answered_and_others_get_nothing() {
    let (p, _c) = with_config(&format!(
        "[server.cors]\nallowed_origins = [\"{UI}\"]\nallow_credentials = true\nmax_age = \"5m\"\n"
    ));
    let ok = preflight(&p, "/token", UI, "POST");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("access-control-allow-origin"), Some(UI));
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-max-age"), Some("300"));
    let methods = ok.header("access-control-allow-methods").unwrap_or("");
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    // The admin API answers its own methods.
    let api = preflight(&p, "/api/v1/users/alice", UI, "DELETE");
    assert_eq!(api.status, 200, "{}", api.text());
    assert!(api
        .header("access-control-allow-methods")
        .unwrap_or("")
        .contains("DELETE"));

    // Another origin is not allowed, in a preflight or a real request.
    let evil = preflight(&p, "/token", "https://evil.example", "POST");
    assert_eq!(evil.header("access-control-allow-origin"), None);
    assert_ne!(evil.status, 200);
    p.add_user("alice", "alice-pass-1", &[]);
    let auth = basic_auth("alice", "alice-pass-1");
    let real = http_request(
        "GET",
        &format!(
            "{}/token?service=portcullis&scope=repository:team/app:pull",
            p.url()
        ),
        &[("Origin", UI), ("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(real.status, 200);
    assert_eq!(real.header("access-control-allow-origin"), Some(UI));
    assert!(real
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("www-authenticate"));
    // A client without an Origin (docker, skopeo) is untouched.
    let plain = http_request(
        "GET",
        &format!(
            "{}/token?service=portcullis&scope=repository:team/app:pull",
            p.url()
        ),
        &[("Authorization", &auth)],
        None,
    )
    .unwrap();
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("access-control-allow-origin"), None);
}

#[test]
fn nothing_is_allowed_cross_origin_by_default() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    let r = preflight(&p, "/token", UI, "POST");
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "{}",
        r.text()
    );
    let r = preflight(&p, "/api/v1/users", UI, "GET");
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn credentials_for_every_origin_are_refused_at_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        "[server.cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n",
    )
    .unwrap();
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    let out = p.cli(&["check", "--config", config.to_str().unwrap()], None);
    out.assert_failure("check with credentials for every origin");
    assert!(
        out.stderr.contains("server.cors.allow_credentials")
            && out.stderr.contains("cannot be allowed to every origin"),
        "{}",
        out.stderr
    );
}
