//! The console's admin pages: role bindings (from the files and the database side by side,
//! made and deleted here) and the recent audit records. Who may see them is policy, as for
//! the admin API: `portcullis:admin:*` (by default, the members of `group:admins`); anyone
//! else gets 403 on every one. Every change goes through the same service as the admin API
//! and is audited with the person who made it.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::{
    message, render, text, AdminAuditPage, AdminBindingsPage, AdminRobotsPage, AdminSystemPage,
    AdminUsersPage, AuditRowView, BindingFormValues, KeyRowView, PreviewRow, PreviewView,
    RobotRowView, RuleRow, UserRowView,
};
use super::session::Session;
use super::{database_down, signed_in, signed_in_form, CsrfForm, Login};
use crate::authz::{BindingSpec, Origin, Verdict};
use crate::domain::{
    Actor, AuthSource, Identity, Lifetime, NewPassword, Requester, Scope, Username,
};
use crate::http::AppState;
use crate::manage::{Groups, ManageError, Preview, RobotAdmin, Users};
use crate::store::{now, AuditQuery, BindingFields};
use crate::token::KeyState;

/// The signed-in person, if policy lets them administer; the page to answer otherwise.
async fn admin<'a>(
    state: &'a AppState,
    req: &HttpRequest,
    csrf: Option<&str>,
) -> Result<(&'a Login, Session, Actor), HttpResponse> {
    let (login, _, s) = match csrf {
        Some(c) => signed_in_form(state, req, c).await,
        None => signed_in(state, req).await,
    }
    .map_err(|a| *a)?;
    let mut groups = s.groups.clone();
    match state.store.user_groups(&s.user).await {
        Ok(g) => groups.extend(g),
        Err(e) => return Err(database_down(e)),
    }
    groups.sort();
    groups.dedup();
    let who = Requester::Authenticated(Identity::user(
        s.user.as_str(),
        groups,
        AuthSource::Password,
    ));
    let d = state.tokens.policies().decide(&who, &Scope::admin_api());
    if !matches!(
        d.verdicts.first().map(|v| &v.verdict),
        Some(Verdict::Allowed(_))
    ) {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            vec![vec![text(format!(
                "{} may not administer: no rule grants the admin API (admin_api = true) to them or their groups. Ask an admin.",
                s.user
            ))]],
        ));
    }
    let actor = Actor::principal(s.user.as_str());
    Ok((login, s, actor))
}

/// What the bindings page shows besides the rules in force.
#[derive(Default)]
struct BindingsView<'a> {
    notice: Option<&'a str>,
    form: BindingFormValues,
    error: Option<(String, String)>,
    preview: Option<PreviewView>,
}

fn bindings_page(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    v: BindingsView,
) -> HttpResponse {
    let set = state.reloader.policies().current();
    let rows = set
        .rules()
        .map(|(effect, r)| RuleRow {
            effect: effect.to_owned(),
            text: r.text.to_string(),
            origin: r.origin.to_string(),
            id: match r.origin {
                Origin::Binding { id, .. } => Some(id),
                _ => None,
            },
        })
        .collect();
    render(
        status,
        &AdminBindingsPage {
            title: "Role bindings",
            user: &s.user,
            csrf: &s.csrf,
            notice: v.notice,
            rows,
            form: v.form,
            error: v.error,
            preview: v.preview,
        },
    )
}

pub async fn bindings(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&state, &req, None).await {
        Ok((_, s, _)) => bindings_page(&state, &s, StatusCode::OK, BindingsView::default()),
        Err(page) => page,
    }
}

#[derive(serde::Deserialize)]
pub struct BindingForm {
    csrf: String,
    effect: String,
    subjects: String,
    role: String,
    #[serde(default)]
    repositories: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    description: String,
    /// `preview` to see what the binding would change, without saving it.
    #[serde(default)]
    intent: String,
    #[serde(default)]
    preview_user: String,
    #[serde(default)]
    preview_repository: String,
}

impl BindingForm {
    fn values(&self) -> BindingFormValues {
        BindingFormValues {
            effect: self.effect.clone(),
            subjects: self.subjects.clone(),
            role: self.role.clone(),
            repositories: self.repositories.clone(),
            expires: self.expires.clone(),
            description: self.description.clone(),
            preview_user: self.preview_user.clone(),
            preview_repository: self.preview_repository.clone(),
        }
    }

    /// The binding as written, or the field at fault and what to fix.
    fn spec(&self, t: i64) -> Result<BindingSpec, (String, String)> {
        let expires_at = match self.expires.trim() {
            "" => None,
            d => Some(
                Lifetime::parse(d)
                    .map_err(|e| ("expires".to_owned(), e.to_string()))?
                    .expires_at(t),
            ),
        };
        let fields = BindingFields {
            effect: self.effect.clone(),
            subjects: lines(&self.subjects),
            role: Some(self.role.trim().to_owned()).filter(|r| !r.is_empty()),
            actions: Vec::new(),
            repositories: lines(&self.repositories),
            catalog: false,
            admin_api: false,
            description: Some(self.description.clone()).filter(|d| !d.trim().is_empty()),
            expires_at,
        };
        BindingSpec::parse(&fields, Some(t)).map_err(|e| (e.field, e.message))
    }

    /// Whom the preview is for: the user named, or else the first `user:` the binding names.
    fn preview_user(&self) -> Result<Username, (String, String)> {
        let named = self.preview_user.trim();
        let name = if named.is_empty() {
            lines(&self.subjects)
                .iter()
                .find_map(|l| l.strip_prefix("user:").map(str::to_owned))
                .ok_or_else(|| {
                    (
                        "preview_user".to_owned(),
                        "name a user to preview for (for a group, one of its members)".to_owned(),
                    )
                })?
        } else {
            named.to_owned()
        };
        Username::parse(&name).map_err(|e| ("preview_user".to_owned(), e.to_string()))
    }

    fn preview_scope(&self) -> Result<(String, Scope), (String, String)> {
        let repository = self.preview_repository.trim();
        if repository.is_empty() {
            return Err((
                "preview_repository".to_owned(),
                "name a repository to preview on, e.g. team/app".to_owned(),
            ));
        }
        Scope::parse(&format!("repository:{repository}:pull,push,delete"))
            .map(|s| (repository.to_owned(), s))
            .map_err(|e| {
                (
                    "preview_repository".to_owned(),
                    format!("{e}. Fix: write a repository name such as team/app"),
                )
            })
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The preview as the page shows it: each action now and with the binding.
fn preview_view(user: &Username, repository: String, p: &Preview) -> PreviewView {
    let groups = p
        .before
        .requester
        .identity()
        .map(|id| {
            id.groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (b, a) in p.before.scopes.iter().zip(&p.after.scopes) {
        for (vb, va) in b.decision.verdicts.iter().zip(&a.decision.verdicts) {
            rows.push(PreviewRow {
                action: va.action.as_str().to_owned(),
                before: vb.verdict.label().to_owned(),
                after: va.verdict.label().to_owned(),
                rule: match va.verdict.rule() {
                    // The binding being tried has no id yet (0, see `Bindings::check`).
                    Some(r) if matches!(r.origin, Origin::Binding { id: 0, .. }) => {
                        format!("this new binding ({})", r.text)
                    }
                    Some(r) => r.to_string(),
                    None => String::new(),
                },
                changed: vb.verdict.is_allowed() != va.verdict.is_allowed(),
            });
        }
    }
    PreviewView {
        user: user.to_string(),
        groups,
        repository,
        rows,
        changes: p.changes_anything(),
    }
}

pub async fn create_binding(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<BindingForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let f = form.into_inner();
    let refused = |error: (String, String)| {
        let v = BindingsView {
            form: f.values(),
            error: Some(error),
            ..Default::default()
        };
        bindings_page(&state, &s, StatusCode::BAD_REQUEST, v)
    };
    let spec = match f.spec(now()) {
        Ok(spec) => spec,
        Err(e) => return refused(e),
    };
    if f.intent == "preview" {
        let (user, (repository, scope)) = match (f.preview_user(), f.preview_scope()) {
            (Ok(u), Ok(s)) => (u, s),
            (Err(e), _) | (_, Err(e)) => return refused(e),
        };
        return match state
            .bindings
            .preview(&spec, user.as_str(), &[], &[scope])
            .await
        {
            Ok(p) => {
                let v = BindingsView {
                    form: f.values(),
                    preview: Some(preview_view(&user, repository, &p)),
                    ..Default::default()
                };
                bindings_page(&state, &s, StatusCode::OK, v)
            }
            Err(e) => match refusal(e) {
                Ok(e) => refused(e),
                Err(page) => *page,
            },
        };
    }
    match state.bindings.create(&actor, &spec).await {
        Ok(b) => {
            let notice = format!("Binding {} made; it is in force now.", b.id);
            let v = BindingsView {
                notice: Some(&notice),
                ..Default::default()
            };
            bindings_page(&state, &s, StatusCode::OK, v)
        }
        Err(e) => match refusal(e) {
            Ok(e) => refused(e),
            Err(page) => *page,
        },
    }
}

/// A refused binding as the field at fault and why; an outage as its own page.
fn refusal(e: ManageError) -> Result<(String, String), Box<HttpResponse>> {
    match e {
        ManageError::Field(e) => Ok((e.field, e.message)),
        ManageError::Store(e @ crate::store::StoreError::Unavailable { .. }) => {
            Err(Box::new(database_down(e)))
        }
        e => Ok(("subjects".to_owned(), e.to_string())),
    }
}

pub async fn delete_binding(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let id = path.into_inner();
    match state.bindings.delete(&actor, id).await {
        Ok(()) => {
            let notice = format!("Binding {id} deleted; it is no longer in force.");
            let v = BindingsView {
                notice: Some(&notice),
                ..Default::default()
            };
            bindings_page(&state, &s, StatusCode::OK, v)
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            let notice = e.to_string();
            let v = BindingsView {
                notice: Some(&notice),
                ..Default::default()
            };
            bindings_page(&state, &s, StatusCode::NOT_FOUND, v)
        }
    }
}

#[derive(serde::Deserialize)]
pub struct AuditFilter {
    subject: Option<String>,
    outcome: Option<String>,
    repository: Option<String>,
    /// `1h` (the last hour) or an RFC 3339 time.
    since: Option<String>,
    until: Option<String>,
}

/// A moment as the audit filter takes it: how long ago (`15m`, `2d`) or an RFC 3339 time.
fn moment(field: &str, text: &str, now: i64) -> Result<i64, (String, String)> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(t.unix_timestamp());
    }
    crate::domain::parse_duration(text)
        .map(|d| now.saturating_sub(d.as_secs().min(i64::MAX as u64) as i64))
        .map_err(|_| {
            (
                field.to_owned(),
                format!("{text:?} is neither a time ago (15m, 2h, 7d) nor an RFC 3339 time (2026-12-04T18:00:00Z)"),
            )
        })
}

pub async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditFilter>,
) -> HttpResponse {
    let (_, s, _) = match admin(&state, &req, None).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(255).collect::<String>())
    };
    let (since, until) = (clean(&q.since), clean(&q.until));
    let t = now();
    let mut error = None;
    let mut at = |field: &str, v: &Option<String>| match v.as_deref().map(|v| moment(field, v, t)) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            error.get_or_insert(e);
            None
        }
        None => None,
    };
    let query = AuditQuery {
        subject: clean(&q.subject),
        outcome: clean(&q.outcome),
        repository: clean(&q.repository),
        since: at("since", &since),
        until: at("until", &until),
        limit: 200,
        ..Default::default()
    };
    let rows = match state.store.audit_query(&query).await {
        Ok(r) => r,
        Err(e) => return database_down(e),
    };
    let rows = rows
        .into_iter()
        .map(|r| AuditRowView {
            at: crate::timestamp::rfc3339(r.last_at),
            kind: if r.count > 1 {
                format!("{} (×{})", r.kind, r.count)
            } else {
                r.kind
            },
            target: r.target,
            outcome: r.outcome,
            subject: r.subject,
            requested: r.requested,
            granted: r.granted,
            detail: r.detail,
        })
        .collect();
    let mut page = render(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &AdminAuditPage {
            title: "Audit",
            user: &s.user,
            subject: query.subject.as_deref().unwrap_or(""),
            outcome: query.outcome.as_deref().unwrap_or(""),
            repository: query.repository.as_deref().unwrap_or(""),
            since: since.as_deref().unwrap_or(""),
            until: until.as_deref().unwrap_or(""),
            error,
            rows,
        },
    );
    page.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    page
}

async fn users_page(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<(String, String)>,
) -> HttpResponse {
    let users = match Users::new(state.store.clone()).list().await {
        Ok(u) => u,
        Err(ManageError::Store(e)) => return database_down(e),
        Err(e) => return super::malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let rows = users
        .into_iter()
        .map(|u| UserRowView {
            disabled: u.user.disabled,
            name: u.user.name,
            groups: u.groups.join(", "),
            state: if u.user.disabled {
                "disabled"
            } else {
                "active"
            }
            .to_owned(),
        })
        .collect();
    render(
        status,
        &AdminUsersPage {
            title: "Users and groups",
            user: &s.user,
            csrf: &s.csrf,
            notice,
            rows,
            error,
        },
    )
}

pub async fn users(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&state, &req, None).await {
        Ok((_, s, _)) => users_page(&state, &s, StatusCode::OK, None, None).await,
        Err(page) => page,
    }
}

#[derive(serde::Deserialize)]
pub struct UserForm {
    csrf: String,
    name: String,
    password: String,
    #[serde(default)]
    groups: String,
}

pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<UserForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let f = form.into_inner();
    let bad = |field: &str, why: String| Some((field.to_owned(), why));
    let name = match Username::parse(f.name.trim()) {
        Ok(n) => n,
        Err(e) => {
            return users_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                bad("name", e.to_string()),
            )
            .await
        }
    };
    let password = match NewPassword::parse(secrecy::SecretString::from(f.password)) {
        Ok(p) => p.into_secret(),
        Err(why) => {
            return users_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                bad("password", why),
            )
            .await
        }
    };
    match Users::new(state.store.clone())
        .create(&actor, &name, password, &lines(&f.groups))
        .await
    {
        Ok(()) => {
            let notice = format!("User {name} made.");
            users_page(&state, &s, StatusCode::OK, Some(&notice), None).await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(ManageError::Invalid(why)) => {
            users_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                bad("groups", why),
            )
            .await
        }
        Err(e) => {
            users_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                bad("name", e.to_string()),
            )
            .await
        }
    }
}

#[derive(serde::Deserialize)]
pub struct GroupForm {
    csrf: String,
    name: String,
}

pub async fn create_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<GroupForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let bad = |why: String| Some(("group".to_owned(), why));
    let name = match Username::parse(form.name.trim()) {
        Ok(n) => n,
        Err(e) => {
            let why = e.to_string().replace("username", "group name");
            return users_page(&state, &s, StatusCode::BAD_REQUEST, None, bad(why)).await;
        }
    };
    match Groups::new(state.store.clone()).create(&actor, &name).await {
        Ok(()) => {
            let notice = format!("Group {name} made.");
            users_page(&state, &s, StatusCode::OK, Some(&notice), None).await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            users_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                bad(e.to_string()),
            )
            .await
        }
    }
}

/// The signing key (the registry must trust it) and the reload state of the policy files.
pub async fn system(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (_, s, _) = match admin(&state, &req, None).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let ring = state.keys.ring();
    let t = now();
    let keys = ring
        .keys()
        .iter()
        .map(|k| KeyRowView {
            state: k.state.as_str().to_owned(),
            algorithm: k.key.algorithm.as_str().to_owned(),
            libtrust_kid: k.id().to_owned(),
            thumbprint: k.key.thumbprint.clone(),
            age: match k.activated_at {
                Some(a) => format!(
                    "made {} days ago; signed from {}",
                    (t - k.created_at) / 86400,
                    crate::timestamp::rfc3339(a)
                ),
                None => format!("made {} days ago", (t - k.created_at) / 86400),
            },
            not_after: crate::timestamp::rfc3339(k.key.not_after),
            days_left: (k.key.not_after - t) / 86400,
            note: match (k.state, k.retired_at) {
                (KeyState::Retired, Some(at)) if t >= ring.safe_to_drop_at(at) => {
                    "nothing it signed is still valid: it can be retired".to_owned()
                }
                (KeyState::Retired, Some(at)) => format!(
                    "published until tokens it signed expire: retire after {}",
                    crate::timestamp::rfc3339(ring.safe_to_drop_at(at))
                ),
                (KeyState::Next, _) => {
                    "published, not signing: activate once the registry has the bundle".to_owned()
                }
                _ => "signs every token".to_owned(),
            },
        })
        .collect();
    let status = state.reloader.status();
    let files_error = status.files_error.as_ref().map(|e| match e.line {
        Some(line) => format!("{}:{line}: {}", e.file, e.message),
        None => format!("{}: {}", e.file, e.message),
    });
    render(
        StatusCode::OK,
        &AdminSystemPage {
            title: "Keys and policy",
            user: &s.user,
            keys,
            summary: &status.summary,
            files_loaded_at: crate::timestamp::rfc3339(status.files_loaded_at),
            last_trigger: &status.last_trigger,
            files_error,
            warnings: &status.warnings,
        },
    )
}

async fn robots_page(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    notice: Option<&str>,
    secret: Option<(&str, &str)>,
    error: Option<String>,
) -> HttpResponse {
    let robots = match RobotAdmin::new(state.store.clone()).list().await {
        Ok(r) => r,
        Err(ManageError::Store(e)) => return database_down(e),
        Err(e) => return super::malformed(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let t = now();
    let rows = robots
        .into_iter()
        .map(|r| RobotRowView {
            state: if r.robot.disabled {
                "disabled".into()
            } else if !r.robot.is_active(t) {
                "expired".into()
            } else {
                "active".into()
            },
            disabled: r.robot.disabled,
            secrets: r.live_secrets,
            description: r.robot.description,
            name: r.robot.name,
        })
        .collect();
    render(
        status,
        &AdminRobotsPage {
            title: "Robots",
            user: &s.user,
            csrf: &s.csrf,
            notice,
            secret: secret.map(|(_, v)| v),
            secret_for: secret.map_or("", |(n, _)| n),
            rows,
            error,
        },
    )
}

pub async fn robots(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&state, &req, None).await {
        Ok((_, s, _)) => robots_page(&state, &s, StatusCode::OK, None, None, None).await,
        Err(page) => page,
    }
}

#[derive(serde::Deserialize)]
pub struct RobotForm {
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_robot(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RobotForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let name = match Username::parse(form.name.trim()) {
        Ok(n) => n,
        Err(e) => {
            let why = e.to_string().replace("username", "robot name");
            return robots_page(&state, &s, StatusCode::BAD_REQUEST, None, None, Some(why)).await;
        }
    };
    let description: String = form
        .description
        .chars()
        .filter(|c| !c.is_control())
        .take(1000)
        .collect();
    match RobotAdmin::new(state.store.clone())
        .create(&actor, &name, description.trim(), None)
        .await
    {
        Ok(secret) => {
            use secrecy::ExposeSecret;
            let notice = format!("Robot {name} made.");
            let secret = (name.as_str(), secret.expose_secret());
            robots_page(
                &state,
                &s,
                StatusCode::OK,
                Some(&notice),
                Some(secret),
                None,
            )
            .await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            robots_page(
                &state,
                &s,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some(e.to_string()),
            )
            .await
        }
    }
}

pub async fn robot_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let (name, action) = path.into_inner();
    let robots = RobotAdmin::new(state.store.clone());
    let done = match action.as_str() {
        "regenerate" => match robots.regenerate(&actor, &name, false).await {
            Ok(secret) => {
                use secrecy::ExposeSecret;
                let notice = format!("A new secret for {name}; the old ones no longer work.");
                let secret = (name.as_str(), secret.expose_secret());
                return robots_page(
                    &state,
                    &s,
                    StatusCode::OK,
                    Some(&notice),
                    Some(secret),
                    None,
                )
                .await;
            }
            Err(e) => Err(e),
        },
        "disable" => robots
            .set_disabled(&actor, &name, true)
            .await
            .map(|_| "disabled"),
        "enable" => robots
            .set_disabled(&actor, &name, false)
            .await
            .map(|_| "enabled"),
        "delete" => robots
            .remove(&actor, &name)
            .await
            .map(|_| "deleted; its secrets no longer work"),
        _ => return super::malformed(StatusCode::NOT_FOUND, "There is no such action on a robot."),
    };
    match done {
        Ok(what) => {
            let notice = format!("Robot {name} {what}.");
            robots_page(&state, &s, StatusCode::OK, Some(&notice), None, None).await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            robots_page(
                &state,
                &s,
                StatusCode::NOT_FOUND,
                Some(&e.to_string()),
                None,
                None,
            )
            .await
        }
    }
}

/// Disables, enables or deletes a user. Never the admin's own account: no admin locks
/// themselves out (another admin, or the CLI, does that).
pub async fn user_action(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let (name, action) = path.into_inner();
    if name == s.user {
        let notice = "Not on your own account: ask another admin, or use the CLI.";
        return users_page(&state, &s, StatusCode::CONFLICT, Some(notice), None).await;
    }
    let users = Users::new(state.store.clone());
    let done = match action.as_str() {
        "disable" => users
            .set_disabled(&actor, &name, true)
            .await
            .map(|_| "disabled"),
        "enable" => users
            .set_disabled(&actor, &name, false)
            .await
            .map(|_| "enabled"),
        "delete" => users.remove(&actor, &name).await.map(|_| "deleted"),
        _ => return super::malformed(StatusCode::NOT_FOUND, "There is no such action on a user."),
    };
    match done {
        Ok(what) => {
            let notice = format!("User {name} {what}.");
            users_page(&state, &s, StatusCode::OK, Some(&notice), None).await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            users_page(
                &state,
                &s,
                StatusCode::NOT_FOUND,
                Some(&e.to_string()),
                None,
            )
            .await
        }
    }
}

#[derive(serde::Deserialize)]
pub struct MemberForm {
    csrf: String,
    user: String,
    group: String,
    change: String,
}

/// Adds a user to a group, or removes them from it.
pub async fn change_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<MemberForm>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let (user, group) = (form.user.trim(), form.group.trim());
    let groups = Groups::new(state.store.clone());
    let done = match form.change.as_str() {
        "add" => groups
            .add_member(&actor, group, user)
            .await
            .map(|_| "added to"),
        "remove" => groups
            .remove_member(&actor, group, user)
            .await
            .map(|_| "removed from"),
        _ => return super::malformed(StatusCode::BAD_REQUEST, "Add or remove: nothing else."),
    };
    match done {
        Ok(what) => {
            let notice = format!("{user} {what} {group}.");
            users_page(&state, &s, StatusCode::OK, Some(&notice), None).await
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            let err = Some(("member".to_owned(), e.to_string()));
            users_page(&state, &s, StatusCode::BAD_REQUEST, None, err).await
        }
    }
}
