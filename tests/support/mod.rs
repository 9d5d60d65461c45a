//! End-to-end test support: start and drive the REAL components portcullis works with.
//!
//! Include it from a test binary with `mod support;` (file `tests/NAME.rs`). Everything here
//! is blocking std code (no async), usable from `#[test]` and `#[tokio::test]` alike; only
//! `tempfile` and `serde_json` are used besides std. Components are found on PATH and are
//! installed by `scripts/install-test-deps.sh`; a missing one makes the test **panic** with
//! that hint (never a silent skip).
//!
//! **Caveat:** when the token server runs *in-process* on the test's runtime, a blocking
//! client call (skopeo asking that server for a token) starves a current-thread runtime
//! until the command timeout: use `#[tokio::test(flavor = "multi_thread")]`,
//! `tokio::task::spawn_blocking`, or run the `portcullis` binary
//! (`env!("CARGO_BIN_EXE_portcullis")`) under a [`ChildGuard`].
//!
//! Every process is started on loopback by the test itself, in its own process group, and
//! killed (TERM, then KILL) and reaped when its guard is dropped, also when the test panics
//! (then the last lines of its log are printed, so a failing test shows them). Every client
//! command has a timeout ([`DEFAULT_CMD_TIMEOUT`], 120 s) and panics with its output when it
//! is exceeded. Passwords go to clients on stdin only, never on a command line, and are never
//! printed. All state (configs, storage, auth files) lives in temp dirs removed on drop:
//! nothing touches `~/.docker`, `~/.config/containers`, `/var/lib/containers/storage`,
//! `/run/libpod`. skopeo and podman also get a private containers-image blob-info cache
//! (a bind mount over /var/lib/containers/cache in a private mount namespace, when
//! `unshare --mount` works, i.e. as root), so what one test pushed does not change the
//! requests (known blobs, cross-repo mount attempts) clients make in another.
//!
//! # API
//!
//! Tools ([`tools`]):
//! - `require_tool(name: &str) -> PathBuf`: PATH (+ `/usr/sbin`, `/sbin`; for `docker-registry`
//!   also `dpkg -L docker-registry`), else panics
//!   `"docker-registry is not installed: run scripts/install-test-deps.sh"`.
//!
//! Processes ([`process`]):
//! - `free_port() -> u16`: a currently free TCP port on 127.0.0.1.
//! - `ChildGuard::spawn(cmd: Command, name: &str) -> ChildGuard`: own process group,
//!   stdout+stderr appended to a log file; `.pid()`, `.log() -> String`, `.log_path()`,
//!   `.exit_status() -> Option<ExitStatus>` (None while running), `.stop()`,
//!   `.wait_for_http(url, timeout, ok_statuses) -> HttpResponse` (panics with the log on
//!   timeout or early exit), `.wait_for_port(addr, timeout)`.
//! - `run_command(cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> CmdOutput`.
//! - `CmdOutput { command: String, status: ExitStatus, stdout: String, stderr: String,
//!   duration: Duration }` with `.success()`, `.code()`, `.assert_success(what) -> &Self`,
//!   `.assert_failure(what) -> &Self`, `.json() -> serde_json::Value` (of stdout),
//!   `.combined()`. Failed assertions print the full command line and both streams.
//! - `wait_for_port(addr: &str, timeout: Duration)`, `wait_until(timeout, what, || bool)`.
//! - `client_command(bin, dir) -> Command`: how the clients below are started (isolated env,
//!   private blob-info cache); `try_run_command` returns a timeout as `Err`.
//!
//! HTTP ([`http`], a tiny HTTP/1.1 client over `std::net::TcpStream`, plain http only):
//! - `http_get(url: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse>`
//! - `http_request(method, url, headers, body: Option<&[u8]>) -> io::Result<HttpResponse>`
//!   (30 s timeouts; `http_request_timeout(…, timeout)` to choose)
//! - `wait_for_http(url: &str, timeout: Duration) -> HttpResponse` (first complete response,
//!   whatever its status), `wait_for_http_status(url, timeout, ok_statuses: &[u16])`.
//! - `HttpResponse { status: u16, reason: String, headers: Vec<(String, String)>,
//!   body: Vec<u8> }` with `.header(name) -> Option<&str>` (case-insensitive),
//!   `.header_all(name)`, `.text()`, `.json()`.
//! - `basic_auth(user, password) -> String` (the `Basic …` header value).
//!
//! Registry ([`registry`], Debian's docker-registry = distribution 2.8):
//! - `Registry::start(auth_yaml: &str) -> Registry`: `auth_yaml` is the `auth:` block exactly
//!   as a token server prints it (top-level `auth:` key). Writes a complete config.yml
//!   (filesystem storage in a temp dir, delete enabled, `127.0.0.1:<free port>`, log level
//!   info, random http secret), starts the registry and waits until `/v2/` answers 401/200.
//! - `Registry::start_htpasswd(users: &[(&str, &str)])` (bcrypt via perl's crypt(3), which
//!   is libxcrypt on Debian 12: no extra package), `Registry::start_no_auth()`.
//! - `.host_port() -> String` ("127.0.0.1:PORT"), `.url()` ("http://127.0.0.1:PORT"),
//!   `.port()`, `.log()`, `.config_path()`, `.storage_dir()`, `.pid()`,
//!   `.docker_ref(name_and_tag) -> String` ("docker://127.0.0.1:PORT/NAME:TAG").
//!
//! Stack ([`stack`]): `Stack::start(env, users)` = portcullis (fixture policies, `env`,
//! `users` as `(name, password, groups)`) + a registry trusting it + a test image;
//! `Stack::around(portcullis)`; `.src()` (`oci:` ref), `.dst("name:tag")` (`docker://` ref).
//!
//! Images ([`image`]):
//! - `make_test_image(dir: &Path, tag: &str, content: &str) -> String` (manifest digest
//!   `sha256:…`): deterministic one-layer OCI layout; `oci_ref(dir, tag)` -> `"oci:DIR:TAG"`.
//!
//! Clients (each with its own temp dir, `HOME` pointed into it, `with_timeout(Duration)`):
//! - [`skopeo::Skopeo`]: `new()`, `with_authfile(path)`, `authfile()`, `login(host, user,
//!   password)`, `logout(host)`, `copy(src, dst, creds: Option<(&str, &str)>)`,
//!   `inspect(image_ref, creds)`, `list_tags(repo_ref, creds)`, `delete(image_ref, creds)`,
//!   `run(args)`; all `-> CmdOutput`. Refs without a transport get `docker://`.
//! - [`podman::Podman`]: `new()`, `with_authfile(path)`, `login(host, user, password)`,
//!   `logout(host)`, `pull(image_ref)`, `pull_oci(layout_dir, tag, name)` (a
//!   `make_test_image` layout, offline), `push(image)`, `push_to(image, dest)`,
//!   `tag(src, dst)`, `image_exists(name) -> bool`, `run(args)`.
//! - [`docker_cli::DockerCli`]: `new()`, `login(host, user, password)`, `logout(host)`,
//!   `config_dir()`, `config_path()`, `config_json() -> serde_json::Value`,
//!   `auth_entry(host) -> Option<serde_json::Value>`, `run(args)`.
//!
//! Client flags and why (observed with skopeo 1.9.3, podman 4.3.1, docker CLI 28.2 / 20.10):
//! - skopeo: `--registries-conf` (it ignores `CONTAINERS_REGISTRIES_CONF`), `--policy` (own
//!   accept-anything policy), `--tmpdir`, `--tls-verify=false` (or `--src-/--dest-…`) for
//!   plain http, `--authfile` always (per-call credentials are written to a private temp
//!   auth file rather than `--creds user:pass` in argv).
//! - podman (as root): `--root/--runroot/--tmpdir/--network-config-dir/--volumepath` into the
//!   temp dir, `--storage-driver vfs`, `--cgroup-manager cgroupfs --events-backend file`,
//!   identical on every call (podman stores them and refuses a mismatch); per registry call
//!   `--tls-verify=false --authfile F --signature-policy F`. `--authfile` must exist for
//!   pull/push (an empty one is created). `pull oci:/abs/path:tag` names the image after the
//!   path and fails on upper-case temp paths: use `pull_oci`.
//! - docker: only `DOCKER_CONFIG` and a PATH without credential helpers; http to
//!   127.0.0.1 needs nothing (127.0.0.0/8 is insecure by default; it tries https, then http).
//! - all: `HOME`/`TMPDIR` in the temp dir and leaking env vars removed (containers-image
//!   also reads `$HOME/.docker/config.json` and `$XDG_CONFIG_HOME/containers/auth.json`).
//!
//! Auth files ([`authfile`]): `write_auth_file(path, &[(host, AuthEntry)])` with
//! `AuthEntry::Basic { user, password }` or `AuthEntry::IdentityToken { user, token }` (the
//! latter keeps a non-empty `auth` field, which containers/image needs beside
//! `identitytoken`); `decode_auth_field(&str) -> (user, password)`.
#![allow(dead_code, unused_imports)]

pub mod admin_api;
pub mod authfile;
pub mod browser;
pub mod docker_cli;
pub mod encoding;
pub mod http;
pub mod image;
pub mod oidc;
pub mod pki;
pub mod podman;
pub mod portcullis;
pub mod postgres;
pub mod process;
pub mod registry;
pub mod skopeo;
pub mod slapd;
pub mod stack;
pub mod tools;

pub use admin_api::AdminApi;
pub use authfile::{decode_auth_field, write_auth_file, AuthEntry};
pub use browser::Browser;
pub use docker_cli::DockerCli;
pub use encoding::{base64_decode, base64_encode};
pub use http::{
    basic_auth, http_get, http_request, http_request_timeout, refresh_grant, wait_for_http,
    wait_for_http_status, HttpResponse,
};
pub use image::{make_test_image, oci_ref};
pub use oidc::MockOidc;
pub use pki::{Issued, TestCa};
pub use podman::Podman;
pub use portcullis::Portcullis;
pub use postgres::Postgres;
pub use process::{
    client_command, free_port, run_command, try_run_command, wait_for_port, wait_until, ChildGuard,
    CmdOutput, DEFAULT_CMD_TIMEOUT,
};
pub use registry::Registry;
pub use skopeo::Skopeo;
pub use slapd::Slapd;
pub use stack::Stack;
pub use tools::{curl, find_tool, require_tool};
