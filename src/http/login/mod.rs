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
//! - Sessions and their cookies: `session.rs`. The pages: `pages.rs` and `templates/`.
//! - Every answer of these routes, errors included, is an HTML page of the same shape (they
//!   are pages for people); a refusal says why, and an outage names what is down (the
//!   identity provider, or portcullis's own database), never blaming one for the other.
//! - Changes (a token made or revoked) go through the same service as the CLI's
//!   (`manage/`), audited with the signed-in person as the actor. Signing in again never
//!   touches existing tokens: each is independent, one per machine.

mod access;
mod admin;
mod pages;
mod password;
mod session;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

use self::pages::{
    code, link, message, message_with_role, render, text, IdentityRow, TokenMade, TokenRow,
    TokensPage,
};
use self::session::{Session, Sessions, LOGIN_COOKIE, SESSION_COOKIE};
use super::AppState;
use crate::audit::{self, EventOutcome};
use crate::authn::{LoginError, LoginSealer, OidcLogin, LOGIN_STATE_TTL};
use crate::domain::{Actor, GroupMapping, Lifetime, ScopeLimit, TokenName};
use crate::manage::{AccessTokens, ManageError, RefreshTokenAdmin};
use crate::store::{now, ExternalSignIn, Store, StoreError};

pub use self::access::page as access_page;
pub use self::admin::{
    audit as admin_audit, bindings as admin_bindings, change_member as admin_change_member,
    create_binding as admin_create_binding, create_group as admin_create_group,
    create_robot as admin_create_robot, create_user as admin_create_user,
    delete_binding as admin_delete_binding, robot_action as admin_robot_action,
    robots as admin_robots, system as admin_system, user_action as admin_user_action,
    users as admin_users,
};
pub use self::pages::{stylesheet, CSP};
pub use self::password::{form as password_form, sign_in as password_sign_in};
pub use self::session::{MAX_SESSIONS, SESSIONS_PER_USER};

/// Everything the sign-in pages need. People sign in with a local user's password (always)
/// or at the identity provider (when `[oidc]` is configured).
pub struct Login {
    provider: Option<Provider>,
    store: Store,
    tokens: AccessTokens,
    sessions: Sessions,
    /// `server.public_url`'s scheme and authority (`http://localhost:5001`), where the
    /// provider sends people back to.
    origin: String,
}

/// The identity provider, and the key sealing sign-ins in progress there.
pub struct Provider {
    pub oidc: Arc<OidcLogin>,
    pub sealer: LoginSealer,
}

/// How long a session lasts without an identity provider's `oidc.session_ttl`.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

impl Login {
    pub fn new(provider: Option<Provider>, store: Store, public_url: &str) -> Login {
        let ttl = provider
            .as_ref()
            .map_or(SESSION_TTL, |p| p.oidc.config().session_ttl);
        Login {
            sessions: Sessions::new(store.clone(), ttl, public_url.starts_with("https://")),
            tokens: AccessTokens::new(store.clone()),
            origin: origin_of(public_url),
            provider,
            store,
        }
    }
}

pub(super) fn login_of(state: &AppState) -> Option<&Login> {
    state.login.as_ref()
}

/// `scheme://host:port` of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or("");
    format!("{scheme}://{authority}")
}

/// `X-Forwarded-Proto://X-Forwarded-Host` when a trusted proxy sent them (the first of
/// each, a host of host-name characters only), for the sign-in's redirect URI.
fn forwarded_base(req: &HttpRequest, state: &AppState) -> Option<String> {
    if !state.proxies.via_trusted_proxy(req) {
        return None;
    }
    let first = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let host = first("x-forwarded-host")?;
    if host.len() > 255
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return None;
    }
    let proto = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ => "https",
    };
    Some(format!("{proto}://{host}"))
}

pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(login) = login_of(&state) else {
        return not_configured();
    };
    let Some(provider) = &login.provider else {
        // No identity provider: people sign in with their password.
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login/password"))
            .finish();
    };
    // Behind a trusted proxy, the address the browser reached is what the proxy says.
    let forwarded = forwarded_base(&req, &state);
    // The provider sends people back to `server.public_url`. A sign-in started at another
    // address of this server (127.0.0.1 for localhost) would keep its cookie there, and
    // the way back would find none: start it at the public address instead.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // (Not when the public address names port 0: derived from an ephemeral listen port,
    // it is not an address anyone can reach.)
    if forwarded.is_none()
        && !host.is_empty()
        && !login.origin.ends_with(":0")
        && !login.origin.ends_with(&format!("://{host}"))
    {
        return HttpResponse::Found()
            .insert_header((header::LOCATION, format!("{}/login", login.origin)))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    match provider.oidc.start(forwarded.as_deref()).await {
        Ok((url, kept)) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .cookie(login.sessions.cookie(
                LOGIN_COOKIE,
                &provider.sealer.seal(&kept),
                Duration::from_secs(LOGIN_STATE_TTL as u64),
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
    let Some((login, provider)) =
        login_of(&state).and_then(|l| l.provider.as_ref().map(|p| (l, p)))
    else {
        return not_configured();
    };
    let mut answer = signed_in_from_provider(login, provider, &req, &q).await;
    // The sign-in in progress is over, whichever way it went.
    let _ = answer.add_cookie(&login.sessions.cookie(LOGIN_COOKIE, "", Duration::ZERO));
    answer
}

async fn signed_in_from_provider(
    login: &Login,
    provider: &Provider,
    req: &HttpRequest,
    q: &Callback,
) -> HttpResponse {
    if let Some(err) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or("");
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in refused",
            vec![
                vec![text(format!(
                    "The identity provider refused the sign-in: {err} {detail}"
                ))],
                vec![link("/login", "Try again")],
            ],
        );
    }
    let (Some(auth_code), Some(st)) = (&q.code, &q.state) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            vec![vec![
                text("The identity provider sent no code. "),
                link("/login", "Start again"),
                text("."),
            ]],
        );
    };
    let t = now();
    let kept = login
        .sessions
        .cookie_values(req, LOGIN_COOKIE)
        .iter()
        .filter_map(|c| provider.sealer.open(c, t))
        .find(|k| k.state == *st);
    let who = match provider.oidc.finish(auth_code, st, kept).await {
        Ok(w) => w,
        Err(e) => return failure(e),
    };
    let config = provider.oidc.config();
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
                ExternalSignIn::LocalNameTaken => vec![
                    text("A local account named "),
                    code(&who.username),
                    text(" exists; an identity provider cannot sign in as it."),
                ],
                ExternalSignIn::NameTakenByAnother => vec![
                    text("The name "),
                    code(&who.username),
                    text(" already belongs to another account of your identity provider, so it cannot be yours here. An administrator can choose another claim for names ("),
                    code("oidc.username_claim"),
                    text(", e.g. "),
                    code("email"),
                    text(")."),
                ],
                _ => vec![text("Your account is disabled.")],
            };
            return message(
                StatusCode::FORBIDDEN,
                "Sign-in refused",
                vec![why, vec![text("Ask an administrator.")]],
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
    let id = match login.sessions.open(account, mapped.groups).await {
        Ok(id) => id,
        Err(e) => return database_down(e),
    };
    HttpResponse::SeeOther()
        .cookie(
            login
                .sessions
                .cookie(SESSION_COOKIE, &id, login.sessions.ttl()),
        )
        .insert_header((header::LOCATION, "/login/tokens"))
        .finish()
}

pub async fn tokens(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (login, _, s) = match signed_in(&state, &req).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    tokens_page(login, &s, StatusCode::OK, None).await
}

async fn tokens_page(
    login: &Login,
    s: &Session,
    status: StatusCode,
    notice: Option<&str>,
) -> HttpResponse {
    let list = match login.tokens.list(Some(&s.user)).await {
        Ok(l) => l,
        Err(ManageError::Store(e)) => return database_down(e),
        Err(e) => return malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let t = now();
    let rows = list
        .into_iter()
        .map(|tok| TokenRow {
            state: match (tok.revoked_at, tok.expires_at) {
                (Some(_), _) => "revoked".to_string(),
                (None, Some(e)) if e <= t => "expired".to_string(),
                (None, Some(e)) => format!("valid until {}", date(e)),
                (None, None) => "valid".to_string(),
            },
            live: tok.is_live(t),
            created: date(tok.created_at),
            last_used: tok.last_used_at.map(date).unwrap_or_else(|| "never".into()),
            id: tok.id,
            name: tok.name,
            scopes: tok.scopes,
        })
        .collect();
    let identity = match RefreshTokenAdmin::new(login.store.clone())
        .list(Some(&s.user))
        .await
    {
        Ok(l) => l,
        Err(ManageError::Store(e)) => return database_down(e),
        Err(e) => return malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let identity = identity
        .into_iter()
        .filter(|r| r.subject_kind == "user")
        .map(|r| IdentityRow {
            state: match r.revoked_at {
                Some(_) => "revoked".to_string(),
                None if r.expires_at <= t => "expired".to_string(),
                None => format!("valid until {}", date(r.expires_at)),
            },
            live: r.revoked_at.is_none() && r.expires_at > t,
            created: date(r.created_at),
            last_used: r.last_used_at.map(date).unwrap_or_else(|| "never".into()),
            client: if r.client_id.is_empty() {
                "unknown client".into()
            } else {
                r.client_id
            },
            id: r.id,
        })
        .collect();
    render(
        status,
        &TokensPage {
            title: "Access tokens",
            notice,
            user: &s.user,
            groups: s.groups.join(", "),
            csrf: &s.csrf,
            rows,
            identity,
        },
    )
}

/// Revokes one of the signed-in person's identity tokens (logs that machine out).
pub async fn revoke_identity(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (login, _, s) = match signed_in_form(&state, &req, &form.csrf).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let id = path.into_inner();
    let admin = RefreshTokenAdmin::new(login.store.clone());
    // Only one of theirs: the id must be among the person's own.
    let theirs = match admin.list(Some(&s.user)).await {
        Ok(l) => l
            .iter()
            .any(|r| r.id == id && r.subject_kind == "user" && r.revoked_at.is_none()),
        Err(ManageError::Store(e)) => return database_down(e),
        Err(e) => return malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !theirs {
        return message(
            StatusCode::NOT_FOUND,
            "No such token",
            vec![vec![
                text("You have no such live identity token. "),
                link("/login/tokens", "Back"),
            ]],
        );
    }
    match admin.revoke(&Actor::principal(&s.user), &id).await {
        Ok(_) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login/tokens"))
            .finish(),
        Err(ManageError::Store(e)) => database_down(e),
        Err(e) => malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    }
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
    let (login, _, s) = match signed_in_form(&state, &req, &form.csrf).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let s = &s;
    let refused = |msg: String| async move {
        tokens_page(login, s, StatusCode::BAD_REQUEST, Some(&msg)).await
    };
    let name = match TokenName::parse(&form.name) {
        Ok(n) => n,
        Err(e) => return refused(e.to_string()).await,
    };
    let items: Vec<&str> = form.scopes.split_whitespace().collect();
    let limit = match ScopeLimit::parse(&items) {
        Ok(l) => l,
        Err(e) => return refused(e.to_string()).await,
    };
    let lifetime = match form.expires.trim() {
        "" => None,
        d => match Lifetime::parse(d) {
            Ok(l) => Some(l),
            Err(e) => return refused(format!("expires: {e}")).await,
        },
    };
    let created = match login
        .tokens
        .create(&Actor::principal(&s.user), &s.user, &name, &limit, lifetime)
        .await
    {
        Ok(c) => c,
        Err(ManageError::Store(e @ StoreError::Unavailable { .. })) => return database_down(e),
        Err(e) => return refused(e.to_string()).await,
    };
    render(
        StatusCode::OK,
        &TokenMade {
            title: "Token made",
            name: name.as_str(),
            secret: created.secret.expose_secret(),
            user: &s.user,
        },
    )
}

/// A form whose only field is its CSRF token (a button: revoke, delete, disable…).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub(super) csrf: String,
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (login, _, s) = match signed_in_form(&state, &req, &form.csrf).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    let id = path.into_inner();
    match login
        .tokens
        .revoke(&Actor::principal(&s.user), &id, Some(&s.user))
        .await
    {
        Ok(true) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login/tokens"))
            .finish(),
        Ok(false) => message(
            StatusCode::NOT_FOUND,
            "No such token",
            vec![vec![
                text("You have no such live token. "),
                link("/login/tokens", "Back"),
            ]],
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
    let (login, id, session) = match signed_in_form(&state, &req, &form.csrf).await {
        Ok(x) => x,
        Err(answer) => return *answer,
    };
    if let Err(e) = login.sessions.close(&id).await {
        return database_down(e);
    }
    audit::event(&audit::Event {
        event: "sign_out",
        outcome: EventOutcome::Done,
        actor: &Actor::principal(session.user.as_str()),
        target: &session.user,
        detail: "the session was ended on the server",
    });
    let mut resp = message(
        StatusCode::OK,
        "Signed out",
        vec![vec![
            text("You are signed out. Your tokens keep working until they expire or you revoke them. "),
            link("/login", "Sign in again"),
        ]],
    );
    let _ = resp.add_cookie(&login.sessions.cookie(SESSION_COOKIE, "", Duration::ZERO));
    resp
}

/// The sign-in state and the caller's session, or the answer to send instead (sign-in not
/// configured, or not signed in).
pub(super) async fn signed_in<'a>(
    state: &'a AppState,
    req: &HttpRequest,
) -> Result<(&'a Login, String, Session), Box<HttpResponse>> {
    let login = login_of(state).ok_or_else(|| Box::new(not_configured()))?;
    let (id, session) = login
        .sessions
        .get(req)
        .await
        .map_err(|e| Box::new(database_down(e)))?
        .ok_or_else(|| Box::new(to_login()))?;
    Ok((login, id, session))
}

/// The same for a form, which must also carry the session's CSRF token.
pub(super) async fn signed_in_form<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    csrf: &str,
) -> Result<(&'a Login, String, Session), Box<HttpResponse>> {
    let found = signed_in(state, req).await?;
    if !found.2.csrf_ok(csrf) {
        return Err(Box::new(message(
            StatusCode::FORBIDDEN,
            "Refused",
            vec![vec![
                text("This form is stale or was not sent by this site (CSRF check failed). "),
                link("/login/tokens", "Reload your tokens page"),
                text("."),
            ]],
        )));
    }
    Ok(found)
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

pub(super) fn not_configured() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        "Sign-in is not configured",
        vec![vec![
            text("This portcullis has no identity provider ("),
            code("[oidc]"),
            text(" in its configuration)."),
        ]],
    )
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
pub(super) fn database_down(e: StoreError) -> HttpResponse {
    tracing::error!(backend = "database", error = %e, "a sign-in page failed: the database is unavailable");
    crate::metrics::backend_error("database");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        vec![vec![text("portcullis cannot reach its database right now (the identity provider is not at fault). Try again in a moment.")]],
    )
}

/// Any other answer of these routes that is not a page of theirs (a malformed form or
/// query, an unknown path, a wrong method): the same page shape, never actix's text.
pub fn malformed(status: StatusCode, what: &str) -> HttpResponse {
    message(
        status,
        "Not understood",
        vec![
            vec![text(what)],
            vec![
                link("/login", "Sign in"),
                text(" or go to "),
                link("/login/tokens", "your tokens"),
                text("."),
            ],
        ],
    )
}

fn failure(e: LoginError) -> HttpResponse {
    match e {
        LoginError::Unavailable(cause) => {
            tracing::error!(backend = "oidc provider", error = %cause, "sign-in failed: the identity provider is unavailable");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                vec![vec![
                    text("The identity provider cannot be reached right now. "),
                    link("/login", "Try again"),
                    text(" in a moment."),
                ]],
            )
        }
        LoginError::Refused(why) => {
            tracing::info!(reason = ?why, "sign-in refused");
            message_with_role(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "alert",
                vec![vec![text(why)], vec![link("/login", "Start again")]],
            )
        }
    }
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
