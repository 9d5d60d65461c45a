//! HTTPS: portcullis serving its realm over TLS (`[server.tls]`), trusted by the clients
//! the way their users make them trust a private CA, renewed in place, and client
//! certificates as a robot's credential.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    curl, make_test_image, oci_ref, require_tool, run_command, CmdOutput, DockerCli, Podman,
    Portcullis, Registry, Skopeo, TestCa,
};

/// portcullis on HTTPS with a certificate from `ca`, plus `more` configuration; the
/// certificate files are in the returned directory (`tls.crt`, `tls.key`).
fn portcullis_https(ca: &TestCa, more: &str) -> (Portcullis, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pair = ca.server(&["localhost", "127.0.0.1", "::1"], -1, 30);
    std::fs::write(dir.path().join("tls.crt"), &pair.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &pair.key_pem).unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{more}",
            dir.path().join("tls.crt").display(),
            dir.path().join("tls.key").display()
        ),
    )
    .unwrap();
    let p = Portcullis::start_https(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_CONFIG", config.to_str().unwrap())],
    );
    (p, dir)
}

/// A directory of trust as containers/image and docker read it: `*.crt` files are CAs,
/// `NAME.cert` with `NAME.key` a client certificate.
fn cert_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, pem) in files {
        std::fs::write(dir.path().join(name), pem).unwrap();
    }
    dir
}

fn https_url(p: &Portcullis, path: &str) -> String {
    format!("https://localhost:{}{path}", p.port())
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn skopeo_podman_and_docker_login_get_tokens_from_an_https_realm_they_trust_and_a_client_that_does_not_is_told_why(
) {
    // Two CAs, as is common: the registry's and the one that issued portcullis's certificate.
    let registry_ca = TestCa::new("registry test CA");
    let auth_ca = TestCa::new("portcullis test CA");
    let (p, _tls) = portcullis_https(&auth_ca, "");
    p.add_user("alice", "alice-password-1", &["developers"]);
    let config = p.registry_config();
    assert!(
        config.contains(&format!("realm: \"https://localhost:{}/token\"", p.port())),
        "registry-config prints the https realm:\n{config}"
    );
    let reg_pair = registry_ca.server(&["127.0.0.1", "localhost", "::1"], -1, 30);
    let registry = Registry::start_tls(&config, &reg_pair.cert_pem, &reg_pair.key_pem);
    let host = format!("127.0.0.1:{}", registry.port());
    let image = tempfile::tempdir().unwrap();
    make_test_image(image.path(), "v1", "hello over https");

    // Trusting both CAs: the registry's and the realm's.
    let trusted = cert_dir(&[
        ("registry-ca.crt", registry_ca.pem()),
        ("portcullis-ca.crt", auth_ca.pem()),
    ]);
    let trusted_dir = trusted.path().to_str().unwrap();
    let skopeo = Skopeo::new();
    let authfile = skopeo.dir().join("https-auth.json");
    let authfile = authfile.to_str().unwrap();
    skopeo
        .run_with_stdin(
            &[
                "login",
                "--tls-verify=true",
                "--cert-dir",
                trusted_dir,
                "--authfile",
                authfile,
                "--username",
                "alice",
                "--password-stdin",
                &host,
            ],
            b"alice-password-1",
        )
        .assert_success("skopeo login over https");
    skopeo
        .run(&[
            "copy",
            "--dest-tls-verify=true",
            "--dest-cert-dir",
            trusted_dir,
            "--authfile",
            authfile,
            &oci_ref(image.path(), "v1"),
            &format!("docker://{host}/team/app:v1"),
        ])
        .assert_success("skopeo push over https");

    let podman = Podman::new();
    let pod_auth = podman.dir().join("https-auth.json");
    let pod_auth = pod_auth.to_str().unwrap();
    let mut login = vec![
        "login",
        "--tls-verify=true",
        "--cert-dir",
        trusted_dir,
        "--authfile",
        pod_auth,
        "--username",
        "alice",
        "--password-stdin",
    ];
    login.push(&host);
    podman_with_stdin(&podman, &login, "alice-password-1")
        .assert_success("podman login over https");
    podman
        .run(&[
            "pull",
            "--tls-verify=true",
            "--cert-dir",
            trusted_dir,
            "--authfile",
            pod_auth,
            &format!("{host}/team/app:v1"),
        ])
        .assert_success("podman pull over https");

    docker_login_over_https(&registry_ca, &auth_ca);

    // `portcullis doctor` gets a token from the https realm and has the registry accept it,
    // trusting both CAs; trusting the registry's only, it says the realm cannot be reached.
    let both = write_file(
        trusted.path(),
        "both.pem",
        &format!("{}{}", registry_ca.pem(), auth_ca.pem()),
    );
    let registry_url = format!("https://{host}");
    let doctor = |ca_file: &Path| {
        p.cli(
            &[
                "doctor",
                "--registry",
                &registry_url,
                "--ca-file",
                ca_file.to_str().unwrap(),
            ],
            None,
        )
    };
    let out = doctor(&both);
    out.assert_success("doctor over https");
    assert!(
        out.stdout
            .contains("the registry accepts a token from https://localhost:"),
        "{}",
        out.stdout
    );
    let reg_only = write_file(trusted.path(), "registry-only.pem", registry_ca.pem());
    let out = doctor(&reg_only);
    out.assert_failure("doctor trusting the registry's CA only");
    assert!(
        out.stdout
            .contains("clients cannot get tokens at the realm")
            && out
                .stdout
                .contains("signed by a CA this host does not trust")
            && out
                .stdout
                .contains(&format!("/etc/docker/certs.d/{host}/ca.crt")),
        "the doctor names the realm, the untrusted CA, and the registry's certs.d:\n{}",
        out.stdout
    );

    // A client that trusts the registry but not the realm's CA: the token request fails on
    // the certificate, and says so, naming the realm.
    let registry_only = cert_dir(&[("registry-ca.crt", registry_ca.pem())]);
    let out = skopeo.run(&[
        "inspect",
        "--tls-verify=true",
        "--cert-dir",
        registry_only.path().to_str().unwrap(),
        "--creds",
        "alice:alice-password-1",
        &format!("docker://{host}/team/app:v1"),
    ]);
    out.assert_failure("skopeo trusting the registry only");
    assert!(
        out.stderr
            .contains("certificate signed by unknown authority")
            && out
                .stderr
                .contains(&format!("localhost:{}/token", p.port())),
        "the client names the realm and the untrusted certificate:\n{}",
        out.stderr
    );
    // curl without the CA: the same, in curl's words.
    let out = curl(&[&https_url(&p, "/healthz")]);
    out.assert_failure("curl without the CA");
    assert!(
        out.stderr.contains("SSL certificate problem"),
        "{}",
        out.stderr
    );
    let ca_file = write_file(trusted.path(), "only-auth-ca.pem", auth_ca.pem());
    curl(&[
        "--cacert",
        ca_file.to_str().unwrap(),
        &https_url(&p, "/healthz"),
    ])
    .assert_success("curl with the CA");

    // The tokens were issued to alice over HTTPS, and TLS 1.0/1.1 are not spoken at all.
    let log = p.wait_for_log("subject=\"alice\"");
    assert!(log.contains("outcome=\"issued\""), "{log}");
    let out = curl(&[
        "--cacert",
        ca_file.to_str().unwrap(),
        "--tls-max",
        "1.1",
        &https_url(&p, "/healthz"),
    ]);
    out.assert_failure("curl limited to TLS 1.1");
}

/// `podman ARGS` with `stdin` (the password).
fn podman_with_stdin(podman: &Podman, args: &[&str], stdin: &str) -> CmdOutput {
    podman.run_with_stdin(args, stdin.as_bytes())
}

/// docker login against the same realm, trusting the CAs through a `certs.d` directory.
/// The docker CLI checks no certificate of a registry on a loopback address (it counts
/// 127.0.0.0/8 and ::1 as insecure registries), so a login there would prove nothing. This
/// runs portcullis, a registry on 198.51.100.7 (a documentation address on the loopback
/// interface of a network namespace of the test's own, made by this thread) and docker
/// there: docker then verifies the registry and the realm, as it does for its users.
fn docker_login_over_https(registry_ca: &TestCa, auth_ca: &TestCa) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // The namespace is the calling thread's, and what it starts inherits it.
                // SAFETY: a plain system call; it changes only this thread.
                let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "unshare(CLONE_NEWNET) failed ({}): the docker part of this test needs root",
                    std::io::Error::last_os_error()
                );
                let ip = require_tool("ip");
                for args in [
                    &["link", "set", "lo", "up"][..],
                    &["addr", "add", "198.51.100.7/32", "dev", "lo"][..],
                ] {
                    let mut cmd = Command::new(&ip);
                    cmd.args(args);
                    run_command(cmd, None, Duration::from_secs(10)).assert_success("ip");
                }
                docker_logins(registry_ca, auth_ca);
            })
            .join()
            .expect("the docker part passed");
    });
}

fn docker_logins(registry_ca: &TestCa, auth_ca: &TestCa) {
    let (p, _tls) = portcullis_https(auth_ca, "");
    p.add_user("alice", "alice-password-1", &["developers"]);
    let pair = registry_ca.server(&["198.51.100.7"], -1, 30);
    // This registry takes its auth.token settings from REGISTRY_AUTH_TOKEN_* variables.
    let env = p.cli(&["registry-config", "--format", "env"], None);
    env.assert_success("registry-config --format env");
    assert!(
        env.stdout.contains(&format!(
            "REGISTRY_AUTH_TOKEN_REALM=https://localhost:{}/token",
            p.port()
        )),
        "{}",
        env.stdout
    );
    let registry =
        Registry::start_tls_from_env("198.51.100.7", &env.stdout, &pair.cert_pem, &pair.key_pem);
    let host = registry.host_port();
    let trusting = DockerCli::new().with_certs_d(
        &host,
        &[
            ("registry-ca.crt", registry_ca.pem()),
            ("portcullis-ca.crt", auth_ca.pem()),
        ],
    );
    trusting
        .login(&host, "alice", "alice-password-1")
        .assert_success("docker login trusting both CAs through certs.d");
    assert!(
        trusting.auth_entry(&host).is_some(),
        "{:?}",
        trusting.config_json()
    );

    let registry_only =
        DockerCli::new().with_certs_d(&host, &[("registry-ca.crt", registry_ca.pem())]);
    let out = registry_only.login(&host, "alice", "alice-password-1");
    out.assert_failure("docker login trusting the registry's CA only");
    assert!(
        out.stderr
            .contains("certificate signed by unknown authority")
            && out
                .stderr
                .contains(&format!("localhost:{}/token", p.port())),
        "docker names the realm and the untrusted certificate:\n{}",
        out.stderr
    );
    let untrusting = DockerCli::new().with_certs_d(&host, &[]);
    let out = untrusting.login(&host, "alice", "alice-password-1");
    out.assert_failure("docker login trusting neither");
    assert!(
        out.stderr
            .contains("certificate signed by unknown authority"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_robot_pushes_with_a_client_certificate_alone_and_a_certificate_naming_no_one_is_anonymous() {
    let ca = TestCa::new("portcullis test CA");
    let clients_ca = TestCa::new("machines CA");
    let dir = tempfile::tempdir().unwrap();
    let clients_ca_file = write_file(dir.path(), "clients-ca.pem", clients_ca.pem());
    let (p, _tls) = portcullis_https(
        &ca,
        &format!(
            "client_ca_file = \"{}\"\n[server.tls.client_identities]\n\"dns:ci.example.com\" = \"robot:ci\"\n",
            clients_ca_file.display()
        ),
    );
    p.cli(&["robot", "create", "ci"], None)
        .assert_success("robot create ci");
    let reg_pair = ca.server(&["127.0.0.1"], -1, 30);
    let registry = Registry::start_tls(&p.registry_config(), &reg_pair.cert_pem, &reg_pair.key_pem);
    let ci = clients_ca.client("ci.example.com", "ci-runner");
    let stranger = clients_ca.client("laptop.example.com", "laptop");
    let outsider = TestCa::new("another CA").client("ci.example.com", "ci-runner");
    let ca_file = write_file(dir.path(), "ca.pem", ca.pem());
    let token = |pair: Option<&support::Issued>| {
        let mut args = vec!["--cacert".to_string(), ca_file.display().to_string()];
        if let Some(pair) = pair {
            let name = format!("{:p}", pair);
            let cert = write_file(dir.path(), &format!("{name}.crt"), &pair.cert_pem);
            let key = write_file(dir.path(), &format!("{name}.key"), &pair.key_pem);
            args.extend([
                "--cert".into(),
                cert.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ]);
        }
        args.push(https_url(
            &p,
            "/token?service=portcullis&scope=repository:ci/app:pull,push",
        ));
        curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    token(Some(&ci)).assert_success("a token with the robot's certificate");
    let line = p.wait_for_log_line("auth=\"client_certificate\"");
    assert!(
        line.contains("outcome=\"issued\"")
            && line.contains("granted=\"repository:ci/app:pull,push\""),
        "{line}"
    );
    // An `account` naming someone else than the certificate's robot is refused.
    let ci_cert = write_file(dir.path(), "ci.crt", &ci.cert_pem);
    let ci_key = write_file(dir.path(), "ci.key", &ci.key_pem);
    let out = curl(&[
        "-w",
        "%{http_code}",
        "--cacert",
        ca_file.to_str().unwrap(),
        "--cert",
        ci_cert.to_str().unwrap(),
        "--key",
        ci_key.to_str().unwrap(),
        &https_url(
            &p,
            "/token?service=portcullis&account=alice&scope=repository:ci/app:push",
        ),
    ]);
    assert!(out.stdout.ends_with("400"), "{}", out.stdout);
    // From the right CA but naming no one: anonymous, so no push.
    token(Some(&stranger)).assert_success("a token with an unmapped certificate");
    let line = p.wait_for_log_line("subject=\"\" auth=\"anonymous\"");
    assert!(line.contains("granted=\"\""), "{line}");
    // From another CA: the handshake itself is refused.
    let out = token(Some(&outsider));
    out.assert_failure("a certificate from another CA");

    // The real client: skopeo with the certificate in its --cert-dir and no credentials.
    let trust = cert_dir(&[
        ("ca.crt", ca.pem()),
        ("client.cert", &ci.cert_pem),
        ("client.key", &ci.key_pem),
    ]);
    let image = tempfile::tempdir().unwrap();
    make_test_image(image.path(), "v1", "pushed by a certificate");
    let skopeo = Skopeo::new();
    let push = |tag: &str| {
        skopeo.run(&[
            "copy",
            "--dest-tls-verify=true",
            "--dest-cert-dir",
            trust.path().to_str().unwrap(),
            "--dest-no-creds",
            &oci_ref(image.path(), "v1"),
            &format!("docker://{}/ci/app:{tag}", registry.host_port()),
        ])
    };
    push("v1").assert_success("skopeo pushes with the robot's client certificate");
    // Disabled, the robot's certificate no longer logs in.
    p.cli(&["robot", "disable", "ci"], None)
        .assert_success("robot disable ci");
    let out = push("v2");
    out.assert_failure("skopeo push after the robot was disabled");
    let line = p.wait_for_log_line("reason=\"account disabled\"");
    assert!(
        line.contains("subject=\"robot+ci\" auth=\"client_certificate\""),
        "{line}"
    );
}

/// The `expire date` curl reports for the certificate `https://localhost:PORT` serves.
fn served_expiry(p: &Portcullis, ca_file: &Path) -> String {
    let out = curl(&[
        "-v",
        "--cacert",
        ca_file.to_str().unwrap(),
        &https_url(p, "/healthz"),
    ]);
    out.assert_success("curl -v over https");
    out.stderr
        .lines()
        .find_map(|l| l.split_once("expire date: ").map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| panic!("no expire date in curl's output:\n{}", out.stderr))
}

/// A TLS connection kept open (openssl s_client), to show that a renewal leaves it be.
struct OpenConnection {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl OpenConnection {
    fn open(p: &Portcullis, ca_file: &Path) -> OpenConnection {
        use std::io::BufRead;
        let mut child = Command::new(require_tool("openssl"))
            .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
            .arg(ca_file)
            .args(["-connect", &format!("localhost:{}", p.port())])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_client");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        OpenConnection {
            child,
            stdin,
            lines,
        }
    }

    /// Sends `GET /healthz` on the connection and returns the status line of its answer.
    fn get_healthz(&mut self) -> String {
        use std::io::Write;
        self.stdin
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        self.stdin.flush().unwrap();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .expect("an answer on the open connection");
            // The previous answer's body ends without a line break: the status line may
            // follow it on the same line.
            if let Some(i) = line.find("HTTP/1.1 ") {
                return line[i..].to_string();
            }
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_renewal_keeps_the_one_in_use() {
    let ca = TestCa::new("portcullis test CA");
    // Idle connections are kept a minute, so the open one outlives the renewal.
    let (p, tls) = portcullis_https(&ca, "[server]\nkeep_alive = \"60s\"\n");
    let ca_file = write_file(tls.path(), "ca.pem", ca.pem());
    let first = served_expiry(&p, &ca_file);
    let metrics = |name: &str| -> String {
        let out = curl(&[
            "--cacert",
            ca_file.to_str().unwrap(),
            &https_url(&p, "/metrics"),
        ]);
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", out.stdout))
            .to_string()
    };
    assert_eq!(
        metrics("portcullis_tls_certificate_reload_ok"),
        "portcullis_tls_certificate_reload_ok 1"
    );
    let seconds: i64 = metrics("portcullis_tls_certificate_expiry_seconds ")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29 * 86400..=30 * 86400).contains(&seconds), "{seconds}");
    let mut open = OpenConnection::open(&p, &ca_file);
    assert!(open.get_healthz().contains("200"));

    // A renewal that wrote the new certificate but whose key is still the old one.
    let renewed = ca.server(&["localhost", "127.0.0.1"], -1, 60);
    std::fs::write(tls.path().join("tls.crt"), &renewed.cert_pem).unwrap();
    let line = p.wait_for_log_line("the renewed TLS certificate cannot be used");
    assert!(
        line.contains("tls.key") && line.contains("is not the key of the certificate"),
        "{line}"
    );
    assert_eq!(
        served_expiry(&p, &ca_file),
        first,
        "the previous pair still serves"
    );
    assert_eq!(
        metrics("portcullis_tls_certificate_reload_ok"),
        "portcullis_tls_certificate_reload_ok 0"
    );

    // The key arrives: the new pair serves new connections, and the open one goes on.
    std::fs::write(tls.path().join("tls.key"), &renewed.key_pem).unwrap();
    p.wait_for_log_line("TLS certificate renewed");
    let second = served_expiry(&p, &ca_file);
    assert_ne!(second, first);
    assert_eq!(
        metrics("portcullis_tls_certificate_reload_ok"),
        "portcullis_tls_certificate_reload_ok 1"
    );
    assert!(
        open.get_healthz().contains("200"),
        "the connection opened before the renewal still answers"
    );
}

#[test]
fn an_expired_or_mismatched_pair_stops_startup_and_check_naming_the_file() {
    let ca = TestCa::new("portcullis test CA");
    let dir = tempfile::tempdir().unwrap();
    let expired = ca.server(&["localhost"], -30, -1);
    let other = ca.server(&["localhost"], -1, 30);
    for (case, cert, key, says) in [
        ("expired", &expired.cert_pem, &expired.key_pem, "expired at"),
        (
            "mismatched",
            &other.cert_pem,
            &expired.key_pem,
            "is not the key of the certificate",
        ),
    ] {
        let cert_file = write_file(dir.path(), &format!("{case}.crt"), cert);
        let key_file = write_file(dir.path(), &format!("{case}.key"), key);
        let config = write_file(
            dir.path(),
            &format!("{case}.toml"),
            &format!(
                "[server]\nlisten = \"127.0.0.1:{}\"\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[policies]\ndir = \"{}\"\n",
                support::free_port(),
                cert_file.display(),
                key_file.display(),
                Portcullis::fixture_policies().display()
            ),
        );
        for sub in ["serve", "check"] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
            cmd.arg("--config")
                .arg(&config)
                .arg(sub)
                .current_dir(dir.path());
            let out = run_command(cmd, None, Duration::from_secs(30));
            out.assert_failure(&format!("portcullis {sub} with an {case} pair"));
            let said = format!("{}{}", out.stdout, out.stderr);
            assert!(
                said.contains("server.tls")
                    && said.contains(says)
                    && said.contains(&format!("{case}.")),
                "{sub} with an {case} pair:\n{said}"
            );
        }
    }
}
