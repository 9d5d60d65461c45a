//! Throttling of failed credentials, against guessing.
//!
//! - **What is counted.** Failures per client, and per client and claimed name, in fixed
//!   windows (`auth.failure_window`). There is no count per name alone: that would let anyone
//!   lock a real user out from elsewhere. A success clears its (client, name) count.
//! - **Attempts in flight count.** A verification is *reserved* before it runs and counts
//!   against the limits until it is settled, so N simultaneous guesses verify at most the
//!   limit; the rest are refused (429) unverified. (Checking first and counting after let
//!   300 concurrent guesses all be verified.)
//! - **Secrets nobody can guess** (refresh tokens, robot secrets, CI jobs' OIDC tokens: 256
//!   bits or a signature) are not counted per client, only per client and *that secret's
//!   fingerprint*: a client retrying a revoked identity token is slowed down, and nobody
//!   else behind its address is locked out by it.
//! - **Clients** are IPv4 addresses, and IPv6 *prefixes* (`auth.ipv6_prefix`, /64 by
//!   default): one host owns a whole /64, and must not get 2^64 fresh counters by rotating
//!   through it. IPv4-mapped IPv6 addresses count as the IPv4 address.
//! - **Bounded memory** (`auth.throttle_max_entries`): when the table is full, expired
//!   windows go first, then the clients that failed least recently, and clients that are
//!   locked out (or have a verification in flight) last. A full table never forgives
//!   everyone at once. Each client keeps at most [`MAX_SECRETS_PER_CLIENT`] secret
//!   fingerprints (their lockouts protect nothing, so the oldest simply go).
//!
//! The counts live in memory, per replica.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Fingerprints of unguessable secrets kept per client.
pub const MAX_SECRETS_PER_CLIENT: usize = 64;

/// The limits, from `[auth]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub per_client: u32,
    pub per_client_and_name: u32,
    /// Zero turns throttling off.
    pub window: Duration,
    pub max_entries: usize,
    /// How many leading bits of an IPv6 address make one client.
    pub ipv6_prefix: u8,
}

/// What a request's credentials claim, as far as throttling is concerned.
#[derive(Clone, Copy, Debug)]
pub enum Claim<'a> {
    /// A name with something guessable (a password, or a secret that may turn out to be one).
    Name(&'a str),
    /// A secret too long to guess: keyed by its fingerprint, never counted per client.
    Secret(&'a str),
}

/// A client: an IPv4 address or an IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(u32),
    V6(u128),
}

impl ClientKey {
    pub fn of(ip: IpAddr, ipv6_prefix: u8) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => {
                    let bits = u128::from(v6);
                    let mask = match ipv6_prefix {
                        0 => 0,
                        p if p >= 128 => u128::MAX,
                        p => u128::MAX << (128 - u32::from(p)),
                    };
                    ClientKey::V6(bits & mask)
                }
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    in_flight: u32,
    started: Instant,
    last_failure: Instant,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            failures: 0,
            in_flight: 0,
            started: now,
            last_failure: now,
        }
    }

    /// Starts a new window when the old one is over (in-flight attempts carry over).
    fn roll(&mut self, now: Instant, window: Duration) {
        if now.duration_since(self.started) >= window {
            self.failures = 0;
            self.started = now;
        }
    }

    /// How long until this counter is under `limit` again, if it is over it now.
    fn locked_for(&self, now: Instant, window: Duration, limit: u32) -> Option<Duration> {
        let elapsed = now.duration_since(self.started);
        (elapsed < window && self.failures >= limit).then(|| window - elapsed)
    }

    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.in_flight == 0 && now.duration_since(self.started) >= window
    }
}

struct Client {
    counter: Counter,
    names: HashMap<Box<str>, Counter>,
    secrets: HashMap<[u8; 16], Counter>,
}

impl Client {
    fn entries(&self) -> usize {
        1 + self.names.len() + self.secrets.len()
    }
}

enum Sub {
    Name(Box<str>),
    Secret([u8; 16]),
}

pub struct Throttle {
    settings: ThrottleSettings,
    clients: Mutex<HashMap<ClientKey, Client>>,
    /// Entries in the table (clients + their names and fingerprints), readable without the
    /// lock: an empty table (the usual case) costs a request one atomic load.
    entries: AtomicUsize,
}

/// A verification reserved with [`Throttle::reserve`]: it counts against the limits until it
/// is settled with [`Attempt::failed`] or [`Attempt::succeeded`]. Dropped unsettled (the
/// backend failed, or the request went away), it counts for nothing.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    client: Option<ClientKey>,
    sub: Option<Sub>,
    counts_for_client: bool,
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            settings,
            clients: Mutex::new(HashMap::new()),
            entries: AtomicUsize::new(0),
        }
    }

    /// Off: never refuses, keeps nothing (for benchmarks of the verification path).
    pub fn off() -> Throttle {
        Throttle::new(ThrottleSettings {
            per_client: 1,
            per_client_and_name: 1,
            window: Duration::ZERO,
            max_entries: 0,
            ipv6_prefix: 64,
        })
    }

    fn enabled(&self) -> bool {
        !self.settings.window.is_zero()
    }

    fn client(&self, ip: Option<IpAddr>) -> Option<ClientKey> {
        ip.filter(|_| self.enabled())
            .map(|ip| ClientKey::of(ip, self.settings.ipv6_prefix))
    }

    /// How many entries the table holds now.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Err(retry_after)` when the client, or the client with this claim, is locked out.
    /// Cheap (one atomic load while nobody has failed), so it runs before anything else,
    /// remembered credentials included: a locked-out client must not use the remembered
    /// credentials as an oracle either.
    pub fn check(&self, ip: Option<IpAddr>, claim: Claim<'_>) -> Result<(), Duration> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(key) = self.client(ip) else {
            return Ok(());
        };
        let now = Instant::now();
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = clients.get(&key) else {
            return Ok(());
        };
        let s = &self.settings;
        let mut wait = None;
        let sub = match claim {
            Claim::Name(name) => {
                wait = c.counter.locked_for(now, s.window, s.per_client);
                c.names.get(name)
            }
            Claim::Secret(secret) => c.secrets.get(&fingerprint(secret)),
        };
        if let Some(w) = sub.and_then(|n| n.locked_for(now, s.window, s.per_client_and_name)) {
            wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
        }
        match wait {
            Some(w) => Err(w.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    /// Reserves one verification for `claim` from `ip`: refused (`Err(retry_after)`) when the
    /// failures and the verifications already in flight reach a limit.
    pub fn reserve(&self, ip: Option<IpAddr>, claim: Claim<'_>) -> Result<Attempt<'_>, Duration> {
        let Some(key) = self.client(ip) else {
            return Ok(Attempt {
                throttle: self,
                client: None,
                sub: None,
                counts_for_client: false,
            });
        };
        let s = self.settings;
        let now = Instant::now();
        let sub = match claim {
            Claim::Name(n) => Sub::Name(n.into()),
            Claim::Secret(secret) => Sub::Secret(fingerprint(secret)),
        };
        let counts_for_client = matches!(claim, Claim::Name(_));
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if self.len() >= s.max_entries.max(1) {
            self.make_room(&mut clients, now);
        }
        let client = clients.entry(key).or_insert_with(|| {
            self.entries.fetch_add(1, Ordering::Relaxed);
            Client {
                counter: Counter::new(now),
                names: HashMap::new(),
                secrets: HashMap::new(),
            }
        });
        client.counter.roll(now, s.window);
        // Over a limit: locked out until the window ends; at it only through verifications
        // in flight: try again in a moment.
        let busy = |c: &Counter, limit: u32| {
            c.locked_for(now, s.window, limit)
                .or_else(|| (c.failures + c.in_flight >= limit).then_some(Duration::ZERO))
        };
        let client_wait = if counts_for_client {
            busy(&client.counter, s.per_client)
        } else {
            None
        };
        let counter = match &sub {
            Sub::Name(n) => {
                if !client.names.contains_key(n) {
                    self.entries.fetch_add(1, Ordering::Relaxed);
                }
                client.names.entry(n.clone()).or_insert(Counter::new(now))
            }
            Sub::Secret(f) => {
                if !client.secrets.contains_key(f) {
                    if client.secrets.len() >= MAX_SECRETS_PER_CLIENT {
                        evict_oldest_secret(&mut client.secrets);
                    } else {
                        self.entries.fetch_add(1, Ordering::Relaxed);
                    }
                }
                client.secrets.entry(*f).or_insert(Counter::new(now))
            }
        };
        counter.roll(now, s.window);
        let wait = [client_wait, busy(counter, s.per_client_and_name)]
            .into_iter()
            .flatten()
            .max();
        if let Some(w) = wait {
            return Err(w.max(Duration::from_secs(1)));
        }
        counter.in_flight += 1;
        if counts_for_client {
            client.counter.in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            client: Some(key),
            sub: Some(sub),
            counts_for_client,
        })
    }

    /// Makes room when the table is full: expired windows first, then
    /// the clients that failed least recently, locked-out and busy clients last. Evicts a
    /// tenth of the table at a time, so that the scan is paid once per many insertions.
    fn make_room(&self, clients: &mut HashMap<ClientKey, Client>, now: Instant) {
        let max = self.settings.max_entries.max(1);
        let s = &self.settings;
        let mut removed = 0;
        clients.retain(|_, c| {
            c.names.retain(|_, n| {
                let keep = !n.expired(now, s.window);
                removed += usize::from(!keep);
                keep
            });
            c.secrets.retain(|_, n| {
                let keep = !n.expired(now, s.window);
                removed += usize::from(!keep);
                keep
            });
            let keep =
                !c.counter.expired(now, s.window) || !c.names.is_empty() || !c.secrets.is_empty();
            removed += usize::from(!keep);
            keep
        });
        self.entries.fetch_sub(removed, Ordering::Relaxed);
        if self.len() < max {
            return;
        }
        // Still full: rank clients, forgiving the least dangerous first.
        let mut ranked: Vec<(bool, Instant, ClientKey)> = clients
            .iter()
            .map(|(k, c)| {
                let locked = c.counter.in_flight > 0
                    || c.counter.locked_for(now, s.window, s.per_client).is_some()
                    || c.names.values().any(|n| {
                        n.in_flight > 0
                            || n.locked_for(now, s.window, s.per_client_and_name).is_some()
                    });
                let last = c
                    .names
                    .values()
                    .chain(c.secrets.values())
                    .map(|n| n.last_failure)
                    .fold(c.counter.last_failure, Instant::max);
                (locked, last, *k)
            })
            .collect();
        ranked.sort_unstable_by_key(|(locked, last, _)| (*locked, *last));
        let target = max - max / 10 - 1;
        for (_, _, k) in ranked {
            if self.len() <= target {
                break;
            }
            if let Some(c) = clients.remove(&k) {
                self.entries.fetch_sub(c.entries(), Ordering::Relaxed);
            }
        }
    }

    fn settle(&self, attempt: &mut Attempt<'_>, outcome: Settle) {
        let (Some(key), Some(sub)) = (attempt.client, attempt.sub.take()) else {
            return;
        };
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let Some(client) = clients.get_mut(&key) else {
            return; // evicted meanwhile
        };
        if attempt.counts_for_client {
            let c = &mut client.counter;
            c.in_flight = c.in_flight.saturating_sub(1);
            if outcome == Settle::Failed {
                c.roll(now, self.settings.window);
                c.failures += 1;
                c.last_failure = now;
            }
        }
        let counter = match &sub {
            Sub::Name(n) => client.names.get_mut(n),
            Sub::Secret(f) => client.secrets.get_mut(f),
        };
        let mut empty = false;
        if let Some(c) = counter {
            c.in_flight = c.in_flight.saturating_sub(1);
            match outcome {
                Settle::Failed => {
                    c.roll(now, self.settings.window);
                    c.failures += 1;
                    c.last_failure = now;
                }
                Settle::Succeeded => c.failures = 0,
                Settle::Released => {}
            }
            empty = c.failures == 0 && c.in_flight == 0;
        }
        // Nothing left to remember: keep the table (and the check every request makes) small.
        if empty {
            let gone = match &sub {
                Sub::Name(n) => client.names.remove(n).is_some(),
                Sub::Secret(f) => client.secrets.remove(f).is_some(),
            };
            self.entries.fetch_sub(usize::from(gone), Ordering::Relaxed);
        }
        let c = &client.counter;
        if c.failures == 0
            && c.in_flight == 0
            && client.names.is_empty()
            && client.secrets.is_empty()
        {
            clients.remove(&key);
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    Failed,
    Succeeded,
    Released,
}

impl Attempt<'_> {
    /// The credentials were wrong: one more failure.
    pub fn failed(mut self) {
        self.throttle.settle(&mut self, Settle::Failed);
    }

    /// The credentials were right: the (client, name) count starts over.
    pub fn succeeded(mut self) {
        self.throttle.settle(&mut self, Settle::Succeeded);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.sub.is_some() {
            self.throttle.settle(self, Settle::Released);
        }
    }
}

fn evict_oldest_secret(secrets: &mut HashMap<[u8; 16], Counter>) {
    if let Some(oldest) = secrets
        .iter()
        .filter(|(_, c)| c.in_flight == 0)
        .min_by_key(|(_, c)| c.last_failure)
        .map(|(k, _)| *k)
        .or_else(|| secrets.keys().next().copied())
    {
        secrets.remove(&oldest);
    }
}

/// 128 bits of the secret's SHA-256: enough to tell secrets apart, useless to recover one.
fn fingerprint(secret: &str) -> [u8; 16] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut f = [0u8; 16];
    f.copy_from_slice(&d.as_ref()[..16]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));

    fn throttle(per_client: u32, per_name: u32, window: Duration) -> Throttle {
        Throttle::new(ThrottleSettings {
            per_client,
            per_client_and_name: per_name,
            window,
            max_entries: 1000,
            ipv6_prefix: 64,
        })
    }

    fn fail(t: &Throttle, ip: Option<IpAddr>, claim: Claim<'_>) {
        t.reserve(ip, claim).expect("not throttled yet").failed();
    }

    #[test]
    fn a_name_is_throttled_from_one_address_only() {
        let t = throttle(100, 3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check(A, Claim::Name("alice")).is_ok());
            fail(&t, A, Claim::Name("alice"));
        }
        let wait = t.check(A, Claim::Name("alice")).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(1));
        assert!(t.reserve(A, Claim::Name("alice")).is_err());
        assert!(
            t.check(B, Claim::Name("alice")).is_ok(),
            "alice herself, elsewhere, is not locked out"
        );
        assert!(
            t.check(A, Claim::Name("bob")).is_ok(),
            "another name from the same address"
        );
    }

    #[test]
    fn an_address_guessing_many_names_is_throttled() {
        let t = throttle(5, 100, Duration::from_secs(60));
        for i in 0..5 {
            fail(&t, A, Claim::Name(&format!("user{i}")));
        }
        assert!(t.check(A, Claim::Name("someone-else")).is_err());
        assert!(t.check(B, Claim::Name("user1")).is_ok());
    }

    #[test]
    fn verifications_in_flight_count_against_the_limit() {
        let t = throttle(100, 10, Duration::from_secs(60));
        // 300 simultaneous guesses: only the limit may be verified.
        let reserved: Vec<_> = (0..300)
            .filter_map(|_| t.reserve(A, Claim::Name("alice")).ok())
            .collect();
        assert_eq!(reserved.len(), 10);
        for a in reserved {
            a.failed();
        }
        assert!(t.check(A, Claim::Name("alice")).is_err());
        // Attempts that end without a verdict (a backend failed) give their place back.
        let t = throttle(100, 2, Duration::from_secs(60));
        drop(t.reserve(A, Claim::Name("bob")).unwrap());
        drop(t.reserve(A, Claim::Name("bob")).unwrap());
        let a = t.reserve(A, Claim::Name("bob")).unwrap();
        let b = t.reserve(A, Claim::Name("bob")).unwrap();
        assert!(t.reserve(A, Claim::Name("bob")).is_err(), "two in flight");
        a.succeeded();
        b.failed();
        assert!(t.reserve(A, Claim::Name("bob")).is_ok());
    }

    #[test]
    fn a_success_clears_its_count_and_windows_expire() {
        let t = throttle(100, 2, Duration::from_millis(200));
        fail(&t, A, Claim::Name("alice"));
        t.reserve(A, Claim::Name("alice")).unwrap().succeeded();
        fail(&t, A, Claim::Name("alice"));
        assert!(
            t.check(A, Claim::Name("alice")).is_ok(),
            "the count restarted after the success"
        );
        fail(&t, A, Claim::Name("alice"));
        assert!(t.check(A, Claim::Name("alice")).is_err());
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.check(A, Claim::Name("alice")).is_ok(), "a new window");
        assert!(t.reserve(A, Claim::Name("alice")).is_ok());
    }

    #[test]
    fn garbage_secrets_lock_out_only_themselves() {
        let t = throttle(5, 3, Duration::from_secs(60));
        for i in 0..50 {
            let garbage = format!("pcr_garbage{i}");
            for _ in 0..3 {
                if let Ok(a) = t.reserve(A, Claim::Secret(&garbage)) {
                    a.failed();
                }
            }
            assert!(t.check(A, Claim::Secret(&garbage)).is_err());
        }
        assert!(
            t.check(A, Claim::Secret("pcr_the-real-one")).is_ok(),
            "another client's identity token from the same address"
        );
        assert!(
            t.check(A, Claim::Name("alice")).is_ok(),
            "passwords from the same address"
        );
        assert!(
            t.len() <= 1 + MAX_SECRETS_PER_CLIENT,
            "fingerprints per client are bounded: {}",
            t.len()
        );
    }

    #[test]
    fn ipv6_clients_are_their_prefix_and_mapped_ipv4_is_ipv4() {
        let t = throttle(3, 100, Duration::from_secs(60));
        for i in 0..3u16 {
            let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, i, i, i, i);
            fail(&t, Some(IpAddr::V6(ip)), Claim::Name(&format!("u{i}")));
        }
        let same_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0xffff, 1, 2, 3));
        assert!(t.check(Some(same_64), Claim::Name("x")).is_err());
        let other_64 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 8, 0, 0, 0, 1));
        assert!(t.check(Some(other_64), Claim::Name("x")).is_ok());

        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        for i in 0..3 {
            fail(&t, A, Claim::Name(&format!("v{i}")));
        }
        assert!(t.check(Some(mapped), Claim::Name("y")).is_err());
        assert_eq!(
            ClientKey::of(same_64, 128),
            ClientKey::V6(u128::from(Ipv6Addr::new(
                0x2001, 0xdb8, 0, 7, 0xffff, 1, 2, 3
            )))
        );
        assert_eq!(ClientKey::of(same_64, 0), ClientKey::V6(0));
    }

    #[test]
    fn a_full_table_never_forgives_a_locked_out_client() {
        let t = Throttle::new(ThrottleSettings {
            per_client: 3,
            per_client_and_name: 3,
            window: Duration::from_secs(60),
            max_entries: 100,
            ipv6_prefix: 64,
        });
        let victim_attacker = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        for i in 0..3 {
            fail(&t, victim_attacker, Claim::Name(&format!("n{i}")));
        }
        assert!(t.check(victim_attacker, Claim::Name("x")).is_err());
        // Thousands of addresses with one cheap failure each fill the table many times over.
        for i in 0..5000u32 {
            let ip = Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
            fail(&t, ip, Claim::Name("x"));
            assert!(t.len() <= 100, "bounded: {}", t.len());
        }
        assert!(
            t.check(victim_attacker, Claim::Name("x")).is_err(),
            "the locked-out address is still locked out"
        );
    }

    #[test]
    fn a_zero_window_turns_throttling_off_and_unknown_addresses_pass() {
        let t = Throttle::off();
        fail(&t, A, Claim::Name("x"));
        fail(&t, A, Claim::Name("x"));
        assert!(t.check(A, Claim::Name("x")).is_ok());
        assert!(t.is_empty());
        let t = throttle(1, 1, Duration::from_secs(60));
        fail(&t, None, Claim::Name("x"));
        assert!(t.check(None, Claim::Name("x")).is_ok());
    }
}
