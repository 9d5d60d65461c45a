//! Behind a load balancer: `X-Forwarded-For` and `Forwarded` are believed from the peers in
//! `server.trusted_proxies` only. The peers here are loopback addresses of their own
//! (curl `--interface 127.0.0.x`): 127.0.0.2 is the trusted proxy, 127.0.0.3 a client
//! forging the header.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{base64_encode, require_tool, run_command, Portcullis};

/// `GET /token` from source address `from`, with `user:password` and `headers` (given to
/// curl on stdin, never on its command line); the status.
fn token_from(p: &Portcullis, from: &str, user: &str, password: &str, headers: &[&str]) -> u16 {
    let mut config = format!(
        "header = \"Authorization: Basic {}\"\n",
        base64_encode(format!("{user}:{password}").as_bytes())
    );
    for h in headers {
        config.push_str(&format!("header = \"{h}\"\n"));
    }
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--config",
        "-",
        "--interface",
        from,
    ])
    .arg(format!(
        "{}/token?service=portcullis&scope=repository:team/app:pull",
        p.url()
    ));
    let out = run_command(cmd, Some(config.as_bytes()), Duration::from_secs(30));
    out.assert_success("curl");
    out.stdout.trim().parse().unwrap()
}

#[test]
fn a_trusted_proxys_forwarded_address_is_throttled_and_audited_and_a_forged_one_is_ignored() {
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_SERVER__TRUSTED_PROXIES", "127.0.0.2"),
            ("PORTCULLIS_AUTH__MAX_FAILURES_PER_IP", "3"),
        ],
    );
    p.add_user("alice", "alice-pass-1", &[]);

    // Through the proxy: three failures from 203.0.113.7 lock 203.0.113.7 out...
    let client = ["X-Forwarded-For: 203.0.113.7"];
    for _ in 0..3 {
        assert_eq!(
            token_from(&p, "127.0.0.2", "alice", "wrong-password", &client),
            401
        );
    }
    assert_eq!(
        token_from(&p, "127.0.0.2", "alice", "alice-pass-1", &client),
        429
    );
    // ...but not the proxy, nor another client behind it (RFC 7239 form too).
    assert_eq!(
        token_from(
            &p,
            "127.0.0.2",
            "alice",
            "alice-pass-1",
            &["Forwarded: for=203.0.113.8"]
        ),
        200
    );
    assert_eq!(
        token_from(
            &p,
            "127.0.0.2",
            "alice",
            "alice-pass-1",
            &["X-Forwarded-For: 203.0.113.9"]
        ),
        200
    );

    // From an untrusted peer the header is ignored: changing it each time does not escape
    // the throttle, which counts the real address.
    for i in 1..=3 {
        let forged = format!("X-Forwarded-For: 198.51.100.{i}");
        assert_eq!(
            token_from(&p, "127.0.0.3", "alice", "wrong-password", &[&forged]),
            401
        );
    }
    assert_eq!(
        token_from(
            &p,
            "127.0.0.3",
            "alice",
            "alice-pass-1",
            &["X-Forwarded-For: 198.51.100.50"]
        ),
        429
    );

    let log = p.log();
    assert!(
        log.contains(r#"client_ip="203.0.113.7""#),
        "audited by the forwarded address"
    );
    assert!(log.contains(r#"client_ip="203.0.113.8""#));
    assert!(
        log.contains(r#"client_ip="127.0.0.3""#),
        "audited by the real address"
    );
    assert!(
        !log.contains("198.51.100."),
        "a forged address reached the audit"
    );
    assert!(
        !log.contains(r#"client_ip="127.0.0.2""#),
        "the proxy is not the client"
    );
}
