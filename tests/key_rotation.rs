//! Rotating the signing key the registry trusts, with pulls running the whole time: the
//! README's "Rotating the signing key", step by step, against Debian's registry and skopeo.
//! `scripts/rotation.sh` runs it and prints its figures.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Skopeo, Stack};

/// What the pull loop saw.
#[derive(Default)]
struct Pulls {
    ok: usize,
    failed: Vec<String>,
    /// The kid of the token each phase's pulls were signed with, as the registry's log
    /// shows nothing of it: counted per phase by the test instead.
    by_phase: Vec<(String, usize)>,
}

/// skopeo pulls `image` in a loop (each pull asks portcullis for a new token) until `stop`.
/// Connection errors while the registry restarts are retried by skopeo (`--retry-times`);
/// a refused token is not (containers/common treats 401 and 403 as final).
fn pull_loop(
    image: String,
    creds: (String, String),
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    pulls: Arc<Mutex<Pulls>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let sk = Skopeo::new();
        let host = image.split('/').nth(2).unwrap_or_default().to_owned();
        sk.login(&host, &creds.0, &creds.1)
            .assert_success("skopeo login before the pulls");
        let authfile = sk.authfile().to_str().unwrap().to_owned();
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let dest = format!("dir:{}/pull-{n}", sk.dir().display());
            let out = sk.run(&[
                "copy",
                "--retry-times",
                "5",
                "--src-tls-verify=false",
                "--authfile",
                &authfile,
                &image,
                &dest,
            ]);
            let _ = std::fs::remove_dir_all(format!("{}/pull-{n}", sk.dir().display()));
            let p = phase.lock().unwrap().clone();
            let mut pulls = pulls.lock().unwrap();
            if out.success() {
                pulls.ok += 1;
                match pulls.by_phase.last_mut() {
                    Some((name, count)) if *name == p => *count += 1,
                    _ => pulls.by_phase.push((p, 1)),
                }
            } else {
                pulls.failed.push(format!("{p}: {}", out.stderr.trim()));
            }
        }
    })
}

#[test]
fn the_signing_key_is_rotated_with_pulls_running_throughout_and_not_one_fails() {
    // Short tokens, so that the old key may be retired two minutes after the switch.
    let mut s = Stack::start(
        &[
            ("PORTCULLIS_TOKEN__TTL", "60s"),
            ("PORTCULLIS_TOKEN__CLOCK_SKEW", "0s"),
        ],
        &[("dev", "dev-pass-123", &["developers"])],
    );
    Skopeo::new()
        .copy(
            &s.src(),
            &s.dst("team/app:v1"),
            Some(("dev", "dev-pass-123")),
        )
        .assert_success("the image the pulls fetch");
    let old = s.portcullis.cli(&["key", "list"], None);
    old.assert_success("key list");
    let old_id = old
        .stdout
        .lines()
        .find(|l| l.starts_with("active"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(Mutex::new("before".to_owned()));
    let pulls = Arc::new(Mutex::new(Pulls::default()));
    let started = Instant::now();
    let looping = pull_loop(
        s.dst("team/app:v1"),
        ("dev".into(), "dev-pass-123".into()),
        stop.clone(),
        phase.clone(),
        pulls.clone(),
    );
    let set_phase = |name: &str| {
        *phase.lock().unwrap() = name.to_owned();
        std::thread::sleep(Duration::from_secs(2));
    };
    set_phase("before");

    // 1. A next key: published in the bundle, not signing.
    let added = s.portcullis.cli(&["key", "add"], None);
    added.assert_success("key add");
    let next_id = added.stdout.trim().to_owned();
    assert_ne!(next_id, old_id);
    let bundle = std::fs::read_to_string(s.portcullis.dir().join("keys/bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    set_phase("next key added");

    // 2. The registry reads the new bundle when it starts.
    s.registry.restart();
    set_phase("registry restarted with both keys");

    // 3. Proof that it trusts the next key, before anything is signed with it.
    let checked = s.portcullis.cli(
        &["doctor", "--registry", &s.registry.url(), "--key", "next"],
        None,
    );
    checked.assert_success("doctor --key next");
    assert!(
        checked.stdout.contains(&format!(
            "accepts tokens signed with the next key {next_id}"
        )),
        "{}",
        checked.stdout
    );

    // 4. Activate: every token is signed with the next key from now on.
    s.portcullis
        .cli(&["key", "activate", &next_id[..9]], None)
        .assert_success("key activate");
    let switched = Instant::now();
    set_phase("next key active");
    let list = s.portcullis.cli(&["key", "list"], None);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("retired") && l.contains(&old_id) && l.contains("retire after")),
        "{}",
        list.stdout
    );

    // 5. Retire the old key once every token it signed has expired: refused until then,
    // and the refusal says when.
    let refused = s.portcullis.cli(&["key", "retire", &old_id], None);
    refused.assert_failure("retire before the window");
    let wait: u64 = refused
        .stderr
        .split("retire it then, in ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the refusal says when: {}", refused.stderr));
    assert!(
        (115..=125).contains(&wait),
        "60s ttl + 60s leeway + 1: {wait}"
    );
    std::thread::sleep(Duration::from_secs(wait + 1));
    s.portcullis
        .cli(&["key", "retire", &old_id], None)
        .assert_success("key retire after the window");
    let window = switched.elapsed();
    let bundle = std::fs::read_to_string(s.portcullis.dir().join("keys/bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
    set_phase("old key retired");

    // 6. The registry, restarted, trusts the new key only.
    s.registry.restart();
    set_phase("registry restarted with the new key only");

    stop.store(true, Ordering::SeqCst);
    looping.join().unwrap();
    let pulls = pulls.lock().unwrap();
    eprintln!(
        "key rotation: {} pulls in {:.0} s (the old key retired {:.0} s after the switch), {} failed",
        pulls.ok + pulls.failed.len(),
        started.elapsed().as_secs_f64(),
        window.as_secs_f64(),
        pulls.failed.len()
    );
    for (p, n) in &pulls.by_phase {
        eprintln!("  {n:>4} pulls  {p}");
    }
    assert!(pulls.failed.is_empty(), "failed pulls: {:#?}", pulls.failed);
    // Not one token was refused either, even one a retry might have hidden.
    // (The doctor's probes in the forms the registry does not read are refused on purpose;
    // they carry its user agent.)
    let refused = s
        .registry
        .log()
        .lines()
        .filter(|l| l.contains("invalid token") && !l.contains("portcullis-doctor"))
        .count();
    eprintln!("  tokens the registry refused: {refused}");
    assert_eq!(refused, 0, "{}", s.registry.log());
    for p in [
        "next key added",
        "registry restarted with both keys",
        "next key active",
        "old key retired",
        "registry restarted with the new key only",
    ] {
        assert!(
            pulls.by_phase.iter().any(|(name, n)| name == p && *n > 0),
            "no pull during {p:?}"
        );
    }
    let log = s.portcullis.log();
    assert!(
        log.contains("event=\"key_activated\"") || log.contains("signing keys changed"),
        "the switch is logged"
    );
}

#[test]
fn a_key_activated_before_the_registry_was_given_the_bundle_is_refused_which_is_why_the_order_matters(
) {
    let s = Stack::start(&[], &[("dev", "dev-pass-123", &["developers"])]);
    let creds = Some(("dev", "dev-pass-123"));
    let sk = Skopeo::new();
    sk.copy(&s.src(), &s.dst("team/app:v1"), creds)
        .assert_success("a push with the first key");
    let added = s.portcullis.cli(&["key", "add"], None);
    added.assert_success("key add");
    // No registry restart: it still trusts the first key only.
    s.portcullis
        .cli(&["key", "activate", added.stdout.trim()], None)
        .assert_success("key activate");
    std::thread::sleep(Duration::from_millis(300));
    sk.inspect(&s.dst("team/app:v1"), creds)
        .assert_failure("a pull with a token the registry cannot verify");
    assert!(
        s.registry
            .log()
            .contains("x509: certificate signed by unknown authority"),
        "{}",
        s.registry.log()
    );
}
