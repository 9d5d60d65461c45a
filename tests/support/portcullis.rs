//! The `portcullis` binary under test, started like an operator would: `portcullis serve`
//! with a config of environment variables, in a temp dir of its own, on a free port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{free_port, run_command, ChildGuard, CmdOutput};

pub struct Portcullis {
    child: ChildGuard,
    dir: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
}

impl Portcullis {
    /// Starts `portcullis serve` with `policies_dir` and the given extra `PORTCULLIS_*`
    /// settings, and waits until `/healthz` answers.
    pub fn start(policies_dir: &Path, extra_env: &[(&str, &str)]) -> Portcullis {
        let mut p = Portcullis::launch(policies_dir, extra_env);
        p.wait_until_healthy();
        p
    }

    /// Waits (up to 30 s) until `/healthz` answers 200; panics with the log otherwise.
    pub fn wait_until_healthy(&mut self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        self.child
            .wait_for_http(&url, Duration::from_secs(30), &[200]);
    }

    /// Starts `portcullis serve` serving HTTPS (its configuration has `[server.tls]`), and
    /// waits until it listens. Its URLs are then `https://localhost:PORT`.
    pub fn start_https(policies_dir: &Path, extra_env: &[(&str, &str)]) -> Portcullis {
        let mut p = Portcullis::launch(policies_dir, extra_env);
        let addr = format!("127.0.0.1:{}", p.port);
        p.child.wait_for_port(&addr, Duration::from_secs(30));
        p
    }

    /// Starts `portcullis serve` like [`Portcullis::start`], without waiting for it (to start
    /// several at the same moment).
    pub fn launch(policies_dir: &Path, extra_env: &[(&str, &str)]) -> Portcullis {
        Portcullis::launch_wrapped(policies_dir, extra_env, None)
    }

    /// Starts `portcullis serve` with `dir` a small tmpfs (`size`, e.g. `64k`) that only it
    /// sees (a private mount namespace: `unshare --mount`, as root), so that a test can fill
    /// its disk. The test reaches the files through `/proc/PID/root`: see [`Portcullis::path_seen_by_server`].
    pub fn start_with_small_disk(
        policies_dir: &Path,
        extra_env: &[(&str, &str)],
        dir: &Path,
        size: &str,
    ) -> Portcullis {
        let mut p = Portcullis::launch_wrapped(policies_dir, extra_env, Some((dir, size)));
        p.wait_until_healthy();
        p
    }

    /// `path` as the server sees it (through its mount namespace).
    pub fn path_seen_by_server(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid()))
            .join(path.strip_prefix("/").unwrap_or(path))
    }

    fn launch_wrapped(
        policies_dir: &Path,
        extra_env: &[(&str, &str)],
        small_disk: Option<(&Path, &str)>,
    ) -> Portcullis {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            (
                "PORTCULLIS_SERVER__LISTEN".into(),
                format!("127.0.0.1:{port}"),
            ),
            (
                "PORTCULLIS_KEYS__DIR".into(),
                dir.path().join("keys").display().to_string(),
            ),
            (
                "PORTCULLIS_POLICIES__DIR".into(),
                policies_dir.display().to_string(),
            ),
            (
                "PORTCULLIS_STORE__URL".into(),
                format!("sqlite://{}/portcullis.db", dir.path().display()),
            ),
            ("PORTCULLIS_LOG__LEVEL".into(), "info".into()),
        ];
        for (k, v) in extra_env {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        // A test that chose the address itself (to name it in server.public_url).
        let port = env
            .iter()
            .find(|(k, _)| k == "PORTCULLIS_SERVER__LISTEN")
            .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
            .unwrap_or(port);
        let mut cmd = match small_disk {
            None => Command::new(binary()),
            Some((dir, size)) => {
                std::fs::create_dir_all(dir).expect("the small disk's mount point");
                let mut cmd = Command::new(super::tools::require_tool("unshare"));
                cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                    .arg(format!(
                        "mount -t tmpfs -o size={size},mode=0700 tmpfs \"$0\" && exec \"$@\""
                    ))
                    .arg(dir)
                    .arg(binary());
                cmd
            }
        };
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("NO_COLOR", "1");
        clean_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = ChildGuard::spawn(cmd, "portcullis");
        Portcullis {
            child,
            dir,
            port,
            env,
        }
    }

    /// The project's shipped test policies (`tests/fixtures/policies`).
    pub fn fixture_policies() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The address people are sent back to after signing in (`server.public_url`, derived
    /// from the listen port): a sign-in starts here.
    pub fn public_url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id (it runs directly, not under a shell).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server logged (audit events included) so far. Log lines are written
    /// by a background thread, so one may land a moment after its response: to check that
    /// something was logged, use [`Portcullis::wait_for_log`].
    pub fn log(&self) -> String {
        self.child.log()
    }

    /// Waits (up to 5 s) until the log contains `needle`; returns the whole log, or panics
    /// with it.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if std::time::Instant::now() > deadline {
                panic!("the portcullis log never contained {needle:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to 5 s) until a complete line of the log (one ending in a line break: the
    /// writer may be in the middle of a long one) contains `needle`; returns that line.
    pub fn wait_for_log_line(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
            if let Some(line) = complete.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            if std::time::Instant::now() > deadline {
                panic!("the portcullis log never had a complete line with {needle:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn child_mut(&mut self) -> &mut ChildGuard {
        &mut self.child
    }

    /// The server's `PORTCULLIS_*` settings, for other processes that must share them.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Runs `portcullis ARGS` against the same configuration and database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        self.cli_with(args, stdin, &[])
    }

    /// Runs `portcullis ARGS` with the server's settings, some of them overridden
    /// (e.g. another `PORTCULLIS_STORE__URL`).
    pub fn cli_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> CmdOutput {
        let mut cmd = Command::new(binary());
        cmd.args(args).current_dir(self.dir.path());
        clean_env(&mut cmd);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.envs(env.iter().copied());
        run_command(cmd, stdin.map(str::as_bytes), Duration::from_secs(60))
    }

    /// `portcullis user add NAME --group G...`, creating the groups first; password on stdin.
    pub fn add_user(&self, name: &str, password: &str, groups: &[&str]) {
        for g in groups {
            let out = self.cli(&["group", "add", g], None);
            if !out.success() && !out.stderr.contains("already exists") {
                out.assert_success("portcullis group add");
            }
        }
        let mut args = vec!["user", "add", name];
        for g in groups {
            args.extend(["--group", g]);
        }
        self.cli(&args, Some(&format!("{password}\n")))
            .assert_success("portcullis user add");
    }

    /// `portcullis registry-config` output: the registry's `auth:` block.
    pub fn registry_config(&self) -> String {
        let out = self.cli(&["registry-config"], None);
        out.assert_success("portcullis registry-config");
        out.stdout.clone()
    }
}

/// The binary under test: this build's, or the one `BENCH_BINARY` names (benchmarks
/// compare two builds that way).
fn binary() -> String {
    std::env::var("BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_portcullis").to_string())
}

/// The test's own `PORTCULLIS_*` or `RUST_LOG` must not leak into the child.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
}
