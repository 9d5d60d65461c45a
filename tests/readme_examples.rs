//! The README's examples, run as written: the admin API walk-through (`curl` against a
//! live server, the `portcullis` CLI beside it) and the CLI block after it. Only the
//! server's address is replaced by the test's; a README edit that breaks an example breaks
//! this test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{run_command, AdminApi, Portcullis};

const MARKER: &str =
    "<!-- The commands below are run, as written, by tests/readme_examples.rs. -->";

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The `sh` code blocks after the marker, in order: the API walk-through, then the CLI.
fn blocks() -> Vec<String> {
    let text = readme();
    let start = text
        .find(MARKER)
        .expect("the README's admin examples marker");
    let mut out = Vec::new();
    let mut rest = &text[start..];
    while out.len() < 2 {
        let open = rest.find("```sh\n").expect("an sh block") + "```sh\n".len();
        let close = rest[open..].find("```").expect("the block's end") + open;
        out.push(rest[open..close].to_owned());
        rest = &rest[close + 3..];
    }
    out
}

/// Runs `script` with bash (`set -euo pipefail`), `portcullis` on PATH and configured as
/// the server `p` is.
fn run(p: &Portcullis, script: &str, stdin: &str) -> support::CmdOutput {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_portcullis"),
        bin.path().join("portcullis"),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(p.dir())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .envs(p.env().iter().map(|(k, v)| (k, v)));
    run_command(cmd, Some(stdin.as_bytes()), Duration::from_secs(120))
}

fn default_policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

#[test]
fn the_readmes_admin_api_walk_through_runs_as_written() {
    let p = Portcullis::start(&default_policies(), &[]);
    let [api_block, cli_block]: [String; 2] = blocks().try_into().unwrap();
    assert!(api_block.contains("API=http://localhost:5001/api/v1"));
    let script = api_block.replace("http://localhost:5001", &p.url());
    // `user add` reads alice's password from stdin, as it would at the prompt.
    let out = run(&p, &script, "alice-pass-1\n");
    out.assert_success("the README's admin API examples");
    // What the walk-through shows, it did: dave may push to qa/**, by the binding.
    assert!(
        out.stdout.contains("\"verdict\":\"allowed\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("binding 1, made by alice on "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("until "),
        "the binding is temporary: {}",
        out.stdout
    );

    let out = run(&p, &cli_block, "");
    out.assert_success("the README's CLI examples");
    assert!(
        out.stdout.contains("binding 2, made by cli:"),
        "{}",
        out.stdout
    );

    // Both bindings are in force on the server, made through two doors.
    let api = AdminApi::for_user(&p, "alice");
    let list = AdminApi::expect(api.get("/bindings"), 200);
    assert_eq!(list["database"].as_array().unwrap().len(), 2, "{list}");
}
