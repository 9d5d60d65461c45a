//! Policy files edited under a running server: in force after the file-change event or
//! SIGHUP, with no restart; a broken edit never replaces the policy in force and is
//! reported with its file and line (the reload endpoint, `/readyz`, `check`).

mod support;

use std::path::Path;
use std::time::Duration;

use support::oidc::jwt_claims;
use support::{basic_auth, http_get, wait_until, AdminApi, Portcullis};

const CAROL: (&str, &str) = ("carol", "carol-pass-1"); // no group

const CAROL_WRITES: &str = r#"
[[grant]]
to = ["user:carol"]
role = "writer"
repositories = ["team/**"]
"#;

/// The actions a token for carol carries on `team/app` when she asks for pull and push.
fn carol_may(p: &Portcullis) -> String {
    let r = http_get(
        &format!(
            "{}/token?service=portcullis&scope=repository:team/app:pull,push",
            p.url()
        ),
        &[("Authorization", &basic_auth(CAROL.0, CAROL.1))],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let claims = jwt_claims(r.json()["token"].as_str().unwrap());
    claims["access"]
        .as_array()
        .and_then(|a| a.first())
        .map(|a| {
            a["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A private copy of the fixture policies, to edit.
fn policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Portcullis::fixture_policies()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    // As editors do: a temporary file renamed into place.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

#[test]
fn a_valid_edit_is_in_force_after_the_file_changes_and_a_broken_one_keeps_the_policy_and_says_where(
) {
    let dir = policies();
    let p = Portcullis::start(dir.path(), &[]);
    p.add_user(CAROL.0, CAROL.1, &[]);
    p.add_user("alice", "alice-pass-1", &["admins"]);
    assert_eq!(carol_may(&p), "pull");

    write(dir.path(), "50-carol.toml", CAROL_WRITES);
    wait_until(Duration::from_secs(5), "the edit to be in force", || {
        carol_may(&p) == "pull,push"
    });
    p.wait_for_log("trigger=file change");

    // A broken edit: the policy in force stays, and the error says where.
    write(
        dir.path(),
        "50-carol.toml",
        "\n[[grant]]\nto = [\"user:carol\"]\nrol = \"writer\"\nrepositories = [\"team/**\"]\n",
    );
    let ready_url = format!("{}/readyz", p.url());
    wait_until(Duration::from_secs(5), "/readyz to warn", || {
        http_get(&ready_url, &[])
            .unwrap()
            .text()
            .contains("50-carol.toml:4")
    });
    let ready = http_get(&ready_url, &[]).unwrap();
    assert_eq!(ready.status, 200, "a broken file is a warning, not unready");
    assert!(
        ready.json()["warnings"][0]
            .as_str()
            .unwrap()
            .contains("the previous policy is in force"),
        "{}",
        ready.text()
    );
    assert_eq!(carol_may(&p), "pull,push");
    let api = AdminApi::for_user(&p, "alice");
    let status = AdminApi::expect(api.post("/policies/reload", serde_json::json!({})), 200);
    assert!(
        status["files_error"]["file"]
            .as_str()
            .unwrap()
            .ends_with("50-carol.toml"),
        "{status}"
    );
    assert_eq!(status["files_error"]["line"], 4);
    assert!(
        status["files_error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `rol`"),
        "{status}"
    );
    // `check` reports it too, and fails.
    let check = p.cli(&["check"], None);
    assert!(!check.success(), "{}", check.combined());
    assert!(
        check.combined().contains("50-carol.toml:4"),
        "{}",
        check.combined()
    );

    // Fixed: in force, and the warning is gone.
    std::fs::remove_file(dir.path().join("50-carol.toml")).unwrap();
    wait_until(Duration::from_secs(5), "the fix to be in force", || {
        carol_may(&p) == "pull"
    });
    let status = AdminApi::expect(api.get("/policies/status"), 200);
    assert!(status["files_error"].is_null(), "{status}");
}

#[test]
fn with_watching_off_an_edit_waits_for_sighup() {
    let dir = policies();
    let p = Portcullis::start(dir.path(), &[("PORTCULLIS_POLICIES__WATCH", "false")]);
    p.add_user(CAROL.0, CAROL.1, &[]);
    write(dir.path(), "50-carol.toml", CAROL_WRITES);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(carol_may(&p), "pull", "reloaded without being asked");

    // SAFETY: a plain signal to the child this test started.
    assert_eq!(unsafe { libc::kill(p.pid() as i32, libc::SIGHUP) }, 0);
    wait_until(
        Duration::from_secs(5),
        "the edit to be in force after SIGHUP",
        || carol_may(&p) == "pull,push",
    );
    p.wait_for_log("trigger=SIGHUP");
}
