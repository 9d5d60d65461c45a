//! Browser sign-in and the personal access token page.
//!
//! - `GET /login`: to the identity provider (authorization code + PKCE).
//! - `GET /login/callback`: back from it; a session cookie, then the token page.
//! - `GET /login/tokens`: the user's tokens (name, scopes, last use, state) and a form to
//!   make one. `POST /login/tokens` makes it and shows its secret once.
//!   `POST /login/tokens/{id}/revoke` revokes one. `POST /logout` ends the session.
//!
//! Sessions are server-side (the cookie holds a random id only). The cookie is `HttpOnly`,
//! `SameSite=Lax`, and `Secure` when portcullis is served over https. Every form carries the
//! session's CSRF token, compared in constant time. Signing in again never touches existing
//! tokens: each is independent, one per machine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use data_encoding::BASE64URL_NOPAD;
use ring::rand::SecureRandom;
use secrecy::ExposeSecret;

use super::AppState;
use crate::authn::{AccessTokens, LoginError, OidcLogin};
use crate::config::parse_duration;
use crate::domain::ScopeLimit;
use crate::store::{now, Store};

const COOKIE: &str = "portcullis_session";
const MAX_SESSIONS: usize = 100_000;

#[derive(Clone)]
struct Session {
    user: String,
    groups: Vec<String>,
    csrf: String,
    until: Instant,
}

/// Everything the sign-in pages need (present when `[oidc]` is configured).
pub struct Login {
    oidc: OidcLogin,
    store: Store,
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    secure_cookie: bool,
}

impl Login {
    pub fn new(oidc: OidcLogin, store: Store, public_url: &str) -> Login {
        Login {
            ttl: oidc.config().session_ttl,
            oidc,
            store,
            sessions: Mutex::new(HashMap::new()),
            secure_cookie: public_url.starts_with("https://"),
        }
    }

    fn session(&self, req: &HttpRequest) -> Option<(String, Session)> {
        let id = session_cookie(req)?;
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&id) {
            Some(s) if s.until > Instant::now() => Some((id, s.clone())),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }
}

/// The session id from the `Cookie` header.
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn random() -> String {
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system RNG");
    BASE64URL_NOPAD.encode(&b)
}

fn login_of(state: &AppState) -> Option<&Login> {
    state.login.as_ref()
}

pub async fn start(state: web::Data<AppState>) -> HttpResponse {
    let Some(login) = login_of(&state) else {
        return not_configured();
    };
    match login.oidc.start().await {
        Ok(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .finish(),
        Err(e) => failure(e),
    }
}

#[derive(serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(state: web::Data<AppState>, q: web::Query<Callback>) -> HttpResponse {
    let Some(login) = login_of(&state) else {
        return not_configured();
    };
    if let Some(err) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or("");
        return page(StatusCode::BAD_REQUEST, "Sign-in refused", &format!("<p>The identity provider refused the sign-in: {} {}</p><p><a href=\"/login\">Try again</a></p>", esc(err), esc(detail)));
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "<p>The identity provider sent no code. <a href=\"/login\">Start again</a>.</p>",
        );
    };
    let who = match login.oidc.finish(code, st).await {
        Ok(w) => w,
        Err(e) => return failure(e),
    };
    if let Err(e) = login
        .store
        .user_sign_in_external(&who.username, "oidc", &who.groups)
        .await
    {
        tracing::warn!(user = %who.username, error = %e, "sign-in refused");
        return match e {
            crate::store::StoreError::Conflict(_) => page(StatusCode::CONFLICT, "Sign-in refused", &format!("<p>A local account named <code>{}</code> exists; an identity provider cannot sign in as it. Ask an administrator.</p>", esc(&who.username))),
            other => failure(LoginError::Unavailable(other.to_string())),
        };
    }
    tracing::info!(target: "audit", event = "sign_in", subject = %who.username, groups = %who.groups.join(","), "signed in through OIDC");
    let id = random();
    {
        let mut map = login.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.until > now);
        if map.len() >= MAX_SESSIONS {
            return failure(LoginError::Unavailable("too many sessions".into()));
        }
        map.insert(
            id.clone(),
            Session {
                user: who.username,
                groups: who.groups,
                csrf: random(),
                until: now + login.ttl,
            },
        );
    }
    HttpResponse::SeeOther()
        .insert_header((header::SET_COOKIE, login.cookie(&id, login.ttl.as_secs())))
        .insert_header((header::LOCATION, "/login/tokens"))
        .finish()
}

pub async fn tokens(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (login, _, s) = match signed_in(&state, &req) {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    tokens_page(login, &s, StatusCode::OK, "").await
}

async fn tokens_page(login: &Login, s: &Session, status: StatusCode, notice: &str) -> HttpResponse {
    let list = match login.store.access_token_list(Some(&s.user)).await {
        Ok(l) => l,
        Err(e) => return failure(LoginError::Unavailable(e.to_string())),
    };
    let t = now();
    let mut rows = String::new();
    for tok in &list {
        let state_text = match (tok.revoked_at, tok.expires_at) {
            (Some(_), _) => "revoked".to_string(),
            (None, Some(e)) if e <= t => "expired".to_string(),
            (None, Some(e)) => format!("valid until {}", date(e)),
            (None, None) => "valid".to_string(),
        };
        let action = if tok.is_live(t) {
            format!(
                "<form method=\"post\" action=\"/login/tokens/{}/revoke\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Revoke {}</button></form>",
                esc(&tok.id),
                esc(&s.csrf),
                esc(&tok.name)
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&tok.name),
            esc(&tok.scopes),
            date(tok.created_at),
            tok.last_used_at.map(date).unwrap_or_else(|| "never".into()),
            esc(&state_text),
            action
        ));
    }
    let body = format!(
        r#"{notice}<p>Signed in as <strong>{user}</strong>{groups}.</p>
<h2>Your access tokens</h2>
<table>
<caption>Use a token as your password: <code>docker login REGISTRY -u {user}</code>. Each token works on its own; revoking one leaves the others.</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col">Action</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<h2>Make a token</h2>
<form method="post" action="/login/tokens">
<input type="hidden" name="csrf" value="{csrf}">
<p><label for="name">Name (e.g. the machine it is for)</label><br><input id="name" name="name" required maxlength="64"></p>
<p><label for="scopes">Scopes, one per line: <code>repository:NAME-OR-PATTERN:ACTIONS</code></label><br>
<textarea id="scopes" name="scopes" rows="3" cols="60" required placeholder="repository:{user}/**:pull,push"></textarea></p>
<p><label for="expires">Expires after (e.g. 30d; empty: never)</label><br><input id="expires" name="expires" value="90d"></p>
<p><button type="submit">Make the token</button></p>
</form>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">Sign out</button></form>"#,
        user = esc(&s.user),
        groups = if s.groups.is_empty() {
            String::new()
        } else {
            format!(" (groups: {})", esc(&s.groups.join(", ")))
        },
        csrf = esc(&s.csrf),
    );
    page(status, "Access tokens", &body)
}

#[derive(serde::Deserialize)]
pub struct CreateForm {
    csrf: String,
    name: String,
    scopes: String,
    #[serde(default)]
    expires: String,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CreateForm>,
) -> HttpResponse {
    let (login, _, s) = match signed_in_form(&state, &req, &form.csrf) {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let bad = |msg: String| refused(login, &s, msg);
    let name = form.name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_whitespace) {
        return bad("a name is 1 to 64 characters without spaces".into()).await;
    }
    let items: Vec<&str> = form.scopes.split_whitespace().collect();
    let limit = match ScopeLimit::parse(&items) {
        Ok(l) => l,
        Err(e) => return bad(e.to_string()).await,
    };
    let expires_at = match form.expires.trim() {
        "" => None,
        d => match parse_duration(d) {
            Ok(d) => Some(now() + d.as_secs() as i64),
            Err(e) => return bad(format!("expires: {e}")).await,
        },
    };
    let created = match AccessTokens::new(login.store.clone())
        .create(&s.user, name, &limit, expires_at)
        .await
    {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()).await,
    };
    tracing::info!(target: "audit", event = "access_token_created", subject = %s.user, name = %name, id = %created.id, scopes = %limit, "access token made at the sign-in page");
    let body = format!(
        r#"<p role="status">Token <strong>{name}</strong> made. Copy it now: it is shown only this once.</p>
<p><label for="secret">Your token</label><br><input id="secret" readonly size="60" value="{secret}"></p>
<pre>echo '{secret}' | docker login REGISTRY -u {user} --password-stdin</pre>
<p><a href="/login/tokens">Back to your tokens</a></p>"#,
        name = esc(name),
        secret = esc(created.secret.expose_secret()),
        user = esc(&s.user),
    );
    page(StatusCode::OK, "Token made", &body)
}

async fn refused(login: &Login, s: &Session, msg: String) -> HttpResponse {
    let notice = format!(
        "<p role=\"alert\"><strong>Not made:</strong> {}</p>",
        esc(&msg)
    );
    tokens_page(login, s, StatusCode::BAD_REQUEST, &notice).await
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (login, _, s) = match signed_in_form(&state, &req, &form.csrf) {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let id = path.into_inner();
    match login.store.access_token_get(&id).await {
        Ok(Some(t)) if t.owner == s.user => {
            if let Err(e) = login.store.access_token_revoke(&id).await {
                return failure(LoginError::Unavailable(e.to_string()));
            }
            tracing::info!(target: "audit", event = "access_token_revoked", subject = %s.user, id = %id, "access token revoked at the sign-in page");
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login/tokens"))
                .finish()
        }
        Ok(_) => page(
            StatusCode::NOT_FOUND,
            "No such token",
            "<p>You have no such token. <a href=\"/login/tokens\">Back</a></p>",
        ),
        Err(e) => failure(LoginError::Unavailable(e.to_string())),
    }
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (login, id, _) = match signed_in_form(&state, &req, &form.csrf) {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    login
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    let mut resp = page(StatusCode::OK, "Signed out", "<p>You are signed out. Your tokens keep working until they expire or you revoke them. <a href=\"/login\">Sign in again</a></p>");
    if let Ok(v) = header::HeaderValue::from_str(&login.cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The sign-in state and the caller's session, or the answer to send instead (sign-in not
/// configured, or not signed in).
fn signed_in<'a>(
    state: &'a AppState,
    req: &HttpRequest,
) -> Result<(&'a Login, String, Session), Box<HttpResponse>> {
    let login = login_of(state).ok_or_else(|| Box::new(not_configured()))?;
    let (id, session) = login.session(req).ok_or_else(|| Box::new(to_login()))?;
    Ok((login, id, session))
}

/// The same for a form, which must also carry the session's CSRF token.
fn signed_in_form<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    csrf: &str,
) -> Result<(&'a Login, String, Session), Box<HttpResponse>> {
    let found = signed_in(state, req)?;
    if !csrf_ok(&found.2, csrf) {
        return Err(Box::new(csrf_refused()));
    }
    Ok(found)
}

fn csrf_ok(s: &Session, given: &str) -> bool {
    let (a, b) = (s.csrf.as_bytes(), given.as_bytes());
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

fn csrf_refused() -> HttpResponse {
    page(StatusCode::FORBIDDEN, "Refused", "<p>This form is stale or was not sent by this site (CSRF check failed). <a href=\"/login/tokens\">Reload your tokens page</a>.</p>")
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

fn not_configured() -> HttpResponse {
    page(StatusCode::NOT_FOUND, "Sign-in is not configured", "<p>This portcullis has no identity provider (<code>[oidc]</code> in its configuration).</p>")
}

fn failure(e: LoginError) -> HttpResponse {
    match e {
        LoginError::Unavailable(cause) => {
            tracing::error!(backend = "oidc provider", error = %cause, "sign-in failed: the identity provider is unavailable");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly", "<p>The identity provider cannot be reached right now. <a href=\"/login\">Try again</a> in a moment.</p>")
        }
        LoginError::Refused(why) => {
            tracing::info!(reason = %why, "sign-in refused");
            page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                &format!(
                    "<p>{}</p><p><a href=\"/login\">Start again</a></p>",
                    esc(&why)
                ),
            )
        }
    }
}

/// A plain, accessible page.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'"))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t} · portcullis</title></head>\n<body><main><h1>{t}</h1>\n{body}\n</main></body></html>\n",
            t = esc(title)
        ))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OidcConfig;

    async fn login(public_url: &str) -> Login {
        let config = OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "portcullis".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            session_ttl: Duration::from_secs(3600),
        };
        Login::new(
            OidcLogin::new(config, public_url),
            crate::store::memory_store().await,
            public_url,
        )
    }

    #[tokio::test]
    async fn the_session_cookie_is_http_only_same_site_and_secure_over_https() {
        let c = login("https://auth.example.com").await.cookie("abc", 60);
        assert_eq!(
            c,
            "portcullis_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let c = login("http://localhost:5001").await.cookie("abc", 60);
        assert!(!c.contains("Secure"));
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
