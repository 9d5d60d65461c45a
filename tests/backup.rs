//! `portcullis backup` taken while the server serves token requests and the CLI changes
//! users, restored into an empty directory: every credential made before the backup works
//! there, signed with the same key; a damaged archive restores nothing.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{basic_auth, http_get, Portcullis};

const PASSPHRASE: &str = "a long backup passphrase 42\n";

fn token(p: &Portcullis, user: &str, password: &str, scope: &str) -> (u16, serde_json::Value) {
    let r = http_get(
        &format!("{}/token?service=portcullis&scope={scope}", p.url()),
        &[("Authorization", &basic_auth(user, password))],
    )
    .unwrap();
    let status = r.status;
    (
        status,
        if status == 200 {
            r.json()
        } else {
            serde_json::Value::Null
        },
    )
}

/// The claims of the token in a `/token` answer.
fn claims(body: &serde_json::Value) -> serde_json::Value {
    let token = body["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let raw = data_encoding::BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn kid(body: &serde_json::Value) -> String {
    jsonwebtoken::decode_header(body["token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap()
}

/// The settings that put a CLI or a server on directory `dir`.
fn env_in(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "PORTCULLIS_STORE__URL".into(),
            format!("sqlite://{}/data/portcullis.db", dir.display()),
        ),
        (
            "PORTCULLIS_KEYS__DIR".into(),
            dir.join("keys").display().to_string(),
        ),
        (
            "PORTCULLIS_POLICIES__DIR".into(),
            dir.join("policies").display().to_string(),
        ),
    ]
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_backup_taken_under_load_restores_every_credential_into_an_empty_directory() {
    let a = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    for i in 0..5 {
        a.add_user(&format!("user{i}"), &format!("user{i}-password"), &["qa"]);
    }
    let robot = a.cli(&["robot", "create", "ci"], None);
    robot.assert_success("robot create");
    let robot_secret = robot.stdout.trim().to_owned();
    let pat = a.cli(
        &[
            "token",
            "create",
            "--user",
            "user0",
            "--name",
            "laptop",
            "--scope",
            "repository:qa/app:pull,push",
        ],
        None,
    );
    pat.assert_success("token create");
    let pat = pat.stdout.trim().to_owned();
    a.cli(
        &[
            "binding", "create", "--grant", "--to", "group:qa", "--role", "writer", "--repo",
            "qa/**",
        ],
        None,
    )
    .assert_success("binding create");
    let offline = http_get(
        &format!("{}/token?offline_token=true&service=portcullis", a.url()),
        &[("Authorization", &basic_auth("user1", "user1-password"))],
    )
    .unwrap();
    let refresh = offline.json()["refresh_token"].as_str().unwrap().to_owned();
    let (_, body) = token(&a, "user0", "user0-password", "repository:qa/app:push");
    let kid_a = kid(&body);

    // Load: token requests, and users made by the CLI, throughout the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let made_before: Arc<Mutex<Vec<String>>> = Arc::default();
    let backup_started = Arc::new(AtomicBool::new(false));
    let url = a.url();
    let requests = {
        let (stop, served) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let r = http_get(
                    &format!("{url}/token?service=portcullis&scope=repository:qa/app:pull"),
                    &[("Authorization", &basic_auth("user2", "user2-password"))],
                )
                .unwrap();
                assert_eq!(r.status, 200, "a token request during the backup");
                served.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let env_a: Vec<(String, String)> = a.env().to_vec();
    let changes = {
        let (stop, made, started) = (stop.clone(), made_before.clone(), backup_started.clone());
        let dir = a.dir().to_path_buf();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let name = format!("extra{n}");
                let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
                cmd.args(["user", "add", &name]).current_dir(&dir);
                cmd.envs(env_a.iter().map(|(k, v)| (k, v)));
                let out = support::run_command(
                    cmd,
                    Some(b"extra-password-1\n"),
                    std::time::Duration::from_secs(60),
                );
                out.assert_success("user add during the backup");
                // Made before the backup if it was done before the backup began.
                if !started.load(Ordering::SeqCst) {
                    made.lock().unwrap().push(name);
                }
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let archive = tempfile::tempdir().unwrap();
    let file = archive.path().join("portcullis-backup.tar.gz");
    let file_s = file.to_str().unwrap();
    backup_started.store(true, Ordering::SeqCst);
    let out = a.cli(
        &["backup", "--to", file_s, "--include-keys"],
        Some(PASSPHRASE),
    );
    out.assert_success("backup under load");
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    requests.join().unwrap();
    changes.join().unwrap();
    let made_before = made_before.lock().unwrap().clone();
    eprintln!(
        "backup under load: {} token requests served and {} users made by the CLI meanwhile",
        served.load(Ordering::SeqCst),
        made_before.len()
    );
    assert!(
        out.stdout.contains("database   a snapshot of"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("encrypted under the passphrase"),
        "{}",
        out.stdout
    );
    assert!(!made_before.is_empty());

    // Restored into an empty directory.
    let b_dir = tempfile::tempdir().unwrap();
    let env_b = env_in(b_dir.path());
    let config_to = b_dir.path().join("portcullis.toml");
    let out = a.cli_with(
        &[
            "restore",
            file_s,
            "--config-to",
            config_to.to_str().unwrap(),
        ],
        Some(PASSPHRASE),
        &refs(&env_b),
    );
    out.assert_success("restore into an empty directory");
    let b = Portcullis::start(&b_dir.path().join("policies"), &refs(&env_b));
    for i in 0..5 {
        assert_eq!(
            token(
                &b,
                &format!("user{i}"),
                &format!("user{i}-password"),
                "repository:qa/app:pull"
            )
            .0,
            200,
            "user{i}"
        );
    }
    for name in &made_before {
        assert_eq!(
            token(&b, name, "extra-password-1", "repository:qa/app:pull").0,
            200,
            "{name}, made before the backup"
        );
    }
    assert_eq!(
        token(&b, "robot+ci", &robot_secret, "repository:ci/app:push").0,
        200,
        "the robot"
    );
    let (status, body) = token(&b, "user0", &pat, "repository:qa/app:push");
    assert_eq!(status, 200, "the personal access token");
    let c = claims(&body);
    assert_eq!(
        c["access"][0]["actions"],
        serde_json::json!(["push"]),
        "the binding: {c}"
    );
    assert_eq!(
        kid(&body),
        kid_a,
        "signed with the same key: the registry needs nothing new"
    );
    let grant = support::refresh_grant(&b.url(), "portcullis", &refresh).unwrap();
    assert_eq!(grant.status, 200, "the refresh token: {}", grant.text());

    // Not over what exists.
    let again = a.cli_with(&["restore", file_s], Some(PASSPHRASE), &refs(&env_b));
    again.assert_failure("restore over a database");
    assert!(
        again
            .stderr
            .contains("restore into an empty directory, or give --force"),
        "{}",
        again.stderr
    );
    // Not with a wrong passphrase.
    let c_dir = tempfile::tempdir().unwrap();
    let wrong = a.cli_with(
        &["restore", file_s],
        Some("not the passphrase\n"),
        &refs(&env_in(c_dir.path())),
    );
    wrong.assert_failure("restore with a wrong passphrase");
    assert!(
        wrong
            .stderr
            .contains("the passphrase does not open the keys"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn a_damaged_archive_restores_nothing_and_one_without_keys_holds_no_private_key() {
    let a = Portcullis::start(&Portcullis::fixture_policies(), &[]);
    a.add_user("dora", "dora-password-1", &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.tar.gz");
    let file_s = file.to_str().unwrap();
    let out = a.cli(&["backup", "--to", file_s], None);
    out.assert_success("backup without keys");
    assert!(out.stdout.contains("no private key"), "{}", out.stdout);
    // Nothing in it opens a signing key: no key file, and no key in the database.
    let raw = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {file_s}"))
        .output()
        .unwrap()
        .stdout;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("secrets.enc") && !text.contains("key-encryption"),
        "a key file in the archive"
    );
    let kek = std::fs::read(a.dir().join("keys/key-encryption.key")).unwrap();
    assert!(!raw.windows(kek.len()).any(|w| w == kek.as_slice()));

    // A restore of it starts with a new key, and says the registry needs the new bundle.
    let d_dir = tempfile::tempdir().unwrap();
    let env_d = env_in(d_dir.path());
    let out = a.cli_with(&["restore", file_s], None, &refs(&env_d));
    out.assert_success("restore without keys");
    assert!(
        out.stdout
            .contains("the first start makes a new signing key"),
        "{}",
        out.stdout
    );
    let d = Portcullis::start(&d_dir.path().join("policies"), &refs(&env_d));
    let (status, body) = token(&d, "dora", "dora-password-1", "repository:x/y:pull");
    assert_eq!(status, 200);
    let (_, body_a) = token(&a, "dora", "dora-password-1", "repository:x/y:pull");
    assert_ne!(kid(&body), kid(&body_a));

    // One byte changed in the middle: refused before anything is written.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = dir.path().join("damaged.tar.gz");
    std::fs::write(&bad, &bytes).unwrap();
    let e_dir = tempfile::tempdir().unwrap();
    let out = a.cli_with(
        &["restore", bad.to_str().unwrap()],
        None,
        &refs(&env_in(e_dir.path())),
    );
    out.assert_failure("restore of a damaged archive");
    assert!(
        out.stderr.contains("is not a sound portcullis backup"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing was restored"),
        "{}",
        out.stderr
    );
    assert!(!e_dir.path().join("data/portcullis.db").exists());
    assert!(!e_dir.path().join("policies").exists());
}
