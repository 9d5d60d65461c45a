//! The remembered-credentials cache on its own (`cargo bench --bench cache`): what a warm
//! token request pays to find its credential, and what a flood of new credentials pays to
//! put them in a full cache.
//!
//! Prints nanoseconds per operation (noisy on a shared machine: read them side by side) and,
//! run under `valgrind --tool=callgrind` with `PORTCULLIS_BENCH_OPS=N`, does exactly N
//! lookups and N insertions so that instruction counts can be compared between builds:
//! the difference between two values of N, divided by their difference, is the cost of one
//! lookup plus one insertion, start-up cancelled out.

use std::hint::black_box;
use std::time::{Duration, Instant};

use portcullis::authn::{Authenticated, CredentialCache, CredentialKind};
use portcullis::domain::{AuthSource, Identity};
use secrecy::SecretString;

const ENTRIES: usize = 10_000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cache benchmark: run it with `cargo bench --bench cache`");
        return;
    }
    let fixed: Option<usize> = std::env::var("PORTCULLIS_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok());
    let cache = CredentialCache::new(Duration::from_secs(3600), ENTRIES);
    let who = Authenticated::new(Identity::user(
        "alice",
        vec!["dev".into()],
        AuthSource::Password,
    ));
    let keys: Vec<_> = (0..ENTRIES)
        .map(|i| {
            cache.key(
                CredentialKind::Password,
                &format!("user{i}"),
                &SecretString::from("pw"),
                "svc",
            )
        })
        .collect();
    for k in &keys {
        cache.put(*k, who.clone(), 1, None);
    }
    let fresh: Vec<_> = (0..ENTRIES)
        .map(|i| {
            cache.key(
                CredentialKind::Password,
                &format!("new{i}"),
                &SecretString::from("pw"),
                "svc",
            )
        })
        .collect();
    let ops = fixed.unwrap_or(2_000_000);
    // Under callgrind, `PORTCULLIS_BENCH_PART=get` or `put` measures one side alone.
    let part = std::env::var("PORTCULLIS_BENCH_PART").unwrap_or_default();
    let t = Instant::now();
    let mut hits = 0usize;
    for i in 0..if part == "put" { 0 } else { ops } {
        hits += usize::from(cache.get(&keys[i % ENTRIES], 1).is_some());
    }
    let get = t.elapsed();
    let t = Instant::now();
    for i in 0..if part == "get" { 0 } else { ops } {
        cache.put(fresh[i % ENTRIES], black_box(who.clone()), 1, None);
    }
    let put = t.elapsed();
    if fixed.is_none() {
        println!("credential cache, {ENTRIES} entries (hits {hits} of {ops})");
        println!(
            "  lookup of a remembered credential   {:>7.1} ns",
            ns(get, ops)
        );
        println!(
            "  insertion into a full cache        {:>7.1} ns",
            ns(put, ops)
        );
        println!("  entries after {ops} insertions: {}", cache.len());
    }
}

fn ns(d: Duration, ops: usize) -> f64 {
    d.as_nanos() as f64 / ops as f64
}
