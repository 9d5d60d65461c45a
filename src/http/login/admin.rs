//! The console's admin pages: role bindings (from the files and the database side by side,
//! made and deleted here) and the recent audit records. Who may see them is policy, as for
//! the admin API: `portcullis:admin:*` (by default, the members of `group:admins`); anyone
//! else gets 403 on every one. Every change goes through the same service as the admin API
//! and is audited with the person who made it.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::{
    message, render, text, AdminAuditPage, AdminBindingsPage, AdminRobotsPage, AdminSystemPage,
    AdminUsersPage, AuditRowView, BindingFormValues, RobotRowView, RuleRow, UserRowView,
};
use super::session::Session;
use super::{database_down, signed_in, signed_in_form, Login};
use crate::authz::{BindingSpec, Origin, Verdict};
use crate::domain::{
    Actor, AuthSource, Identity, Lifetime, NewPassword, Requester, Scope, Username,
};
use crate::http::AppState;
use crate::manage::{Groups, ManageError, RobotAdmin, Users};
use crate::store::{now, AuditQuery, BindingFields};

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

fn bindings_page(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    notice: Option<&str>,
    form: BindingFormValues,
    error: Option<(String, String)>,
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
            notice,
            rows,
            form,
            error,
        },
    )
}

pub async fn bindings(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin(&state, &req, None).await {
        Ok((_, s, _)) => bindings_page(&state, &s, StatusCode::OK, None, Default::default(), None),
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
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
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
    let values = BindingFormValues {
        subjects: f.subjects.clone(),
        role: f.role.clone(),
        repositories: f.repositories.clone(),
        expires: f.expires.clone(),
        description: f.description.clone(),
    };
    let t = now();
    let expires_at = match f.expires.trim() {
        "" => None,
        d => match Lifetime::parse(d) {
            Ok(l) => Some(l.expires_at(t)),
            Err(e) => {
                let err = Some(("expires".to_owned(), e.to_string()));
                return bindings_page(&state, &s, StatusCode::BAD_REQUEST, None, values, err);
            }
        },
    };
    let fields = BindingFields {
        effect: f.effect,
        subjects: lines(&f.subjects),
        role: Some(f.role.trim().to_owned()).filter(|r| !r.is_empty()),
        actions: Vec::new(),
        repositories: lines(&f.repositories),
        catalog: false,
        admin_api: false,
        description: Some(f.description).filter(|d| !d.trim().is_empty()),
        expires_at,
    };
    let outcome = match BindingSpec::parse(&fields, Some(t)) {
        Ok(spec) => state.bindings.create(&actor, &spec).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(b) => {
            let notice = format!("Binding {} made; it is in force now.", b.id);
            bindings_page(
                &state,
                &s,
                StatusCode::OK,
                Some(&notice),
                Default::default(),
                None,
            )
        }
        Err(ManageError::Field(e)) => bindings_page(
            &state,
            &s,
            StatusCode::BAD_REQUEST,
            None,
            values,
            Some((e.field, e.message)),
        ),
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => bindings_page(
            &state,
            &s,
            StatusCode::BAD_REQUEST,
            None,
            values,
            Some(("subjects".to_owned(), e.to_string())),
        ),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn delete_binding(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let (_, s, actor) = match admin(&state, &req, Some(&form.csrf)).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let id = path.into_inner();
    match state.bindings.delete(&actor, id).await {
        Ok(()) => {
            let notice = format!("Binding {id} deleted; it is no longer in force.");
            bindings_page(
                &state,
                &s,
                StatusCode::OK,
                Some(&notice),
                Default::default(),
                None,
            )
        }
        Err(ManageError::Store(e @ crate::store::StoreError::Unavailable { .. })) => {
            database_down(e)
        }
        Err(e) => {
            let notice = e.to_string();
            bindings_page(
                &state,
                &s,
                StatusCode::NOT_FOUND,
                Some(&notice),
                Default::default(),
                None,
            )
        }
    }
}

#[derive(serde::Deserialize)]
pub struct AuditFilter {
    subject: Option<String>,
    outcome: Option<String>,
    repository: Option<String>,
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
    let query = AuditQuery {
        subject: clean(&q.subject),
        outcome: clean(&q.outcome),
        repository: clean(&q.repository),
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
        StatusCode::OK,
        &AdminAuditPage {
            title: "Audit",
            user: &s.user,
            subject: query.subject.as_deref().unwrap_or(""),
            outcome: query.outcome.as_deref().unwrap_or(""),
            repository: query.repository.as_deref().unwrap_or(""),
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
    let key = state.tokens.signer().key();
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
            algorithm: key.algorithm.as_str(),
            libtrust_kid: &key.libtrust_kid,
            thumbprint: &key.thumbprint,
            not_after: crate::timestamp::rfc3339(key.not_after),
            days_left: (key.not_after - now()) / 86400,
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
    form: web::Form<CsrfOnly>,
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
    form: web::Form<CsrfOnly>,
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
