//! Several replicas sharing one PostgreSQL database: users, tokens and revocations made
//! through one are honoured by the others, and what a replica remembers is forgotten when
//! a credential changes anywhere.

mod support;

use std::time::{Duration, Instant};

use support::{basic_auth, http_get, Portcullis, Postgres};

/// The keys directory replicas share (as they would a Kubernetes Secret): the key that
/// seals the signing keys in the database is there.
fn shared_keys() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn status(p: &Portcullis, user: &str, password: &str) -> u16 {
    http_get(
        &format!("{}/token?scope=repository:team/app:pull", p.url()),
        &[("Authorization", &basic_auth(user, password))],
    )
    .unwrap()
    .status
}

#[test]
fn two_replicas_share_users_tokens_and_revocations_through_postgresql() {
    let pg = Postgres::start();
    let url = pg.url();
    let keys = shared_keys();
    let keys = keys.path().to_str().unwrap();
    let a = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_STORE__URL", &url),
            ("PORTCULLIS_KEYS__DIR", keys),
        ],
    );
    let b = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_STORE__URL", &url),
            ("PORTCULLIS_KEYS__DIR", keys),
        ],
    );
    let check = a.cli(&["check"], None);
    check.assert_success("check against PostgreSQL");
    assert!(check.stdout.contains("(postgres)"), "{}", check.stdout);

    a.add_user("alice", "alice-pass-1", &["developers"]);
    assert_eq!(status(&a, "alice", "alice-pass-1"), 200);
    assert_eq!(
        status(&b, "alice", "alice-pass-1"),
        200,
        "a user made through one replica's database"
    );

    // A refresh token from replica A works at replica B.
    let login = http_get(
        &format!("{}/token?offline_token=true", a.url()),
        &[("Authorization", &basic_auth("alice", "alice-pass-1"))],
    )
    .unwrap();
    let refresh = login.json()["refresh_token"].as_str().unwrap().to_string();
    let grant = support::refresh_grant(&b.url(), "portcullis", &refresh).unwrap();
    assert_eq!(grant.status, 200, "{}", grant.text());

    // A password change made through the CLI: replica B remembered the old password, and
    // forgets it within the epoch poll (0.5 s).
    a.cli(&["user", "passwd", "alice"], Some("alice-new-pass\n"))
        .assert_success("passwd");
    // Each replica polls on its own clock, so each gets its own wait: B forgetting first
    // says nothing about A.
    for (name, replica) in [("B", &b), ("A", &a)] {
        let deadline = Instant::now() + Duration::from_secs(3);
        while status(replica, "alice", "alice-pass-1") != 401 {
            assert!(
                Instant::now() < deadline,
                "replica {name} kept accepting the old password"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(status(replica, "alice", "alice-new-pass"), 200);
    }
}

#[test]
fn replicas_started_at_the_same_moment_on_an_empty_database_migrate_it_once() {
    let pg = Postgres::start();
    let url = pg.url();
    let keys = shared_keys();
    let keys = keys.path().to_str().unwrap();
    let mut replicas: Vec<Portcullis> = (0..3)
        .map(|_| {
            Portcullis::launch(
                &Portcullis::fixture_policies(),
                &[
                    ("PORTCULLIS_STORE__URL", &url),
                    ("PORTCULLIS_KEYS__DIR", keys),
                ],
            )
        })
        .collect();
    for r in &mut replicas {
        r.wait_until_healthy();
    }
    for r in &replicas {
        let ready = http_get(&format!("{}/readyz", r.url()), &[]).unwrap();
        assert_eq!(ready.status, 200, "{}", ready.text());
    }
    let applied = replicas[0].log() + &replicas[1].log() + &replicas[2].log();
    assert_eq!(
        applied
            .matches("applied database migration version=1 ")
            .count(),
        1,
        "one replica applied the migrations:\n{applied}"
    );
    replicas[0].add_user("alice", "alice-pass-1", &[]);
    assert_eq!(status(&replicas[2], "alice", "alice-pass-1"), 200);
    // A robot (one statement joining robots and their secrets, on PostgreSQL too).
    let made = replicas[0].cli(&["robot", "create", "ci"], None);
    made.assert_success("robot create");
    let secret = made.stdout.trim().to_string();
    assert_eq!(status(&replicas[1], "robot+ci", &secret), 200);
    assert_eq!(status(&replicas[1], "robot+nobody", &secret), 401);
}

/// The push actions a token from `p` gives `user` on `repo`.
fn may_push(p: &Portcullis, user: &str, password: &str, repo: &str) -> bool {
    let r = http_get(
        &format!("{}/token?scope=repository:{repo}:push", p.url()),
        &[("Authorization", &basic_auth(user, password))],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let claims = support::oidc::jwt_claims(r.json()["token"].as_str().unwrap());
    claims["access"].as_array().is_some_and(|a| !a.is_empty())
}

#[test]
fn a_binding_made_on_one_replica_is_in_force_on_the_other_within_a_second() {
    let pg = Postgres::start();
    let url = pg.url();
    let keys = shared_keys();
    let keys = keys.path().to_str().unwrap();
    let a = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_STORE__URL", &url),
            ("PORTCULLIS_KEYS__DIR", keys),
        ],
    );
    let b = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_STORE__URL", &url),
            ("PORTCULLIS_KEYS__DIR", keys),
        ],
    );
    a.add_user("alice", "alice-pass-1", &["admins"]);
    a.add_user("dave", "dave-pass-1", &[]);
    assert!(!may_push(&b, "dave", "dave-pass-1", "qa/app"));

    let api = support::AdminApi::for_user(&a, "alice");
    let made = support::AdminApi::expect(
        api.post(
            "/bindings",
            serde_json::json!({ "effect": "grant", "subjects": ["user:dave"], "role": "writer", "repositories": ["qa/**"] }),
        ),
        201,
    );
    // In force on A when the call returns; on B within a second.
    assert!(may_push(&a, "dave", "dave-pass-1", "qa/app"));
    let start = Instant::now();
    while !may_push(&b, "dave", "dave-pass-1", "qa/app") {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "replica B did not see the binding within a second"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = start.elapsed();
    eprintln!("replica B saw the binding after {seen:?}");

    let id = made["id"].as_i64().unwrap();
    support::AdminApi::expect(api.delete(&format!("/bindings/{id}")), 204);
    // The recent audit records are written to PostgreSQL too.
    support::wait_until(
        Duration::from_secs(5),
        "dave's tokens in the audit window",
        || {
            let page = support::AdminApi::expect(api.get("/audit?subject=dave&kind=token"), 200);
            page["items"].as_array().unwrap().iter().any(|e| {
                e["granted"].as_str().unwrap().contains("qa/app") && e["count"].as_i64() >= Some(1)
            })
        },
    );
    let start = Instant::now();
    while may_push(&b, "dave", "dave-pass-1", "qa/app") {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "replica B kept the deleted binding for over a second"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_browser_session_made_on_one_replica_is_valid_on_the_other() {
    let pg = Postgres::start();
    let url = pg.url();
    let keys = shared_keys();
    let keys = keys.path().to_str().unwrap();
    let mut oidc = support::MockOidc::start();
    oidc.set_login("carol", &serde_json::json!({"preferred_username": "carol"}));
    let config = oidc.config_file("");
    let env = [
        ("PORTCULLIS_STORE__URL", url.as_str()),
        ("PORTCULLIS_KEYS__DIR", keys),
        ("PORTCULLIS_CONFIG", config.path().to_str().unwrap()),
    ];
    let a = Portcullis::start(&Portcullis::fixture_policies(), &env);
    let b = Portcullis::start(&Portcullis::fixture_policies(), &env);
    let browser = support::Browser::new();
    let got = browser.journey(vec![
        serde_json::json!({ "goto": format!("{}/login", a.url()) }),
        serde_json::json!({ "expect_text": "Signed in as carol" }),
        serde_json::json!({ "cookie": "portcullis_session", "as": "session" }),
    ]);
    let session = got["session"].as_str().unwrap();
    let page = http_get(
        &format!("{}/login/tokens", b.url()),
        &[("Cookie", &format!("portcullis_session={session}"))],
    )
    .unwrap();
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("Signed in as <strong>carol</strong>"),
        "{}",
        page.text()
    );
}

/// The `kid` of an anonymous token from `p`.
fn kid(p: &Portcullis) -> String {
    let body = http_get(
        &format!("{}/token?scope=repository:public/app:pull", p.url()),
        &[],
    )
    .unwrap()
    .json();
    let token = body["token"].as_str().unwrap();
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[test]
fn every_replica_signs_with_the_activated_key_within_a_second_and_only_with_published_keys() {
    let pg = Postgres::start();
    let url = pg.url();
    let keys = shared_keys();
    let keys = keys.path().to_str().unwrap();
    let env = [
        ("PORTCULLIS_STORE__URL", url.as_str()),
        ("PORTCULLIS_KEYS__DIR", keys),
    ];
    let a = Portcullis::start(&Portcullis::fixture_policies(), &env);
    let b = Portcullis::start(&Portcullis::fixture_policies(), &env);
    let old = kid(&a);
    assert_eq!(kid(&b), old, "both replicas sign with the one active key");

    let added = a.cli(&["key", "add"], None);
    added.assert_success("key add");
    let next = added.stdout.trim().to_owned();
    // Published, not signing, on both.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!((kid(&a), kid(&b)), (old.clone(), old.clone()));
    let bundle = std::fs::read_to_string(format!("{keys}/bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);

    // Activated through replica A's admin API: B follows within a second, and every token
    // either replica signs meanwhile carries one of the two published keys.
    a.add_user("admin", "admin-pass-1", &["admins"]);
    let api = support::AdminApi::for_user(&a, "admin");
    let t = Instant::now();
    support::AdminApi::expect(
        api.post(&format!("/keys/{next}/activate"), serde_json::json!({})),
        200,
    );
    let mut switched = None;
    while t.elapsed() < Duration::from_secs(3) {
        let (ka, kb) = (kid(&a), kid(&b));
        for k in [&ka, &kb] {
            assert!(
                *k == old || *k == next,
                "a token signed with an unpublished key {k}"
            );
        }
        assert_eq!(
            ka, next,
            "the replica that activated signs with the new key at once"
        );
        if kb == next {
            switched = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let switched = switched.expect("replica B never switched to the activated key");
    eprintln!(
        "replica B signs with the activated key {} ms after activate returned",
        switched.as_millis()
    );
    assert!(switched < Duration::from_secs(1), "{switched:?}");
    let keys_list = support::AdminApi::expect(api.get("/keys"), 200);
    assert_eq!(keys_list[0]["state"], "active");
    assert_eq!(keys_list[1]["state"], "retired");
    assert!(keys_list[1]["retire_after"].is_string(), "{keys_list}");
    // The JWKS served by either replica lists both keys, under both kids.
    let jwks = http_get(&format!("{}/.well-known/jwks.json", b.url()), &[])
        .unwrap()
        .json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4, "{jwks}");
}
