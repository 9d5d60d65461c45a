//! The admin API, end to end: an admin (or automation) changes who may push where through
//! `/api/v1` alone, and the real registry and skopeo see the change with no restart.

mod support;

use serde_json::json;
use support::{http_get, http_request, AdminApi, Portcullis, Skopeo, Stack};

const ALICE: (&str, &str) = ("alice", "alice-pass-1"); // admins
const BOB: (&str, &str) = ("bob", "bob-pass-123"); // developers

fn stack() -> Stack {
    Stack::start(
        &[("PORTCULLIS_TOKEN__SERVICE", "e2e-registry")],
        &[
            (ALICE.0, ALICE.1, &["admins", "developers"]),
            (BOB.0, BOB.1, &["developers"]),
        ],
    )
}

/// The verdict and rule origin `POST /api/v1/explain` gives for one action.
fn explain(api: &AdminApi, user: &str, scope: &str) -> (String, String) {
    let e = AdminApi::expect(
        api.post("/explain", json!({ "user": user, "scopes": [scope] })),
        200,
    );
    let action = &e["scopes"][0]["actions"][0];
    (
        action["verdict"].as_str().unwrap().to_owned(),
        action["rule"]["origin"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn an_admin_creates_a_user_and_a_binding_through_the_api_and_skopeo_pushes_with_no_restart() {
    let s = stack();
    let api = AdminApi::for_user(&s.portcullis, ALICE.0);
    AdminApi::expect(api.post("/groups", json!({ "name": "qa" })), 201);
    let dave = AdminApi::expect(
        api.post(
            "/users",
            json!({ "name": "dave", "password": "dave-pass-1", "groups": ["qa"] }),
        ),
        201,
    );
    assert_eq!(dave["groups"], json!(["qa"]));
    let sk = Skopeo::new();
    let dave_creds = Some(("dave", "dave-pass-1"));
    sk.copy(&s.src(), &s.dst("qa/app:v1"), dave_creds)
        .assert_failure("dave pushing before any binding");
    assert_eq!(
        explain(&api, "dave", "repository:qa/app:push").0,
        "no grant"
    );
    let binding = json!({
        "effect": "grant",
        "subjects": ["group:qa"],
        "role": "writer",
        "repositories": ["qa/**"],
        "description": "QA pushes its test images",
    });

    // What it would change for dave, before it is made: push becomes allowed, by it.
    let p = AdminApi::expect(
        api.post(
            "/bindings/preview",
            json!({ "binding": binding, "user": "dave", "scopes": ["repository:qa/app:pull,push"] }),
        ),
        200,
    );
    assert_eq!(p["changes"], true, "{p}");
    assert_eq!(
        p["before"]["scopes"][0]["actions"][1]["verdict"],
        "no grant"
    );
    assert_eq!(p["after"]["scopes"][0]["actions"][1]["verdict"], "allowed");
    assert_eq!(
        p["after"]["scopes"][0]["actions"][1]["rule"]["text"],
        "grant writer to group:qa on qa/**"
    );
    // Nothing was saved.
    sk.copy(&s.src(), &s.dst("qa/app:v1"), dave_creds)
        .assert_failure("dave pushing after a mere preview");
    let same = AdminApi::expect(
        api.post(
            "/bindings/preview",
            json!({ "binding": binding, "user": "bob", "scopes": ["repository:qa/app:push"] }),
        ),
        200,
    );
    assert_eq!(same["changes"], false, "bob is not in qa: {same}");

    let b = AdminApi::expect(api.post("/bindings", binding), 201);
    let id = b["id"].as_i64().unwrap();
    let origin = b["origin"].as_str().unwrap().to_owned();
    assert!(
        origin.starts_with(&format!("binding {id}, made by alice on ")),
        "{origin}"
    );
    sk.copy(&s.src(), &s.dst("qa/app:v1"), dave_creds)
        .assert_success("dave pushing once bound");
    assert_eq!(
        explain(&api, "dave", "repository:qa/app:push"),
        ("allowed".to_owned(), origin.clone())
    );
    // Listed beside the files' rules, each with its origin.
    let list = AdminApi::expect(api.get("/bindings"), 200);
    let in_force = list["in_force"].as_array().unwrap();
    assert!(in_force.iter().any(
        |r| r["source"] == "file" && r["origin"].as_str().unwrap().ends_with("10-test.toml:3")
    ));
    assert!(in_force
        .iter()
        .any(|r| r["source"] == "database" && r["id"] == id));

    AdminApi::expect(api.delete(&format!("/bindings/{id}")), 204);
    sk.copy(&s.src(), &s.dst("qa/app:v2"), dave_creds)
        .assert_failure("dave pushing after the binding was deleted");
    assert_eq!(
        explain(&api, "dave", "repository:qa/app:push").0,
        "no grant"
    );
    AdminApi::expect(api.get(&format!("/bindings/{id}")), 404);

    // The recent audit records: dave's pushes, refused then allowed then refused, each
    // with the rule that decided.
    let mut seen = serde_json::Value::Null;
    support::wait_until(
        std::time::Duration::from_secs(5),
        "dave's token requests in the recent audit records",
        || {
            seen = AdminApi::expect(
                api.get("/audit?subject=dave&repository=qa/app&kind=token"),
                200,
            );
            seen["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["granted"].as_str().unwrap().contains("push"))
        },
    );
    let items = seen["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["subject"] == "dave"), "{seen}");
    let allowed = items
        .iter()
        .find(|e| e["granted"].as_str().unwrap().contains("push"))
        .unwrap();
    assert!(
        allowed["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("binding {id}")),
        "{allowed}"
    );
    let made = AdminApi::expect(api.get("/audit?kind=binding_created"), 200);
    assert_eq!(made["items"][0]["subject"], "alice", "{made}");
    assert_eq!(
        made["items"][0]["target"],
        format!("binding {id}"),
        "{made}"
    );

    // Every change is audited with its actor.
    let log = s.portcullis.wait_for_log("event=\"binding_deleted\"");
    for event in [
        "group_created",
        "user_created",
        "binding_created",
        "binding_deleted",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("event=\"{event}\"")) && l.contains("actor=\"alice\"")),
            "{event} audited with actor alice:\n{log}"
        );
    }
    assert!(!log.contains("dave-pass-1"), "a password reached the log");
}

#[test]
fn a_token_made_for_pushing_images_never_opens_the_admin_api() {
    let s = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    s.add_user(ALICE.0, ALICE.1, &["admins"]);
    s.add_user(BOB.0, BOB.1, &["developers"]);
    let url = format!("{}/api/v1/users", s.url());

    let none = http_get(&url, &[]).unwrap();
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("content-type"),
        Some("application/problem+json")
    );
    assert!(none
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));

    // alice administers, but this token of hers was made for pushing.
    let push = s.cli(
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "push",
            "--scope",
            "repository:team/**:pull,push",
        ],
        None,
    );
    push.assert_success("token create");
    let r = AdminApi::with_token(&s, push.stdout.trim()).get("/users");
    let p = AdminApi::expect(r, 403);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("not made for the admin API"),
        "{p}"
    );

    // bob has an admin-scoped token, but no rule lets him administer.
    let r = AdminApi::for_user(&s, "bob").get("/users");
    let p = AdminApi::expect(r, 403);
    assert_eq!(p["type"], "urn:portcullis:problem:forbidden");
    assert!(
        p["detail"].as_str().unwrap().contains("no rule lets bob"),
        "{p}"
    );

    // A revoked token is a 401, and so is a made-up one.
    let api = AdminApi::for_user(&s, "alice");
    AdminApi::expect(api.get("/users"), 200);
    let mine = AdminApi::expect(api.get("/users/alice/tokens"), 200);
    let id = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("admin-api") && t["revoked_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token cannot revoke itself (automation would lock itself out by mistake), nor can
    // an admin delete or disable their own account; another token can.
    let p = AdminApi::expect(api.delete(&format!("/users/alice/tokens/{id}")), 409);
    assert_eq!(p["type"], "urn:portcullis:problem:self");
    AdminApi::expect(api.delete("/users/alice"), 409);
    AdminApi::expect(
        api.call(
            "PATCH",
            "/users/alice",
            Some(serde_json::json!({"disabled": true})),
        ),
        409,
    );
    let other = AdminApi::for_user(&s, "alice");
    AdminApi::expect(other.delete(&format!("/users/alice/tokens/{id}")), 204);
    AdminApi::expect(api.get("/users"), 401);
    let made_up = AdminApi::with_token(&s, "pcp_0000000000000000000000000000000000000000000");
    AdminApi::expect(made_up.get("/users"), 401);
    let log = s.log();
    assert!(!log.contains(api.token()), "a token reached the log");
}

#[test]
fn bad_input_gets_a_problem_naming_the_field_and_leaves_nothing_behind() {
    let s = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    s.add_user(ALICE.0, ALICE.1, &["admins"]);
    let api = AdminApi::for_user(&s, "alice");

    let cases = [
        (
            "/bindings",
            json!({ "effect": "grant", "subjects": ["team:qa"], "role": "writer", "repositories": ["qa/**"] }),
            "subjects[0]",
        ),
        (
            "/bindings",
            json!({ "effect": "grant", "subjects": ["group:qa"], "role": "writr", "repositories": ["qa/**"] }),
            "role",
        ),
        (
            "/bindings",
            json!({ "effect": "grant", "subjects": ["group:qa"], "role": "writer", "repositories": ["qa/**"], "expires_at": "2020-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (
            "/bindings",
            json!({ "effect": "grant", "subjects": ["group:qa"], "role": "writer", "repositoris": ["qa/**"] }),
            "repositoris",
        ),
        (
            "/users",
            json!({ "name": "erin", "password": "erin-pass-1", "groups": ["no-such-group"] }),
            "groups[0]",
        ),
        ("/users", json!({ "name": "Erin", "password": "x" }), "name"),
        (
            "/users/alice/tokens",
            json!({ "name": "ci", "scopes": ["repository:qa/app"] }),
            "scopes[0]",
        ),
        (
            "/users/alice/tokens",
            json!({ "name": "ci", "scopes": ["repository:qa/app:pull"], "expires_in": "forever" }),
            "expires_in",
        ),
    ];
    for (path, body, field) in cases {
        let r = api.post(path, body.clone());
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p = AdminApi::expect(r, 400);
        assert_eq!(p["field"], field, "{path} {body}: {p}");
        assert!(p["detail"].as_str().unwrap().len() > 10, "{p}");
    }
    // The unknown role's message lists the roles there are.
    let p = AdminApi::expect(
        api.post(
            "/bindings",
            json!({ "effect": "grant", "subjects": ["group:qa"], "role": "writr", "repositories": ["qa/**"] }),
        ),
        400,
    );
    assert!(
        p["detail"].as_str().unwrap().contains("known roles: admin"),
        "{p}"
    );

    // Nothing half-done: no binding, no erin.
    let list = AdminApi::expect(api.get("/bindings"), 200);
    assert_eq!(list["database"], json!([]));
    AdminApi::expect(api.get("/users/erin"), 404);
    // Not JSON at all.
    let r = http_request(
        "POST",
        &format!("{}/api/v1/groups", s.url()),
        &[
            ("Authorization", &format!("Bearer {}", api.token())),
            ("Content-Type", "text/plain"),
        ],
        Some(b"qa"),
    )
    .unwrap();
    assert_eq!(r.status, 415, "{}", r.text());
}

#[test]
fn automation_mints_a_repository_token_that_expires_in_minutes_uses_it_and_revokes_it() {
    let s = stack();
    let api = AdminApi::for_user(&s.portcullis, ALICE.0);
    // One call to make it...
    let t = AdminApi::expect(
        api.post(
            "/users/bob/tokens",
            json!({ "name": "deploy-42", "scopes": ["repository:team/app:pull,push"], "expires_in": "10m" }),
        ),
        201,
    );
    let secret = t["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pcp_"));
    let expires = t["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'), "{expires}");
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("team/app:v1"), Some(("bob", &secret)))
        .assert_success("push with the minted token");
    // ...scoped to that one repository, whatever bob may do elsewhere...
    sk.copy(&s.src(), &s.dst("team/other:v1"), Some(("bob", &secret)))
        .assert_failure("push elsewhere with the minted token");
    // ...and one call to revoke it.
    let id = t["id"].as_str().unwrap();
    AdminApi::expect(api.delete(&format!("/users/bob/tokens/{id}")), 204);
    sk.copy(&s.src(), &s.dst("team/app:v2"), Some(("bob", &secret)))
        .assert_failure("push with the revoked token");
}
