//! Black-box tests of the HTTP API: each test starts its own portcullis (own port, database,
//! keys) in-process and talks to it over HTTP, as registry clients do.

use std::sync::Arc;

use data_encoding::{BASE64, BASE64URL_NOPAD};
use portcullis::authn::hash_password;
use portcullis::config::Config;
use portcullis::startup::Application;
use portcullis::store::Store;
use secrecy::SecretString;
use serde_json::Value;

struct TestApp {
    base: String,
    store: Store,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// An app with extra `PORTCULLIS_*` settings.
async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/p.db", dir.path().display());
    let env = [
        ("PORTCULLIS_SERVER__LISTEN", "127.0.0.1:0".to_string()),
        (
            "PORTCULLIS_KEYS__DIR",
            dir.path().join("keys").display().to_string(),
        ),
        (
            "PORTCULLIS_POLICIES__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/policies").to_string(),
        ),
        ("PORTCULLIS_STORE__URL", db.clone()),
        ("PORTCULLIS_TOKEN__SERVICE", "test-registry".to_string()),
        ("PORTCULLIS_AUTH__HASH_CONCURRENCY", "2".to_string()),
    ];
    let env = env
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::load_from(None, env).unwrap();
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let store = Store::connect(&db).await.unwrap();
    let t = TestApp {
        base,
        store,
        client: reqwest::Client::new(),
        _dir: dir,
    };
    t.add_user("alice", "alice-password", &["admins", "developers"])
        .await;
    t.add_user("bob", "bob-password", &["developers"]).await;
    t.add_user("carol", "carol-password", &[]).await;
    t
}

impl TestApp {
    async fn add_user(&self, name: &str, password: &str, groups: &[&str]) {
        let hash = hash_password(&SecretString::from(password)).unwrap();
        self.store.user_create(name, &hash).await.unwrap();
        for g in groups {
            let _ = self.store.group_create(g).await;
            self.store.group_add_member(g, name).await.unwrap();
        }
    }

    async fn get(&self, query: &str, creds: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}/token?{query}", self.base));
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        req.send().await.unwrap()
    }

    /// What `docker login USER` obtains: a refresh token (docker's identity token).
    async fn docker_login(&self, user: &str, password: &str) -> String {
        let resp = self
            .get(
                "offline_token=true&client_id=docker",
                Some((user, password)),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["refresh_token"].as_str().unwrap().to_string()
    }

    /// `GET path`: status and body text.
    async fn page(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn post(&self, form: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// The claim set of a token (its signature is checked by the unit tests and the registry).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

fn access(body: &Value) -> Value {
    claims(body["token"].as_str().unwrap())["access"].clone()
}

/// A 4xx in the registry's error shape, with the given code.
async fn assert_registry_error(resp: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "JSON content type, so docker parses it"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty());
    message
}

#[tokio::test]
async fn a_login_probe_with_the_right_password_gets_a_token_with_empty_access() {
    let app = spawn_app().await;
    let resp = app
        .get(
            "account=carol&client_id=docker&service=test-registry",
            Some(("carol", "carol-password")),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300, "an integer number of seconds");
    assert!(
        body["issued_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339: {}",
        body["issued_at"]
    );
    assert!(
        body.get("refresh_token").is_none(),
        "only when offline_token=true"
    );
    let c = claims(body["token"].as_str().unwrap());
    assert_eq!(c["sub"], "carol");
    assert_eq!(c["aud"], "test-registry");
    assert_eq!(c["access"], serde_json::json!([]));
}

#[tokio::test]
async fn a_wrong_password_gets_401_with_a_basic_challenge_never_an_anonymous_token() {
    let app = spawn_app().await;
    let resp = app
        .get("service=test-registry", Some(("carol", "wrong")))
        .await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"test-registry\", charset=\"UTF-8\""
    );
    let message = assert_registry_error(resp, 401, "UNAUTHORIZED").await;
    assert_eq!(message, "invalid username or password");
}

#[tokio::test]
async fn an_unknown_user_gets_exactly_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;
    let unknown = app
        .get("service=test-registry", Some(("mallory", "x")))
        .await;
    let unknown_body = unknown.text().await.unwrap();
    let wrong = app
        .get("service=test-registry", Some(("carol", "x")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(unknown_body, wrong);
}

#[tokio::test]
async fn a_disabled_user_is_refused() {
    let app = spawn_app().await;
    app.store.user_set_disabled("carol", true).await.unwrap();
    assert_registry_error(
        app.get("", Some(("carol", "carol-password"))).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn anonymous_requests_get_what_policy_allows_anonymous() {
    let app = spawn_app().await;
    let body: Value = app
        .get(
            "scope=repository:public/base:pull&scope=repository:team/app:pull",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        access(&body),
        serde_json::json!([{"type": "repository", "name": "public/base", "actions": ["pull"]}])
    );
    assert_eq!(claims(body["token"].as_str().unwrap())["sub"], "");
}

#[tokio::test]
async fn a_partial_grant_is_a_200_with_the_granted_subset() {
    let app = spawn_app().await;
    let body: Value = app
        .get(
            "scope=repository:team/app:pull,push,delete",
            Some(("bob", "bob-password")),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        access(&body)[0]["actions"],
        serde_json::json!(["pull", "push"])
    );
}

#[tokio::test]
async fn a_deny_wins_over_a_group_grant() {
    let app = spawn_app().await;
    let body: Value = app
        .get(
            "scope=repository:team/frozen/app:pull,push",
            Some(("bob", "bob-password")),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(access(&body)[0]["actions"], serde_json::json!(["pull"]));
}

#[tokio::test]
async fn the_catalog_is_for_admins_only() {
    let app = spawn_app().await;
    let admin: Value = app
        .get(
            "scope=registry:catalog:*",
            Some(("alice", "alice-password")),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        access(&admin),
        serde_json::json!([{"type": "registry", "name": "catalog", "actions": ["*"]}])
    );
    let other: Value = app
        .get("scope=registry:catalog:*", Some(("bob", "bob-password")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(access(&other), serde_json::json!([]));
}

#[tokio::test]
async fn scopes_with_a_host_port_and_a_plugin_class_are_understood() {
    let app = spawn_app().await;
    let body: Value = app
        .get(
            "scope=repository(plugin):carol/sshfs:pull&scope=repository:localhost:5000/carol/x:pull",
            Some(("carol", "carol-password")),
        )
        .await
        .json()
        .await
        .unwrap();
    let a = access(&body);
    assert_eq!(a[0]["type"], "repository");
    assert_eq!(a[0]["class"], "plugin");
    assert_eq!(a[1]["name"], "localhost:5000/carol/x");
}

#[tokio::test]
async fn offline_token_returns_a_refresh_token_that_the_post_refresh_grant_accepts() {
    let app = spawn_app().await;
    let body: Value = app
        .get(
            "offline_token=true&client_id=docker&service=test-registry",
            Some(("carol", "carol-password")),
        )
        .await
        .json()
        .await
        .unwrap();
    let refresh = body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    assert!(refresh.starts_with("pcr_"));

    // docker's later pulls: POST grant_type=refresh_token, space-separated scopes.
    let resp = app
        .post(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&client_id=docker&service=test-registry&access_type=offline&scope=repository%3Acarol%2Fapp%3Apull%2Cpush+repository%3Apublic%2Fbase%3Apull"
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["refresh_token"],
        refresh.as_str(),
        "the same refresh token, never rotated"
    );
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(
        body["scope"],
        "repository:carol/app:pull,push repository:public/base:pull"
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["sub"],
        "carol"
    );

    // containers/image: one form field per scope, no access_type, chunked body.
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"grant_type=refresh_token&client_id=containers%2Fimage&"), Ok(b"scope=repository%3Acarol%2Fa%3Apull&scope=repository%3Acarol%2Fb%3Apull&refresh_token=")];
    let tail = format!("{refresh}&service=test-registry");
    let body_stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| c.map(|b| b.to_vec()))
            .chain(std::iter::once(Ok(tail.into_bytes()))),
    );
    let resp = app
        .client
        .post(format!("{}/token", app.base))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(reqwest::Body::wrap_stream(body_stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "not asked for");
    assert_eq!(access(&body).as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_refresh_token_sent_as_basic_with_an_empty_user_works_on_get() {
    let app = spawn_app().await;
    let body: Value = app
        .get("offline_token=true", Some(("carol", "carol-password")))
        .await
        .json()
        .await
        .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let resp = app
        .get("scope=repository:carol/app:push", Some(("", refresh)))
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(access(&body)[0]["actions"], serde_json::json!(["push"]));
}

#[tokio::test]
async fn a_refresh_token_is_refused_for_another_service_after_revocation_and_after_a_password_change(
) {
    let app = spawn_app().await;
    let body: Value = app
        .get("offline_token=true", Some(("carol", "carol-password")))
        .await
        .json()
        .await
        .unwrap();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let grant = |service: &str| {
        format!("grant_type=refresh_token&refresh_token={refresh}&service={service}")
    };

    let msg = assert_registry_error(
        app.post(&grant("other-registry")).await,
        400,
        "UNSUPPORTED_VALUE",
    )
    .await;
    assert!(
        msg.contains("test-registry"),
        "names the configured service: {msg}"
    );
    assert_eq!(app.post(&grant("test-registry")).await.status(), 200);

    let hash = hash_password(&SecretString::from("new-password")).unwrap();
    app.store.user_set_password("carol", &hash).await.unwrap();
    let msg =
        assert_registry_error(app.post(&grant("test-registry")).await, 401, "UNAUTHORIZED").await;
    assert!(msg.contains("log in again"), "{msg}");
}

#[tokio::test]
async fn the_post_password_grant_works_and_a_wrong_password_is_401_not_403() {
    let app = spawn_app().await;
    let resp = app
        .post("grant_type=password&username=bob&password=bob-password&client_id=containerd-client&service=test-registry&scope=repository%3Ateam%2Fapp%3Apull%2Cpush")
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scope"], "repository:team/app:pull,push");
    let wrong = app
        .post("grant_type=password&username=bob&password=nope&service=test-registry")
        .await;
    assert_registry_error(wrong, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn every_malformed_request_is_a_4xx_in_the_registry_error_shape() {
    let app = spawn_app().await;
    let basic = |raw: &str| format!("Basic {}", BASE64.encode(raw.as_bytes()));
    let get_with_header = |header: String| {
        let c = app
            .client
            .get(format!("{}/token", app.base))
            .header("authorization", header);
        async move { c.send().await.unwrap() }
    };
    assert_registry_error(
        get_with_header("Basic %%%".into()).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_registry_error(
        get_with_header(basic("no-colon")).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_registry_error(
        get_with_header("Bearer x.y.z".into()).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert_registry_error(
        app.get("scope=repository:UPPER:pull", None).await,
        400,
        "INVALID_SCOPE",
    )
    .await;
    assert_registry_error(app.get("scope=garbage", None).await, 400, "INVALID_SCOPE").await;
    assert_registry_error(
        app.get("offline_token=perhaps", None).await,
        400,
        "BAD_TOKEN_OPTION",
    )
    .await;
    assert_registry_error(
        app.get("account=bob", Some(("carol", "carol-password")))
            .await,
        400,
        "BAD_TOKEN_OPTION",
    )
    .await;
    let msg = assert_registry_error(
        app.get("service=elsewhere", None).await,
        400,
        "UNSUPPORTED_VALUE",
    )
    .await;
    assert!(
        msg.contains("auth.token.service"),
        "tells the operator what to fix: {msg}"
    );
    assert_registry_error(
        app.post("grant_type=authorization_code&code=x").await,
        400,
        "UNSUPPORTED_VALUE",
    )
    .await;
    assert_registry_error(
        app.post("grant_type=password&username=bob").await,
        400,
        "MISSING_REQUIRED_FIELD",
    )
    .await;
    assert_registry_error(
        app.post("username=bob&password=x").await,
        400,
        "MISSING_REQUIRED_FIELD",
    )
    .await;
    assert_registry_error(
        app.post("grant_type=refresh_token").await,
        400,
        "MISSING_REQUIRED_FIELD",
    )
    .await;
    let json = app
        .client
        .post(format!("{}/token", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_registry_error(json, 400, "UNSUPPORTED_VALUE").await;
    let huge = app
        .post(&format!(
            "grant_type=password&username=bob&password={}",
            "x".repeat(70_000)
        ))
        .await;
    assert_registry_error(huge, 413, "SIZE_INVALID").await;
    let long_query = app
        .get(&format!("scope={}", "a".repeat(20_000)), None)
        .await;
    assert_registry_error(long_query, 400, "SIZE_INVALID").await;
    let too_many: Vec<String> = (0..65)
        .map(|i| format!("scope=repository:r{i}:pull"))
        .collect();
    assert_registry_error(
        app.get(&too_many.join("&"), None).await,
        400,
        "INVALID_SCOPE",
    )
    .await;
    let put = app
        .client
        .put(format!("{}/token", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(put.headers()["allow"], "GET, POST");
    assert_registry_error(put, 405, "UNSUPPORTED").await;
    assert_registry_error(
        app.client
            .get(format!("{}/token/", app.base))
            .send()
            .await
            .unwrap(),
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["database"], "ok");
}

#[tokio::test]
async fn concurrent_token_requests_all_succeed() {
    let app = Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let who = if i % 2 == 0 {
                ("bob", "bob-password")
            } else {
                ("carol", "carol-password")
            };
            app.get("scope=repository:public/x:pull", Some(who))
                .await
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn password_guessing_is_throttled_per_address_and_name_with_a_429() {
    let app = spawn_app_with(&[
        ("PORTCULLIS_AUTH__MAX_FAILURES_PER_IP_AND_NAME", "3"),
        ("PORTCULLIS_AUTH__MAX_FAILURES_PER_IP", "5"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("", Some(("carol", "guess"))).await.status(), 401);
    }
    // Refused before verifying, even with the right password, in the registry's shape.
    let resp = app.get("", Some(("carol", "carol-password"))).await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_registry_error(resp, 429, "TOOMANYREQUESTS").await;
    // Another name from the same address is not affected by carol's count…
    assert_eq!(
        app.get("", Some(("bob", "bob-password"))).await.status(),
        200
    );
    // …until the address as a whole has failed too often.
    assert_eq!(app.get("", Some(("bob", "guess"))).await.status(), 401);
    assert_eq!(app.get("", Some(("alice", "guess"))).await.status(), 401);
    assert_registry_error(
        app.get("", Some(("alice", "alice-password"))).await,
        429,
        "TOOMANYREQUESTS",
    )
    .await;
    // Anonymous requests are never throttled.
    assert_eq!(
        app.get("scope=repository:public/x:pull", None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn simultaneous_guesses_verify_at_most_the_limit_and_the_rest_get_429() {
    let app = Arc::new(spawn_app().await);
    // 300 guesses at once from one address for one account (the limit is 10), with the
    // right password among them.
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let password = if i == 150 {
                    "carol-password".to_string()
                } else {
                    format!("guess-{i}")
                };
                app.get("", Some(("carol", &password)))
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let verified = statuses.iter().filter(|s| **s != 429).count();
    assert!(
        verified <= 10,
        "{verified} of 300 simultaneous guesses were verified: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_pull_storm_with_one_new_password_shares_one_verification_and_is_never_throttled() {
    let app = Arc::new(
        spawn_app_with(&[
            ("PORTCULLIS_AUTH__MAX_FAILURES_PER_IP_AND_NAME", "3"),
            ("PORTCULLIS_AUTH__MAX_FAILURES_PER_IP", "5"),
        ])
        .await,
    );
    // 64 parallel requests with the same right password, none remembered yet: they share
    // one verification, so the throttle's reservations never refuse them.
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.get(
                    "scope=repository:public/x:pull",
                    Some(("bob", "bob-password")),
                )
                .await
                .status()
                .as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn garbage_refresh_tokens_from_an_address_lock_out_no_other_identity_token() {
    let app = spawn_app().await;
    let good = app.docker_login("bob", "bob-password").await;
    // One client behind the address retries its revoked (here: made-up) identity tokens.
    for i in 0..30 {
        let garbage = format!("pcr_{:0>43}", i);
        let status = app
            .post(&format!(
                "grant_type=refresh_token&refresh_token={garbage}&service=test-registry"
            ))
            .await
            .status()
            .as_u16();
        assert!([401, 429].contains(&status), "{status}");
    }
    let stale = format!("pcr_{:0>43}", 0);
    for _ in 0..15 {
        app.post(&format!(
            "grant_type=refresh_token&refresh_token={stale}&service=test-registry"
        ))
        .await;
    }
    assert_registry_error(
        app.post(&format!(
            "grant_type=refresh_token&refresh_token={stale}&service=test-registry"
        ))
        .await,
        429,
        "TOOMANYREQUESTS",
    )
    .await;
    // Another docker client's identity token, and passwords, from the same address still work.
    let resp = app
        .post(&format!(
            "grant_type=refresh_token&refresh_token={good}&service=test-registry&scope=repository:public/x:pull"
        ))
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        app.get("", Some(("carol", "carol-password")))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn two_authorization_headers_are_refused_not_resolved_by_order() {
    let app = spawn_app().await;
    let basic =
        |u: &str, p: &str| format!("Basic {}", BASE64.encode(format!("{u}:{p}").as_bytes()));
    let resp = app
        .client
        .get(format!("{}/token?scope=repository:bob/x:push", app.base))
        .header("authorization", basic("bob", "bob-password"))
        .header("authorization", basic("carol", "wrong"))
        .send()
        .await
        .unwrap();
    let message = assert_registry_error(resp, 400, "BAD_REQUEST").await;
    assert!(message.contains("2 times"), "{message}");
}

#[tokio::test]
async fn a_refresh_token_with_an_account_naming_someone_else_is_refused() {
    let app = spawn_app().await;
    let token = app.docker_login("bob", "bob-password").await;
    // POST, as docker and containers/image send it.
    let message = assert_registry_error(
        app.post(&format!(
            "grant_type=refresh_token&refresh_token={token}&service=test-registry&account=alice&scope=repository:alice/x:pull"
        ))
        .await,
        400,
        "BAD_TOKEN_OPTION",
    )
    .await;
    assert!(message.contains("account"), "{message}");
    // GET with the token as the Basic password of an empty user (containerd's fallback).
    assert_registry_error(
        app.get(
            "account=alice&scope=repository:alice/x:pull",
            Some(("", &token)),
        )
        .await,
        400,
        "BAD_TOKEN_OPTION",
    )
    .await;
    // Its owner's name, or none, is fine.
    for query in ["account=bob&", ""] {
        let resp = app
            .get(
                &format!("{query}scope=repository:bob/x:pull"),
                Some(("", &token)),
            )
            .await;
        assert_eq!(resp.status(), 200, "{query}");
    }
}

#[tokio::test]
async fn logging_in_in_a_loop_keeps_a_bounded_number_of_refresh_tokens() {
    let app = spawn_app_with(&[("PORTCULLIS_TOKEN__REFRESH_TOKENS_PER_SUBJECT", "3")]).await;
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(app.docker_login("bob", "bob-password").await);
    }
    assert_eq!(
        app.store
            .refresh_token_list(Some("bob"))
            .await
            .unwrap()
            .len(),
        3
    );
    let newest = tokens.last().unwrap();
    let resp = app
        .post(&format!(
            "grant_type=refresh_token&refresh_token={newest}&service=test-registry"
        ))
        .await;
    assert_eq!(resp.status(), 200, "the newest still works");
}

/// Every answer of the sign-in routes is an HTML page with a heading, whether sign-in is
/// configured or not, and whatever is wrong with the request.
async fn assert_login_routes_answer_pages(app: &TestApp, what: &str) {
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, &str, Option<&str>, &str)> = vec![
        ("GET", "/login/callback", None, ""),
        ("GET", "/login/callback?code=a&state=b", None, ""),
        ("GET", "/login/callback?code=%ZZ", None, ""),
        ("GET", "/login/nope", None, ""),
        ("PUT", "/login", None, ""),
        ("DELETE", "/login/tokens", None, ""),
        ("POST", "/login/tokens", Some(form), "name=x"),
        ("POST", "/login/tokens", Some("application/json"), "{}"),
        ("POST", "/login/tokens/abc/revoke", Some(form), ""),
        ("POST", "/logout", Some(form), "nothing=here"),
        ("GET", "/logout", None, ""),
    ];
    for (method, path, content_type, body) in cases {
        let mut req = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.base));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.body(body.to_string()).send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let text = resp.text().await.unwrap();
        assert!(
            (400..600).contains(&status),
            "{what}: {method} {path}: {status}"
        );
        assert!(
            ct.starts_with("text/html") && text.contains("<h1>"),
            "{what}: {method} {path}: {status} {ct}: {text}"
        );
    }
}

#[tokio::test]
async fn the_sign_in_routes_answer_every_error_as_a_page_whether_or_not_sign_in_is_configured() {
    let off = spawn_app().await;
    assert_login_routes_answer_pages(&off, "sign-in off").await;
    // Configured, with a provider that cannot be reached: /login blames it, and only it.
    let on = spawn_app_with(&[
        ("PORTCULLIS_OIDC__ISSUER", "http://127.0.0.1:9"),
        ("PORTCULLIS_OIDC__CLIENT_ID", "portcullis"),
    ])
    .await;
    assert_login_routes_answer_pages(&on, "sign-in on").await;
    let (status, text) = on.page("/login").await;
    assert_eq!(status, 503);
    assert!(
        text.contains("identity provider cannot be reached"),
        "{text}"
    );
    // A callback without the sign-in's cookie is refused before anything else.
    let (status, text) = on.page("/login/callback?code=a&state=b").await;
    assert_eq!(status, 400);
    assert!(text.contains("did not start this sign-in"), "{text}");
}

#[tokio::test]
async fn while_the_provider_is_down_sign_in_starts_do_not_pile_up_requests_to_it() {
    // A "provider" that hangs up on every connection, counting them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(conn);
        }
    });
    let app = spawn_app_with(&[
        ("PORTCULLIS_OIDC__ISSUER", &issuer),
        ("PORTCULLIS_OIDC__CLIENT_ID", "portcullis"),
    ])
    .await;
    for _ in 0..30 {
        assert_eq!(app.page("/login").await.0, 503);
    }
    let n = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        n <= 2,
        "{n} connections to the provider for 30 sign-in starts"
    );
}
