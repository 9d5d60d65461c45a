//! End to end with a real directory: slapd (started by the tests with a fixture of people
//! and groups, the memberOf overlay, and a test CA for StartTLS and LDAPS), portcullis
//! configured to use it, the real registry, and skopeo.

mod support;

use std::time::Duration;

use support::slapd::{BIND_DN, BIND_PASSWORD};
use support::{
    basic_auth, http_get, make_test_image, oci_ref, Portcullis, Registry, Skopeo, Slapd,
};

const PEOPLE: &str = "ou=people,dc=example,dc=org";

/// Extra `PORTCULLIS_*` settings.
type Settings<'a> = Vec<(&'a str, String)>;

/// portcullis using `urls`, plus `extra` settings.
fn portcullis(urls: &str, extra: &[(&str, String)]) -> Portcullis {
    let mut env: Vec<(&str, String)> = vec![
        ("PORTCULLIS_LDAP__URLS", urls.to_string()),
        ("PORTCULLIS_LDAP__BIND_DN", BIND_DN.to_string()),
        ("PORTCULLIS_LDAP__BIND_PASSWORD", BIND_PASSWORD.to_string()),
        ("PORTCULLIS_LDAP__USER_BASE", PEOPLE.to_string()),
        ("PORTCULLIS_LDAP__CONNECT_TIMEOUT", "2s".to_string()),
        ("PORTCULLIS_LDAP__TIMEOUT", "3s".to_string()),
    ];
    env.extend(extra.iter().cloned());
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Portcullis::start(&Portcullis::fixture_policies(), &refs)
}

fn token_status(p: &Portcullis, user: &str, password: &str) -> (u16, String) {
    let resp = http_get(
        &format!("{}/token?scope=repository:team/app:pull,push", p.url()),
        &[("Authorization", &basic_auth(user, password))],
    )
    .unwrap();
    (resp.status, resp.text())
}

fn image() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_test_image(dir.path(), "v1", "ldap");
    dir
}

#[test]
fn directory_users_push_through_a_group_policy_over_plain_ldap_starttls_and_ldaps() {
    let slapd = Slapd::start();
    let ca = slapd.ca_file().display().to_string();
    let modes: Vec<(&str, String, Settings)> = vec![
        ("plain LDAP", slapd.ldap_url(), vec![]),
        (
            "StartTLS",
            slapd.ldap_url(),
            vec![
                ("PORTCULLIS_LDAP__STARTTLS", "true".into()),
                ("PORTCULLIS_LDAP__CA_FILE", ca.clone()),
            ],
        ),
        (
            "LDAPS",
            slapd.ldaps_url(),
            vec![("PORTCULLIS_LDAP__CA_FILE", ca.clone())],
        ),
    ];
    let img = image();
    for (mode, url, extra) in modes {
        let p = portcullis(&url, &extra);
        let registry = Registry::start(&p.registry_config());
        // bob is in the directory's `developers` group, which the policies make writers of team/**.
        Skopeo::new()
            .copy(
                &oci_ref(img.path(), "v1"),
                &registry.docker_ref("team/app:v1"),
                Some(("bob", "bobpass")),
            )
            .assert_success(&format!("bob pushes team/app over {mode}"));
        p.wait_for_log("auth=\"ldap\"");
    }
}

#[test]
fn a_wrong_password_an_unknown_user_and_a_filter_injection_are_refused() {
    let slapd = Slapd::start();
    let p = portcullis(&slapd.ldap_url(), &[]);
    let registry = Registry::start(&p.registry_config());
    let host = registry.host_port();
    Skopeo::new()
        .login(&host, "bob", "wrong-password")
        .assert_failure("a wrong password");
    Skopeo::new()
        .login(&host, "nobody", "whatever")
        .assert_failure("an unknown user");
    // The injection would match every entry if the name were not escaped into the filter.
    Skopeo::new()
        .login(&host, "*)(uid=*", "alicepass")
        .assert_failure("a filter injection");
    assert_eq!(
        token_status(&p, "*", "alicepass").0,
        401,
        "a bare wildcard as the name"
    );
    let log = p.wait_for_log("reason=\"unknown user\"");
    assert!(log.contains("reason=\"wrong password\""), "{log}");
    assert!(
        !log.contains("alicepass") && !log.contains("wrong-password"),
        "no password in the log"
    );
}

#[test]
fn a_user_in_no_group_gets_only_what_every_authenticated_user_gets() {
    let slapd = Slapd::start();
    let p = portcullis(&slapd.ldap_url(), &[]);
    let registry = Registry::start(&p.registry_config());
    let img = image();
    let sk = Skopeo::new();
    sk.copy(
        &oci_ref(img.path(), "v1"),
        &registry.docker_ref("team/app:v1"),
        Some(("bob", "bobpass")),
    )
    .assert_success("seed");
    sk.inspect(
        &registry.docker_ref("team/app:v1"),
        Some(("dave", "davepass")),
    )
    .assert_success("dave (no group) pulls: every authenticated user may");
    sk.copy(
        &oci_ref(img.path(), "v1"),
        &registry.docker_ref("team/other:v1"),
        Some(("dave", "davepass")),
    )
    .assert_failure("dave (no group) pushes to team/");
}

#[test]
fn a_stopped_directory_gives_503_and_recovers_without_restarting_portcullis() {
    let mut slapd = Slapd::start();
    let p = portcullis(&slapd.ldap_url(), &[]);
    assert_eq!(token_status(&p, "alice", "alicepass").0, 200);
    assert_eq!(
        http_get(&format!("{}/readyz", p.url()), &[])
            .unwrap()
            .status,
        200
    );

    slapd.stop();
    // bob has not logged in yet, so nothing about him is remembered: the directory is needed.
    let (status, body) = token_status(&p, "bob", "bobpass");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("UNAVAILABLE") && body.contains("ldap"),
        "{body}"
    );
    let log = p.wait_for_log("an authentication backend is unavailable");
    assert!(
        log.contains(&slapd.ldap_url()),
        "the log names the server:\n{log}"
    );
    let ready = http_get(&format!("{}/readyz", p.url()), &[]).unwrap();
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["checks"]["ldap"], "unavailable");
    // The outage is in the metrics: the 503 and the failed probe, the directory down, and the
    // directory's latency: alice's login before it, and bob's failed attempt.
    let m = http_get(&format!("{}/metrics", p.url()), &[])
        .unwrap()
        .text();
    let value = |sample: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {sample} in:\n{m}"))
    };
    assert!(
        value(r#"portcullis_backend_errors_total{backend="ldap"}"#) >= 1.0,
        "{m}"
    );
    assert_eq!(
        value(r#"portcullis_backend_up{backend="ldap"}"#),
        0.0,
        "{m}"
    );
    assert_eq!(
        value(r#"portcullis_backend_up{backend="database"}"#),
        1.0,
        "{m}"
    );
    assert_eq!(
        value(r#"portcullis_authentication_duration_seconds_count{authenticator="ldap"}"#),
        2.0,
        "{m}"
    );
    // alice was verified a moment ago: remembered credentials keep working during the outage.
    assert_eq!(token_status(&p, "alice", "alicepass").0, 200);

    slapd.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = token_status(&p, "bob", "bobpass").0;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status, 200, "recovered without restarting portcullis");
}

#[test]
fn the_second_server_takes_over_when_the_first_is_down() {
    let mut first = Slapd::start();
    let second = Slapd::start();
    let p = portcullis(&format!("{},{}", first.ldap_url(), second.ldap_url()), &[]);
    assert_eq!(token_status(&p, "alice", "alicepass").0, 200);
    first.stop();
    assert_eq!(
        token_status(&p, "bob", "bobpass").0,
        200,
        "bob through the second server"
    );
    let log = p.wait_for_log("trying the next one");
    assert!(log.contains(&first.ldap_url()), "{log}");
}

#[test]
fn ldap_test_shows_what_the_directory_says_without_any_password() {
    let slapd = Slapd::start();
    let p = portcullis(&slapd.ldap_url(), &[]);
    let out = p.cli(
        &[
            "ldap",
            "test",
            "--user",
            "alice",
            "--scope",
            "repository:team/app:push",
        ],
        None,
    );
    out.assert_success("portcullis ldap test");
    assert!(
        out.stdout.contains("uid=alice,ou=people,dc=example,dc=org"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("developers") && out.stdout.contains("registry-admins"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("grant writer to group:developers"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("push") && out.stdout.contains("allowed"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(BIND_PASSWORD) && !out.stderr.contains(BIND_PASSWORD));
    let missing = p.cli(&["ldap", "test", "--user", "nobody"], None);
    missing.assert_success("ldap test for an unknown user");
    assert!(
        missing.stdout.contains("not in the directory"),
        "{}",
        missing.stdout
    );
}

#[test]
fn groups_from_a_member_uid_search_can_be_renamed_and_restricted() {
    let slapd = Slapd::start();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[ldap]\ngroup_attribute = \"\"\ngroup_base = \"ou=groups,dc=example,dc=org\"\ngroup_filter = \"(memberUid={username})\"\nonly_mapped_groups = true\n\n[ldap.group_map]\nops = \"developers\"\n",
    )
    .unwrap();
    let p = portcullis(
        &slapd.ldap_url(),
        &[("PORTCULLIS_CONFIG", config.path().display().to_string())],
    );
    let check = p.cli(&["ldap", "test", "--user", "bob"], None);
    assert!(
        check.stdout.contains("ops (in the directory)"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("developers (as group:NAME"),
        "{}",
        check.stdout
    );
    let registry = Registry::start(&p.registry_config());
    let img = image();
    Skopeo::new()
        .copy(
            &oci_ref(img.path(), "v1"),
            &registry.docker_ref("team/app:v1"),
            Some(("bob", "bobpass")),
        )
        .assert_success("bob, in ops (mapped to developers), pushes team/app");
    Skopeo::new()
        .copy(
            &oci_ref(img.path(), "v1"),
            &registry.docker_ref("team/app:v2"),
            Some(("alice", "alicepass")),
        )
        .assert_failure("alice is in no group with a memberUid entry: no developers");
}

#[test]
fn docker_login_as_a_directory_user_gives_an_identity_token_that_keeps_working() {
    let slapd = Slapd::start();
    let p = portcullis(&slapd.ldap_url(), &[]);
    let registry = Registry::start(&p.registry_config());
    let docker = support::DockerCli::new();
    docker
        .login(&registry.host_port(), "bob", "bobpass")
        .assert_success("docker login as bob (LDAP)");
    let entry = docker.auth_entry(&registry.host_port()).expect("an entry");
    assert!(entry["identitytoken"].as_str().unwrap().starts_with("pcr_"));
    let img = image();
    // The identity token is redeemed against the directory (bob still exists, still a developer).
    Skopeo::new()
        .with_authfile(docker.config_path())
        .copy(
            &oci_ref(img.path(), "v1"),
            &registry.docker_ref("team/app:v1"),
            None,
        )
        .assert_success("push with the directory user's identity token");
    p.wait_for_log("auth=\"refresh_token\"");
}

#[test]
fn nested_groups_against_a_directory_without_the_in_chain_rule_degrade_gracefully() {
    // OpenLDAP does not implement Active Directory's in-chain rule: it evaluates the filter
    // as Undefined (success, no entries). Groups from memberOf must still count, and the
    // search must not turn into an outage.
    let slapd = Slapd::start();
    let p = portcullis(
        &slapd.ldap_url(),
        &[
            ("PORTCULLIS_LDAP__NESTED_GROUPS", "true".into()),
            (
                "PORTCULLIS_LDAP__GROUP_BASE",
                "ou=groups,dc=example,dc=org".into(),
            ),
        ],
    );
    assert_eq!(token_status(&p, "bob", "bobpass").0, 200);
    let out = p.cli(&["ldap", "test", "--user", "bob"], None);
    out.assert_success("ldap test with nested groups");
    assert!(
        out.stdout.contains("developers (in the directory)"),
        "{}",
        out.stdout
    );
    assert!(
        slapd.log().contains("undefined"),
        "the in-chain filter reached the directory"
    );
}
