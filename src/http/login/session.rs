//! Browser sessions of the sign-in pages, and their cookies.
//!
//! Sessions are server-side (the cookie holds a random id only), at most
//! [`SESSIONS_PER_USER`] per person (signing in again ends the oldest) and [`MAX_SESSIONS`]
//! in all (the one closest to its end goes first): nobody can fill the table, and a full
//! table never refuses a sign-in. The cookies are `HttpOnly`, `SameSite=Lax`, and over https
//! `Secure` with the `__Host-` prefix (no other host under the same domain can set them).
//! Every form carries the session's CSRF token, compared in constant time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use data_encoding::BASE64URL_NOPAD;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

/// Sessions in all; past it the one closest to its end is dropped.
pub const MAX_SESSIONS: usize = 100_000;
/// Sessions one person may have; signing in again past it ends their oldest.
pub const SESSIONS_PER_USER: usize = 10;

pub const SESSION_COOKIE: &str = "portcullis_session";
pub const LOGIN_COOKIE: &str = "portcullis_login";

#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub groups: Vec<String>,
    pub csrf: String,
    until: Instant,
}

impl Session {
    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        self.csrf.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    secure: bool,
}

impl Sessions {
    pub fn new(ttl: Duration, secure: bool) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            ttl,
            secure,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The request's session, if it has exactly one live session cookie.
    pub fn get(&self, req: &HttpRequest) -> Option<(String, Session)> {
        let ids = self.cookie_values(req, SESSION_COOKIE);
        // Two session cookies: which one counts would be anybody's guess.
        let [id] = ids.as_slice() else {
            return None;
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.until > Instant::now() => Some((id.clone(), s.clone())),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Starts a session for `user`; returns its id.
    pub fn open(&self, user: String, groups: Vec<String>) -> String {
        let id = random();
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.until > now);
        let mut theirs: Vec<(Instant, String)> = map
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(k, s)| (s.until, k.clone()))
            .collect();
        if theirs.len() >= SESSIONS_PER_USER {
            theirs.sort();
            for (_, k) in &theirs[..=theirs.len() - SESSIONS_PER_USER] {
                map.remove(k);
            }
        }
        if map.len() >= MAX_SESSIONS {
            if let Some(k) = map
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        map.insert(
            id.clone(),
            Session {
                user,
                groups,
                csrf: random(),
                until: now + self.ttl,
            },
        );
        id
    }

    pub fn close(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Over https, `__Host-NAME`: a cookie no other host under the same domain can set.
    fn cookie_name(&self, name: &str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_string()
        }
    }

    /// A cookie of these pages, alive for `max_age` (zero: removes it).
    pub fn cookie(&self, name: &str, value: &str, max_age: Duration) -> Cookie<'static> {
        Cookie::build(self.cookie_name(name), value.to_string())
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(actix_web::cookie::time::Duration::seconds(
                max_age.as_secs() as i64,
            ))
            .finish()
    }

    /// Every value of cookie `name` the request carries.
    pub fn cookie_values(&self, req: &HttpRequest, name: &str) -> Vec<String> {
        let name = self.cookie_name(name);
        req.cookies()
            .map(|all| {
                all.iter()
                    .filter(|c| c.name() == name)
                    .map(|c| c.value().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }

    #[cfg(test)]
    fn contains(&self, id: &str) -> bool {
        self.map.lock().unwrap().contains_key(id)
    }
}

fn random() -> String {
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    BASE64URL_NOPAD.encode(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_same_site_and_secure_over_https() {
        let c = Sessions::new(Duration::from_secs(60), true)
            .cookie(SESSION_COOKIE, "abc", Duration::from_secs(60))
            .to_string();
        for part in [
            "__Host-portcullis_session=abc",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{part} in {c}");
        }
        let c = Sessions::new(Duration::from_secs(60), false)
            .cookie(SESSION_COOKIE, "abc", Duration::from_secs(60))
            .to_string();
        assert!(
            c.starts_with("portcullis_session=abc") && !c.contains("Secure"),
            "{c}"
        );
    }

    #[test]
    fn sessions_are_bounded_per_person_and_a_full_table_refuses_nobody() {
        let s = Sessions::new(Duration::from_secs(3600), false);
        let first = s.open("mallory".into(), vec![]);
        for _ in 0..100 {
            s.open("mallory".into(), vec![]);
        }
        assert_eq!(s.len(), SESSIONS_PER_USER);
        assert!(!s.contains(&first), "the oldest went");
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let s = Sessions::new(Duration::from_secs(3600), false);
        let id = s.open("a".into(), vec![]);
        let session = s.map.lock().unwrap().get(&id).unwrap().clone();
        assert!(session.csrf_ok(&session.csrf.clone()));
        assert!(!session.csrf_ok(&session.csrf[..10]));
        assert!(!session.csrf_ok(""));
    }
}
