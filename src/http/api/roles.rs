//! `/api/v1/roles`: built-in roles, roles from the policy files, and custom roles kept in
//! the database (which can be changed here).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Problem};
use crate::authz::RoleSpec;
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub actions: Vec<String>,
    /// `built in`, `policies/10-team.toml:3`, or `database, made by alice on 2026-12-04`.
    pub origin: String,
    /// `builtin`, `file` or `database`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z][a-z0-9_-]*$")]
    pub name: String,
    #[schema(min_items = 1, max_items = 100)]
    pub actions: Vec<String>,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    #[schema(min_items = 1, max_items = 100)]
    pub actions: Vec<String>,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

fn description(d: Option<&str>) -> Result<Option<&str>, Problem> {
    match d {
        Some(d) if d.chars().count() > 1000 || d.chars().any(char::is_control) => Err(
            Problem::field("description", "must be at most 1000 characters on one line"),
        ),
        other => Ok(other.map(str::trim).filter(|d| !d.is_empty())),
    }
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "roles",
    responses((status = 200, body = Vec<RoleView>)))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let set = state.reloader.policies().current();
    let stored = state.bindings.roles().await?;
    let view: Vec<RoleView> = set
        .roles()
        .iter()
        .map(|r| RoleView {
            name: r.name.clone(),
            actions: r.actions.clone(),
            origin: r.origin.clone(),
            source: if r.in_database {
                "database"
            } else if r.origin == "built in" {
                "builtin"
            } else {
                "file"
            }
            .into(),
            description: stored
                .iter()
                .find(|s| r.in_database && s.name == r.name)
                .and_then(|s| s.description.clone()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = NewRole,
    responses((status = 201, description = "Made, and usable by bindings")))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewRole>,
) -> Result<HttpResponse, Problem> {
    let spec = RoleSpec::parse(&body.name, &body.actions)?;
    let d = description(body.description.as_deref())?;
    state.bindings.create_role(&admin.actor, &spec, d).await?;
    Ok(HttpResponse::Created().finish())
}

#[utoipa::path(put, path = "/api/v1/roles/{name}", tag = "roles",
    params(("name" = String, Path, description = "A role kept in the database")),
    request_body = RoleChange,
    responses((status = 204, description = "Changed, and in force")))]
pub async fn update(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, Problem> {
    let spec = RoleSpec::parse(&name, &body.actions)?;
    let d = description(body.description.as_deref())?;
    state.bindings.update_role(&admin.actor, &spec, d).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "roles",
    params(("name" = String, Path, description = "A role kept in the database")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    state.bindings.delete_role(&admin.actor, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
