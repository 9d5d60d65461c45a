//! The token path under load: `cargo bench --bench token` (or `scripts/bench.sh`).
//!
//! Everything runs on this machine in one run, so the figures are comparable with each
//! other even when the machine is shared and noisy; the ratios are what to read:
//!
//! 1. baselines: the independent floor (`benches/floor/main.rs`: actix-web and ring signing
//!    one token of the same shape, nothing of ours), and from the same binary and
//!    configuration as `/token`, `/bench/constant` (the HTTP stack alone) and `/bench/sign`
//!    (the same plus one ES256 signature);
//! 2. `/token` with a refresh token (POST), a personal access token and a remembered
//!    password, at 64 connections: tokens/s, p50/p99, and the ratio to `/bench/sign`;
//! 3. `/token` with fresh passwords (argon2 on every request, remembering off) against what
//!    argon2 allows on these cores, and the warm path's p99 during a flood of wrong passwords;
//! 4. resident memory, idle and at its peak under load;
//! 5. Debian's docker-registry with its own htpasswd auth against the same registry
//!    delegating to portcullis: 5,000 authenticated manifest HEADs each.
//!
//! Load comes from wrk (sharing the two cores with the server, as in any one-machine test).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use support::{
    basic_auth, http_get, make_test_image, oci_ref, require_tool, run_command, Portcullis,
    Registry, Skopeo,
};

const CONNECTIONS: u32 = 64;
const SECONDS: u32 = 6;
const ROUNDS: usize = 5;
const ROUND_SECONDS: u32 = 2;
const REGISTRY_OPS: usize = 5_000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("token benchmark: run it with `cargo bench --bench token` (or scripts/bench.sh)");
        return;
    }
    let wrk = require_tool("wrk");
    let scratch = tempfile::tempdir().unwrap();
    println!("portcullis token benchmark: {} CPU(s), wrk -t2 -c{CONNECTIONS} -d{SECONDS}s sharing them with the server", cpus());
    println!(
        "{}\n",
        if cfg!(debug_assertions) {
            "DEBUG build: figures meaningless"
        } else {
            "optimised build"
        }
    );

    // ---- setup ----------------------------------------------------------------------------
    let policies = Portcullis::fixture_policies();
    let warm = Portcullis::start(
        &policies,
        // Throttling off: the flood of wrong passwords below must cost argon2 work, not 429s.
        &[
            ("PORTCULLIS_SERVER__BENCHMARK_ROUTES", "true"),
            ("PORTCULLIS_TOKEN__SERVICE", "bench"),
            ("PORTCULLIS_AUTH__FAILURE_WINDOW", "0s"),
        ],
    );
    warm.add_user("alice", "alice-password", &["developers"]);
    let pat = warm.cli(
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
    let login = http_get(
        &format!("{}/token?service=bench&offline_token=true", warm.url()),
        &[("Authorization", &basic_auth("alice", "alice-password"))],
    )
    .unwrap();
    let refresh = login.json()["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kib(warm.pid());

    let scope = "scope=repository%3Ateam%2Fapp%3Apull%2Cpush";
    let token_get = format!("{}/token?service=bench&{scope}", warm.url());
    let script = |name: &str, body: &str| {
        let p = scratch.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let basic = |u: &str, p: &str| {
        script(
            &format!("basic-{u}.lua"),
            &format!(
                "wrk.headers[\"Authorization\"] = \"{}\"\n",
                basic_auth(u, p)
            ),
        )
    };

    // ---- 1 and 2 --------------------------------------------------------------------------
    // Interleaved rounds (the order rotates each round), and each path's ratio to the
    // signature baseline of the same round: the machine is shared, and its speed drifts.
    println!("1-2. token paths: {ROUNDS} interleaved rounds of {ROUND_SECONDS}s each, {CONNECTIONS} connections; medians");
    let post = script(
        "refresh.lua",
        &format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.body = \"grant_type=refresh_token&service=bench&client_id=docker&refresh_token={refresh}&{scope}\"\n"
        ),
    );
    // The independent floor (benches/floor/main.rs): actix-web and ring, nothing of ours.
    let floor_port = support::free_port();
    let floor_bin = Path::new(env!("CARGO_BIN_EXE_portcullis")).with_file_name("portcullis-floor");
    assert!(
        floor_bin.exists(),
        "{} is missing: build it with `cargo build --release --features bench-floor --bin portcullis-floor` (scripts/bench.sh does)",
        floor_bin.display()
    );
    let mut floor_cmd = Command::new(&floor_bin);
    floor_cmd.arg(format!("127.0.0.1:{floor_port}"));
    let mut floor = support::ChildGuard::spawn(floor_cmd, "portcullis-floor");
    floor.wait_for_port(&format!("127.0.0.1:{floor_port}"), Duration::from_secs(10));
    let paths: Vec<(&str, String, Option<std::path::PathBuf>)> = vec![
        (
            "independent floor (actix + ES256)",
            format!("http://127.0.0.1:{floor_port}/token"),
            None,
        ),
        (
            "/bench/constant (HTTP stack)",
            format!("{}/bench/constant", warm.url()),
            None,
        ),
        (
            "/bench/sign (one ES256 signature)",
            format!("{}/bench/sign", warm.url()),
            None,
        ),
        (
            "/token, refresh token (POST)",
            format!("{}/token", warm.url()),
            Some(post),
        ),
        (
            "/token, personal access token",
            token_get.clone(),
            Some(basic("alice", &pat)),
        ),
        (
            "/token, remembered password",
            token_get.clone(),
            Some(basic("alice", "alice-password")),
        ),
    ];
    const FLOOR: usize = 0;
    const SIGN: usize = 2;
    let mut runs: Vec<Vec<WrkResult>> = paths.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for k in 0..paths.len() {
            let i = (k + round) % paths.len();
            let (_, url, script) = &paths[i];
            runs[i].push(run_wrk_with(
                &wrk,
                url,
                script.as_deref(),
                CONNECTIONS,
                ROUND_SECONDS,
            ));
        }
    }
    for (i, (name, _, _)) in paths.iter().enumerate() {
        let r = &runs[i];
        let ratio = median(
            r.iter()
                .zip(&runs[SIGN])
                .map(|(a, b)| a.rps / b.rps)
                .collect(),
        );
        let target = if i > SIGN {
            let p99 = median(r.iter().map(|x| x.p99.as_secs_f64()).collect());
            format!(
                "  target >= 90% and p99 <= 5ms: {}",
                if ratio >= 0.9 && p99 <= 0.005 {
                    "met"
                } else {
                    "NOT met"
                }
            )
        } else {
            String::new()
        };
        let of_floor = median(
            r.iter()
                .zip(&runs[FLOOR])
                .map(|(a, b)| a.rps / b.rps)
                .collect(),
        );
        println!(
            "  {name:<36} {:>9.0} req/s  p50 {:>7}  p99 {:>7}  {:>5.1}% of the floor  {:>5.1}% of /bench/sign  non-2xx {}{target}",
            median(r.iter().map(|x| x.rps).collect()),
            ms(Duration::from_secs_f64(median(r.iter().map(|x| x.p50.as_secs_f64()).collect()))),
            ms(Duration::from_secs_f64(median(r.iter().map(|x| x.p99.as_secs_f64()).collect()))),
            100.0 * of_floor,
            100.0 * ratio,
            r.iter().map(|x| x.non_2xx).sum::<u64>()
        );
    }

    // ---- 3 --------------------------------------------------------------------------------
    println!("\n3. passwords that need argon2");
    // Measured just before and just after the fresh-password run, and averaged: the machine
    // is shared, and a capacity taken at another moment than the run drifts with it.
    let capacity_before = argon2_capacity(cpus());
    // 256 users, so that no two requests in flight carry the same credential: requests with
    // the same credential share one verification, which would measure that instead of
    // argon2. Throttling off: 64 verifications in flight from one address exceed
    // auth.max_failures_per_ip, since verifications in flight count against it.
    let fresh = Portcullis::start(
        &policies,
        &[
            ("PORTCULLIS_AUTH__CACHE_TTL", "0s"),
            ("PORTCULLIS_TOKEN__SERVICE", "bench"),
            ("PORTCULLIS_AUTH__FAILURE_WINDOW", "0s"),
        ],
    );
    const FRESH_USERS: usize = 256;
    {
        let db = format!("sqlite://{}/portcullis.db", fresh.dir().display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = portcullis::store::Store::connect(&db).await.unwrap();
            // One hash for all: each verification costs the same whoever it is for.
            let hash =
                portcullis::authn::hash_password(&SecretString::from("fresh-password")).unwrap();
            for i in 0..FRESH_USERS {
                store.user_create(&format!("u{i}"), &hash).await.unwrap();
            }
        });
    }
    let mut users = String::from("local h = {\n");
    for i in 0..FRESH_USERS {
        users.push_str(&format!(
            "\"{}\",\n",
            basic_auth(&format!("u{i}"), "fresh-password")
        ));
    }
    // Each wrk thread walks its own half of the list, in order: 32 connections never reach
    // the same user twice at once, and the two threads never share one.
    users.push_str("}\nlocal threads = 0\nfunction setup(thread)\n  thread:set(\"id\", threads)\n  threads = threads + 1\nend\nlocal i = 0\nrequest = function()\n  i = (i + 1) % 128\n  return wrk.format(nil, nil, {[\"Authorization\"] = h[id * 128 + i + 1]})\nend\n");
    let fresh_script = script("fresh.lua", &users);
    let fresh_run = run_wrk(
        &wrk,
        &format!("{}/token?service=bench&{scope}", fresh.url()),
        Some(&fresh_script),
    );
    let capacity_after = argon2_capacity(cpus());
    let capacity = (capacity_before + capacity_after) / 2.0;
    println!("  argon2id verifications the cores allow       {capacity:>9.1} /s  ({} threads, OWASP parameters; {capacity_before:.1} before the run, {capacity_after:.1} after)", cpus());
    println!(
        "  /token, fresh password (remembering off)     {:>9.1} tokens/s  p50 {}  p99 {}  = {:.0}% of what argon2 allows  non-2xx {}  target >= 90%: {}",
        fresh_run.rps,
        ms(fresh_run.p50),
        ms(fresh_run.p99),
        100.0 * fresh_run.rps / capacity,
        fresh_run.non_2xx,
        met(fresh_run.rps / capacity >= 0.9)
    );
    drop(fresh);
    // A flood of wrong passwords (each costs one argon2 verification) while the warm path runs.
    let mut lines = String::from("local h = {\n");
    for i in 0..2000 {
        lines.push_str(&format!(
            "\"{}\",\n",
            basic_auth("alice", &format!("wrong-{i}"))
        ));
    }
    lines.push_str("}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, nil, {[\"Authorization\"] = h[(i % #h) + 1]})\nend\n");
    let flood_script = script("flood.lua", &lines);
    let flood_url = token_get.clone();
    let wrk2 = wrk.clone();
    let flood = std::thread::spawn(move || {
        run_wrk_with(&wrk2, &flood_url, Some(&flood_script), 32, SECONDS + 2)
    });
    std::thread::sleep(Duration::from_secs(1));
    let during = run_wrk(&wrk, &token_get, Some(&basic("alice", &pat)));
    let flood = flood.join().unwrap();
    println!(
        "  flood of wrong passwords (32 connections)    {:>9.1} refusals/s (401s: {})",
        flood.rps, flood.non_2xx
    );
    println!(
        "  warm path (access token) during the flood    {:>9.0} req/s  p50 {}  p99 {}  target p99 <= 10ms: {}",
        during.rps,
        ms(during.p50),
        ms(during.p99),
        met(during.p99 <= Duration::from_millis(10))
    );

    // ---- 4 --------------------------------------------------------------------------------
    let rss_peak = peak_rss_kib(warm.pid());
    println!(
        "\n4. resident memory of the server: idle {:.1} MiB (target <= 30 MB: {}), peak under load {:.1} MiB (target <= 80 MB: {})",
        rss_idle as f64 / 1024.0,
        met(rss_idle * 1024 <= 30_000_000),
        rss_peak as f64 / 1024.0,
        met(rss_peak * 1024 <= 80_000_000)
    );

    // ---- 5 --------------------------------------------------------------------------------
    println!("\n5. docker-registry, {REGISTRY_OPS} authenticated manifest HEADs, 16 clients");
    let image = scratch.path().join("image");
    make_test_image(&image, "v1", "bench");
    let htpasswd = Registry::start_htpasswd(&[("alice", "alice-password")]);
    Skopeo::new()
        .copy(
            &oci_ref(&image, "v1"),
            &htpasswd.docker_ref("team/app:v1"),
            Some(("alice", "alice-password")),
        )
        .assert_success("seed the htpasswd registry");
    let token_registry = Registry::start(&warm.registry_config());
    Skopeo::new()
        .copy(
            &oci_ref(&image, "v1"),
            &token_registry.docker_ref("team/app:v1"),
            Some(("alice", "alice-password")),
        )
        .assert_success("seed the token registry");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let manifest = |r: &Registry| format!("{}/v2/team/app/manifests/v1", r.url());
    let basic_header = basic_auth("alice", "alice-password");
    // The same, with tokens that carry no x5c (token.x5c = false): the registry then looks
    // the kid up instead of verifying a certificate chain on every request.
    let lean = Portcullis::start(
        &policies,
        &[
            ("PORTCULLIS_TOKEN__SERVICE", "bench"),
            ("PORTCULLIS_TOKEN__X5C", "false"),
        ],
    );
    lean.add_user("alice", "alice-password", &["developers"]);
    let lean_registry = Registry::start(&lean.registry_config());
    Skopeo::new()
        .copy(
            &oci_ref(&image, "v1"),
            &lean_registry.docker_ref("team/app:v1"),
            Some(("alice", "alice-password")),
        )
        .assert_success("seed the kid-only registry");
    let lean_get = format!("{}/token?service=bench&{scope}", lean.url());

    let t_htpasswd = rt.block_on(registry_load(
        manifest(&htpasswd),
        None,
        basic_header.clone(),
    ));
    let variants = [
        (
            "registry + portcullis, a new token for every HEAD",
            rt.block_on(registry_load(
                manifest(&token_registry),
                Some((token_get.clone(), 1)),
                basic_header.clone(),
            )),
        ),
        (
            "  the same, a token per 50 HEADs (clients cache them)",
            rt.block_on(registry_load(
                manifest(&token_registry),
                Some((token_get.clone(), 50)),
                basic_header.clone(),
            )),
        ),
        (
            "  token.x5c = false, a new token for every HEAD",
            rt.block_on(registry_load(
                manifest(&lean_registry),
                Some((lean_get.clone(), 1)),
                basic_header.clone(),
            )),
        ),
        (
            "  token.x5c = false, a token per 50 HEADs",
            rt.block_on(registry_load(
                manifest(&lean_registry),
                Some((lean_get, 50)),
                basic_header,
            )),
        ),
    ];
    println!(
        "  registry + htpasswd (bcrypt cost 5 per request)        {:>7.2} s",
        t_htpasswd.as_secs_f64()
    );
    for (name, t) in variants {
        println!(
            "  {name:<55}{:>7.2} s  = {:.2}x the htpasswd time  target <= 0.5x: {}",
            t.as_secs_f64(),
            t.as_secs_f64() / t_htpasswd.as_secs_f64(),
            met(t.as_secs_f64() <= 0.5 * t_htpasswd.as_secs_f64())
        );
    }
    println!("\n(policy decisions at scale: cargo bench --bench policy)");
}

struct WrkResult {
    rps: f64,
    p50: Duration,
    p99: Duration,
    non_2xx: u64,
}

fn run_wrk(wrk: &Path, url: &str, script: Option<&Path>) -> WrkResult {
    run_wrk_with(wrk, url, script, CONNECTIONS, SECONDS)
}

fn run_wrk_with(
    wrk: &Path,
    url: &str,
    script: Option<&Path>,
    connections: u32,
    seconds: u32,
) -> WrkResult {
    let mut cmd = Command::new(wrk);
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "10s",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    let out = run_command(cmd, None, Duration::from_secs(seconds as u64 + 60));
    out.assert_success("wrk");
    parse_wrk(&out.stdout)
}

fn parse_wrk(text: &str) -> WrkResult {
    let mut r = WrkResult {
        rps: 0.0,
        p50: Duration::ZERO,
        p99: Duration::ZERO,
        non_2xx: 0,
    };
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            r.p50 = parse_latency(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            r.p99 = parse_latency(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().unwrap_or(0);
        }
    }
    r
}

fn parse_latency(s: &str) -> Duration {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(0.0);
    Duration::from_secs_f64(match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => 0.0,
    })
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Verifications per second on `threads` threads, each verifying in a loop for 3 s.
fn argon2_capacity(threads: usize) -> f64 {
    let hash = portcullis::authn::hash_password(&SecretString::from("alice-password")).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (hash, done) = (hash.0.clone(), done.clone());
            std::thread::spawn(move || {
                let password = SecretString::from("alice-password");
                while start.elapsed() < Duration::from_secs(3) {
                    assert!(portcullis::authn::verify_password(&hash, &password));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// `REGISTRY_OPS` manifest HEADs from 16 concurrent clients. With `token`, each client gets
/// a token from portcullis (its remembered password) every `every` HEADs and sends it as a
/// bearer; without, every HEAD carries Basic credentials for the registry's htpasswd.
async fn registry_load(url: String, token: Option<(String, usize)>, basic: String) -> Duration {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, token, basic, next) = (
            client.clone(),
            url.clone(),
            token.clone(),
            basic.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut bearer = String::new();
            let mut used = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < REGISTRY_OPS {
                let auth = match &token {
                    None => basic.clone(),
                    Some((token_url, every)) => {
                        if used % every == 0 {
                            let resp = client
                                .get(token_url)
                                .header("Authorization", &basic)
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(resp.status(), 200);
                            let body: serde_json::Value = resp.json().await.unwrap();
                            bearer = format!("Bearer {}", body["token"].as_str().unwrap());
                        }
                        used += 1;
                        bearer.clone()
                    }
                };
                let resp = client
                    .head(&url)
                    .header("Authorization", auth)
                    .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "manifest HEAD");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}
