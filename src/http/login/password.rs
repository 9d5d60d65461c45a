//! Signing in with a local user's (or the directory's) password, so that the pages work on
//! embedded defaults, with no identity provider. The password goes through the same
//! authenticator chain as `/token`: the same throttle, the same remembered credentials,
//! the same refusal for a wrong password and the same 503 for a backend that is down.
//! Tokens and robot secrets do not open a session: the pages are for people.
//!
//! The form has no session yet to carry its CSRF token, so the token also lives in a
//! cookie of its own (double submit, `SameSite=Lax`): a form posted from another site has
//! no such cookie and is refused, which stops signing a victim in as the attacker.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

use super::pages::{link, message, render, text, PasswordPage};
use super::session::{random, FORM_COOKIE, SESSION_COOKIE};
use super::{login_of, not_configured};
use crate::audit::{self, EventOutcome};
use crate::authn::{AuthOutcome, Credentials, Rejection};
use crate::domain::{Actor, AuthSource, PrincipalKind};
use crate::http::AppState;

/// How long the form may be left open before it is stale.
const FORM_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    csrf: String,
    username: String,
    password: String,
}

fn page(
    state: &AppState,
    status: StatusCode,
    notice: Option<&str>,
    username: &str,
) -> HttpResponse {
    let Some(login) = login_of(state) else {
        return not_configured();
    };
    let csrf = random();
    let mut answer = render(
        status,
        &PasswordPage {
            title: "Sign in",
            notice,
            csrf: &csrf,
            username,
            sso: login.provider.is_some(),
        },
    );
    let _ = answer.add_cookie(&login.sessions.cookie(FORM_COOKIE, &csrf, FORM_TTL));
    answer
}

pub async fn form(state: web::Data<AppState>) -> HttpResponse {
    page(&state, StatusCode::OK, None, "")
}

pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let Some(login) = login_of(&state) else {
        return not_configured();
    };
    let form = form.into_inner();
    let sent = login.sessions.cookie_values(&req, FORM_COOKIE);
    let genuine = sent.len() == 1 && bool::from(sent[0].as_bytes().ct_eq(form.csrf.as_bytes()));
    if !genuine {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            vec![vec![
                text("This form is stale or was not sent by this site (CSRF check failed). "),
                link("/login/password", "Sign in again"),
                text("."),
            ]],
        );
    }
    let refused = |why: &str| {
        audit::event(&audit::Event {
            event: "sign_in",
            outcome: EventOutcome::Refused,
            actor: &Actor::principal(form.username.as_str()),
            target: &form.username,
            detail: why,
        });
    };
    let creds = Credentials::Password {
        username: form.username.clone(),
        password: SecretString::from(form.password),
    };
    let client = state.proxies.client_ip(&req);
    let tokens = &state.tokens;
    let who = match tokens
        .authn()
        .authenticate(&creds, &tokens.service, client)
        .await
    {
        Ok(AuthOutcome::Authenticated(who)) => who,
        Ok(AuthOutcome::Rejected(Rejection::Throttled { retry_after })) => {
            refused("too many failed attempts from this address");
            let mut answer = page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many failed attempts from this address: wait a little, then try again."),
                &form.username,
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
            {
                answer.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return answer;
        }
        Ok(_) => {
            refused("wrong user name or password");
            return page(
                &state,
                StatusCode::UNAUTHORIZED,
                Some("Wrong user name or password."),
                &form.username,
            );
        }
        Err(e) => {
            tracing::error!(backend = e.backend, error = %e.report(), "password sign-in failed: an authentication backend is unavailable");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                vec![vec![text(format!(
                    "portcullis cannot reach its {} right now (your password is not at fault). Try again in a moment.",
                    e.backend
                ))]],
            );
        }
    };
    let id = &who.identity;
    let a_password = matches!(id.source, AuthSource::Password | AuthSource::Ldap);
    if id.kind != PrincipalKind::User || !a_password {
        refused("not a person's password (a token or a robot secret)");
        return page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Sign in with your password; tokens and robot secrets are for machines."),
            &form.username,
        );
    }
    let name = id.name.to_string();
    let groups: Vec<String> = id.groups.iter().map(|g| g.to_string()).collect();
    let session = match login.sessions.open(name.clone(), groups).await {
        Ok(s) => s,
        Err(e) => return super::database_down(e),
    };
    audit::event(&audit::Event {
        event: "sign_in",
        outcome: EventOutcome::Done,
        actor: &Actor::principal(name.as_str()),
        target: &name,
        detail: "with a password",
    });
    let mut answer = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login/tokens"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    let _ = answer.add_cookie(&login.sessions.cookie(
        SESSION_COOKIE,
        &session,
        login.sessions.ttl(),
    ));
    let _ = answer.add_cookie(&login.sessions.cookie(FORM_COOKIE, "", Duration::ZERO));
    answer
}
