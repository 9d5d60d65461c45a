//! A sign-in in progress, kept by the browser that started it rather than by the server.
//!
//! `GET /login` makes a `state`, a nonce and a PKCE verifier. Keeping them in server memory
//! (as before) let anyone exhaust the table of sign-ins in progress with anonymous requests,
//! and did not tie the sign-in to the browser: a victim who followed an attacker's callback
//! URL was signed in as the attacker (login CSRF). Instead they are sealed (AES-256-GCM,
//! under a key in the keys directory) into a short-lived cookie of the browser that started
//! the sign-in; the callback opens it and requires the provider's `state` to be the one in
//! it. The server holds nothing per sign-in, and a callback in another browser fails.
//!
//! The sealing key (`keys/login-state.key`, 32 random bytes, mode 0600) is made on first
//! start; replicas that share the keys directory (as they share the signing key) open each
//! other's cookies.

use std::path::Path;

use data_encoding::BASE64URL_NOPAD;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// How long a sign-in may take, from `/login` to the callback.
pub const LOGIN_STATE_TTL: i64 = 600;
/// Longest cookie value accepted (a sealed state is ~300 bytes).
const MAX_SEALED: usize = 2048;
const AAD: &[u8] = b"portcullis login state v1";

/// What the callback needs to finish the sign-in the browser started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// The OAuth2 `state` sent to the provider.
    pub state: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The OIDC nonce the ID token must carry.
    pub nonce: String,
    /// Unix seconds.
    pub created: i64,
    /// The redirect URI the sign-in started with, when it was not `server.public_url`'s
    /// (a trusted proxy's `X-Forwarded-Host`): the code is exchanged with the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// Seals and opens [`LoginState`]s.
pub struct LoginSealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl LoginSealer {
    pub fn new(key: [u8; 32]) -> LoginSealer {
        LoginSealer {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 256-bit key")),
            rng: SystemRandom::new(),
        }
    }

    /// The key in `path`, made (0600) if there is none yet.
    pub fn load_or_generate(path: &Path) -> std::io::Result<LoginSealer> {
        crate::key_file::load_or_generate(
            path,
            "delete it to make a new one (sign-ins in progress then start again)",
        )
        .map(LoginSealer::new)
    }

    /// The state, encrypted and authenticated, as a cookie value.
    pub fn seal(&self, state: &LoginState) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system RNG");
        let mut data = serde_json::to_vec(state).expect("serialisable");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .expect("sealing");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        BASE64URL_NOPAD.encode(&out)
    }

    /// The state sealed in `cookie`, if it is one of ours and not older than
    /// [`LOGIN_STATE_TTL`] at `now` (Unix seconds).
    pub fn open(&self, cookie: &str, now: i64) -> Option<LoginState> {
        if cookie.len() > MAX_SEALED {
            return None;
        }
        let raw = BASE64URL_NOPAD.decode(cookie.as_bytes()).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let mut sealed = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut sealed)
            .ok()?;
        let state: LoginState = serde_json::from_slice(plain).ok()?;
        (now - state.created < LOGIN_STATE_TTL && state.created <= now + 60).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(created: i64) -> LoginState {
        LoginState {
            state: "s".into(),
            verifier: "v".into(),
            nonce: "n".into(),
            created,
            redirect: None,
        }
    }

    #[test]
    fn a_sealed_state_opens_only_with_its_key_untouched_and_in_time() {
        let a = LoginSealer::new([1; 32]);
        let sealed = a.seal(&state(1000));
        assert_eq!(a.open(&sealed, 1000), Some(state(1000)));
        assert!(!sealed.contains("\"v\""), "the verifier is not readable");
        assert_eq!(a.open(&sealed, 1000 + LOGIN_STATE_TTL), None, "expired");
        assert_eq!(
            LoginSealer::new([2; 32]).open(&sealed, 1000),
            None,
            "another key"
        );
        let mut bytes = BASE64URL_NOPAD.decode(sealed.as_bytes()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            a.open(&BASE64URL_NOPAD.encode(&bytes), 1000),
            None,
            "tampered"
        );
        assert_eq!(a.open("garbage", 1000), None);
        assert_ne!(a.seal(&state(1000)), sealed, "a fresh nonce each time");
    }

    #[test]
    fn the_key_is_made_private_once_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/login-state.key");
        let sealed = LoginSealer::load_or_generate(&path)
            .unwrap()
            .seal(&state(5));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = LoginSealer::load_or_generate(&path).unwrap();
        assert_eq!(again.open(&sealed, 5), Some(state(5)));
    }
}
