//! Browser sign-in and the personal access token page.
//!
//! - `GET /login`: to the identity provider (authorization code + PKCE).
//! - `GET /login/callback`: back from it; a session cookie, then the token page.
//! - `GET /login/tokens`: the user's tokens (name, scopes, last use, state) and a form to
//!   make one. `POST /login/tokens` makes it and shows its secret once.
//!   `POST /login/tokens/{id}/revoke` revokes one. `POST /logout` ends the session.
//!
//! - A sign-in in progress is kept by the browser that started it, sealed in a cookie (see
//!   `authn/login_state.rs`): the server holds nothing for it, and a callback in another
//!   browser is refused (no login CSRF).
//! - Sessions are server-side (the cookie holds a random id only), at most
//!   [`SESSIONS_PER_USER`] per person (signing in again ends the oldest) and
//!   [`MAX_SESSIONS`] in all (the one closest to its end goes first): nobody can fill the
//!   table, and a full table never refuses a sign-in. The cookies are `HttpOnly`,
//!   `SameSite=Lax`, and over https `Secure` with the `__Host-` prefix (no other site under
//!   the same domain can set them). Every form carries the session's CSRF token, compared in
//!   constant time. Signing in again never touches existing tokens: each is independent, one
//!   per machine.
//! - Every answer of these routes, errors included, is an HTML page of the same shape (they
//!   are pages for people); a refusal says why, and an outage names what is down (the
//!   identity provider, or portcullis's own database), never blaming one for the other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use data_encoding::BASE64URL_NOPAD;
use ring::rand::SecureRandom;
use secrecy::ExposeSecret;

use super::AppState;
use crate::audit::{self, EventOutcome};
use crate::authn::{LoginError, LoginSealer, OidcLogin, LOGIN_STATE_TTL};
use crate::domain::{Actor, GroupMapping, Lifetime, ScopeLimit, TokenName};
use crate::manage::{AccessTokens, ManageError};
use crate::store::{now, ExternalSignIn, Store, StoreError};

const SESSION_COOKIE: &str = "portcullis_session";
const LOGIN_COOKIE: &str = "portcullis_login";
/// Sessions in all; past it the one closest to its end is dropped.
pub const MAX_SESSIONS: usize = 100_000;
/// Sessions one person may have; signing in again past it ends their oldest.
pub const SESSIONS_PER_USER: usize = 10;

#[derive(Clone)]
struct Session {
    user: String,
    groups: Vec<String>,
    csrf: String,
    until: Instant,
}

/// Everything the sign-in pages need (present when `[oidc]` is configured).
pub struct Login {
    oidc: Arc<OidcLogin>,
    store: Store,
    sealer: LoginSealer,
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    secure_cookie: bool,
}

impl Login {
    pub fn new(oidc: Arc<OidcLogin>, store: Store, sealer: LoginSealer, public_url: &str) -> Login {
        Login {
            ttl: oidc.config().session_ttl,
            oidc,
            store,
            sealer,
            sessions: Mutex::new(HashMap::new()),
            secure_cookie: public_url.starts_with("https://"),
        }
    }

    fn session(&self, req: &HttpRequest) -> Option<(String, Session)> {
        let ids = cookies(req, &self.cookie_name(SESSION_COOKIE));
        // Two session cookies: which one counts would be anybody's guess.
        let [id] = ids.as_slice() else {
            return None;
        };
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.until > Instant::now() => Some((id.clone(), s.clone())),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Starts a session for `user`: at most [`SESSIONS_PER_USER`] each (their oldest ends)
    /// and [`MAX_SESSIONS`] in all (the one closest to its end goes).
    fn open_session(&self, user: String, groups: Vec<String>) -> String {
        let id = random();
        let now = Instant::now();
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
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

    /// Over https, `__Host-NAME`: a cookie no other host under the same domain can set.
    fn cookie_name(&self, name: &str) -> String {
        if self.secure_cookie {
            format!("__Host-{name}")
        } else {
            name.to_string()
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            self.cookie_name(name),
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }
}

/// Every value of the cookie called `name` in the request.
fn cookies(req: &HttpRequest, name: &str) -> Vec<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .collect()
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
        Ok((url, kept)) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .insert_header((
                header::SET_COOKIE,
                login.cookie(
                    LOGIN_COOKIE,
                    &login.sealer.seal(&kept),
                    LOGIN_STATE_TTL as u64,
                ),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
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

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Callback>,
) -> HttpResponse {
    let Some(login) = login_of(&state) else {
        return not_configured();
    };
    let mut answer = signed_in_from_provider(login, &req, &q).await;
    // The sign-in in progress is over, whichever way it went.
    if let Ok(v) = header::HeaderValue::from_str(&login.cookie(LOGIN_COOKIE, "", 0)) {
        answer.headers_mut().append(header::SET_COOKIE, v);
    }
    answer
}

async fn signed_in_from_provider(login: &Login, req: &HttpRequest, q: &Callback) -> HttpResponse {
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
    let t = now();
    let kept = cookies(req, &login.cookie_name(LOGIN_COOKIE))
        .iter()
        .filter_map(|c| login.sealer.open(c, t))
        .find(|k| k.state == *st);
    let who = match login.oidc.finish(code, st, kept).await {
        Ok(w) => w,
        Err(e) => return failure(e),
    };
    let config = login.oidc.config();
    let mapped = GroupMapping {
        prefix: &config.group_prefix,
        map: &config.group_map,
        only_mapped: config.only_mapped_groups,
    }
    .apply(&who.groups);
    if mapped.dropped > 0 {
        tracing::warn!(user = ?who.username, dropped = mapped.dropped, "some of the identity provider's groups were ignored: too many, or names too long or holding control characters");
    }
    let outcome = login
        .store
        .user_sign_in_external(
            "oidc",
            &who.issuer,
            &who.subject,
            &who.username,
            &mapped.groups,
        )
        .await;
    let account = match outcome {
        Ok(ExternalSignIn::SignedIn { account, bound_now }) => {
            if bound_now {
                audit::event(&audit::Event {
                    event: "account_bound",
                    outcome: EventOutcome::Done,
                    actor: &Actor::server(),
                    target: &account,
                    detail: &format!("issuer {} subject {}", who.issuer, who.subject),
                });
            }
            account
        }
        Ok(refused) => {
            audit::event(&audit::Event {
                event: "sign_in",
                outcome: EventOutcome::Refused,
                actor: &Actor::principal(format!("{}#{}", who.issuer, who.subject)),
                target: &who.username,
                detail: &format!("{refused:?}"),
            });
            let why = match refused {
                ExternalSignIn::LocalNameTaken => format!("A local account named <code>{}</code> exists; an identity provider cannot sign in as it.", esc(&who.username)),
                ExternalSignIn::NameTakenByAnother => format!("The name <code>{}</code> already belongs to another account of your identity provider, so it cannot be yours here. An administrator can choose another claim for names (<code>oidc.username_claim</code>, e.g. <code>email</code>).", esc(&who.username)),
                _ => "Your account is disabled.".to_string(),
            };
            return page(
                StatusCode::FORBIDDEN,
                "Sign-in refused",
                &format!("<p>{why}</p><p>Ask an administrator.</p>"),
            );
        }
        Err(e) => return database_down(e),
    };
    audit::event(&audit::Event {
        event: "sign_in",
        outcome: EventOutcome::Done,
        actor: &Actor::principal(&account),
        target: &account,
        detail: &format!("oidc; groups {}", mapped.groups.join(",")),
    });
    let id = login.open_session(account, mapped.groups);
    HttpResponse::SeeOther()
        .insert_header((
            header::SET_COOKIE,
            login.cookie(SESSION_COOKIE, &id, login.ttl.as_secs()),
        ))
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
        Err(e) => return database_down(e),
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
    let name = match TokenName::parse(&form.name) {
        Ok(n) => n,
        Err(e) => return bad(e.to_string()).await,
    };
    let items: Vec<&str> = form.scopes.split_whitespace().collect();
    let limit = match ScopeLimit::parse(&items) {
        Ok(l) => l,
        Err(e) => return bad(e.to_string()).await,
    };
    let lifetime = match form.expires.trim() {
        "" => None,
        d => match Lifetime::parse(d) {
            Ok(l) => Some(l),
            Err(e) => return bad(format!("expires: {e}")).await,
        },
    };
    let created = match AccessTokens::new(login.store.clone())
        .create(&Actor::principal(&s.user), &s.user, &name, &limit, lifetime)
        .await
    {
        Ok(c) => c,
        Err(ManageError::Store(e @ StoreError::Unavailable { .. })) => return database_down(e),
        Err(e) => return bad(e.to_string()).await,
    };
    let body = format!(
        r#"<p role="status">Token <strong>{name}</strong> made. Copy it now: it is shown only this once.</p>
<p><label for="secret">Your token</label><br><input id="secret" readonly size="60" value="{secret}"></p>
<pre>echo '{secret}' | docker login REGISTRY -u {user} --password-stdin</pre>
<p><a href="/login/tokens">Back to your tokens</a></p>"#,
        name = esc(name.as_str()),
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
    match AccessTokens::new(login.store.clone())
        .revoke(&Actor::principal(&s.user), &id, Some(&s.user))
        .await
    {
        Ok(true) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login/tokens"))
            .finish(),
        Ok(false) => page(
            StatusCode::NOT_FOUND,
            "No such token",
            "<p>You have no such live token. <a href=\"/login/tokens\">Back</a></p>",
        ),
        Err(ManageError::Store(e)) => database_down(e),
        Err(e) => malformed(StatusCode::BAD_REQUEST, &e.to_string()),
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
    if let Ok(v) = header::HeaderValue::from_str(&login.cookie(SESSION_COOKIE, "", 0)) {
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

/// Forms of these pages: small, and a malformed one answered as a page.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(|e, _| {
            let status = actix_web::ResponseError::status_code(&e);
            let what = format!("The form could not be read: {e}.");
            actix_web::error::InternalError::from_response(e, malformed(status, &what)).into()
        })
}

pub fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let what = format!("The address could not be read: {e}.");
    actix_web::error::InternalError::from_response(e, malformed(StatusCode::BAD_REQUEST, &what))
        .into()
}

pub fn path_error(e: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    let what = format!("The address could not be read: {e}.");
    actix_web::error::InternalError::from_response(e, malformed(StatusCode::NOT_FOUND, &what))
        .into()
}

/// An unknown path under `/login`, or a method the page does not take.
pub async fn no_such_page(req: HttpRequest) -> HttpResponse {
    let known = matches!(
        req.path(),
        "/login" | "/login/callback" | "/login/tokens" | "/logout"
    ) || (req.path().starts_with("/login/tokens/") && req.path().ends_with("/revoke"));
    if known {
        let mut r = malformed(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} does not take {} requests.", req.path(), req.method()),
        );
        let allow = match req.path() {
            "/login/tokens" => "GET, POST",
            "/login" | "/login/callback" => "GET",
            _ => "POST",
        };
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        r
    } else {
        malformed(
            StatusCode::NOT_FOUND,
            &format!("There is no page {}.", req.path()),
        )
    }
}

/// portcullis's own database failed: say so, and never blame the identity provider.
fn database_down(e: StoreError) -> HttpResponse {
    tracing::error!(backend = "database", error = %e, "a sign-in page failed: the database is unavailable");
    page(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly", "<p>portcullis cannot reach its database right now (the identity provider is not at fault). Try again in a moment.</p>")
}

/// Any other answer of these routes that is not a page of theirs (a malformed form or
/// query, an unknown path, a wrong method): the same page shape, never actix's text.
pub fn malformed(status: StatusCode, what: &str) -> HttpResponse {
    page(
        status,
        "Not understood",
        &format!(
            "<p>{}</p><p><a href=\"/login\">Sign in</a> or go to <a href=\"/login/tokens\">your tokens</a>.</p>",
            esc(what)
        ),
    )
}

fn failure(e: LoginError) -> HttpResponse {
    match e {
        LoginError::Unavailable(cause) => {
            tracing::error!(backend = "oidc provider", error = %cause, "sign-in failed: the identity provider is unavailable");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly", "<p>The identity provider cannot be reached right now. <a href=\"/login\">Try again</a> in a moment.</p>")
        }
        LoginError::Refused(why) => {
            tracing::info!(reason = ?why, "sign-in refused");
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
            group_prefix: "oidc:".into(),
            only_mapped_groups: false,
            group_map: Default::default(),
        };
        Login::new(
            Arc::new(OidcLogin::new(config, public_url)),
            crate::store::memory_store().await,
            LoginSealer::new([7; 32]),
            public_url,
        )
    }

    #[tokio::test]
    async fn the_session_cookie_is_http_only_same_site_and_secure_over_https() {
        let c = login("https://auth.example.com")
            .await
            .cookie(SESSION_COOKIE, "abc", 60);
        assert_eq!(
            c,
            "__Host-portcullis_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let c = login("http://localhost:5001")
            .await
            .cookie(SESSION_COOKIE, "abc", 60);
        assert_eq!(
            c,
            "portcullis_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }

    #[tokio::test]
    async fn sessions_are_bounded_per_person_and_a_full_table_refuses_nobody() {
        let l = login("http://localhost:5001").await;
        let first = l.open_session("mallory".into(), vec![]);
        for _ in 0..100 {
            l.open_session("mallory".into(), vec![]);
        }
        let map = l.sessions.lock().unwrap();
        assert_eq!(map.len(), SESSIONS_PER_USER);
        assert!(!map.contains_key(&first), "the oldest went");
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
