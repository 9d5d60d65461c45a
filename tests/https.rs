//! HTTPS: portcullis serving its realm over TLS (`[server.tls]`), trusted by the clients
//! the way their users make them trust a private CA, renewed in place, and client
//! certificates as a robot's credential.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    make_test_image, oci_ref, require_tool, run_command, CmdOutput, DockerCli, Podman, Portcullis,
    Registry, Skopeo, TestCa,
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

fn curl(args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--max-time", "10"]).args(args);
    run_command(cmd, None, Duration::from_secs(20))
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
    let registry = Registry::start_tls_at(
        "198.51.100.7",
        &p.registry_config(),
        &pair.cert_pem,
        &pair.key_pem,
    );
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
