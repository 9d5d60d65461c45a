//! End to end, workload identity federation: CI jobs log in with OIDC tokens minted by a
//! real provider from npm (started by the tests), verified against its JWKS, and push with
//! skopeo to the real registry. Every forged or mismatched token is refused, and the log
//! says which check failed.

mod support;

use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use serde_json::json;
use support::{
    basic_auth, http_get, make_test_image, oci_ref, MockOidc, Portcullis, Registry, Skopeo,
};

const AUDIENCE: &str = "registry.example";

/// portcullis trusting `issuer` for jobs of acme/api on main, as "github".
fn portcullis(issuer: &str) -> (Portcullis, tempfile::NamedTempFile) {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            r#"[[federation]]
name = "github"
issuer = "{issuer}"
audience = "{AUDIENCE}"
subject = "ci:${{repository}}"
groups = ["ci-acme-api"]
claims = {{ repository = "acme/api", ref = "refs/heads/main" }}
"#
        ),
    )
    .unwrap();
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.path().to_str().unwrap())],
    );
    (p, config)
}

fn token_status(p: &Portcullis, user: &str, password: &str) -> u16 {
    http_get(
        &format!("{}/token?scope=repository:acme/api/app:pull,push", p.url()),
        &[("Authorization", &basic_auth(user, password))],
    )
    .unwrap()
    .status
}

fn part(v: &serde_json::Value) -> String {
    BASE64URL_NOPAD.encode(v.to_string().as_bytes())
}

fn payload(token: &str) -> serde_json::Value {
    serde_json::from_slice(
        &BASE64URL_NOPAD
            .decode(token.split('.').nth(1).unwrap().as_bytes())
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_ci_job_with_matching_claims_pushes_with_its_own_token() {
    let oidc = MockOidc::start();
    let (p, _config) = portcullis(&oidc.issuer());
    let registry = Registry::start(&p.registry_config());
    let image = tempfile::tempdir().unwrap();
    make_test_image(image.path(), "v1", "federated");
    let token = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");
    Skopeo::new()
        .copy(
            &oci_ref(image.path(), "v1"),
            &registry.docker_ref("acme/api/app:v1"),
            Some(("github", &token)),
        )
        .assert_success("a main-branch job of acme/api pushes acme/api/app");
    Skopeo::new()
        .copy(
            &oci_ref(image.path(), "v1"),
            &registry.docker_ref("acme/web/app:v1"),
            Some(("github", &token)),
        )
        .assert_failure("the same job pushing outside acme/api/**");
    let log = p.wait_for_log("auth=\"federation\"");
    assert!(log.contains("subject=\"ci:acme/api\""), "{log}");
    assert!(
        !log.contains(&token),
        "the job's token never reaches the log"
    );
}

#[test]
fn mismatched_expired_forged_and_foreign_tokens_are_refused_and_the_log_says_why() {
    let oidc = MockOidc::start();
    let other = MockOidc::start();
    let (p, _config) = portcullis(&oidc.issuer());
    let good = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");
    assert_eq!(
        token_status(&p, "github", &good),
        200,
        "the good token, for comparison"
    );

    let claims = payload(&good);
    let with = |extra: serde_json::Value| {
        let mut c = claims.clone();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        oidc.token(&c)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let header =
        |alg: &str| json!({"alg": alg, "typ": "JWT", "kid": oidc.jwks()["keys"][0]["kid"].clone()});
    let tampered = {
        let mut c = claims.clone();
        c["repository"] = json!("acme/api");
        c["ref"] = json!("refs/heads/main");
        c["sub"] = json!("repo:acme/api:ref:refs/heads/main-but-changed");
        let parts: Vec<&str> = good.split('.').collect();
        format!("{}.{}.{}", parts[0], part(&c), parts[2])
    };
    let none = format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(&claims)
    );
    let hs256 = {
        let signing_input = format!("{}.{}", part(&header("HS256")), part(&claims));
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            support::oidc::rsa_public_key_pem(&oidc.jwks()).as_bytes(),
        );
        let sig = ring::hmac::sign(&key, signing_input.as_bytes());
        format!("{signing_input}.{}", BASE64URL_NOPAD.encode(sig.as_ref()))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another branch",
            oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/dev"),
            "claims",
        ),
        (
            "another repository",
            oidc.github_actions_token(AUDIENCE, "acme/web", "refs/heads/main"),
            "claims",
        ),
        (
            "expired",
            with(json!({"exp": now - 120, "iat": now - 400})),
            "expiry (exp)",
        ),
        (
            "wrong audience",
            oidc.github_actions_token("someone-else", "acme/api", "refs/heads/main"),
            "audience",
        ),
        (
            "wrong issuer",
            other.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main"),
            "issuer",
        ),
        ("tampered payload", tampered, "signature"),
        ("alg none", none, "malformed token or algorithm"),
        ("HS256 signed with the public key", hs256, "algorithm"),
    ];
    for (what, token, check) in &cases {
        assert_eq!(
            token_status(&p, "github", token),
            401,
            "{what} must be refused"
        );
        p.wait_for_log(&format!("check=\"{check}\""));
    }
}

#[test]
fn a_stopped_provider_gives_503_for_federation_only_and_rotation_needs_no_restart() {
    let mut oidc = MockOidc::start();
    let (p, _config) = portcullis(&oidc.issuer());
    p.add_user("alice", "alice-pass-1", &[]);
    let first = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");

    oidc.stop();
    assert_eq!(
        token_status(&p, "github", &first),
        503,
        "keys cannot be fetched: unavailable, not refused"
    );
    assert_eq!(
        token_status(&p, "alice", "alice-pass-1"),
        200,
        "passwords are unaffected"
    );
    p.wait_for_log("oidc issuer");

    oidc.restart();
    let first = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        token_status(&p, "github", &first),
        200,
        "recovered without restarting portcullis"
    );

    oidc.rotate_key();
    let rotated = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        token_status(&p, "github", &rotated),
        200,
        "a new kid is fetched without a restart"
    );
}

/// The value of the first `name="FIELD" value="…"` in an HTML page.
fn field(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", support::oidc::url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `NAME=value` part of the response's `Set-Cookie` for cookie `name`.
fn set_cookie(resp: &support::HttpResponse, name: &str) -> Option<String> {
    resp.header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_string())
}

/// A browser's first steps of a sign-in: `/login` (the `Cookie` header value keeping the
/// sign-in in progress; empty if there is none) and the provider's redirect back (the
/// callback URL with code and state).
fn start_sign_in(p: &Portcullis) -> (String, String) {
    let start = http_get(&format!("{}/login", p.public_url()), &[]).unwrap();
    assert_eq!(start.status, 302, "{}", start.text());
    let authorize = start.header("location").unwrap().to_string();
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "PKCE: {authorize}"
    );
    let kept = set_cookie(&start, "portcullis_login").unwrap_or_default();
    let back = http_get(&authorize, &[]).unwrap();
    assert_eq!(back.status, 302, "{}", back.text());
    (kept, back.header("location").unwrap().to_string())
}

/// Signs in through the provider as the mock's current login; returns the session cookie.
fn sign_in(p: &Portcullis) -> String {
    let (kept, callback) = start_sign_in(p);
    assert!(
        !kept.is_empty(),
        "the sign-in in progress is kept in a cookie"
    );
    let done = http_get(&callback, &[("Cookie", &kept)]).unwrap();
    assert_eq!(done.status, 303, "{}", done.text());
    assert_eq!(done.header("location"), Some("/login/tokens"));
    let cookie = done
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("portcullis_session="))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "not over plain http: {cookie}");
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn a_person_signs_in_makes_tokens_pushes_with_them_and_revokes_one() {
    let mut oidc = MockOidc::start();
    oidc.set_login(
        "alice",
        &json!({"preferred_username": "alice", "groups": ["developers"]}),
    );
    let config = oidc.config_file("");
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.path().to_str().unwrap())],
    );
    let registry = Registry::start(&p.registry_config());
    let image = tempfile::tempdir().unwrap();
    make_test_image(image.path(), "v1", "signed in");

    let cookie = sign_in(&p);
    let page = http_get(&format!("{}/login/tokens", p.url()), &[("Cookie", &cookie)]).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains("Signed in as <strong>alice</strong> (groups: oidc:developers)"),
        "{}",
        page.text()
    );
    let csrf = field(&page.text(), "name=\"csrf\" value=\"");
    let post = |path: &str, body: &str| {
        support::http_request(
            "POST",
            &format!("{}{path}", p.url()),
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(body.as_bytes()),
        )
        .unwrap()
    };

    // A token for the laptop, and one for CI: independent.
    let made = post(
        "/login/tokens",
        &form(&[
            ("csrf", &csrf),
            ("name", "laptop"),
            ("scopes", "repository:team/**:pull,push"),
            ("expires", "30d"),
        ]),
    );
    assert_eq!(made.status, 200, "{}", made.text());
    let laptop = field(&made.text(), "id=\"secret\" readonly size=\"60\" value=\"");
    assert!(laptop.starts_with("pcp_"));
    let made = post(
        "/login/tokens",
        &form(&[
            ("csrf", &csrf),
            ("name", "ci"),
            ("scopes", "repository:team/**:pull"),
            ("expires", ""),
        ]),
    );
    let ci = field(&made.text(), "id=\"secret\" readonly size=\"60\" value=\"");

    // The laptop token pushes team/app: alice is a developer by her identity provider's groups.
    let sk = Skopeo::new();
    sk.copy(
        &oci_ref(image.path(), "v1"),
        &registry.docker_ref("team/app:v1"),
        Some(("alice", &laptop)),
    )
    .assert_success("push with a token made at the sign-in page");

    // Signing in again leaves both tokens working.
    let _again = sign_in(&p);
    sk.inspect(&registry.docker_ref("team/app:v1"), Some(("alice", &ci)))
        .assert_success("the other token still works");

    // The page lists them with their last use; revoke the laptop one.
    let page = http_get(&format!("{}/login/tokens", p.url()), &[("Cookie", &cookie)])
        .unwrap()
        .text();
    assert!(
        page.contains("laptop") && page.contains("ci") && !page.contains(&laptop),
        "secrets are never shown again:\n{page}"
    );
    // The revoke form of the laptop token's row (both were made in the same second, so their
    // order on the page is not fixed).
    let button = page
        .find("Revoke laptop")
        .expect("a revoke button for the laptop token");
    let action = page[..button].rfind("action=\"/login/tokens/").unwrap();
    let laptop_id = field(&page[action..], "action=\"/login/tokens/")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let refused = post(
        &format!("/login/tokens/{laptop_id}/revoke"),
        &form(&[("csrf", "forged")]),
    );
    assert_eq!(
        refused.status, 403,
        "a form without the session's CSRF token is refused"
    );
    let revoked = post(
        &format!("/login/tokens/{laptop_id}/revoke"),
        &form(&[("csrf", &csrf)]),
    );
    assert_eq!(revoked.status, 303);
    sk.inspect(
        &registry.docker_ref("team/app:v1"),
        Some(("alice", &laptop)),
    )
    .assert_failure("a revoked token");
    sk.inspect(&registry.docker_ref("team/app:v1"), Some(("alice", &ci)))
        .assert_success("revoking one leaves the other");

    // Without a session, the page sends people to sign in.
    let anon = http_get(&format!("{}/login/tokens", p.url()), &[]).unwrap();
    assert_eq!(
        (anon.status, anon.header("location")),
        (303, Some("/login"))
    );
    let log = p.wait_for_log("event=\"access_token_created\"");
    assert!(
        !log.contains(&laptop) && !log.contains(&ci) && !log.contains("test-client-secret"),
        "no secret in the log"
    );
}

/// portcullis with browser sign-in at `oidc`, plus `extra` TOML (after the [oidc] keys).
fn sso(oidc: &MockOidc, extra: &str) -> (Portcullis, tempfile::NamedTempFile) {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[oidc]\nissuer = \"{}\"\nclient_id = \"portcullis\"\n{extra}",
            oidc.issuer()
        ),
    )
    .unwrap();
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.path().to_str().unwrap())],
    );
    (p, config)
}

fn tokens_page(p: &Portcullis, cookie: &str) -> String {
    let page = http_get(&format!("{}/login/tokens", p.url()), &[("Cookie", cookie)]).unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    page.text()
}

/// Makes a personal access token on the page; returns its secret.
fn make_token(p: &Portcullis, cookie: &str, name: &str, scopes: &str) -> String {
    let csrf = field(&tokens_page(p, cookie), "name=\"csrf\" value=\"");
    let made = support::http_request(
        "POST",
        &format!("{}/login/tokens", p.url()),
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(
            form(&[
                ("csrf", &csrf),
                ("name", name),
                ("scopes", scopes),
                ("expires", "1d"),
            ])
            .as_bytes(),
        ),
    )
    .unwrap();
    assert_eq!(made.status, 200, "{}", made.text());
    field(&made.text(), "id=\"secret\" readonly size=\"60\" value=\"")
}

#[test]
fn ten_thousand_anonymous_sign_in_starts_hold_nothing_and_block_nobody() {
    let mut oidc = MockOidc::start();
    oidc.set_login("alice-sub", &json!({"preferred_username": "alice"}));
    let (p, _config) = sso(&oidc, "");
    let url = format!("{}/login", p.public_url());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                for _ in 0..1251 {
                    let r = http_get(&url, &[]).unwrap();
                    assert_eq!(r.status, 302, "{}", r.text());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Someone else signs in as usual.
    let cookie = sign_in(&p);
    assert!(tokens_page(&p, &cookie).contains("Signed in as <strong>alice</strong>"));
}

#[test]
fn a_callback_followed_in_another_browser_is_refused_not_signed_in_as_the_attacker() {
    let mut oidc = MockOidc::start();
    oidc.set_login("mallory-sub", &json!({"preferred_username": "mallory"}));
    let (p, _config) = sso(&oidc, "");
    // The attacker starts a sign-in and stops at the provider's redirect back.
    let (_attackers_cookie, callback) = start_sign_in(&p);
    // The victim's browser follows the attacker's link: with no sign-in of its own…
    let r = http_get(&callback, &[]).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("did not start this sign-in"),
        "{}",
        r.text()
    );
    assert!(set_cookie(&r, "portcullis_session").is_none(), "no session");
    // …or with one it started itself.
    oidc.set_login("victim-sub", &json!({"preferred_username": "victim"}));
    let (victims_cookie, _) = start_sign_in(&p);
    let r = http_get(&callback, &[("Cookie", &victims_cookie)]).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(set_cookie(&r, "portcullis_session").is_none(), "no session");
    let log = p.log();
    assert!(
        !log.contains("subject=\"mallory\""),
        "nobody signed in as mallory:\n{log}"
    );
}

#[test]
fn a_second_provider_account_with_the_same_name_never_gets_the_first_ones_account() {
    let mut oidc = MockOidc::start();
    oidc.set_login("sub-alice", &json!({"preferred_username": "alice"}));
    let (p, _config) = sso(&oidc, "");
    let alice = sign_in(&p);
    let secret = make_token(&p, &alice, "laptop", "repository:alice/**:pull,push");

    // Someone else at the provider chooses the same preferred_username.
    oidc.set_login("sub-impostor", &json!({"preferred_username": "Alice"}));
    let (kept, callback) = start_sign_in(&p);
    let r = http_get(&callback, &[("Cookie", &kept)]).unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("already belongs to another account"),
        "{}",
        r.text()
    );
    assert!(set_cookie(&r, "portcullis_session").is_none());
    // alice's token is untouched, and the real alice, renamed at the provider, is still alice.
    assert!(tokens_page(&p, &alice).contains("laptop"));
    oidc.set_login("sub-alice", &json!({"preferred_username": "alice.smith"}));
    let again = sign_in(&p);
    assert!(tokens_page(&p, &again).contains("Signed in as <strong>alice</strong>"));
    assert!(!tokens_page(&p, &again).contains(&secret));
}

#[test]
fn sign_in_survives_a_provider_key_rotation_and_a_bad_id_token_is_logged_at_warn() {
    let mut oidc = MockOidc::start();
    oidc.set_login("sub-bob", &json!({"preferred_username": "bob"}));
    let (p, _config) = sso(&oidc, "");
    sign_in(&p);
    // The provider rotates and drops its old key: the cached keys no longer hold the new one.
    oidc.rotate_key();
    sign_in(&p);
    p.wait_for_log("fetched the identity provider's keys again");

    // An ID token for another audience is refused, and the log says why at WARN.
    oidc.set_login(
        "sub-bob",
        &json!({"preferred_username": "bob", "aud": "someone-else"}),
    );
    let (kept, callback) = start_sign_in(&p);
    let r = http_get(&callback, &[("Cookie", &kept)]).unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let line = p.wait_for_log_line("failed verification");
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.to_lowercase().contains("audience"),
        "the cause: {line}"
    );
}

#[test]
fn a_provider_group_named_admins_is_not_the_local_admins_group() {
    let mut oidc = MockOidc::start();
    oidc.set_login(
        "sub-eve",
        &json!({"preferred_username": "eve", "groups": ["admins", "dev\u{2028}x\u{202e}y"]}),
    );
    let (p, _config) = sso(&oidc, "");
    let registry = Registry::start(&p.registry_config());
    let cookie = sign_in(&p);
    assert!(
        tokens_page(&p, &cookie).contains("(groups: oidc:admins, oidc:dev"),
        "{}",
        tokens_page(&p, &cookie)
    );
    let secret = make_token(&p, &cookie, "t", "repository:**:*");
    // group:admins is admin on ** in the fixture policies: eve must not be.
    let r = http_get(
        &format!(
            "{}/token?service=portcullis&scope=repository:someone/app:push,delete&scope=registry:catalog:*",
            p.url()
        ),
        &[("Authorization", &basic_auth("eve", &secret))],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        payload(r.json()["token"].as_str().unwrap())["access"],
        json!([]),
        "no push, delete or catalog"
    );
    drop(registry);
    let log = p.wait_for_log("event=\"sign_in\"");
    assert!(
        !log.contains('\u{9b}'),
        "a terminal control written raw in the log"
    );
}

#[test]
fn while_the_issuer_is_down_every_request_with_an_unknown_key_gets_503_not_401() {
    let mut oidc = MockOidc::start();
    let (p, _config) = portcullis(&oidc.issuer());
    let token = oidc.github_actions_token(AUDIENCE, "acme/api", "refs/heads/main");
    oidc.stop();
    // Several requests within the same second (the refetch cooldown): each one is an outage.
    let statuses: Vec<u16> = (0..5).map(|_| token_status(&p, "github", &token)).collect();
    assert_eq!(
        statuses, [503; 5],
        "never a 401 that looks like bad credentials"
    );
}

#[test]
fn sign_ins_and_tokens_made_on_the_page_are_audited_at_log_level_warn() {
    let mut oidc = MockOidc::start();
    oidc.set_login("sub-dan", &json!({"preferred_username": "dan"}));
    let (p, _config) = sso(&oidc, "\n[log]\nlevel = \"warn\"\n");
    let cookie = sign_in(&p);
    let secret = make_token(&p, &cookie, "laptop", "repository:dan/**:pull");
    p.wait_for_log_line("event=\"access_token_created\"");
    let log = p.log();
    assert!(
        log.contains(r#"event="sign_in" outcome="done" actor="dan" target="dan""#),
        "{log}"
    );
    assert!(
        log.contains(r#"event="access_token_created" outcome="done" actor="dan" target="dan""#),
        "{log}"
    );
    assert!(!log.contains(&secret));
}
