//! End to end, machine credentials: personal access tokens and robot accounts used by
//! skopeo and podman against the real registry, and remembered passwords forgotten the
//! moment they change.

mod support;

use std::time::Duration;

use support::{DockerCli, Podman, Skopeo, Stack};

fn stack() -> Stack {
    Stack::start(&[], &[("alice", "alice-pass-1", &["developers"])])
}

/// `portcullis token create …`: the secret on stdout.
fn create_token(s: &Stack, args: &[&str]) -> String {
    let mut all = vec!["token", "create"];
    all.extend_from_slice(args);
    let out = s.portcullis.cli(&all, None);
    out.assert_success("portcullis token create");
    let secret = out.stdout.trim().to_string();
    assert!(secret.starts_with("pcp_"), "{}", out.stdout);
    secret
}

#[test]
fn an_access_token_works_inside_its_scopes_and_nowhere_else() {
    let s = stack();
    let pat = create_token(
        &s,
        &[
            "--user",
            "alice",
            "--name",
            "ci-build",
            "--scope",
            "repository:team/app:pull,push",
        ],
    );
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("team/app:v1"), Some(("alice", &pat)))
        .assert_success("push inside the token's scope");
    sk.inspect(&s.dst("team/app:v1"), Some(("alice", &pat)))
        .assert_success("pull inside the token's scope");
    // alice may push to team/other (developers), but the token may not.
    sk.copy(&s.src(), &s.dst("team/other:v1"), Some(("alice", &pat)))
        .assert_failure("push outside the token's scope");
    // The token is alice's: presented with another name it is refused.
    s.portcullis.add_user("bob", "bob-pass-12", &[]);
    sk.inspect(&s.dst("team/app:v1"), Some(("bob", &pat)))
        .assert_failure("someone else's token");
    // podman logs in with it as with a password.
    let p = Podman::new();
    p.login(&s.registry.host_port(), "alice", &pat)
        .assert_success("podman login with a token");
    p.pull(&format!("{}/team/app:v1", s.registry.host_port()))
        .assert_success("podman pull with a token");

    let log = s.portcullis.wait_for_log("outside the token's scopes");
    assert!(log.contains("auth=\"access_token\""), "{log}");
    assert!(
        log.contains("outside the token's scopes"),
        "the audit says why push was cut:\n{log}"
    );
    assert!(!log.contains(&pat), "the token never reaches the log");
    let list = s
        .portcullis
        .cli(&["token", "list", "--user", "alice"], None);
    assert!(
        list.stdout.contains("ci-build") && list.stdout.contains("repository:team/app:pull,push"),
        "{}",
        list.stdout
    );
}

#[test]
fn an_access_token_is_refused_after_revocation_after_expiry_and_while_its_owner_is_disabled() {
    let s = stack();
    let sk = Skopeo::new();
    let ok = |pat: &str, what: &str| {
        sk.inspect(&s.dst("public/base:v1"), Some(("alice", pat)))
            .assert_success(what)
            .success()
    };
    let refused = |pat: &str, what: &str| {
        sk.inspect(&s.dst("public/base:v1"), Some(("alice", pat)))
            .assert_failure(what);
    };
    sk.copy(
        &s.src(),
        &s.dst("public/base:v1"),
        Some(("alice", "alice-pass-1")),
    )
    .assert_failure("alice may not push public/ (only pull)");
    s.portcullis.add_user("admin", "admin-pass-1", &["admins"]);
    sk.copy(
        &s.src(),
        &s.dst("public/base:v1"),
        Some(("admin", "admin-pass-1")),
    )
    .assert_success("seed image");

    // Revocation: takes effect at once, though the token was just used (and remembered).
    let pat = create_token(
        &s,
        &[
            "--user",
            "alice",
            "--name",
            "revoked",
            "--scope",
            "repository:public/**:pull",
        ],
    );
    assert!(ok(&pat, "before revocation"));
    s.portcullis
        .cli(
            &["token", "revoke", "--user", "alice", "--name", "revoked"],
            None,
        )
        .assert_success("revoke");
    refused(&pat, "after revocation");

    // Expiry.
    let pat = create_token(
        &s,
        &[
            "--user",
            "alice",
            "--name",
            "short",
            "--scope",
            "repository:public/**:pull",
            "--expires",
            "2s",
        ],
    );
    assert!(ok(&pat, "before expiry"));
    std::thread::sleep(Duration::from_millis(2500));
    refused(&pat, "after expiry");

    // A disabled owner disables the token; enabling brings it back.
    let pat = create_token(
        &s,
        &[
            "--user",
            "alice",
            "--name",
            "owner",
            "--scope",
            "repository:public/**:pull",
        ],
    );
    assert!(ok(&pat, "owner enabled"));
    s.portcullis
        .cli(&["user", "disable", "alice"], None)
        .assert_success("disable");
    refused(&pat, "owner disabled");
    s.portcullis
        .cli(&["user", "enable", "alice"], None)
        .assert_success("enable");
    assert!(ok(&pat, "owner enabled again"));

    let log = s.portcullis.wait_for_log("reason=\"account disabled\"");
    for reason in ["token revoked", "token expired", "account disabled"] {
        assert!(
            log.contains(&format!("reason=\"{reason}\"")),
            "audit has {reason:?}:\n{log}"
        );
    }
}

#[test]
fn a_token_exchanged_by_docker_login_stays_limited_to_its_scopes() {
    let s = stack();
    let pat = create_token(
        &s,
        &[
            "--user",
            "alice",
            "--name",
            "laptop",
            "--scope",
            "repository:alice/**:pull,push",
        ],
    );
    let docker = DockerCli::new();
    docker
        .login(&s.registry.host_port(), "alice", &pat)
        .assert_success("docker login with a token");
    let sk = Skopeo::new().with_authfile(docker.config_path());
    sk.copy(&s.src(), &s.dst("alice/app:v1"), None)
        .assert_success("push within the token's scope via the identity token");
    sk.copy(&s.src(), &s.dst("team/app:v1"), None)
        .assert_failure("the identity token does not widen the access token's scope");
    s.portcullis
        .cli(
            &["token", "revoke", "--user", "alice", "--name", "laptop"],
            None,
        )
        .assert_success("revoke");
    sk.inspect(&s.dst("alice/app:v1"), None)
        .assert_failure("the identity token dies with its access token");
}

#[test]
fn a_robot_pushes_through_its_policy_binding_and_stops_when_disabled_or_regenerated() {
    let s = stack();
    let out = s.portcullis.cli(
        &["robot", "create", "ci", "--description", "release pipeline"],
        None,
    );
    out.assert_success("robot create");
    let secret = out.stdout.trim().to_string();
    assert!(secret.starts_with("pcb_"));
    assert!(
        out.stderr.contains("robot+ci"),
        "tells how it logs in: {}",
        out.stderr
    );

    let sk = Skopeo::new();
    let creds = Some(("robot+ci", secret.as_str()));
    sk.copy(&s.src(), &s.dst("ci/build:v1"), creds)
        .assert_success("robot pushes ci/build (robot:ci is a writer on ci/**)");
    sk.copy(&s.src(), &s.dst("team/app:v1"), creds)
        .assert_failure("robot pushes outside its binding");
    sk.copy(
        &s.src(),
        &s.dst("ci/wrong:v1"),
        Some(("robot+ci", "pcb_wrong")),
    )
    .assert_failure("a wrong secret");

    s.portcullis
        .cli(&["robot", "disable", "ci"], None)
        .assert_success("disable");
    sk.inspect(&s.dst("ci/build:v1"), creds)
        .assert_failure("disabled robot");
    s.portcullis
        .cli(&["robot", "enable", "ci"], None)
        .assert_success("enable");
    let regen = s.portcullis.cli(&["robot", "regenerate", "ci"], None);
    regen.assert_success("regenerate");
    let new_secret = regen.stdout.trim().to_string();
    sk.inspect(&s.dst("ci/build:v1"), creds)
        .assert_failure("the old secret after regeneration");
    sk.inspect(&s.dst("ci/build:v1"), Some(("robot+ci", &new_secret)))
        .assert_success("the new secret");

    let list = s.portcullis.cli(&["robot", "list"], None);
    assert!(
        list.stdout.contains("ci") && list.stdout.contains("release pipeline"),
        "{}",
        list.stdout
    );
    let log = s.portcullis.wait_for_log("subject=\"robot:ci\"");
    assert!(!log.contains(&secret) && !log.contains(&new_secret));
}

#[test]
fn a_remembered_password_is_forgotten_the_moment_it_changes() {
    let s = stack();
    let sk = Skopeo::new();
    let old = Some(("alice", "alice-pass-1"));
    sk.copy(&s.src(), &s.dst("alice/app:v1"), old)
        .assert_success("push with the password");
    sk.inspect(&s.dst("alice/app:v1"), old)
        .assert_success("inspect: the password is remembered");
    s.portcullis.wait_for_log("auth=\"password (remembered)\"");

    // Changed by the CLI, another process: the server must notice on the very next request.
    s.portcullis
        .cli(&["user", "passwd", "alice"], Some("alice-new-pass\n"))
        .assert_success("passwd");
    let out = sk.inspect(&s.dst("alice/app:v1"), old);
    out.assert_failure("the old password right after the change");
    sk.inspect(&s.dst("alice/app:v1"), Some(("alice", "alice-new-pass")))
        .assert_success("the new password");
}
