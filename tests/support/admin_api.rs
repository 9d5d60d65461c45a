//! The admin API as automation calls it: JSON over HTTP with `Authorization: Bearer` and a
//! personal access token made with the admin scope.

use super::http::{http_request, HttpResponse};
use super::portcullis::Portcullis;

pub struct AdminApi {
    base: String,
    token: String,
}

impl AdminApi {
    /// A client for `portcullis` acting as `user` (who must be allowed the admin API by
    /// policy), with a token made through the CLI: how the first admin bootstraps.
    pub fn for_user(portcullis: &Portcullis, user: &str) -> AdminApi {
        // Token names are unique per user.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "admin-api-{}",
            MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let out = portcullis.cli(
            &[
                "token",
                "create",
                "--user",
                user,
                "--name",
                &name,
                "--scope",
                "portcullis:admin:*",
                "--expires",
                "1h",
            ],
            None,
        );
        out.assert_success("portcullis token create --scope portcullis:admin:*");
        AdminApi::with_token(portcullis, out.stdout.trim())
    }

    pub fn with_token(portcullis: &Portcullis, token: &str) -> AdminApi {
        AdminApi {
            base: portcullis.url(),
            token: token.to_owned(),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// `METHOD /api/v1PATH` with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("Authorization", auth.as_str())];
        let text = body.map(|b| b.to_string());
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http_request(
            method,
            &format!("{}/api/v1{path}", self.base),
            &headers,
            text.as_deref().map(str::as_bytes),
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> HttpResponse {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: serde_json::Value) -> HttpResponse {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> HttpResponse {
        self.call("DELETE", path, None)
    }

    /// Asserts `resp` has `status`, printing the body otherwise; returns its JSON (or null).
    pub fn expect(resp: HttpResponse, status: u16) -> serde_json::Value {
        assert_eq!(resp.status, status, "{}", resp.text());
        if resp.body.is_empty() {
            serde_json::Value::Null
        } else {
            resp.json()
        }
    }
}
