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

    let log = p.wait_for_log("an authentication backend is unavailable");
    assert!(
        log.contains("an authentication backend is unavailable")
            && log.contains("backend=\"database\""),
        "the log names the backend:\n{log}"
    );
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
