//! The `portcullis` binary as operators use it: configuration errors, `check`, `explain`,
//! user and group management, `registry-config`, `--help`, and a clean SIGTERM.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use support::{run_command, CmdOutput, Portcullis};

fn portcullis(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> CmdOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    run_command(cmd, stdin.map(str::as_bytes), Duration::from_secs(60))
}

/// A working directory laid out like the repository: policies/ with the shipped default.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/policies/default.toml"),
        dir.path().join("policies/default.toml"),
    )
    .unwrap();
    dir
}

#[test]
fn an_unknown_config_key_stops_startup_naming_the_file_line_and_fix() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("p.toml"),
        "[token]\nservice = \"x\"\nttl_seconds = 300\n",
    )
    .unwrap();
    let out = portcullis(dir.path(), &["serve", "--config", "p.toml"], &[], None);
    out.assert_failure("serve with a typo in the config");
    assert!(out.stderr.contains("p.toml:3"), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown field `ttl_seconds`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("fix:"), "{}", out.stderr);
}

#[test]
fn a_bad_environment_override_names_the_variable() {
    let dir = workdir();
    let out = portcullis(
        dir.path(),
        &["check"],
        &[("PORTCULLIS_TOKEN__TTL", "5 minutes")],
        None,
    );
    out.assert_failure("check with a bad duration");
    assert!(
        out.stderr.contains("PORTCULLIS_TOKEN__TTL"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("token.ttl"), "{}", out.stderr);
}

#[test]
fn the_example_config_passes_check() {
    let dir = workdir();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/portcullis.example.toml");
    let out = portcullis(dir.path(), &["check", "--config", example], &[], None);
    out.assert_success("check of portcullis.example.toml");
    assert!(out.stdout.contains("ok       policies"), "{}", out.stdout);
    assert!(out.stdout.contains("ok       database"), "{}", out.stdout);
}

#[test]
fn check_reports_a_broken_policy_with_its_file_and_line() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("policies/50-team.toml"),
        "[[grant]]\nto = [\"team:dev\"]\nrole = \"writer\"\nrepositories = [\"team/**\"]\n",
    )
    .unwrap();
    let out = portcullis(dir.path(), &["check"], &[], None);
    out.assert_failure("check with a broken policy");
    assert!(
        out.stdout.contains("policies/50-team.toml:2"),
        "{}",
        out.stdout
    );
    let serve = portcullis(
        dir.path(),
        &["serve"],
        &[("PORTCULLIS_SERVER__LISTEN", "127.0.0.1:0")],
        None,
    );
    serve.assert_failure("serve refuses to start with a broken policy");
    assert!(
        serve.stderr.contains("policies/50-team.toml:2"),
        "{}",
        serve.stderr
    );
}

#[test]
fn users_and_groups_are_managed_from_the_command_line() {
    let dir = workdir();
    let run = |args: &[&str], stdin: Option<&str>| portcullis(dir.path(), args, &[], stdin);
    run(&["group", "add", "developers"], None).assert_success("group add");
    run(
        &["user", "add", "alice", "--group", "developers"],
        Some("alice-password\n"),
    )
    .assert_success("user add");
    let list = run(&["user", "list"], None);
    list.assert_success("user list");
    assert!(
        list.stdout.contains("alice")
            && list.stdout.contains("active")
            && list.stdout.contains("developers"),
        "{}",
        list.stdout
    );
    assert_eq!(
        run(&["group", "members", "developers"], None).stdout.trim(),
        "alice"
    );

    let short = run(&["user", "add", "bob"], Some("short\n"));
    short.assert_failure("a short password");
    assert!(
        short.stderr.contains("at least 8 characters"),
        "{}",
        short.stderr
    );
    let upper = run(&["user", "add", "Bob"], Some("long-enough-pw\n"));
    upper.assert_failure("an upper-case name");
    assert!(upper.stderr.contains("lower-case"), "{}", upper.stderr);
    run(&["user", "add", "carol", "--password", "x"], None)
        .assert_failure("a password on the command line is not accepted");
    run(&["user", "add", "alice"], Some("another-password\n")).assert_failure("a duplicate user");

    run(&["user", "disable", "alice"], None).assert_success("disable");
    assert!(run(&["user", "list"], None).stdout.contains("disabled"));
    run(&["user", "enable", "alice"], None).assert_success("enable");
    run(&["user", "passwd", "alice"], Some("a-new-password\n")).assert_success("passwd");
    run(
        &["group", "members", "developers", "--remove", "alice"],
        None,
    )
    .assert_success("remove member");
    run(&["user", "remove", "alice"], None).assert_success("remove");
    assert!(!run(&["user", "list"], None).stdout.contains("alice"));
    run(&["user", "remove", "alice"], None).assert_failure("removing a missing user");
}

#[test]
fn explain_names_the_rule_behind_each_action() {
    let dir = workdir();
    portcullis(
        dir.path(),
        &["user", "add", "alice"],
        &[],
        Some("alice-password\n"),
    )
    .assert_success("user add");
    let out = portcullis(
        dir.path(),
        &[
            "explain",
            "--user",
            "alice",
            "--scope",
            "repository:alice/app:pull,push",
            "--scope",
            "repository:team/app:push",
        ],
        &[],
        None,
    );
    out.assert_success("explain");
    assert!(
        out.stdout.contains("policies/default.toml:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("allowed"), "{}", out.stdout);
    assert!(out.stdout.contains("no grant"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("push   is granted to others by policies/default.toml:")
            && out.stdout.contains("group:admins"),
        "says who does have it: {}",
        out.stdout
    );
    let anon = portcullis(
        dir.path(),
        &["explain", "--anonymous", "--scope", "repository:x:pull"],
        &[],
        None,
    );
    anon.assert_success("explain --anonymous");
    assert!(
        anon.stdout.contains("subject: anonymous"),
        "{}",
        anon.stdout
    );
}

#[test]
fn every_command_has_complete_help() {
    let dir = workdir();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["check"],
        &["registry-config"],
        &["user"],
        &["user", "add"],
        &["user", "passwd"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "remove"],
        &["user", "list"],
        &["group"],
        &["group", "add"],
        &["group", "remove"],
        &["group", "list"],
        &["group", "members"],
        &["explain"],
        &["ldap"],
        &["ldap", "test"],
        &["token"],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["robot"],
        &["robot", "create"],
        &["robot", "list"],
        &["robot", "regenerate"],
        &["robot", "disable"],
        &["robot", "enable"],
        &["robot", "remove"],
        &["refresh-token"],
        &["refresh-token", "list"],
        &["refresh-token", "revoke"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = portcullis(dir.path(), &args, &[], None);
        out.assert_success("--help");
        assert!(
            out.stdout.contains("Usage: portcullis"),
            "{c:?}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("--config <FILE>"),
            "{c:?} documents --config: {}",
            out.stdout
        );
    }
}

#[test]
fn registry_config_prints_env_form_and_writes_a_jwks_for_distribution_3() {
    let dir = workdir();
    let out = portcullis(
        dir.path(),
        &["registry-config", "--jwks", "--format", "env"],
        &[],
        None,
    );
    out.assert_success("registry-config --jwks --format env");
    assert!(
        out.stdout
            .contains("REGISTRY_AUTH_TOKEN_REALM=http://localhost:5001/token"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE="),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("wrote "),
        "names the files it wrote: {}",
        out.stderr
    );
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("keys/jwks.json")).unwrap())
            .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // The private key lives in the database, sealed under a key only its owner can read.
    let mode = std::fs::metadata(dir.path().join("keys/key-encryption.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "the key-encryption key is readable by its owner only"
    );
    let db = std::fs::read(dir.path().join("data/portcullis.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains("PRIVATE KEY"),
        "the database holds the signing key in the clear"
    );
    assert!(!dir.path().join("keys/signing-key.pem").exists());
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    let pid = p.child_mut().pid();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    for _ in 0..200 {
        status = p.child_mut().exit_status();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = status.expect("the server exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}\n{}", p.log());
    assert!(p.log().contains("stopped"), "{}", p.log());
}

#[test]
fn audit_records_are_written_whatever_the_log_level_in_text_and_json() {
    for format in ["text", "json"] {
        let p = Portcullis::start(
            &Portcullis::fixture_policies(),
            &[
                ("PORTCULLIS_LOG__LEVEL", "warn"),
                ("PORTCULLIS_LOG__FORMAT", format),
            ],
        );
        let resp = support::http_get(
            &format!("{}/token?scope=repository:public/x:pull", p.url()),
            &[],
        )
        .unwrap();
        assert_eq!(resp.status, 200);
        let log = p.wait_for_log("public/x");
        assert!(
            !log.contains("portcullis is listening"),
            "info lines are filtered out: {log}"
        );
        let line = log.lines().find(|l| l.contains("public/x")).unwrap();
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["target"], "audit");
                assert_eq!(v["granted"], "repository:public/x:pull");
            }
            _ => assert!(
                line.contains(r#"outcome="issued" subject="" auth="anonymous""#),
                "{line}"
            ),
        }
    }
}

/// Characters some log reader takes for a line break (or a terminal for a command).
const LINE_BREAKERS: [char; 6] = ['\n', '\r', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}'];

#[test]
fn no_value_from_a_client_can_forge_an_audit_line_in_either_format() {
    for format in ["text", "json"] {
        let p = Portcullis::start(
            &Portcullis::fixture_policies(),
            &[("PORTCULLIS_LOG__FORMAT", format)],
        );
        let forged = "x\u{85}2026-01-01T00.00.00Z  INFO audit event=\"token\" outcome=\"issued\" subject=\"admin\"\u{2028}\u{9b}31m";
        let resp = support::http_get(
            &format!(
                "{}/token?client_id=cid-{}",
                p.url(),
                support::oidc::url_encode(forged)
            ),
            &[("Authorization", &support::basic_auth(forged, "guess"))],
        )
        .unwrap();
        assert_eq!(resp.status, 401);
        p.wait_for_log_line("cid-");
        let log = p.log();
        for c in LINE_BREAKERS.iter().filter(|c| **c != '\n') {
            assert!(!log.contains(*c), "{format}: {c:?} written raw:\n{log}");
        }
        let records: Vec<&str> = log.lines().filter(|l| l.contains("cid-")).collect();
        assert_eq!(records.len(), 1, "{format}: one record:\n{log}");
        assert!(
            !log.lines().any(|l| l.starts_with("2026-01-01")),
            "{format}: a forged line:\n{log}"
        );
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(records[0]).unwrap();
            assert_eq!(v["subject"], forged, "the value reads back exactly");
        }
    }
}

#[test]
fn a_huge_request_writes_a_bounded_audit_record_that_says_it_was_cut() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    // 64 scopes of 200-character names: a 14 KB query.
    let scopes: Vec<String> = (0..64)
        .map(|i| format!("scope=repository:huge/{i:02}{}:pull,push", "n".repeat(200)))
        .collect();
    let query = scopes.join("&");
    assert!(query.len() > 13_000);
    let resp = support::http_get(&format!("{}/token?{query}", p.url()), &[]).unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let record = p.wait_for_log_line("huge/00");
    assert!(
        record.len() < 16 * 1024,
        "{} bytes in one audit record",
        record.len()
    );
    assert!(
        record.contains("(+54 more scopes not recorded)"),
        "says how many scopes were left out: {record}"
    );
}

#[test]
fn malformed_http_requests_are_counted_not_each_logged_as_an_error() {
    use std::io::{Read, Write};
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    for i in 0..50 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(format!("GARBAGE {i} \x01\x02\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
    }
    let log = p.wait_for_log("malformed or broken HTTP connection");
    assert!(
        !log.contains(" ERROR "),
        "no ERROR line per request:\n{log}"
    );
    assert_eq!(
        log.matches("malformed or broken HTTP connection").count(),
        1,
        "one summary line, then counted:\n{log}"
    );
    // The server is fine.
    let resp = support::http_get(&format!("{}/healthz", p.url()), &[]).unwrap();
    assert_eq!(resp.status, 200);
}

#[test]
fn the_database_is_created_private_and_check_warns_about_wider_modes() {
    let dir = workdir();
    let out = portcullis(dir.path(), &["check"], &[], None);
    out.assert_success("check on embedded defaults");
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("data"), 0o700, "the data directory");
    assert_eq!(mode("data/portcullis.db"), 0o600, "the database");
    assert_eq!(mode("data/portcullis.db.epoch"), 0o600, "the epoch file");
    assert!(!out.stdout.contains("warning"), "{}", out.stdout);

    std::fs::set_permissions(
        dir.path().join("data/portcullis.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = portcullis(dir.path(), &["check"], &[], None);
    assert!(
        out.stdout.contains("warning  database")
            && out.stdout.contains("mode 644")
            && out.stdout.contains("chmod 600"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_warns_when_a_group_from_outside_can_reach_an_admin_grant() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("p.toml"),
        "[ldap]\nurls = [\"ldap://127.0.0.1:9\"]\ndirect_bind = \"uid={username},dc=x\"\ngroup_prefix = \"\"\n\n\
         [oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"p\"\n\n[oidc.group_map]\n\"registry-admins\" = \"admins\"\n",
    )
    .unwrap();
    let out = portcullis(dir.path(), &["check", "--config", "p.toml"], &[], None);
    let policy_line = "policies/default.toml:";
    assert!(
        out.stdout
            .contains("warning  groups     ldap.group_prefix is empty: a group named \"admins\"")
            && out.stdout.contains(policy_line),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "oidc.group_map makes the identity provider's group \"registry-admins\" group:admins"
        ),
        "{}",
        out.stdout
    );
    // The defaults keep them apart: no warning.
    std::fs::write(
        dir.path().join("q.toml"),
        "[ldap]\nurls = [\"ldap://127.0.0.1:9\"]\ndirect_bind = \"uid={username},dc=x\"\n\n[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"p\"\n",
    )
    .unwrap();
    let out = portcullis(dir.path(), &["check", "--config", "q.toml"], &[], None);
    assert!(!out.stdout.contains("warning  groups"), "{}", out.stdout);
}

#[test]
fn a_command_whose_reader_goes_away_ends_quietly() {
    use std::io::Read;
    let dir = workdir();
    for args in [&["check"][..], &["registry-config"][..]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("PORTCULLIS_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().unwrap();
        // `| head -0`: the reader is gone before the command prints anything.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        child.wait().unwrap();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_expiry_beyond_ten_years_is_refused_instead_of_printing_an_expired_secret() {
    let dir = workdir();
    portcullis(
        dir.path(),
        &["user", "add", "alice"],
        &[],
        Some("alice-password\n"),
    )
    .assert_success("user add");
    for args in [
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "ci",
            "--scope",
            "repository:a:pull",
            "--expires",
            "9223372036854775807s",
        ][..],
        &["robot", "create", "ci", "--expires", "9223372036854775807s"][..],
    ] {
        let out = portcullis(dir.path(), args, &[], None);
        out.assert_failure("an absurd expiry");
        assert!(
            out.stdout.trim().is_empty(),
            "no secret printed: {}",
            out.stdout
        );
        assert!(
            out.stderr.contains("longer than 3650 days"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn changes_made_at_the_command_line_are_audited_with_who_made_them_whatever_the_level() {
    let dir = workdir();
    let quiet = [("PORTCULLIS_LOG__LEVEL", "error")];
    let out = portcullis(
        dir.path(),
        &["user", "add", "alice"],
        &quiet,
        Some("alice-password\n"),
    );
    out.assert_success("user add");
    assert!(
        out.stderr
            .contains(r#"event="user_created" outcome="done" actor="cli:"#)
            && out.stderr.contains(r#"target="alice""#),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("alice-password"), "never a secret");
    let out = portcullis(
        dir.path(),
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "ci",
            "--scope",
            "repository:a:pull",
        ],
        &quiet,
        None,
    );
    out.assert_success("token create");
    let secret = out.stdout.trim();
    assert!(
        out.stderr.contains(r#"event="access_token_created""#) && !out.stderr.contains(secret),
        "{}",
        out.stderr
    );
    let out = portcullis(dir.path(), &["user", "disable", "alice"], &quiet, None);
    assert!(
        out.stderr.contains(r#"event="user_disabled""#),
        "{}",
        out.stderr
    );
}

#[test]
fn a_binding_whose_role_a_file_no_longer_defines_is_left_out_and_check_says_so() {
    let dir = workdir();
    let roles = dir.path().join("policies/20-roles.toml");
    std::fs::write(&roles, "[roles]\ntagger = [\"pull\", \"tag\"]\n").unwrap();
    let made = portcullis(
        dir.path(),
        &[
            "binding",
            "create",
            "--to",
            "group:qa",
            "--role",
            "tagger",
            "--repo",
            "qa/**",
            "--expires",
            "2h",
        ],
        &[],
        None,
    );
    made.assert_success("binding create");
    assert_eq!(made.stdout.trim(), "1");
    // A role nobody defines is refused at once, naming the roles there are.
    let bad = portcullis(
        dir.path(),
        &[
            "binding", "create", "--to", "group:qa", "--role", "taggr", "--repo", "qa/**",
        ],
        &[],
        None,
    );
    assert!(!bad.success());
    assert!(
        bad.stderr.contains("--role: unknown role \"taggr\""),
        "{}",
        bad.stderr
    );

    let list = portcullis(dir.path(), &["binding", "list"], &[], None);
    list.assert_success("binding list");
    assert!(
        list.stdout.contains("binding 1, made by cli:"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout
            .contains("grant tagger to group:qa on qa/** until "),
        "{}",
        list.stdout
    );

    std::fs::remove_file(&roles).unwrap();
    let check = portcullis(dir.path(), &["check"], &[], None);
    check.assert_success("check (a left-out binding is a warning)");
    assert!(
        check.stdout.contains(
            "warning  bindings   binding 1 is not in force: grant entry: unknown role \"tagger\""
        ),
        "{}",
        check.stdout
    );
}

#[test]
fn the_bundle_the_registry_reads_is_readable_by_other_users() {
    let dir = workdir();
    portcullis(dir.path(), &["registry-config"], &[], None).assert_success("registry-config");
    for f in ["keys/bundle.pem", "keys/jwks.json"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{f}: the registry often runs as another user");
    }
}
