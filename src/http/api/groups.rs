//! `/api/v1/groups`: local groups and their members.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Problem};
use crate::domain::Username;
use crate::http::AppState;
use crate::manage::Groups;

#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub members: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]*$")]
    pub name: String,
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>)))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let groups = Groups::new(state.store.clone()).list().await?;
    let view: Vec<GroupView> = groups
        .into_iter()
        .map(|(name, members)| GroupView { name, members })
        .collect();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, body = GroupView)))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewGroup>,
) -> Result<HttpResponse, Problem> {
    let name = Username::parse(&body.name)
        .map_err(|e| Problem::field("name", format!("{}", e).replace("username", "group name")))?;
    Groups::new(state.store.clone())
        .create(&admin.actor, &name)
        .await?;
    Ok(HttpResponse::Created().json(GroupView {
        name: name.as_str().to_owned(),
        members: 0,
    }))
}

#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "The group")),
    responses((status = 204, description = "Deleted, with its memberships")))]
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    Groups::new(state.store.clone())
        .remove(&admin.actor, &name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/groups/{name}/members", tag = "groups",
    params(("name" = String, Path, description = "The group")),
    responses((status = 200, body = Vec<String>)))]
pub async fn members(
    _: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let members = Groups::new(state.store.clone()).members(&name).await?;
    Ok(HttpResponse::Ok().json(members))
}

#[utoipa::path(put, path = "/api/v1/groups/{name}/members/{user}", tag = "groups",
    params(("name" = String, Path, description = "The group"),
           ("user" = String, Path, description = "The user to add")),
    responses((status = 204, description = "A member (adding one already there is not an error)")))]
pub async fn add_member(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (group, user) = path.into_inner();
    Groups::new(state.store.clone())
        .add_member(&admin.actor, &group, &user)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/groups/{name}/members/{user}", tag = "groups",
    params(("name" = String, Path, description = "The group"),
           ("user" = String, Path, description = "The user to remove")),
    responses((status = 204, description = "No longer a member")))]
pub async fn remove_member(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (group, user) = path.into_inner();
    Groups::new(state.store.clone())
        .remove_member(&admin.actor, &group, &user)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
