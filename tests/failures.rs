//! When a backend fails, token requests that need it get a 503 in the registry's error shape
//! and the log says which backend and why; requests that do not need it (anonymous ones,
//! remembered credentials) are unaffected.

mod support;

use support::{basic_auth, http_get, Portcullis};

#[test]
fn a_broken_database_gives_503_and_a_log_line_naming_it() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    p.add_user("alice", "alice-password", &[]);
    p.add_user("bob", "bob-password", &[]);
    let token_url = format!("{}/token?scope=repository:public/x:pull", p.url());
    let auth = basic_auth("alice", "alice-password");
    assert_eq!(
        http_get(&token_url, &[("Authorization", &auth)])
            .unwrap()
            .status,
        200
    );

    // Replace the database with garbage under the running server.
    let db = p.dir().join("portcullis.db");
    for suffix in ["", "-wal", "-shm"] {
        let f = p.dir().join(format!("portcullis.db{suffix}"));
        if f.exists() {
            std::fs::write(&f, vec![0x5a; 8192]).unwrap();
        }
    }
    assert!(db.exists());

    // bob was never verified: his request needs the database.
    let bob = basic_auth("bob", "bob-password");
    let resp = http_get(&token_url, &[("Authorization", &bob)]).unwrap();
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.header("retry-after"), Some("5"));
    assert_eq!(resp.json()["errors"][0]["code"], "UNAVAILABLE");
    let message = resp.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("database"), "{message}");

    let line = p.wait_for_log_line("an authentication backend is unavailable");
    let id = resp.header("x-request-id").unwrap();
    assert!(
        line.contains("backend=\"database\"") && line.ends_with(&format!(" request_id=\"{id}\"")),
        "the log line names the backend and the request (its X-Request-Id, {id}):\n{line}"
    );
    let log = p.log();
    assert!(!log.contains("alice-password") && !log.contains("bob-password"));

    // alice's credentials were verified a moment ago and are remembered: still served.
    assert_eq!(
        http_get(&token_url, &[("Authorization", &auth)])
            .unwrap()
            .status,
        200
    );
    // Anonymous requests need no database: still served.
    assert_eq!(http_get(&token_url, &[]).unwrap().status, 200);
    // Readiness reports it.
    assert_eq!(
        http_get(&format!("{}/readyz", p.url()), &[])
            .unwrap()
            .status,
        503
    );
}

/// Polls `f` every 100 ms for up to 10 s until it returns true.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_database_file_replaced_under_the_server_is_reopened_and_a_removed_one_is_a_503() {
    let p = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    p.add_user("alice", "alice-password", &[]);
    p.add_user("bob", "bob-password", &[]);
    let token_url = format!("{}/token?scope=repository:public/x:pull", p.url());
    let status = |user: &str, password: &str| {
        http_get(
            &token_url,
            &[("Authorization", &basic_auth(user, password))],
        )
        .unwrap()
        .status
    };
    assert_eq!(status("alice", "alice-password"), 200, "and now remembered");

    // A restore: a copy in which alice is disabled is moved over the database.
    let db = p.dir().join("portcullis.db");
    let copy = p.dir().join("restored.db");
    std::fs::copy(&db, &copy).unwrap();
    let copy_url = format!("sqlite://{}", copy.display());
    p.cli_with(
        &["user", "disable", "alice"],
        None,
        &[("PORTCULLIS_STORE__URL", &copy_url)],
    )
    .assert_success("disabling alice in the copy");
    std::fs::rename(&copy, &db).unwrap();
    eventually("alice is refused after the restore", || {
        status("alice", "alice-password") == 401
    });
    let log = p.wait_for_log("the database file was replaced under the running server");
    assert!(log.contains("reopened the new file"), "{log}");
    assert_eq!(status("bob", "bob-password"), 200, "the new file is in use");

    // Removed: a 503 naming the database, never an empty database's "wrong password".
    let aside = p.dir().join("aside.db");
    std::fs::rename(&db, &aside).unwrap();
    let ready = || {
        http_get(&format!("{}/readyz", p.url()), &[])
            .unwrap()
            .status
    };
    eventually("readiness fails", || ready() == 503);
    p.wait_for_log("the database file was removed under the running server");
    let resp = http_get(
        &format!("{}/token", p.url()),
        &[("Authorization", &basic_auth("carol", "any"))],
    )
    .unwrap();
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(!db.exists(), "no empty database was created in its place");
    std::fs::rename(&aside, &db).unwrap();
    eventually("ready again", || ready() == 200);
}

/// Open file descriptors of process `pid`.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// A `POST /token` announcing a 1000-byte body and sending `sent` of it, then stalling.
fn stalled_body_sending(port: u16, sent: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n".to_vec();
    request.extend_from_slice(sent);
    s.write_all(&request).unwrap();
    s
}

/// [`stalled_body_sending`] a few bytes.
fn stalled_body(port: u16) -> std::net::TcpStream {
    stalled_body_sending(port, b"grant_type=pa")
}

#[test]
fn stalled_request_bodies_are_cut_off_and_health_answers_meanwhile() {
    use std::io::Read;
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[("PORTCULLIS_SERVER__REQUEST_TIMEOUT", "3s")],
    );
    let before = open_files(p.pid());
    // Half send part of the body, half none of it (the deadline must hold either way).
    let mut stalled: Vec<_> = (0..300)
        .map(|i| stalled_body_sending(p.port(), if i % 2 == 0 { b"grant_type=pa" } else { b"" }))
        .collect();
    // The server answers others while 300 bodies are pending.
    let t = std::time::Instant::now();
    let health = support::http_request_timeout(
        "GET",
        &format!("{}/healthz", p.url()),
        &[],
        None,
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(health.status, 200);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    // Each stalled request ends with a 408 in the registry's shape, and its connection closes.
    for s in &mut stalled {
        s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .expect("the server closes the connection");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"code\":\"TIMEOUT\""), "{text}");
    }
    drop(stalled);
    eventually("the connections' files are released", || {
        open_files(p.pid()) <= before + 5
    });
}

#[test]
fn connections_beyond_server_max_connections_wait_instead_of_exhausting_the_process() {
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_SERVER__MAX_CONNECTIONS", "32"),
            ("PORTCULLIS_SERVER__REQUEST_TIMEOUT", "3s"),
        ],
    );
    let before = open_files(p.pid());
    let stalled: Vec<_> = (0..80).map(|_| stalled_body(p.port())).collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let held = open_files(p.pid()) - before;
    assert!(
        (16..=32).contains(&held),
        "{held} connections held with a cap of 32 and 80 waiting"
    );
    // The rest waited their turn: once the stalled bodies time out, the server answers again.
    let health = support::wait_for_http_status(
        &format!("{}/healthz", p.url()),
        std::time::Duration::from_secs(60),
        &[200],
    );
    assert_eq!(health.status, 200);
    drop(stalled);
}
