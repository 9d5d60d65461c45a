//! `audit.file`: the audit trail in a file of its own, rotated by size, and what happens
//! when it cannot be written (a full disk: a tmpfs only the server sees), for each
//! `audit.when_full`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{http_get, wait_until, Portcullis};

fn token(p: &Portcullis) -> support::HttpResponse {
    http_get(
        &format!(
            "{}/token?service=portcullis&scope=repository:public/x:pull",
            p.url()
        ),
        &[],
    )
    .unwrap()
}

/// Every line of every audit file in `dir`, oldest file first.
fn audit_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.log")
        })
        .collect();
    // audit.log.TIMESTAMP sorts in time order, and audit.log (the newest) first: move it last.
    files.sort();
    files.rotate_left(1);
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn metric(p: &Portcullis, name: &str) -> f64 {
    let m = http_get(&format!("{}/metrics", p.url()), &[])
        .unwrap()
        .text();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{m}"))
}

#[test]
fn audit_records_go_to_their_own_file_rotated_by_size_keeping_keep_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit").join("audit.log");
    let p = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_AUDIT__FILE", file.to_str().unwrap()),
            ("PORTCULLIS_AUDIT__MAX_SIZE", "16KiB"),
            ("PORTCULLIS_AUDIT__KEEP_FILES", "3"),
        ],
    );
    let mut ids = Vec::new();
    for _ in 0..400 {
        let r = token(&p);
        assert_eq!(r.status, 200);
        ids.push(r.header("x-request-id").unwrap().to_string());
    }
    let audit_dir = file.parent().unwrap();
    let last = ids.last().unwrap().clone();
    wait_until(Duration::from_secs(5), "the last record is written", || {
        audit_lines(audit_dir)
            .iter()
            .any(|l| l.contains(&format!("request_id=\"{last}\"")))
    });
    let files: Vec<_> = std::fs::read_dir(audit_dir).unwrap().collect();
    assert_eq!(files.len(), 4, "audit.log and 3 rotated files: {files:?}");
    let lines = audit_lines(audit_dir);
    for f in &files {
        let len = f.as_ref().unwrap().metadata().unwrap().len();
        assert!(len <= 16 * 1024 + 64 * 1024, "{f:?} is {len} bytes");
    }
    // Whole records only, in order, the newest ones kept.
    let mut seen = Vec::new();
    for l in &lines {
        assert!(
            l.contains(" INFO audit: event=\"token\" ") && l.ends_with('"'),
            "a whole record: {l}"
        );
        let id = l
            .rsplit("request_id=\"")
            .next()
            .unwrap()
            .trim_end_matches('"');
        seen.push(id.to_string());
    }
    let first = ids.iter().position(|i| *i == seen[0]).unwrap();
    assert_eq!(
        seen,
        ids[first..],
        "the newest records, in order, none missing"
    );
    assert!(seen.len() >= 100, "{}", seen.len());
    // Not on stderr with the log.
    assert!(!p.log().contains("event=\"token\""), "{}", p.log());
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "audit volume: {} bytes per anonymous token record, {:.0} MB per million tokens",
        bytes / lines.len(),
        bytes as f64 / lines.len() as f64
    );
}

/// Fills the server's small disk with a file, and returns it.
fn fill_disk(p: &Portcullis, dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = p.path_seen_by_server(&dir.join("filler"));
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![b'x'; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    filler
}

fn small_disk_server(dir: &Path, when_full: &str) -> Portcullis {
    let file = dir.join("audit.log");
    Portcullis::start_with_small_disk(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_AUDIT__FILE", file.to_str().unwrap()),
            ("PORTCULLIS_AUDIT__WHEN_FULL", when_full),
            ("PORTCULLIS_AUDIT__BUFFER", "16KiB"),
        ],
        dir,
        "256k",
    )
}

/// The request ids of the records in the server's audit file.
fn recorded_ids(p: &Portcullis, dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p.path_seen_by_server(&dir.join("audit.log"))).unwrap();
    text.lines()
        .filter_map(|l| l.split("request_id=\"").nth(1))
        .map(|s| s.trim_end_matches('"').to_string())
        .collect()
}

#[test]
fn with_reject_a_full_disk_turns_token_requests_away_until_there_is_room_and_no_record_is_lost() {
    let disk = tempfile::tempdir().unwrap();
    let dir = disk.path().join("audit");
    let p = small_disk_server(&dir, "reject");
    let mut issued = Vec::new();
    let r = token(&p);
    assert_eq!(r.status, 200);
    issued.push(r.header("x-request-id").unwrap().to_string());
    let filler = fill_disk(&p, &dir);

    let mut refused = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused < 5 {
        assert!(Instant::now() < deadline, "never refused");
        let r = token(&p);
        match r.status {
            200 => issued.push(r.header("x-request-id").unwrap().to_string()),
            503 => {
                refused += 1;
                assert!(
                    r.text().contains("the audit trail is unavailable"),
                    "{}",
                    r.text()
                );
            }
            s => panic!("{s}: {}", r.text()),
        }
    }
    let line = p.wait_for_log_line("cannot write: the lines are kept");
    assert!(line.contains("No space left on device"), "{line}");
    assert!(metric(&p, "portcullis_audit_write_errors_total") >= 1.0);

    std::fs::remove_file(filler).unwrap();
    wait_until(Duration::from_secs(10), "tokens are issued again", || {
        let r = token(&p);
        if r.status == 200 {
            issued.push(r.header("x-request-id").unwrap().to_string());
            true
        } else {
            false
        }
    });
    p.wait_for_log("writing works again");
    wait_until(
        Duration::from_secs(5),
        "every issued token's record is written",
        || {
            let ids = recorded_ids(&p, &dir);
            issued.iter().all(|i| ids.contains(i))
        },
    );
}

#[test]
fn with_drop_a_full_disk_drops_records_counts_them_and_serves_on() {
    let disk = tempfile::tempdir().unwrap();
    let dir = disk.path().join("audit");
    let p = small_disk_server(&dir, "drop");
    let _filler = fill_disk(&p, &dir);
    for _ in 0..300 {
        assert_eq!(token(&p).status, 200);
    }
    wait_until(
        Duration::from_secs(10),
        "records are dropped and counted",
        || {
            token(&p);
            metric(&p, "portcullis_audit_records_dropped_total") >= 1.0
        },
    );
    p.wait_for_log_line("cannot write: the lines are kept");
}

#[test]
fn with_block_a_full_disk_holds_token_requests_until_there_is_room_and_then_records_them_all() {
    let disk = tempfile::tempdir().unwrap();
    let dir = disk.path().join("audit");
    let p = small_disk_server(&dir, "block");
    let filler = fill_disk(&p, &dir);
    // More records than the 16 KiB buffer holds: the requests past it wait.
    let url = format!(
        "{}/token?service=portcullis&scope=repository:public/x:pull",
        p.url()
    );
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (url, done, ids) = (url.clone(), done.clone(), ids.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let r = support::http_request_timeout(
                        "GET",
                        &url,
                        &[],
                        None,
                        Duration::from_secs(60),
                    )
                    .unwrap();
                    assert_eq!(r.status, 200);
                    ids.lock()
                        .unwrap()
                        .push(r.header("x-request-id").unwrap().to_string());
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let before = done.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        before < 200,
        "requests wait while the disk is full ({before} done)"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        done.load(std::sync::atomic::Ordering::Relaxed),
        before,
        "and none completes meanwhile"
    );
    std::fs::remove_file(filler).unwrap();
    for w in workers {
        w.join().unwrap();
    }
    wait_until(Duration::from_secs(5), "every record is written", || {
        let recorded = recorded_ids(&p, &dir);
        ids.lock().unwrap().iter().all(|i| recorded.contains(i))
    });
}

#[test]
fn check_says_whether_the_audit_file_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "a file where a directory should be").unwrap();
    let check = |file: &Path| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.arg("check")
            .current_dir(dir.path())
            .env("PORTCULLIS_POLICIES__DIR", Portcullis::fixture_policies())
            .env("PORTCULLIS_AUDIT__FILE", file);
        support::run_command(cmd, None, Duration::from_secs(30))
    };
    let out = check(&blocker.join("audit.log"));
    out.assert_failure("check with an audit file under a file");
    assert!(
        out.stdout.contains("error    audit      audit.file")
            && out.stdout.contains("cannot be opened for writing"),
        "{}",
        out.stdout
    );
    let out = check(&dir.path().join("logs").join("audit.log"));
    out.assert_success("check with a writable audit file");
    assert!(
        out.stdout.contains("ok       audit      "),
        "{}",
        out.stdout
    );
}
