//! Behind a load balancer: `X-Forwarded-For` and `Forwarded` are believed from the peers in
//! `server.trusted_proxies` only. The peers here are loopback addresses of their own
//! (curl `--interface 127.0.0.x`): 127.0.0.2 is the trusted proxy, 127.0.0.3 a client
//! forging the header.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{base64_encode, require_tool, run_command, Portcullis};

/// curl from source address `from` to `path`, with `headers` given on its stdin (never on
/// its command line, where a password would show in `ps`), and `args`.
fn curl_from(p: &Portcullis, from: &str, path: &str, headers: &[String], args: &[&str]) -> String {
    let config: String = headers
        .iter()
        .map(|h| format!("header = \"{h}\"\n"))
        .collect();
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-s", "--config", "-", "--interface", from])
        .args(args)
        .arg(format!("{}{path}", p.url()));
    let out = run_command(cmd, Some(config.as_bytes()), Duration::from_secs(30));
    out.assert_success("curl");
    out.stdout
}

/// `GET /token` from source address `from`, with `user:password` and `headers`; the status.
fn token_from(p: &Portcullis, from: &str, user: &str, password: &str, headers: &[&str]) -> u16 {
    let mut all = vec![format!(
        "Authorization: Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    )];
    all.extend(headers.iter().map(|h| h.to_string()));
    let path = "/token?service=portcullis&scope=repository:team/app:pull";
    curl_from(
        p,
        from,
        path,
        &all,
        &["-o", "/dev/null", "-w", "%{http_code}"],
    )
    .trim()
    .parse()
    .unwrap()
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
    for other in ["Forwarded: for=203.0.113.8", "X-Forwarded-For: 203.0.113.9"] {
        let status = token_from(&p, "127.0.0.2", "alice", "alice-pass-1", &[other]);
        assert_eq!(status, 200, "{other}");
    }

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

/// The `X-Request-Id` of an anonymous `GET /token` sent from `from` with `headers`.
fn request_id_from(p: &Portcullis, from: &str, headers: &[&str]) -> String {
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let path = "/token?service=portcullis&scope=repository:nope/x:push";
    let out = curl_from(p, from, path, &headers, &["-D", "-", "-o", "/dev/null"]);
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-request-id")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no X-Request-Id in:\n{out}"))
}

#[test]
fn every_answer_carries_a_request_id_that_its_audit_record_names_and_only_a_proxy_may_choose_it() {
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_SERVER__TRUSTED_PROXIES", "127.0.0.2")],
    );
    let first = request_id_from(&p, "127.0.0.1", &[]);
    let second = request_id_from(&p, "127.0.0.1", &[]);
    assert_ne!(first, second);
    // Each answer's id is in its own audit record.
    p.wait_for_log(&format!("request_id=\"{first}\""));
    p.wait_for_log(&format!("request_id=\"{second}\""));
    // A client cannot choose its id; the load balancer can (the id it logged).
    let forged = request_id_from(&p, "127.0.0.3", &["X-Request-Id: chosen-by-client"]);
    assert_ne!(forged, "chosen-by-client");
    let kept = request_id_from(&p, "127.0.0.2", &["X-Request-Id: lb-7f3a-0001"]);
    assert_eq!(kept, "lb-7f3a-0001");
    p.wait_for_log("request_id=\"lb-7f3a-0001\"");
    // Other routes carry one too.
    let health = support::http_get(&format!("{}/healthz", p.url()), &[]).unwrap();
    assert!(health.header("x-request-id").is_some_and(|v| !v.is_empty()));
}

#[test]
fn a_trusted_proxys_forwarded_proto_and_host_are_where_the_sign_in_comes_back_to() {
    let oidc = support::MockOidc::start();
    let config = oidc.config_file("");
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_SERVER__TRUSTED_PROXIES", "127.0.0.2"),
            ("PORTCULLIS_CONFIG", config.path().to_str().unwrap()),
        ],
    );
    let headers = [
        "X-Forwarded-Proto: https".to_owned(),
        "X-Forwarded-Host: auth.example.com".to_owned(),
    ];
    let location = |from: &str| {
        let out = curl_from(
            &p,
            from,
            "/login",
            &headers,
            &["-D", "-", "-o", "/dev/null"],
        );
        out.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no Location in:\n{out}"))
    };
    // Through the proxy: the provider is asked to send the browser back to the address the
    // browser reached.
    let trusted = location("127.0.0.2");
    assert!(
        trusted.contains("redirect_uri=https%3A%2F%2Fauth.example.com%2Flogin%2Fcallback"),
        "{trusted}"
    );
    // From anyone else the headers are ignored: back to server.public_url.
    let forged = location("127.0.0.3");
    assert!(!forged.contains("auth.example.com"), "{forged}");
}
