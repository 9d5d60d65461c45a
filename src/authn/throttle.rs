//! Throttling of failed credentials, against password guessing.
//!
//! Failures are counted per client IP, and per client IP and claimed name, in fixed windows.
//! A request over either limit is refused (429) before any verification is paid for.
//! There is no count per name alone: that would let anyone lock a real user out from
//! elsewhere. A success clears its (IP, name) count.
//!
//! The counts live in memory, per replica, and are bounded: a replica forgets expired
//! windows, and past `MAX_KEYS` it starts over rather than grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_KEYS: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    IpName(IpAddr, String),
}

struct Window {
    failures: u32,
    started: Instant,
}

pub struct Throttle {
    per_ip: u32,
    per_ip_name: u32,
    window: Duration,
    counts: Mutex<HashMap<Key, Window>>,
}

impl Throttle {
    /// `window` zero turns throttling off.
    pub fn new(per_ip: u32, per_ip_name: u32, window: Duration) -> Throttle {
        Throttle {
            per_ip,
            per_ip_name,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.window.is_zero()
    }

    /// `Err(retry_after)` when `ip` or (`ip`, `name`) has failed too often in this window.
    pub fn check(&self, ip: Option<IpAddr>, name: &str) -> Result<(), Duration> {
        let Some(ip) = ip.filter(|_| self.enabled()) else {
            return Ok(());
        };
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for (key, limit) in [
            (Key::Ip(ip), self.per_ip),
            (Key::IpName(ip, name.to_string()), self.per_ip_name),
        ] {
            if let Some(w) = counts.get(&key) {
                let elapsed = w.started.elapsed();
                if elapsed < self.window && w.failures >= limit {
                    wait = wait.max(self.window - elapsed);
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    pub fn failed(&self, ip: Option<IpAddr>, name: &str) {
        let Some(ip) = ip.filter(|_| self.enabled()) else {
            return;
        };
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, w| w.started.elapsed() < self.window);
            if counts.len() >= MAX_KEYS {
                counts.clear();
            }
        }
        for key in [Key::Ip(ip), Key::IpName(ip, name.to_string())] {
            let w = counts.entry(key).or_insert(Window {
                failures: 0,
                started: Instant::now(),
            });
            if w.started.elapsed() >= self.window {
                *w = Window {
                    failures: 0,
                    started: Instant::now(),
                };
            }
            w.failures += 1;
        }
    }

    pub fn succeeded(&self, ip: Option<IpAddr>, name: &str) {
        let Some(ip) = ip.filter(|_| self.enabled()) else {
            return;
        };
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Key::IpName(ip, name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_name_is_throttled_from_one_address_only() {
        let t = Throttle::new(100, 3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check(A, "alice").is_ok());
            t.failed(A, "alice");
        }
        let wait = t.check(A, "alice").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait >= Duration::from_secs(1));
        assert!(
            t.check(B, "alice").is_ok(),
            "alice herself, elsewhere, is not locked out"
        );
        assert!(
            t.check(A, "bob").is_ok(),
            "another name from the same address"
        );
    }

    #[test]
    fn an_address_guessing_many_names_is_throttled() {
        let t = Throttle::new(5, 100, Duration::from_secs(60));
        for i in 0..5 {
            t.failed(A, &format!("user{i}"));
        }
        assert!(t.check(A, "someone-else").is_err());
        assert!(t.check(B, "user1").is_ok());
    }

    #[test]
    fn a_success_clears_its_count_and_windows_expire() {
        let t = Throttle::new(100, 2, Duration::from_millis(200));
        t.failed(A, "alice");
        t.succeeded(A, "alice");
        t.failed(A, "alice");
        assert!(
            t.check(A, "alice").is_ok(),
            "the count restarted after the success"
        );
        t.failed(A, "alice");
        assert!(t.check(A, "alice").is_err());
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.check(A, "alice").is_ok(), "a new window");
    }

    #[test]
    fn a_zero_window_turns_throttling_off_and_unknown_addresses_pass() {
        let t = Throttle::new(1, 1, Duration::ZERO);
        t.failed(A, "x");
        t.failed(A, "x");
        assert!(t.check(A, "x").is_ok());
        let t = Throttle::new(1, 1, Duration::from_secs(60));
        t.failed(None, "x");
        assert!(t.check(None, "x").is_ok());
    }
}
