//! `/api/v1/users`: local users, their passwords, their groups.

use actix_web::{web, HttpResponse};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{time, Admin, Problem};
use crate::domain::{NewPassword, Username};
use crate::http::AppState;
use crate::manage::Users;
use crate::store::UserRecord;

/// A user as the API shows it (never its password hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub name: String,
    pub disabled: bool,
    /// Local groups and, for people who sign in at an identity provider, its groups.
    pub groups: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    pub password_changed_at: String,
}

impl UserView {
    fn new(u: UserRecord, groups: Vec<String>) -> UserView {
        UserView {
            name: u.name,
            disabled: u.disabled,
            groups,
            created_at: time(u.created_at),
            password_changed_at: time(u.password_changed_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only users whose name contains this.
    #[param(max_length = 64)]
    pub filter: Option<String>,
    /// Start after this name (the previous page's `next`).
    #[param(max_length = 64)]
    pub after: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]*$")]
    pub name: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// Existing groups to put the user in.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// Disable (refuse every credential of) or enable the user.
    pub disabled: bool,
}

fn password(p: String) -> Result<SecretString, Problem> {
    NewPassword::parse(SecretString::from(p))
        .map(NewPassword::into_secret)
        .map_err(|why| Problem::field("password", format!("{why}. Fix: choose a longer one")))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery),
    responses((status = 200, body = UserPage)))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    q: web::Query<UserQuery>,
) -> Result<HttpResponse, Problem> {
    for (field, value) in [("filter", &q.filter), ("after", &q.after)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 64) {
            return Err(Problem::field(field, "is longer than 64 characters"));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::field("limit", "must be 1 to 500"));
    }
    let users = state
        .store
        .user_page(
            q.filter.as_deref().unwrap_or(""),
            q.after.as_deref().unwrap_or(""),
            limit + 1,
        )
        .await?;
    let next = (users.len() as i64 > limit).then(|| users[limit as usize - 1].name.clone());
    let mut items = Vec::new();
    for u in users.into_iter().take(limit as usize) {
        let groups = state.store.user_groups(&u.name).await?;
        items.push(UserView::new(u, groups));
    }
    Ok(HttpResponse::Ok().json(UserPage { items, next }))
}

#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user")),
    responses((status = 200, body = UserView)))]
pub async fn show(
    _: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let users = Users::new(state.store.clone());
    let Some(u) = users.get(&name).await? else {
        return Err(Problem::not_found(format!(
            "user {:?} does not exist",
            *name
        )));
    };
    let groups = users.groups(&name).await?;
    Ok(HttpResponse::Ok().json(UserView::new(u, groups)))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView)))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let name = Username::parse(&body.name).map_err(|e| Problem::field("name", format!("{e}")))?;
    let password = password(body.password)?;
    // Every group must exist before anything is made: nothing half-done is left behind.
    let known: Vec<String> = state
        .store
        .group_list()
        .await?
        .into_iter()
        .map(|(g, _)| g)
        .collect();
    for (i, g) in body.groups.iter().enumerate() {
        if !known.contains(g) {
            return Err(Problem::field(
                format!("groups[{i}]"),
                format!("group {g:?} does not exist. Fix: create it first (POST /api/v1/groups)"),
            ));
        }
    }
    let users = Users::new(state.store.clone());
    users
        .create(&admin.actor, &name, password, &body.groups)
        .await?;
    let u = users
        .get(name.as_str())
        .await?
        .ok_or_else(|| Problem::not_found("the user was deleted meanwhile"))?;
    let groups = users.groups(name.as_str()).await?;
    Ok(HttpResponse::Created().json(UserView::new(u, groups)))
}

#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user")),
    request_body = UserChange, responses((status = 200, body = UserView)))]
pub async fn change(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<UserChange>,
) -> Result<HttpResponse, Problem> {
    if body.disabled {
        admin.not_self(&name, "disabling")?;
    }
    let users = Users::new(state.store.clone());
    users
        .set_disabled(&admin.actor, &name, body.disabled)
        .await?;
    show(admin, state, name).await
}

#[utoipa::path(put, path = "/api/v1/users/{name}/password", tag = "users",
    params(("name" = String, Path, description = "The user")),
    request_body = PasswordChange,
    responses((status = 204, description = "Set; the user's refresh tokens are revoked")))]
pub async fn set_password(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, Problem> {
    let password = password(body.into_inner().password)?;
    Users::new(state.store.clone())
        .set_password(&admin.actor, &name, password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "The user")),
    responses((status = 204, description = "Deleted, with their tokens")))]
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    admin.not_self(&name, "deleting")?;
    Users::new(state.store.clone())
        .remove(&admin.actor, &name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/users/{name}/groups", tag = "users",
    params(("name" = String, Path, description = "The user")),
    responses((status = 200, body = Vec<String>)))]
pub async fn groups(
    _: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let users = Users::new(state.store.clone());
    if users.get(&name).await?.is_none() {
        return Err(Problem::not_found(format!(
            "user {:?} does not exist",
            *name
        )));
    }
    Ok(HttpResponse::Ok().json(users.groups(&name).await?))
}
