//! A throwaway OpenID Connect provider on 127.0.0.1: the npm package `oauth2-mock-server`
//! (pinned in `tests/fixtures/oidc/package.json` + `package-lock.json`) behind the wrapper
//! `tests/fixtures/oidc/mock-oidc.mjs`, for the OIDC identity backends' tests (CI job tokens
//! à la GitHub Actions, browser login with authorization code + PKCE).
//!
//! # API
//!
//! Blocking std code, usable from `#[test]` and `#[tokio::test]` alike (from a
//! current-thread runtime, start it before the code under test needs it: `start` blocks).
//!
//! - `MockOidc::start() -> MockOidc`: runs `node tests/fixtures/oidc/mock-oidc.mjs` on
//!   `127.0.0.1:<free port>` in its own process group (killed on drop, also on panic, with
//!   the log tail printed), a new RSA key in a temp dir (removed on drop), and waits until
//!   its discovery document answers 200 with the expected issuer (a real HTTP request;
//!   20 s timeout, panics with the log). Retries with another port if the chosen one was
//!   taken meanwhile. Takes 0.35-0.45 s here (node + express start, 2048-bit RSA key);
//!   8 at once on 2 CPUs about 2 s. `restart` 0.2-0.3 s, `stop` ~25 ms, `rotate_key`
//!   0.15-0.4 s (key generation), `token` / `github_actions_token` 3-7 ms.
//!   Panics with `run scripts/install-test-deps.sh` when `node` or the npm package (in
//!   `tests/fixtures/oidc/node_modules`, git-ignored) is missing or not the pinned version.
//! - `.issuer() -> String`: `"http://127.0.0.1:PORT"`, no trailing slash: exactly the `iss` of
//!   its tokens and the `issuer` of its discovery document. `.port()`, `.url(path)`.
//! - `.discovery() -> Value` (`GET /.well-known/openid-configuration`), `.jwks() -> Value`
//!   (`GET /jwks`: `{"keys": [{"kty":"RSA","n","e","kid","alg":"RS256","use":"sig"}]}`),
//!   `.kid() -> String` (the current signing key's kid, an RFC 7638 thumbprint).
//! - `.token(claims: &Value) -> String`: a JWT signed by the provider (current key, RS256,
//!   header `{"typ":"JWT","kid","alg":"RS256"}`) whose payload is the defaults
//!   `iss` = issuer, `iat` = `nbf` = now, `exp` = now + 300, `sub` = `"job"`, with `claims`
//!   (a JSON object) merged over them: any of them can be overridden (`aud`, an `exp` in the
//!   past, another `iss`, …) and a `null` value removes the claim (e.g. `{"exp": null}`).
//!   Minted by the provider's token endpoint (`grant_type=client_credentials` plus the
//!   wrapper's `claims=` field), not signed in Rust. No `aud` unless given.
//! - `.github_actions_token(audience, repository, git_ref) -> String`: from the wrapper's
//!   `GET /gha/token`, like GitHub Actions' ID token: `sub` = `repo:OWNER/REPO:ref:REF`,
//!   `aud` = audience, `repository`, `repository_owner`, `ref`, `ref_type`
//!   (`branch`/`tag`), `job_workflow_ref` and `workflow_ref` (`OWNER/REPO/.github/workflows/
//!   ci.yml@REF`), `actor` (`octocat`), `event_name` (`push`), `sha`, `run_id`, `jti`,
//!   `runner_environment` …, `iat` = now, `nbf` = now - 10, `exp` = now + 300.
//!   `.github_actions_token_with(…, extra: &[(claim, value)])` adds or overrides (string)
//!   claims, e.g. `("environment", "prod")` or `("sub", "…")`.
//! - `.post_token(form: &[(&str, &str)]) -> HttpResponse`: a raw `POST /token` (form body),
//!   for other grants and negative tests.
//! - `.rotate_key()`: a new signing key (new kid); the JWKS then holds ONLY the new key, so
//!   tokens signed before no longer verify against the current JWKS.
//!   `.rotate_key_keep_old()`: new signing key, the old keys stay published (overlap).
//! - `.stop()`: SIGTERM to its process group (SIGKILL after 5 s) and reap: the port then
//!   refuses connections. Idempotent.
//! - `.restart()`: (stops if running, then) starts it again on the SAME port with the SAME
//!   keys (the key file survives: same kid(s), tokens issued before still verify; rotate
//!   explicitly for new keys). Pending authorization codes and refresh tokens are
//!   forgotten; the default login of `set_login` is re-applied.
//! - `.log() -> String`: its stderr across restarts: a start line per run
//!   (`mock-oidc: oauth2-mock-server 8.2.3 on node v20… listening on … signing kid=…`), one
//!   JSON line per request (`{"t","method","path","status","query","form"}`, with
//!   `code`, `code_verifier`, `refresh_token`, `password`, `client_secret` masked) and a
//!   line per rotation.
//! - `.pid()`, `.is_running()`, `.dir()`.
//! - Browser flow: `.set_login(sub, claims)` / `.clear_login()`, `.authorize(url,
//!   login_hint) -> String` (see below); `jwt_header(jwt)` / `jwt_claims(jwt)` decode (do not
//!   verify) a JWT's parts for assertions.
//! - Also: `fixture_dir()` (`tests/fixtures/oidc`), `form_encode(&[(k, v)])` /
//!   `url_encode(s)` (percent-encoding for query strings and form bodies), [`PACKAGE`],
//!   [`FALLBACK_VERSION`], [`DEFAULT_SUB`], [`DEFAULT_TTL_SECS`].
//!
//! # Browser flow (authorization code + PKCE), as served by the mock
//!
//! Endpoints (from `.discovery()`, all under the issuer): `authorization_endpoint`
//! `/authorize`, `token_endpoint` `/token`, `userinfo_endpoint` `/userinfo`, `jwks_uri`
//! `/jwks`; also `revocation_endpoint` `/revoke`, `end_session_endpoint` `/endsession`,
//! `introspection_endpoint` `/introspect` (those three answer success to anything).
//! `code_challenge_methods_supported` is `["plain","S256"]`,
//! `token_endpoint_auth_methods_supported` `["none"]` (client secrets are never checked).
//!
//! - `GET /authorize?response_type=code&client_id=C&redirect_uri=R&state=S&nonce=N
//!   &code_challenge=X&code_challenge_method=S256&scope=openid…`: no login page. It answers
//!   `302 Found` at once with `Location: R?code=<uuid>&state=S` (use [`MockOidc::authorize`]
//!   to get that Location). `client_id` and `redirect_uri` are required (400
//!   `invalid_request` otherwise); `response_type` other than `code` redirects with
//!   `error=unsupported_response_type`; a `code_challenge_method` other than plain/S256 is
//!   a 400; no `code_challenge_method` means `plain`.
//! - Who logs in: the `login_hint` query parameter if present (append `&login_hint=alice` to
//!   the authorize URL the code under test produced, or pass it to
//!   [`MockOidc::authorize`]); else the default set with [`MockOidc::set_login`]; else
//!   `johndoe`. Extra claims for that login (groups, email, …): `&claims=<JSON object>` on
//!   the authorize URL and/or `set_login`'s claims; they go into the access and ID tokens.
//! - `POST /token` (form `grant_type=authorization_code&code=…&redirect_uri=R&client_id=C
//!   &code_verifier=V`, or Basic auth for the client): the wrapper makes this strict (the
//!   bare package accepts any code): the code must have been issued by `/authorize` and is
//!   single-use; a client id (form or Basic) is required and must equal the authorization
//!   request's; `redirect_uri` must equal it too (also when both are absent); PKCE IS
//!   verified: with a `code_challenge` at `/authorize`, `code_verifier` is required and must
//!   match (S256: `BASE64URL(SHA256(verifier)) == challenge`; the package also insists on
//!   RFC 7636 syntax, 43-128 chars of `[A-Za-z0-9-._~]`); a `code_verifier` without a
//!   challenge is refused. Failures are `400 {"error":"invalid_grant"|"invalid_request",
//!   "error_description":…}`. Success: `200 {"access_token","token_type":"Bearer",
//!   "expires_in":3600,"scope","id_token","refresh_token"}`; both tokens have `sub` = the
//!   login, `iss`, `iat`, `nbf` = iat - 10, `exp` = iat + 3600, the login's claims; the ID
//!   token has `aud` = client id and `nonce` = the authorize request's nonce (if any); the
//!   access token has `scope` (`dummy` when none was asked for), `amr: ["pwd"]` and no
//!   `aud`. Extra form fields `claims=<JSON>`, `sub=`, `aud=`, `expires_in=<s, may be < 0>`
//!   override those (tests of bad ID tokens).
//! - `grant_type=refresh_token`: only refresh tokens issued here; new tokens keep the login
//!   and its claims. `grant_type=password`: any password, `sub` = username.
//! - `GET /userinfo` with `Authorization: Bearer <access token>`: 200 `{"sub", …custom
//!   claims}` of that token if it verifies (signature against the current JWKS, issuer,
//!   exp); 401 `invalid_token` otherwise.
//!
//! # Notes
//!
//! - The discovery document always says RS256, and the keys are RS256 (RSA 2048).
//! - `node_modules` is installed (`npm ci`, idempotent) by `scripts/install-test-deps.sh`.
//!   On node < 20.19 that script installs oauth2-mock-server 7.2.1 instead of the pinned
//!   8.2.3 (which needs node ^20.19 || ^22.12 || ^24); the wrapper supports both.
//! - Test-control endpoints of the wrapper (loopback only): `POST /_mock/rotate`,
//!   `POST /_mock/login`, `GET /_mock/state`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tempfile::TempDir;

use super::encoding::base64_decode;
use super::http::{http_request, http_request_timeout, HttpResponse, PROBE_TIMEOUT};
use super::process::{free_port, restart_on_same_ports, ChildGuard, StartError};
use super::tools::require_tool;

/// The npm package behind the mock.
pub const PACKAGE: &str = "oauth2-mock-server";
/// The version `scripts/install-test-deps.sh` installs on node < 20.19 instead of the one
/// pinned in `tests/fixtures/oidc/package.json`.
pub const FALLBACK_VERSION: &str = "7.2.1";
/// `sub` of [`MockOidc::token`] unless overridden.
pub const DEFAULT_SUB: &str = "job";
/// Lifetime (s) of [`MockOidc::token`]'s tokens unless `exp` is overridden.
pub const DEFAULT_TTL_SECS: u64 = 300;

/// How long the provider gets to answer its discovery document after being started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts with new ports when a chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;
const INSTALL_HINT: &str = "run scripts/install-test-deps.sh";

/// A running (or stopped) mock OIDC provider; stopped and its temp dir deleted on drop.
pub struct MockOidc {
    // Field order matters: the process is stopped before its directory is removed.
    child: Option<ChildGuard>,
    port: u16,
    node: PathBuf,
    script: PathBuf,
    key_file: PathBuf,
    log_path: PathBuf,
    login: Option<(String, Value)>,
    dir: TempDir,
}

/// Why one attempt to start the provider failed.
/// `tests/fixtures/oidc` of the project (package.json, lock file, wrapper, node_modules).
pub fn fixture_dir() -> PathBuf {
    let in_package = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc");
    if in_package.join("mock-oidc.mjs").is_file() {
        return in_package;
    }
    // This module included by path from another crate: file!() is then absolute.
    let this_file = Path::new(file!());
    let this_file = if this_file.is_absolute() {
        this_file.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(this_file)
    };
    this_file
        .parent()
        .and_then(Path::parent)
        .expect("tests/support/oidc.rs has no grandparent")
        .join("fixtures/oidc")
}

/// Checks that the npm package is installed (at the pinned version, or the node < 20.19
/// fallback); panics with the install hint otherwise. Returns the installed version.
fn check_installed(fixtures: &Path) -> String {
    let read_json = |p: &Path| -> Option<Value> { serde_json::from_slice(&fs::read(p).ok()?).ok() };
    let pinned = read_json(&fixtures.join("package.json"))
        .and_then(|v| v["dependencies"][PACKAGE].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            panic!(
                "{} does not pin {PACKAGE}",
                fixtures.join("package.json").display()
            )
        });
    let installed_manifest = fixtures
        .join("node_modules")
        .join(PACKAGE)
        .join("package.json");
    let installed = read_json(&installed_manifest)
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            panic!(
                "the npm package {PACKAGE} is not installed in {}/node_modules: {INSTALL_HINT}",
                fixtures.display()
            )
        });
    assert!(
        installed == pinned || installed == FALLBACK_VERSION,
        "{PACKAGE} {installed} is installed in {}/node_modules but package.json pins {pinned}: \
         {INSTALL_HINT}",
        fixtures.display()
    );
    installed
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (fine for both query
/// strings and `application/x-www-form-urlencoded` bodies).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k1=v1&k2=v2`, both sides percent-encoded.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn jwt_part(jwt: &str, i: usize) -> Value {
    let part = jwt
        .split('.')
        .nth(i)
        .unwrap_or_else(|| panic!("not a JWT (no part {i}): {jwt}"));
    let bytes = base64_decode(part).unwrap_or_else(|| panic!("JWT part {i} is not base64url"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT part {i} is not JSON: {e}"))
}

/// A JWT's header, decoded but NOT verified.
/// The provider's first key (from its JWKS, `jwks`) as a PEM public key: what an attacker
/// downloads to try an HMAC forgery with it.
pub fn rsa_public_key_pem(jwks: &Value) -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let part = |name: &str| {
        let b64 = jwks["keys"][0][name].as_str().expect("an RSA JWK");
        rsa::BigUint::from_bytes_be(
            &data_encoding::BASE64URL_NOPAD
                .decode(b64.as_bytes())
                .expect("base64url"),
        )
    };
    rsa::RsaPublicKey::new(part("n"), part("e"))
        .expect("an RSA public key")
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM")
}

pub fn jwt_header(jwt: &str) -> Value {
    jwt_part(jwt, 0)
}

/// A JWT's payload (claims), decoded but NOT verified.
pub fn jwt_claims(jwt: &str) -> Value {
    jwt_part(jwt, 1)
}

impl MockOidc {
    /// Starts the provider with a new key; see the module docs.
    pub fn start() -> MockOidc {
        let node = require_tool("node");
        let fixtures = fixture_dir();
        let script = fixtures.join("mock-oidc.mjs");
        assert!(
            script.is_file(),
            "{} is missing (it is part of the project)",
            script.display()
        );
        check_installed(&fixtures);
        let dir = tempfile::Builder::new()
            .prefix("e2e-oidc-")
            .tempdir()
            .expect("cannot create a temp dir for the mock OIDC provider");
        let mut oidc = MockOidc {
            child: None,
            port: 0,
            node,
            script,
            key_file: dir.path().join("keys.json"),
            log_path: dir.path().join("mock-oidc.log"),
            login: None,
            dir,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            oidc.port = free_port();
            match oidc.spawn_and_wait() {
                Ok(()) => return oidc,
                Err(StartError::AddrInUse) if attempt < PORT_ATTEMPTS => continue,
                Err(StartError::AddrInUse) => panic!(
                    "mock OIDC provider: ports taken on {PORT_ATTEMPTS} attempts\n--- log ---\n{}",
                    oidc.log()
                ),
            }
        }
        unreachable!()
    }

    /// A portcullis configuration file signing people in here (client `portcullis` with
    /// its secret), with `more` of the `[oidc]` section.
    pub fn config_file(&self, more: &str) -> tempfile::NamedTempFile {
        let config = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(
            config.path(),
            format!(
                "[oidc]\nissuer = \"{}\"\nclient_id = \"portcullis\"\nclient_secret = \"test-client-secret\"\n{more}",
                self.issuer()
            ),
        )
        .expect("write the configuration");
        config
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The issuer followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The instance's temp dir (keys.json with the private keys, mock-oidc.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The provider's pid while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.is_running()
            .then(|| self.child.as_ref().map(ChildGuard::pid))
            .flatten()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// `method path` with an optional body; panics (with the log tail) on connection errors.
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> HttpResponse {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", content_type)]
        } else {
            &[]
        };
        http_request(method, &self.url(path), headers, body).unwrap_or_else(|e| {
            panic!(
                "mock OIDC provider: {method} {path} failed: {e}\n--- log ---\n{}",
                self.log()
            )
        })
    }

    /// Like [`MockOidc::call`], expecting 200 with a JSON body.
    fn call_json(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let r = self.call(
            method,
            path,
            "application/json",
            body.as_deref().map(str::as_bytes),
        );
        assert_eq!(
            r.status,
            200,
            "mock OIDC provider: {method} {path}: {}\n--- log ---\n{}",
            r.text(),
            self.log()
        );
        r.json()
    }

    /// The discovery document (`GET /.well-known/openid-configuration`).
    pub fn discovery(&self) -> Value {
        self.call_json("GET", "/.well-known/openid-configuration", None)
    }

    /// The current JWKS (`GET /jwks`): public keys only.
    pub fn jwks(&self) -> Value {
        self.call_json("GET", "/jwks", None)
    }

    /// The kid of the key tokens are signed with now.
    pub fn kid(&self) -> String {
        self.call_json("GET", "/_mock/state", None)["signing_kid"]
            .as_str()
            .expect("signing_kid")
            .to_string()
    }

    /// A raw `POST /token` with a form body.
    pub fn post_token(&self, form: &[(&str, &str)]) -> HttpResponse {
        let body = form_encode(form);
        self.call(
            "POST",
            "/token",
            "application/x-www-form-urlencoded",
            Some(body.as_bytes()),
        )
    }

    /// A signed JWT with `claims` merged over the defaults (see the module docs).
    pub fn token(&self, claims: &Value) -> String {
        let extra = claims
            .as_object()
            .unwrap_or_else(|| panic!("MockOidc::token: claims must be a JSON object: {claims}"));
        let now = now_secs();
        let mut payload = json!({
            "iss": self.issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + DEFAULT_TTL_SECS,
            "sub": DEFAULT_SUB,
        });
        let map = payload.as_object_mut().expect("object");
        for (k, v) in extra {
            // null removes the claim; the wrapper drops nulls too, this keeps it explicit.
            map.insert(k.clone(), v.clone());
        }
        let claims_json = payload.to_string();
        let r = self.post_token(&[
            ("grant_type", "client_credentials"),
            ("claims", &claims_json),
        ]);
        assert_eq!(
            r.status,
            200,
            "mock OIDC provider: token request failed: {}\n--- log ---\n{}",
            r.text(),
            self.log()
        );
        r.json()["access_token"]
            .as_str()
            .expect("access_token in the token response")
            .to_string()
    }

    /// A GitHub-Actions-like job token (see the module docs).
    pub fn github_actions_token(&self, audience: &str, repository: &str, git_ref: &str) -> String {
        self.github_actions_token_with(audience, repository, git_ref, &[])
    }

    /// [`MockOidc::github_actions_token`] with extra or overriding (string) claims.
    pub fn github_actions_token_with(
        &self,
        audience: &str,
        repository: &str,
        git_ref: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut q = vec![
            ("audience", audience),
            ("repository", repository),
            ("ref", git_ref),
        ];
        q.extend_from_slice(extra);
        let v = self.call_json("GET", &format!("/gha/token?{}", form_encode(&q)), None);
        v["value"]
            .as_str()
            .expect("value in /gha/token")
            .to_string()
    }

    /// New signing key (new kid); the JWKS then holds only the new key.
    pub fn rotate_key(&mut self) {
        self.call_json("POST", "/_mock/rotate", Some(&json!({"keep_old": false})));
    }

    /// New signing key (new kid); the old keys stay in the JWKS.
    pub fn rotate_key_keep_old(&mut self) {
        self.call_json("POST", "/_mock/rotate", Some(&json!({"keep_old": true})));
    }

    /// Who logs in at `/authorize` when the request has no `login_hint`, with extra claims
    /// (a JSON object, e.g. `{"groups": ["dev"], "email": "…"}`) for their tokens.
    pub fn set_login(&mut self, sub: &str, claims: &Value) {
        self.login = Some((sub.to_string(), claims.clone()));
        self.apply_login();
    }

    /// Back to the package's default login (`johndoe`, no extra claims).
    pub fn clear_login(&mut self) {
        self.login = None;
        self.apply_login();
    }

    fn apply_login(&self) {
        let body = match &self.login {
            Some((sub, claims)) => json!({"sub": sub, "claims": claims}),
            None => json!({}),
        };
        self.call_json("POST", "/_mock/login", Some(&body));
    }

    /// Plays the browser at the authorization endpoint: `GET authorize_url` (plus
    /// `&login_hint=…` when given), expecting a redirect; returns its `Location` (the
    /// client's `redirect_uri` with `code` and `state`, or with `error`). Panics otherwise.
    pub fn authorize(&self, authorize_url: &str, login_hint: Option<&str>) -> String {
        let mut url = authorize_url.to_string();
        if let Some(h) = login_hint {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&form_encode(&[("login_hint", h)]));
        }
        let r = http_request("GET", &url, &[], None).unwrap_or_else(|e| {
            panic!(
                "mock OIDC provider: GET {url} failed: {e}\n--- log ---\n{}",
                self.log()
            )
        });
        match (r.status, r.header("location")) {
            (300..=399, Some(loc)) => loc.to_string(),
            _ => panic!(
                "mock OIDC provider: GET {url} did not redirect: {} {}\n--- log ---\n{}",
                r.status,
                r.text(),
                self.log()
            ),
        }
    }

    /// Stops the provider (SIGTERM to its process group, SIGKILL after 5 s) and reaps it:
    /// its port refuses connections afterwards. Keys stay for [`MockOidc::restart`].
    /// Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop();
        }
    }

    /// Starts the provider again (stopping it first if it runs) on the same port with the
    /// same keys; waits for its discovery document.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let log = self.log_path.clone();
        restart_on_same_ports(
            || self.spawn_and_wait(),
            || {
                format!(
                    "mock OIDC provider restart: port {port} was taken by another process while it was stopped\n--- log ---\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            },
        );
        if self.login.is_some() {
            self.apply_login();
        }
    }

    /// The provider's stderr so far, across restarts (see the module docs).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Spawns the provider on the current port and waits for its discovery document.
    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let log_start = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0) as usize;
        let mut cmd = Command::new(&self.node);
        cmd.arg(&self.script)
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_HOST", "127.0.0.1")
            .env("OIDC_KEY_FILE", &self.key_file)
            .env_remove("NODE_OPTIONS")
            .env_remove("NODE_PATH")
            .current_dir(self.dir.path());
        let mut child = ChildGuard::spawn_with_log(cmd, "mock-oidc", &self.log_path);
        let url = self.url("/.well-known/openid-configuration");
        let issuer = self.issuer();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if child.exit_status().is_some() {
                let log = self.log();
                if log.get(log_start..).unwrap_or(&log).contains("EADDRINUSE") {
                    return Err(StartError::AddrInUse);
                }
                child.assert_running(); // panics with the log
            }
            let last = match http_request_timeout("GET", &url, &[], None, PROBE_TIMEOUT) {
                Ok(r) if r.status == 200 => {
                    let doc: Option<Value> = serde_json::from_slice(&r.body).ok();
                    let got = doc.as_ref().and_then(|d| d["issuer"].as_str());
                    if got == Some(issuer.as_str()) {
                        break;
                    }
                    // Someone else answering on our port.
                    format!("200 with issuer {got:?}, expected {issuer}")
                }
                Ok(r) => format!("status {} {}", r.status, r.text()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "mock OIDC provider did not answer {url} within {START_TIMEOUT:?} (last: \
                     {last}); command: {}\n--- log ---\n{}",
                    child.command(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }
}
