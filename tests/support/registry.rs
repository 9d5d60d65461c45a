//! Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, configured per test.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::process::{free_port, run_command, write_private_file, ChildGuard};
use super::tools::{find_tool, require_tool};

/// How long the registry gets to answer `/v2/` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts with a new port when the chosen one was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;

/// A running registry; stopped (and its storage deleted) on drop.
pub struct Registry {
    /// `REGISTRY_*` settings it runs with, besides config.yml.
    env: Vec<(String, String)>,
    /// `127.0.0.1`, or `[::1]`.
    host: String,
    // Field order matters: the process is stopped before its directory is removed.
    child: ChildGuard,
    port: u16,
    config_path: PathBuf,
    storage_dir: PathBuf,
    dir: TempDir,
}

impl Registry {
    /// Starts a registry whose `auth:` section is `auth_yaml`, exactly as a token server
    /// prints it, e.g.
    ///
    /// ```yaml
    /// auth:
    ///   token:
    ///     realm: "http://127.0.0.1:5001/token"
    ///     service: "portcullis"
    ///     issuer: "portcullis"
    ///     rootcertbundle: "/abs/keys/bundle.pem"
    /// ```
    ///
    /// The rest of config.yml is written here: filesystem storage in a temp dir, delete
    /// enabled, `http.addr` 127.0.0.1:<free port>, log level info (token rejection reasons
    /// are logged at info), a random http secret. Waits until `/v2/` answers 401 or 200;
    /// panics with the registry log if it exits or does not answer within 20 s.
    pub fn start(auth_yaml: &str) -> Registry {
        // Leading blank and `#` comment lines are fine: they are pasted verbatim too.
        let first_key = auth_yaml
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .unwrap_or("");
        let trimmed = auth_yaml.trim_start_matches(['\n', '\r']);
        assert!(
            first_key.starts_with("auth:"),
            "Registry::start wants the whole `auth:` block (top-level key `auth:`), got:\n{auth_yaml}"
        );
        Self::start_with_auth_section(trimmed, None)
    }

    /// A registry with htpasswd (Basic) auth for `users` (name, password). The bcrypt hashes
    /// are made by perl's crypt(3) (libxcrypt on Debian 12; perl-base is always installed),
    /// or by apache2-utils' `htpasswd` if perl cannot; passwords go through stdin.
    pub fn start_htpasswd(users: &[(&str, &str)]) -> Registry {
        let dir = new_dir();
        let htpasswd = dir.path().join("htpasswd");
        let mut lines = String::new();
        for (user, password) in users {
            assert!(
                !user.contains(':') && !user.contains('\n'),
                "bad htpasswd user name {user:?}"
            );
            lines.push_str(&format!("{user}:{}\n", bcrypt_hash(user, password)));
        }
        write_private_file(&htpasswd, lines.as_bytes()).expect("cannot write htpasswd file");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: \"e2e-registry\"\n    path: \"{}\"\n",
            htpasswd.display()
        );
        Self::start_with_auth_section(&auth, Some(dir))
    }

    /// A registry without any authentication.
    pub fn start_no_auth() -> Registry {
        Self::start_with_auth_section("", None)
    }

    /// A registry serving HTTPS with `cert_pem` (chain, leaf first) and `key_pem`, whose
    /// `auth:` section is `auth_yaml`. Its URL is then `https://127.0.0.1:PORT`.
    pub fn start_tls(auth_yaml: &str, cert_pem: &str, key_pem: &str) -> Registry {
        Self::start_tls_at("127.0.0.1", auth_yaml, cert_pem, key_pem)
    }

    /// [`Registry::start_tls`] listening on `host`: `"[::1]"` is a loopback address the
    /// docker CLI does not count as an insecure registry (it skips certificate checks for
    /// 127.0.0.0/8 only), so there it verifies the registry's and the realm's certificates.
    pub fn start_tls_at(host: &str, auth_yaml: &str, cert_pem: &str, key_pem: &str) -> Registry {
        Self::start_tls_configured(host, auth_yaml, &[], cert_pem, key_pem)
    }

    /// [`Registry::start_tls_at`] with its `auth.token` settings given as the environment
    /// variables `portcullis registry-config --format env` prints (`REGISTRY_AUTH=token`,
    /// `REGISTRY_AUTH_TOKEN_REALM=…`, one `NAME=value` a line), as container deployments
    /// configure the registry.
    pub fn start_tls_from_env(
        host: &str,
        env_lines: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Registry {
        let env: Vec<(String, String)> = env_lines
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.starts_with("REGISTRY_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(!env.is_empty(), "no REGISTRY_ variables in {env_lines:?}");
        Self::start_tls_configured(host, "", &env, cert_pem, key_pem)
    }

    fn start_tls_configured(
        host: &str,
        auth_yaml: &str,
        env: &[(String, String)],
        cert_pem: &str,
        key_pem: &str,
    ) -> Registry {
        let dir = new_dir();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        fs::write(&cert, cert_pem).expect("cannot write the TLS certificate");
        write_private_file(&key, key_pem.as_bytes()).expect("cannot write the TLS key");
        let tls = format!(
            "  tls:\n    certificate: \"{}\"\n    key: \"{}\"\n",
            cert.display(),
            key.display()
        );
        Self::start_inner(
            auth_yaml.trim_start_matches(['\n', '\r']),
            Some(dir),
            &tls,
            host,
            env,
        )
    }

    fn start_with_auth_section(auth: &str, dir: Option<TempDir>) -> Registry {
        Self::start_inner(auth, dir, "", "127.0.0.1", &[])
    }

    fn start_inner(
        auth: &str,
        dir: Option<TempDir>,
        tls: &str,
        host: &str,
        env: &[(String, String)],
    ) -> Registry {
        let bin = require_tool("docker-registry");
        let dir = dir.unwrap_or_else(new_dir);
        let storage_dir = dir.path().join("storage");
        fs::create_dir_all(&storage_dir).expect("cannot create registry storage dir");
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let config = config_yaml(host, port, &storage_dir, tls, auth);
            fs::write(&config_path, config).expect("cannot write registry config.yml");
            let _ = fs::remove_file(&log_path);
            let mut cmd = serve_command(&bin, &config_path, dir.path());
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
            let mut child = ChildGuard::spawn_with_log(cmd, "docker-registry", &log_path);
            let url = format!("http://127.0.0.1:{port}/v2/");
            if attempt < PORT_ATTEMPTS && exits_with_addr_in_use(&mut child) {
                continue; // the free port was taken meanwhile: try another
            }
            if tls.is_empty() {
                child.wait_for_http(&url, START_TIMEOUT, &[401, 200]);
            } else {
                child.wait_for_port(&format!("{host}:{port}"), START_TIMEOUT);
            }
            return Registry {
                env: env.to_vec(),
                host: host.to_string(),
                child,
                port,
                config_path,
                storage_dir,
                dir,
            };
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// Stops the registry and starts it again on the same port, storage and config.yml, as
    /// an operator does to have it read a new certificate bundle (distribution reads the
    /// bundle only when it starts, and SIGHUP stops 2.8). Its log goes on in the same file.
    pub fn restart(&mut self) {
        self.child.stop();
        let bin = require_tool("docker-registry");
        let mut cmd = serve_command(&bin, &self.config_path, self.dir.path());
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.child = ChildGuard::spawn_with_log(
            cmd,
            "docker-registry",
            &self.dir.path().join("registry.log"),
        );
        self.child
            .wait_for_http(&format!("{}/v2/", self.url()), START_TIMEOUT, &[401, 200]);
    }

    /// "127.0.0.1:PORT" (or "[::1]:PORT"), the registry host as clients name it.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// "http://127.0.0.1:PORT".
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `docker://127.0.0.1:PORT/{name_and_tag}`, e.g. `reg.docker_ref("team/app:v1")`.
    pub fn docker_ref(&self, name_and_tag: &str) -> String {
        format!("docker://{}/{name_and_tag}", self.host_port())
    }

    /// The registry's log so far (stdout + stderr, logrus text format).
    pub fn log(&self) -> String {
        self.child.log()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The config.yml it runs with.
    pub fn config(&self) -> String {
        fs::read_to_string(&self.config_path).unwrap_or_default()
    }

    pub fn storage_dir(&self) -> &Path {
        &self.storage_dir
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The process guard (e.g. to check it is still running).
    pub fn child_mut(&mut self) -> &mut ChildGuard {
        &mut self.child
    }
}

fn new_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("e2e-registry-")
        .tempdir()
        .expect("cannot create a temp dir for the registry")
}

/// `docker-registry serve CONFIG`, without inherited `REGISTRY_*` variables (they override
/// config.yml).
fn serve_command(bin: &Path, config_path: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg(config_path).current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn config_yaml(host: &str, port: u16, storage: &Path, tls: &str, auth: &str) -> String {
    format!(
        "# written by tests/support/registry.rs\n\
         version: 0.1\n\
         log:\n  level: info\n  formatter: text\n  fields:\n    service: registry\n\
         storage:\n  filesystem:\n    rootdirectory: \"{storage}\"\n  delete:\n    enabled: true\n  \
         cache:\n    blobdescriptor: inmemory\n\
         http:\n  addr: \"{host}:{port}\"\n  secret: \"{secret}\"\n  headers:\n    \
         X-Content-Type-Options: [nosniff]\n\
         {tls}{auth}",
        storage = storage.display(),
        secret = random_hex(16),
    )
}

/// Gives the registry a moment to fail on a taken port (it does so at once).
fn exits_with_addr_in_use(child: &mut ChildGuard) -> bool {
    for _ in 0..10 {
        if child.exit_status().is_some() {
            return child.log().contains("address already in use");
        }
        if child.log().contains("listening on") {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("cannot read /dev/urandom");
    buf
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// A bcrypt (`$2b$`, cost 5) hash of `password`, which Go's bcrypt in the registry accepts.
fn bcrypt_hash(user: &str, password: &str) -> String {
    const B64: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut salt: String = random_bytes(21)
        .iter()
        .map(|b| B64[usize::from(*b) % 64] as char)
        .collect();
    // The 22nd salt character only carries 2 bits: keep it canonical.
    salt.push(['.', 'O', 'e', 'u'][usize::from(random_bytes(1)[0]) % 4]);
    let setting = format!("$2b$05${salt}");
    if let Some(perl) = find_tool("perl") {
        let mut cmd = Command::new(perl);
        cmd.args([
            "-e",
            "my $p = do { local $/; <STDIN> }; my $h = crypt($p, $ARGV[0]); print $h if defined $h",
            &setting,
        ]);
        let out = run_command(cmd, Some(password.as_bytes()), Duration::from_secs(30));
        let hash = out.stdout.trim();
        if out.success() && hash.starts_with("$2b$05$") && hash.len() == 60 {
            return hash.to_string();
        }
    }
    if let Some(htpasswd) = find_tool("htpasswd") {
        let mut cmd = Command::new(htpasswd);
        cmd.args(["-niBC", "5", user]);
        let out = run_command(cmd, Some(password.as_bytes()), Duration::from_secs(30));
        out.assert_success("htpasswd -niB");
        if let Some((_, hash)) = out.stdout.trim().split_once(':') {
            return hash.to_string();
        }
    }
    panic!(
        "cannot make a bcrypt hash: perl's crypt(3) has no bcrypt here and apache2-utils' \
         htpasswd is not installed"
    )
}
