//! The admin API against its own OpenAPI document, checked by schemathesis (PyPI, installed
//! by `scripts/install-test-deps.sh` into `tests/fixtures/schemathesis/.venv`): generated
//! requests for every operation, and every check on (no 5xx, every status and body as
//! documented, problem documents for errors, 401 without credentials). The settings and the
//! reason for each are in `tests/fixtures/schemathesis/schemathesis.toml`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{http_get, run_command, AdminApi, Portcullis};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemathesis")
}

#[test]
fn the_live_api_conforms_to_its_openapi_document_under_schemathesis() {
    let st = fixture().join(".venv/bin/st");
    assert!(
        st.is_file(),
        "schemathesis is not installed: run scripts/install-test-deps.sh"
    );
    // Throttling off: schemathesis sends the same wrong token many times to check it gets
    // 401 each time, where the throttle would (rightly) answer 429 after a few. The
    // throttle has tests of its own.
    // The caller administers by a rule naming it, not through a group that a generated
    // `DELETE /groups/{name}` could remove; deleting or disabling itself, and revoking its
    // own token, are refused by the API (409).
    let policies = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(Portcullis::fixture_policies()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), policies.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(
        policies.path().join("90-caller.toml"),
        "[[grant]]\nto = [\"user:st-caller-0x9\"]\nrole = \"reader\"\nadmin_api = true\n",
    )
    .unwrap();
    let p = Portcullis::start(
        policies.path(),
        &[("PORTCULLIS_AUTH__FAILURE_WINDOW", "0s")],
    );
    p.add_user("st-caller-0x9", "caller-pass-1", &[]);
    let api = AdminApi::for_user(&p, "st-caller-0x9");
    // Something to find: a group with a member, a robot, a binding.
    AdminApi::expect(api.post("/groups", json!({ "name": "qa" })), 201);
    AdminApi::expect(
        api.post(
            "/users",
            json!({ "name": "bob", "password": "bob-pass-123", "groups": ["qa"] }),
        ),
        201,
    );
    AdminApi::expect(api.post("/robots", json!({ "name": "ci" })), 201);
    AdminApi::expect(
        api.post(
            "/bindings",
            json!({ "effect": "grant", "subjects": ["group:qa"], "role": "writer", "repositories": ["qa/**"] }),
        ),
        201,
    );

    // The served document is the checked-in one.
    let served = http_get(&format!("{}/api/v1/openapi.json", p.url()), &[]).unwrap();
    assert_eq!(served.status, 200);
    let checked_in =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json"))
            .unwrap();
    assert_eq!(
        served.text(),
        checked_in,
        "the served document differs from openapi.json"
    );

    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&st);
    cmd.current_dir(work.path())
        .env(
            "HYPOTHESIS_STORAGE_DIRECTORY",
            work.path().join(".hypothesis"),
        )
        .arg("--config-file")
        .arg(fixture().join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", p.url()))
        .args(["--url", &p.url()])
        .args(["-H", &format!("Authorization: Bearer {}", api.token())])
        .arg("--no-color");
    let out = run_command(cmd, None, Duration::from_secs(900));
    println!("{}", out.stdout);
    assert!(
        out.success(),
        "schemathesis found problems (exit {:?}):\n{}\n{}",
        out.code(),
        out.stdout,
        out.stderr
    );
    // Nothing a generated request sent made the server fail.
    let log = p.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    assert!(
        !log.contains(api.token()),
        "the caller's token reached the log"
    );
}
