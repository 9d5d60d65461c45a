//! Browser sessions of the sign-in pages, and their cookies.
//!
//! Sessions are server-side, in the database (the cookie holds a random id; the database
//! only its SHA-256), so that any replica serves any session and a restart signs no one
//! out. At most [`SESSIONS_PER_USER`] per person (signing in again ends the oldest) and
//! [`MAX_SESSIONS`] in all (the one closest to its end goes first): nobody can fill the
//! table, and a full table never refuses a sign-in. The cookies are `HttpOnly`, `SameSite=Lax`, and over https
//! `Secure` with the `__Host-` prefix (no other host under the same domain can set them).
//! Every form carries the session's CSRF token, compared in constant time.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use data_encoding::BASE64URL_NOPAD;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use crate::store::{now, SessionRecord, Store, StoreError};

/// Sessions in all; past it the one closest to its end is dropped.
pub const MAX_SESSIONS: usize = 100_000;
/// Sessions one person may have; signing in again past it ends their oldest.
pub const SESSIONS_PER_USER: usize = 10;

pub const SESSION_COOKIE: &str = "portcullis_session";
pub const LOGIN_COOKIE: &str = "portcullis_login";
/// The password form's CSRF token (the form is shown before there is a session to hold it).
pub const FORM_COOKIE: &str = "portcullis_form";

#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub groups: Vec<String>,
    pub csrf: String,
}

impl Session {
    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        self.csrf.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

pub struct Sessions {
    store: Store,
    /// The absolute timeout: a session ends this long after sign-in, used or not.
    ttl: Duration,
    secure: bool,
}

/// The idle timeout: a session unused this long ends (at most its absolute timeout).
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// What the database keeps of a session id.
fn id_hash(id: &str) -> String {
    crate::authn::hash_secret(id)
}

impl Sessions {
    pub fn new(store: Store, ttl: Duration, secure: bool) -> Sessions {
        Sessions { store, ttl, secure }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The request's session, if it has exactly one live session cookie.
    pub async fn get(&self, req: &HttpRequest) -> Result<Option<(String, Session)>, StoreError> {
        let ids = self.cookie_values(req, SESSION_COOKIE);
        // Two session cookies: which one counts would be anybody's guess.
        let [id] = ids.as_slice() else {
            return Ok(None);
        };
        // Ids are 43 characters of base64url; anything else is no session of ours.
        if id.len() != 43 {
            return Ok(None);
        }
        let idle = SESSION_IDLE.min(self.ttl).as_secs() as i64;
        Ok(self.store.session_get(&id_hash(id), idle).await?.map(|r| {
            (
                id.clone(),
                Session {
                    user: r.user,
                    groups: r.groups,
                    csrf: r.csrf,
                },
            )
        }))
    }

    /// Starts a session for `user`; returns its id.
    pub async fn open(&self, user: String, groups: Vec<String>) -> Result<String, StoreError> {
        let id = random();
        let t = now();
        let expires_at = t + self.ttl.as_secs() as i64;
        let record = SessionRecord {
            user,
            groups,
            csrf: random(),
            expires_at,
            idle_until: (t + SESSION_IDLE.as_secs() as i64).min(expires_at),
        };
        self.store
            .session_open(&id_hash(&id), &record, SESSIONS_PER_USER, MAX_SESSIONS)
            .await?;
        Ok(id)
    }

    pub async fn close(&self, id: &str) -> Result<(), StoreError> {
        self.store.session_close(&id_hash(id)).await
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
}

/// 256 random bits, base64url: a session id, a CSRF token.
pub(super) fn random() -> String {
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    BASE64URL_NOPAD.encode(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sessions(secure: bool) -> Sessions {
        Sessions::new(
            crate::store::memory_store().await,
            Duration::from_secs(3600),
            secure,
        )
    }

    #[tokio::test]
    async fn the_session_cookie_is_http_only_same_site_and_secure_over_https() {
        let c = sessions(true)
            .await
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
        let c = sessions(false)
            .await
            .cookie(SESSION_COOKIE, "abc", Duration::from_secs(60))
            .to_string();
        assert!(
            c.starts_with("portcullis_session=abc") && !c.contains("Secure"),
            "{c}"
        );
    }

    #[tokio::test]
    async fn sessions_are_bounded_per_person_and_kept_only_as_a_hash() {
        let s = sessions(false).await;
        let first = s.open("mallory".into(), vec![]).await.unwrap();
        for _ in 0..30 {
            s.open("mallory".into(), vec![]).await.unwrap();
        }
        assert_eq!(s.store.session_count().await, SESSIONS_PER_USER as i64);
        assert!(
            s.store
                .session_get(&id_hash(&first), 60)
                .await
                .unwrap()
                .is_none(),
            "the oldest went"
        );
        let id = s.open("alice".into(), vec!["qa".into()]).await.unwrap();
        assert!(
            s.store.session_get(&id, 60).await.unwrap().is_none(),
            "the id itself is not stored"
        );
        let got = s
            .store
            .session_get(&id_hash(&id), 60)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.user.as_str(), got.groups.clone()),
            ("alice", vec!["qa".to_string()])
        );
        s.close(&id).await.unwrap();
        assert!(s
            .store
            .session_get(&id_hash(&id), 60)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn an_unused_session_ends_at_its_idle_deadline_before_its_expiry() {
        let s = sessions(false).await;
        let t = now();
        let record = SessionRecord {
            user: "idle".into(),
            groups: vec![],
            csrf: random(),
            expires_at: t + 3600,
            idle_until: t + 1,
        };
        s.store.session_open("h", &record, 10, 100).await.unwrap();
        assert!(s.store.session_get("h", 1).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(
            s.store.session_get("h", 1).await.unwrap().is_none(),
            "idle for too long"
        );
    }

    #[tokio::test]
    async fn csrf_tokens_compare_whole() {
        let s = sessions(false).await;
        let id = s.open("a".into(), vec![]).await.unwrap();
        let r = s
            .store
            .session_get(&id_hash(&id), 60)
            .await
            .unwrap()
            .unwrap();
        let session = Session {
            user: r.user,
            groups: r.groups,
            csrf: r.csrf,
        };
        assert!(session.csrf_ok(&session.csrf.clone()));
        assert!(!session.csrf_ok(&session.csrf[..10]));
        assert!(!session.csrf_ok(""));
    }
}
