//! The docker CLI, for `docker login` only: it needs no daemon (login is done client side).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::process::{isolate_client_env, run_command, CmdOutput, DEFAULT_CMD_TIMEOUT};
use super::tools::require_tool;

/// The docker CLI with `DOCKER_CONFIG` in a temp dir (so `~/.docker` is never touched).
///
/// `PATH` holds only a private dir with a `docker` symlink: the CLI picks a credential
/// helper (`docker-credential-pass`/`-secretservice`) found on PATH as its default store,
/// which would move credentials out of config.json; without one they land in config.json
/// (`auths.HOST.auth`, or `identitytoken` when the token server returned a refresh token).
/// Plain http to 127.0.0.1 needs no flag: the CLI treats 127.0.0.0/8 as an insecure
/// registry and falls back from https to http by itself.
pub struct DockerCli {
    bin: PathBuf,
    timeout: Duration,
    dir: TempDir,
    /// Whether `with_certs_d` gave it a private certs.d.
    certs_d: bool,
}

impl DockerCli {
    pub fn new() -> DockerCli {
        let real = require_tool("docker");
        let dir = tempfile::Builder::new()
            .prefix("e2e-docker-")
            .tempdir()
            .expect("cannot create a temp dir for docker");
        let bin_dir = dir.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("create bin dir");
        fs::create_dir_all(dir.path().join("config")).expect("create DOCKER_CONFIG dir");
        let bin = bin_dir.join("docker");
        symlink(&real, &bin).expect("symlink docker");
        DockerCli {
            bin,
            timeout: DEFAULT_CMD_TIMEOUT,
            dir,
            certs_d: false,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> DockerCli {
        self.timeout = timeout;
        self
    }

    /// Trusts the CAs `files` (`NAME.crt`, PEM) for registry `host` (`HOST:PORT`) the way
    /// docker's users do, in a `certs.d/HOST:PORT/` directory. Not /etc/docker/certs.d: the
    /// CLI reads `$XDG_CONFIG_HOME/docker/certs.d` instead when it runs for rootless docker
    /// (`ROOTLESSKIT_STATE_DIR` set), which keeps the test's trust out of the host's.
    pub fn with_certs_d(mut self, host: &str, files: &[(&str, &str)]) -> DockerCli {
        let dir = self.dir.path().join("xdg/docker/certs.d").join(host);
        fs::create_dir_all(&dir).expect("create certs.d");
        for (name, pem) in files {
            fs::write(dir.join(name), pem).expect("write a CA file");
        }
        self.certs_d = true;
        self
    }

    /// The `DOCKER_CONFIG` directory.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// `DOCKER_CONFIG/config.json`, where `login` stores credentials; usable as skopeo's or
    /// podman's `--authfile`.
    pub fn config_path(&self) -> PathBuf {
        self.config_dir().join("config.json")
    }

    /// config.json parsed (`{}` if it does not exist yet).
    pub fn config_json(&self) -> Value {
        match fs::read_to_string(self.config_path()) {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("docker config.json is not JSON ({e}): {text}")),
            Err(_) => Value::Object(Default::default()),
        }
    }

    /// `auths[host]` of config.json, e.g. `{"auth": "…"}` or `{"auth": "…", "identitytoken": "…"}`.
    pub fn auth_entry(&self, host: &str) -> Option<Value> {
        self.config_json().get("auths")?.get(host).cloned()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        isolate_client_env(&mut cmd, self.dir.path());
        cmd.env("DOCKER_CONFIG", self.config_dir())
            .env(
                "PATH",
                self.bin.parent().unwrap_or(Path::new("/nonexistent")),
            )
            .env("DOCKER_CLI_HINTS", "false");
        if self.certs_d {
            cmd.env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
                .env("ROOTLESSKIT_STATE_DIR", self.dir.path().join("rootlesskit"));
        }
        cmd
    }

    /// `docker ARGS…`, no stdin (only daemon-less commands work here).
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, None, self.timeout)
    }

    /// `docker login --username USER --password-stdin HOST`.
    pub fn login(&self, host: &str, user: &str, password: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(["login", "--username", user, "--password-stdin", host]);
        run_command(cmd, Some(password.as_bytes()), self.timeout)
    }

    /// `docker logout HOST`.
    pub fn logout(&self, host: &str) -> CmdOutput {
        self.run(&["logout", host])
    }
}

impl Default for DockerCli {
    fn default() -> Self {
        Self::new()
    }
}
