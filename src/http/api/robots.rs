//! `/api/v1/robots`: accounts for machines, and their secrets (shown once).

use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{lifetime, time, Admin, Problem};
use crate::domain::Username;
use crate::http::AppState;
use crate::manage::{RobotAdmin, RobotSummary};

#[derive(Serialize, ToSchema)]
pub struct RobotView {
    pub name: String,
    /// How it logs in: `robot+NAME`.
    pub login: String,
    pub description: String,
    pub disabled: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub live_secrets: usize,
}

impl From<RobotSummary> for RobotView {
    fn from(s: RobotSummary) -> RobotView {
        RobotView {
            login: format!("robot+{}", s.robot.name),
            name: s.robot.name,
            description: s.robot.description,
            disabled: s.robot.disabled,
            created_at: time(s.robot.created_at),
            expires_at: s.robot.expires_at.map(time),
            live_secrets: s.live_secrets,
        }
    }
}

/// A secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RobotSecret {
    pub name: String,
    /// `docker login -u robot+NAME` with this as the password.
    pub login: String,
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRobot {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]*$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    /// How long the robot lives, e.g. `90d`; none for a robot that does not expire.
    pub expires_in: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Regenerate {
    /// Keep the old secrets working (a rotation window) instead of revoking them.
    #[serde(default)]
    pub keep_old: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RobotChange {
    pub disabled: bool,
}

async fn view(state: &AppState, name: &str) -> Result<RobotView, Problem> {
    RobotAdmin::new(state.store.clone())
        .list()
        .await?
        .into_iter()
        .find(|r| r.robot.name == name)
        .map(RobotView::from)
        .ok_or_else(|| Problem::not_found(format!("robot {name:?} does not exist")))
}

#[utoipa::path(get, path = "/api/v1/robots", tag = "robots",
    responses((status = 200, body = Vec<RobotView>)))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let robots = RobotAdmin::new(state.store.clone()).list().await?;
    let view: Vec<RobotView> = robots.into_iter().map(RobotView::from).collect();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/robots", tag = "robots", request_body = NewRobot,
    responses((status = 201, body = RobotSecret, description = "Made; the secret is shown this once")))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    body: web::Json<NewRobot>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let name = Username::parse(&body.name)
        .map_err(|e| Problem::field("name", e.to_string().replace("username", "robot name")))?;
    if body.description.chars().count() > 1000 || body.description.chars().any(char::is_control) {
        return Err(Problem::field(
            "description",
            "must be at most 1000 characters on one line",
        ));
    }
    let life = lifetime("expires_in", body.expires_in.as_deref())?;
    let secret = RobotAdmin::new(state.store.clone())
        .create(&admin.actor, &name, &body.description, life)
        .await?;
    Ok(HttpResponse::Created().json(RobotSecret {
        login: format!("robot+{name}"),
        name: name.as_str().to_owned(),
        secret: secret.expose_secret().to_owned(),
    }))
}

#[utoipa::path(post, path = "/api/v1/robots/{name}/secrets", tag = "robots",
    params(("name" = String, Path, description = "The robot")),
    request_body = Regenerate,
    responses((status = 201, body = RobotSecret, description = "A new secret, shown this once")))]
pub async fn regenerate(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<Regenerate>,
) -> Result<HttpResponse, Problem> {
    view(&state, &name).await?;
    let secret = RobotAdmin::new(state.store.clone())
        .regenerate(&admin.actor, &name, body.keep_old)
        .await?;
    Ok(HttpResponse::Created().json(RobotSecret {
        login: format!("robot+{}", *name),
        name: name.into_inner(),
        secret: secret.expose_secret().to_owned(),
    }))
}

#[utoipa::path(patch, path = "/api/v1/robots/{name}", tag = "robots",
    params(("name" = String, Path, description = "The robot")),
    request_body = RobotChange, responses((status = 200, body = RobotView)))]
pub async fn change(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<RobotChange>,
) -> Result<HttpResponse, Problem> {
    RobotAdmin::new(state.store.clone())
        .set_disabled(&admin.actor, &name, body.disabled)
        .await?;
    Ok(HttpResponse::Ok().json(view(&state, &name).await?))
}

#[utoipa::path(delete, path = "/api/v1/robots/{name}", tag = "robots",
    params(("name" = String, Path, description = "The robot")),
    responses((status = 204, description = "Deleted, with its secrets and refresh tokens")))]
pub async fn delete(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    RobotAdmin::new(state.store.clone())
        .remove(&admin.actor, &name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
