//! skopeo (containers-image 5.23 on Debian 12), isolated from user and system state.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use super::authfile::{write_auth_file, AuthEntry};
use super::process::{client_command, run_command, CmdOutput, DEFAULT_CMD_TIMEOUT};
use super::tools::require_tool;

/// registries.conf marking loopback registries insecure (plain http). skopeo 1.9.3 ignores
/// `CONTAINERS_REGISTRIES_CONF`, so it gets this file through `--registries-conf`; commands
/// also pass `--tls-verify=false` so the port-agnostic prefix match is not relied upon.
pub(crate) const REGISTRIES_CONF: &str = "\
unqualified-search-registries = []
short-name-mode = \"disabled\"

[[registry]]
location = \"127.0.0.1\"
insecure = true

[[registry]]
location = \"localhost\"
insecure = true
";

/// A signature policy accepting anything, so /etc/containers/policy.json does not matter.
pub(crate) const POLICY_JSON: &str = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;

static CREDS_FILES: AtomicUsize = AtomicUsize::new(0);

/// skopeo with its own temp dir (auth file, registries.conf, policy, HOME, TMPDIR,
/// blob-info cache: see `client_command`): every command runs as `skopeo --registries-conf
/// F --policy F --tmpdir D SUBCOMMAND --tls-verify=false --authfile F …` with a timeout
/// (120 s by default). `--tls-verify=false` is what makes plain http work; the
/// registries.conf is there so that nothing from /etc/containers applies.
pub struct Skopeo {
    bin: PathBuf,
    authfile: PathBuf,
    registries_conf: PathBuf,
    policy: PathBuf,
    timeout: Duration,
    dir: TempDir,
}

impl Skopeo {
    pub fn new() -> Skopeo {
        let bin = require_tool("skopeo");
        let dir = tempfile::Builder::new()
            .prefix("e2e-skopeo-")
            .tempdir()
            .expect("cannot create a temp dir for skopeo");
        let registries_conf = dir.path().join("registries.conf");
        fs::write(&registries_conf, REGISTRIES_CONF).expect("write registries.conf");
        let policy = dir.path().join("policy.json");
        fs::write(&policy, POLICY_JSON).expect("write policy.json");
        Skopeo {
            bin,
            authfile: dir.path().join("auth.json"),
            registries_conf,
            policy,
            timeout: DEFAULT_CMD_TIMEOUT,
            dir,
        }
    }

    /// Uses `path` as the auth file of every command (e.g. a docker `config.json`).
    pub fn with_authfile(mut self, path: impl Into<PathBuf>) -> Skopeo {
        self.authfile = path.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Skopeo {
        self.timeout = timeout;
        self
    }

    /// The auth file `login` writes to and other commands read from.
    pub fn authfile(&self) -> &Path {
        &self.authfile
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let mut cmd = client_command(&self.bin, self.dir.path());
        cmd.arg("--registries-conf")
            .arg(&self.registries_conf)
            .arg("--policy")
            .arg(&self.policy)
            .arg("--tmpdir")
            .arg(self.dir.path().join("tmp"));
        cmd
    }

    /// `skopeo ARGS…` (after the global flags above), no stdin.
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, None, self.timeout)
    }

    /// `skopeo ARGS…` with `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, Some(stdin), self.timeout)
    }

    /// `skopeo login --username USER --password-stdin HOST` into the auth file.
    pub fn login(&self, host: &str, user: &str, password: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(["login", "--tls-verify=false", "--authfile"])
            .arg(&self.authfile)
            .args(["--username", user, "--password-stdin", host]);
        run_command(cmd, Some(password.as_bytes()), self.timeout)
    }

    /// `skopeo logout HOST` from the auth file.
    pub fn logout(&self, host: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(["logout", "--authfile"])
            .arg(&self.authfile)
            .arg(host);
        run_command(cmd, None, self.timeout)
    }

    /// `skopeo copy SRC DST`. With `creds`, both sides use them (for their docker hosts)
    /// instead of the auth file; they go through a private temp auth file, never argv.
    pub fn copy(&self, src: &str, dst: &str, creds: Option<(&str, &str)>) -> CmdOutput {
        let (src, dst) = (image_ref(src), image_ref(dst));
        self.with_creds(&[&src, &dst], creds, |authfile| {
            let mut cmd = self.command();
            cmd.args([
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--authfile",
            ])
            .arg(authfile)
            .arg(&src)
            .arg(&dst);
            cmd
        })
    }

    /// `skopeo inspect IMAGE` (JSON on stdout: see `CmdOutput::json`).
    pub fn inspect(&self, image: &str, creds: Option<(&str, &str)>) -> CmdOutput {
        self.simple("inspect", image, creds)
    }

    /// `skopeo list-tags REPO` (`{"Repository": …, "Tags": [...]}` on stdout).
    pub fn list_tags(&self, repo: &str, creds: Option<(&str, &str)>) -> CmdOutput {
        self.simple("list-tags", repo, creds)
    }

    /// `skopeo delete IMAGE` (needs `storage.delete.enabled` on the registry).
    pub fn delete(&self, image: &str, creds: Option<(&str, &str)>) -> CmdOutput {
        self.simple("delete", image, creds)
    }

    fn simple(&self, sub: &str, reference: &str, creds: Option<(&str, &str)>) -> CmdOutput {
        let reference = image_ref(reference);
        self.with_creds(&[&reference], creds, |authfile| {
            let mut cmd = self.command();
            cmd.args([sub, "--tls-verify=false", "--authfile"])
                .arg(authfile)
                .arg(&reference);
            cmd
        })
    }

    fn with_creds(
        &self,
        refs: &[&str],
        creds: Option<(&str, &str)>,
        build: impl FnOnce(&Path) -> Command,
    ) -> CmdOutput {
        let Some((user, password)) = creds else {
            return run_command(build(&self.authfile), None, self.timeout);
        };
        let n = CREDS_FILES.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.path().join(format!("creds-{n}.json"));
        let entries: Vec<(&str, AuthEntry)> = refs
            .iter()
            .filter_map(|r| docker_host(r))
            .map(|h| (h, AuthEntry::basic(user, password)))
            .collect();
        write_auth_file(&file, &entries);
        let out = run_command(build(&file), None, self.timeout);
        let _ = fs::remove_file(&file);
        out
    }
}

impl Default for Skopeo {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `docker://` to a reference that names no transport (`oci:`, `dir:`, `docker://`…).
pub fn image_ref(reference: &str) -> String {
    const TRANSPORTS: &[&str] = &[
        "docker://",
        "oci:",
        "oci-archive:",
        "dir:",
        "docker-archive:",
        "docker-daemon:",
        "containers-storage:",
    ];
    if TRANSPORTS.iter().any(|t| reference.starts_with(t)) {
        reference.to_string()
    } else {
        format!("docker://{reference}")
    }
}

/// The registry host of a `docker://HOST/…` reference.
pub fn docker_host(reference: &str) -> Option<&str> {
    let rest = reference.strip_prefix("docker://")?;
    rest.split('/').next().filter(|h| !h.is_empty())
}
