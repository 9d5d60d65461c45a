//! End to end: Debian's docker-registry (distribution 2.8) configured from
//! `portcullis registry-config`, driven by the real clients (skopeo, podman, docker login),
//! with users and groups created through the `portcullis` CLI and the policies in
//! `tests/fixtures/policies`.
//!
//! Run by `scripts/test.sh`, which installs the components; a missing one fails the test.

mod support;

use support::{http_get, http_request, DockerCli, Podman, Skopeo, Stack};

const ALICE: (&str, &str) = ("alice", "alice-pass-1"); // admins, developers
const BOB: (&str, &str) = ("bob", "bob-pass-123"); // developers
const CAROL: (&str, &str) = ("carol", "carol-pass-1"); // no group

/// The stack these tests share: alice (admins, developers), bob (developers), carol.
fn stack() -> Stack {
    Stack::start(
        &[("PORTCULLIS_TOKEN__SERVICE", "e2e-registry")],
        &[
            (ALICE.0, ALICE.1, &["admins", "developers"]),
            (BOB.0, BOB.1, &["developers"]),
            (CAROL.0, CAROL.1, &[]),
        ],
    )
}

/// A token from portcullis over plain HTTP, as a client would get it.
fn token(s: &Stack, creds: Option<(&str, &str)>, scope: &str) -> String {
    let auth = creds.map(|(u, p)| support::basic_auth(u, p));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let resp = http_get(
        &format!(
            "{}/token?service=e2e-registry&scope={scope}",
            s.portcullis.url()
        ),
        &headers,
    )
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["token"].as_str().unwrap().to_string()
}

#[test]
fn registry_config_output_is_accepted_verbatim_by_the_registry() {
    let s = stack();
    let auth = s.portcullis.registry_config();
    assert!(
        auth.contains(&format!(
            "realm: \"http://localhost:{}/token\"",
            s.portcullis.port()
        )),
        "{auth}"
    );
    assert!(auth.contains("service: \"e2e-registry\""), "{auth}");
    // The registry started with it and challenges clients to come to us.
    let resp = http_get(&format!("{}/v2/", s.registry.url()), &[]).unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"http://localhost:{}/token\",service=\"e2e-registry\"",
            s.portcullis.port()
        )
    );
}

#[test]
fn skopeo_logs_in_copies_inspects_lists_tags_and_deletes_where_policy_allows() {
    let s = stack();
    let sk = Skopeo::new();
    sk.login(&s.registry.host_port(), ALICE.0, ALICE.1)
        .assert_success("skopeo login");
    sk.copy(&s.src(), &s.dst("team/app:v1"), None)
        .assert_success("skopeo copy (push)");
    let inspect = sk.inspect(&s.dst("team/app:v1"), None);
    inspect.assert_success("skopeo inspect");
    assert_eq!(
        inspect.json()["Name"],
        format!("{}/team/app", s.registry.host_port())
    );
    let tags = sk.list_tags(&s.dst("team/app"), None);
    tags.assert_success("skopeo list-tags");
    assert_eq!(tags.json()["Tags"], serde_json::json!(["v1"]));
    // alice is an admin: delete (the registry asks for `*` or `delete`).
    sk.delete(&s.dst("team/app:v1"), None)
        .assert_success("skopeo delete");
    sk.inspect(&s.dst("team/app:v1"), None)
        .assert_failure("inspect after delete");

    let audit = s
        .portcullis
        .wait_for_log("outcome=\"issued\" subject=\"alice\"");
    assert!(
        audit.contains("outcome=\"issued\" subject=\"alice\""),
        "audit events name the subject:\n{audit}"
    );
}

#[test]
fn a_push_that_policy_denies_fails_with_the_registrys_insufficient_scope() {
    let s = stack();
    // carol is in no group: she may pull everything but push only to carol/**.
    let out = Skopeo::new().copy(&s.src(), &s.dst("team/app:v1"), Some(CAROL));
    out.assert_failure("carol pushing to team/app");
    assert!(
        out.stderr.contains("denied") || out.stderr.contains("unauthorized"),
        "skopeo reports the refusal: {}",
        out.stderr
    );
    // The same at the wire: a token without push gets insufficient_scope from the registry.
    let token = token(&s, Some(CAROL), "repository:team/app:pull,push");
    let resp = http_request(
        "POST",
        &format!("{}/v2/team/app/blobs/uploads/", s.registry.url()),
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .unwrap();
    assert_eq!(resp.status, 401);
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    // And `explain` says why.
    let explain = s.portcullis.cli(
        &[
            "explain",
            "--user",
            "carol",
            "--scope",
            "repository:team/app:pull,push",
        ],
        None,
    );
    explain.assert_success("portcullis explain");
    assert!(explain.stdout.contains("push"), "{}", explain.stdout);
    assert!(explain.stdout.contains("no grant"), "{}", explain.stdout);
}

#[test]
fn each_user_owns_their_namespace_and_only_theirs() {
    let s = stack();
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("carol/tool:v1"), Some(CAROL))
        .assert_success("carol pushes to carol/");
    sk.delete(&s.dst("carol/tool:v1"), Some(CAROL))
        .assert_success("carol deletes in carol/");
    sk.copy(&s.src(), &s.dst("bob/tool:v1"), Some(CAROL))
        .assert_failure("carol pushes to bob/");
}

#[test]
fn anonymous_pulls_are_allowed_and_denied_per_policy() {
    let s = stack();
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("public/base:v1"), Some(ALICE))
        .assert_success("alice pushes public/base");
    sk.copy(&s.src(), &s.dst("team/app:v1"), Some(ALICE))
        .assert_success("alice pushes team/app");
    sk.inspect(&s.dst("public/base:v1"), None)
        .assert_success("anonymous inspect of public/base");
    let out = sk.inspect(&s.dst("team/app:v1"), None);
    out.assert_failure("anonymous inspect of team/app");
    let audit = s
        .portcullis
        .wait_for_log("requested=\"repository:team/app:pull\" granted=\"\"");
    assert!(
        audit.contains("auth=\"anonymous\"")
            && audit.contains("requested=\"repository:team/app:pull\" granted=\"\""),
        "the anonymous refusal is audited:\n{audit}"
    );
}

#[test]
fn a_wrong_password_is_rejected_at_login_by_every_client() {
    let s = stack();
    let host = s.registry.host_port();
    let out = Skopeo::new().login(&host, BOB.0, "wrong-password");
    out.assert_failure("skopeo login with a wrong password");
    assert!(
        out.stderr.contains("invalid username/password"),
        "skopeo reports our 401: {}",
        out.stderr
    );
    Podman::new()
        .login(&host, BOB.0, "wrong-password")
        .assert_failure("podman login with a wrong password");
    DockerCli::new()
        .login(&host, BOB.0, "wrong-password")
        .assert_failure("docker login with a wrong password");
    Skopeo::new()
        .login(&host, "nobody", "whatever")
        .assert_failure("skopeo login as an unknown user");
    let audit = s.portcullis.wait_for_log("reason=\"unknown user\"");
    assert!(audit.contains("reason=\"wrong password\""), "{audit}");
    assert!(audit.contains("reason=\"unknown user\""), "{audit}");
}

#[test]
fn podman_logs_in_pushes_and_pulls_through_a_group_grant() {
    let s = stack();
    let host = s.registry.host_port();
    let p = Podman::new();
    p.login(&host, BOB.0, BOB.1).assert_success("podman login");
    p.pull_oci(s.image.path(), "v1", "localhost/e2e/app:v1")
        .assert_success("podman pull oci layout");
    p.push_to("localhost/e2e/app:v1", &s.dst("team/app:v1"))
        .assert_success("podman push to team/app (developers are writers)");
    let fresh = Podman::new().with_authfile(p.authfile());
    fresh
        .pull(&format!("{host}/team/app:v1"))
        .assert_success("podman pull");
    p.push_to("localhost/e2e/app:v1", &s.dst("team/frozen/app:v1"))
        .assert_failure("push into the frozen namespace");
}

#[test]
fn docker_login_stores_an_identity_token_that_skopeo_and_podman_use_through_post() {
    let s = stack();
    let host = s.registry.host_port();
    let docker = DockerCli::new();
    docker
        .login(&host, ALICE.0, ALICE.1)
        .assert_success("docker login");
    let config = std::fs::read_to_string(docker.config_path()).unwrap();
    assert!(
        !config.contains(ALICE.1),
        "the password is not stored:\n{config}"
    );
    let entry = docker.auth_entry(&host).expect("an entry for the registry");
    let identity = entry["identitytoken"]
        .as_str()
        .expect("an identitytoken")
        .to_string();
    assert!(identity.starts_with("pcr_"));

    // skopeo and podman read docker's config.json and exchange the identity token with
    // POST grant_type=refresh_token.
    let sk = Skopeo::new().with_authfile(docker.config_path());
    sk.copy(&s.src(), &s.dst("alice/app:v1"), None)
        .assert_success("skopeo push with the identity token");
    sk.inspect(&s.dst("alice/app:v1"), None)
        .assert_success("skopeo inspect with the identity token");
    let p = Podman::new().with_authfile(docker.config_path());
    p.pull(&format!("{host}/alice/app:v1"))
        .assert_success("podman pull with the identity token");

    let log = s.portcullis.wait_for_log("client_id=\"containers/image\"");
    assert!(
        log.contains("auth=\"refresh_token\""),
        "POST refresh grants were used:\n{log}"
    );
    assert!(
        log.contains("client_id=\"docker\""),
        "docker login asked for the refresh token:\n{log}"
    );
    assert!(log.contains("client_id=\"containers/image\""), "{log}");

    // Revoking the refresh token ends it.
    s.portcullis
        .cli(&["refresh-token", "revoke", "--user", "alice"], None)
        .assert_success("revoke");
    Skopeo::new()
        .with_authfile(docker.config_path())
        .inspect(&s.dst("alice/app:v1"), None)
        .assert_failure("inspect with a revoked identity token");
}

#[test]
fn the_catalog_is_listed_for_admins_only() {
    let s = stack();
    Skopeo::new()
        .copy(&s.src(), &s.dst("team/app:v1"), Some(ALICE))
        .assert_success("push");
    let get_catalog = |token: &str| {
        http_get(
            &format!("{}/v2/_catalog", s.registry.url()),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .unwrap()
    };
    let admin = get_catalog(&token(&s, Some(ALICE), "registry:catalog:*"));
    assert_eq!(admin.status, 200, "{}", admin.text());
    assert_eq!(
        admin.json()["repositories"],
        serde_json::json!(["team/app"])
    );
    let other = get_catalog(&token(&s, Some(BOB), "registry:catalog:*"));
    assert_eq!(other.status, 401);
    assert!(other
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
}

#[test]
fn no_secret_ever_reaches_the_log() {
    let s = stack();
    let host = s.registry.host_port();
    let docker = DockerCli::new();
    docker
        .login(&host, BOB.0, BOB.1)
        .assert_success("docker login");
    let identity = docker.auth_entry(&host).unwrap()["identitytoken"]
        .as_str()
        .unwrap()
        .to_string();
    Skopeo::new()
        .with_authfile(docker.config_path())
        .copy(&s.src(), &s.dst("team/x:v1"), None)
        .assert_success("push");
    Skopeo::new()
        .login(&host, CAROL.0, "carol-wrong-pass")
        .assert_failure("wrong password");
    let token = token(&s, Some(BOB), "repository:team/x:pull");
    let log = s
        .portcullis
        .wait_for_log("requested=\"repository:team/x:pull\"");
    for secret in [
        BOB.1,
        CAROL.1,
        "carol-wrong-pass",
        identity.as_str(),
        token.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    assert!(!log.contains("PRIVATE KEY"));
}

#[test]
fn tokens_without_x5c_verify_by_their_libtrust_kid() {
    let s = Stack::start(
        &[
            ("PORTCULLIS_TOKEN__SERVICE", "e2e-registry"),
            ("PORTCULLIS_TOKEN__X5C", "false"),
        ],
        &[(CAROL.0, CAROL.1, &[])],
    );
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("carol/app:v1"), Some(CAROL))
        .assert_success("push with a kid-only token");
    sk.inspect(&s.dst("carol/app:v1"), Some(CAROL))
        .assert_success("pull with a kid-only token");
}
