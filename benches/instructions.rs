//! Instructions per request on the warm paths, counted by `valgrind --tool=callgrind`:
//! `cargo bench --bench instructions` (part of `scripts/bench.sh`).
//!
//! Requests per second on a shared two-core machine swing by a quarter between runs of the
//! same build; instruction counts do not. For each path the server runs under callgrind
//! twice, answering 200 and then 1,200 sequential requests on one keep-alive connection;
//! the difference of the two totals divided by 1,000 is the cost of one request, with
//! start-up, warm-up and shutdown cancelled out. Everything the process does counts: the
//! HTTP stack, the handler, the audit record and the log writer thread.
//!
//! `BENCH_BINARY=path` measures another build of the binary (to compare two commits).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{basic_auth, free_port, http_get, require_tool, Portcullis};

const FEW: usize = 200;
const MANY: usize = 1_200;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("instruction benchmark: run it with `cargo bench --bench instructions`");
        return;
    }
    let valgrind = require_tool("valgrind");
    let binary = std::env::var("BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_portcullis")));
    println!(
        "instructions per request (callgrind; ({MANY} - {FEW} requests) / {}), binary {}",
        MANY - FEW,
        binary.display()
    );
    if cfg!(debug_assertions) {
        println!("DEBUG build: figures meaningless");
    }

    // Credentials made once, natively, in a directory every measured run shares.
    let mut setup = Portcullis::start(
        &Portcullis::fixture_policies(),
        &[
            ("PORTCULLIS_SERVER__BENCHMARK_ROUTES", "true"),
            ("PORTCULLIS_TOKEN__SERVICE", "bench"),
        ],
    );
    setup.add_user("alice", "alice-password", &["developers"]);
    let pat = setup.cli(
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "bench",
            "--scope",
            "repository:team/**:pull,push",
        ],
        None,
    );
    pat.assert_success("token create");
    let pat = pat.stdout.trim().to_string();
    let robot = setup.cli(&["robot", "create", "ci"], None);
    robot.assert_success("robot create");
    let robot = robot.stdout.trim().to_string();
    let login = http_get(
        &format!("{}/token?service=bench&offline_token=true", setup.url()),
        &[("Authorization", &basic_auth("alice", "alice-password"))],
    )
    .unwrap();
    let refresh = login.json()["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let dir = setup.dir().to_path_buf();
    let env: Vec<(String, String)> = vec![
        (
            "PORTCULLIS_KEYS__DIR".into(),
            dir.join("keys").display().to_string(),
        ),
        (
            "PORTCULLIS_POLICIES__DIR".into(),
            Portcullis::fixture_policies().display().to_string(),
        ),
        (
            "PORTCULLIS_STORE__URL".into(),
            format!("sqlite://{}/portcullis.db", dir.display()),
        ),
        ("PORTCULLIS_SERVER__BENCHMARK_ROUTES".into(), "true".into()),
        ("PORTCULLIS_TOKEN__SERVICE".into(), "bench".into()),
        ("PORTCULLIS_LOG__LEVEL".into(), "info".into()),
    ];
    let scope = "scope=repository%3Ateam%2Fapp%3Apull%2Cpush";
    let get = |auth: Option<String>| {
        let mut r = format!("GET /token?service=bench&{scope} HTTP/1.1\r\nHost: bench\r\n");
        if let Some(a) = auth {
            r.push_str(&format!("Authorization: {a}\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    };
    let body = format!(
        "grant_type=refresh_token&service=bench&client_id=docker&refresh_token={refresh}&{scope}"
    );
    let floor_bin = floor_binary();
    let refresh_for = |i: usize| {
        let body = format!(
            "grant_type=refresh_token&service=bench&client_id=docker&refresh_token={refresh}&scope=repository%3Ateam%2Fapp-{i}%3Apull%2Cpush"
        );
        format!(
            "POST /token HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let paths: Vec<(&str, Vec<u8>)> = vec![
        (
            "independent floor: actix + ES256 + x5c",
            b"GET /token HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec(),
        ),
        (
            "/bench/sign (one ES256 signature)",
            b"GET /bench/sign HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec(),
        ),
        (
            "/token, refresh token (POST)",
            format!(
                "POST /token HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
        (
            "/token, personal access token",
            get(Some(basic_auth("alice", &pat))),
        ),
        (
            "/token, remembered password",
            get(Some(basic_auth("alice", "alice-password"))),
        ),
        ("/token, robot", get(Some(basic_auth("robot+ci", &robot)))),
        ("/token, anonymous", get(None)),
        (
            "/token, refresh, every audit record new",
            Vec::new(),
        ),
        (
            "/token, refresh token, no audit window",
            format!(
                "POST /token HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
    ];
    // The same refresh-token path with `audit.keep_events = 0`: what keeping recent audit
    // records in the database (on by default, and on in every row above) costs.
    let mut env_no_window = env.clone();
    env_no_window.push(("PORTCULLIS_AUDIT__KEEP_EVENTS".into(), "0".into()));
    // Stopped, but kept: its directory holds the database and keys the runs share.
    setup.child_mut().stop();
    let scratch = tempfile::tempdir().unwrap();
    let mut floor = None;
    for (i, (name, request)) in paths.iter().enumerate() {
        let server = if i == 0 {
            Server::Floor(&floor_bin)
        } else if name.ends_with("no audit window") {
            Server::Portcullis(&binary, &env_no_window)
        } else {
            Server::Portcullis(&binary, &env)
        };
        // An empty request stands for one that differs every time (another repository),
        // so that no two audit records are alike: the recent audit window's worst case.
        let same = |_: usize| request.clone();
        let make: &dyn Fn(usize) -> Vec<u8> = if request.is_empty() {
            &refresh_for
        } else {
            &same
        };
        let few = measure(&valgrind, &server, scratch.path(), make, FEW);
        let many = measure(&valgrind, &server, scratch.path(), make, MANY);
        let per = (many as f64 - few as f64) / (MANY - FEW) as f64;
        let floor = *floor.get_or_insert(per);
        let target = if name.starts_with("/token") {
            format!(
                "  target >= 0.90: {}",
                if floor / per >= 0.9 { "met" } else { "NOT met" }
            )
        } else {
            String::new()
        };
        println!(
            "  {name:<40} {per:>9.0} instructions   floor / path = {:.2}{target}",
            floor / per
        );
    }
}

/// The independent floor (`benches/floor/main.rs`), built beside this build's binary by
/// `scripts/bench.sh` (`cargo build --release --features bench-floor --bin portcullis-floor`).
fn floor_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_portcullis")).with_file_name("portcullis-floor");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --features bench-floor --bin portcullis-floor` (scripts/bench.sh does)",
        path.display()
    );
    path
}

/// What to run under callgrind.
enum Server<'a> {
    Floor(&'a Path),
    Portcullis(&'a Path, &'a [(String, String)]),
}

/// Runs the server under callgrind, sends `n` requests on one keep-alive connection, stops
/// it, and returns the instructions it executed in all.
fn measure(
    valgrind: &Path,
    server: &Server<'_>,
    scratch: &Path,
    request: &dyn Fn(usize) -> Vec<u8>,
    n: usize,
) -> u64 {
    let port = free_port();
    let out = scratch.join(format!("callgrind.{port}.out"));
    let log_path = scratch.join(format!("server.{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(valgrind);
    cmd.args([
        "--tool=callgrind",
        &format!("--callgrind-out-file={}", out.display()),
    ]);
    match server {
        Server::Floor(bin) => {
            cmd.arg(bin).arg(format!("127.0.0.1:{port}"));
        }
        Server::Portcullis(bin, env) => {
            cmd.arg(bin)
                .arg("serve")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("PORTCULLIS_SERVER__LISTEN", format!("127.0.0.1:{port}"));
        }
    }
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("valgrind starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            break c;
        }
        let exited = child.try_wait().ok().flatten();
        assert!(
            Instant::now() < deadline && exited.is_none(),
            "the server did not start under valgrind ({exited:?}):\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    for i in 0..n {
        conn.write_all(&request(i)).unwrap();
        let status = read_response(&mut conn);
        assert_eq!(status, 200, "a request under callgrind failed");
    }
    drop(conn);
    // SAFETY: sends SIGTERM to our own child; callgrind writes its counts as it exits.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().expect("the server stops");
    let text = std::fs::read_to_string(&out).expect("callgrind's output");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a summary line in callgrind's output")
}

/// Reads one HTTP/1.1 response with a Content-Length; returns its status.
fn read_response(conn: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).expect("a response");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).unwrap();
    status
}
