//! `/api/v1/refresh-tokens`: the identity tokens `docker login` keeps (one per machine).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{time, Admin, Problem};
use crate::http::AppState;
use crate::manage::RefreshTokenAdmin;
use crate::store::RefreshTokenRecord;

#[derive(Serialize, ToSchema)]
pub struct RefreshTokenView {
    pub id: String,
    /// `alice` or `robot:ci`.
    pub subject: String,
    pub client_id: String,
    pub created_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<RefreshTokenRecord> for RefreshTokenView {
    fn from(t: RefreshTokenRecord) -> RefreshTokenView {
        RefreshTokenView {
            id: t.id,
            subject: if t.subject_kind == "robot" {
                format!("robot:{}", t.subject)
            } else {
                t.subject
            },
            client_id: t.client_id,
            created_at: time(t.created_at),
            expires_at: time(t.expires_at),
            last_used_at: t.last_used_at.map(time),
            revoked_at: t.revoked_at.map(time),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefreshQuery {
    /// Only this subject's tokens (`alice`, `robot:ci`).
    #[param(max_length = 80)]
    pub subject: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

#[utoipa::path(get, path = "/api/v1/refresh-tokens", tag = "refresh tokens", params(RefreshQuery),
    responses((status = 200, body = Vec<RefreshTokenView>)))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    q: web::Query<RefreshQuery>,
) -> Result<HttpResponse, Problem> {
    if q.subject.as_ref().is_some_and(|s| s.chars().count() > 80) {
        return Err(Problem::field("subject", "is longer than 80 characters"));
    }
    let tokens = RefreshTokenAdmin::new(state.store.clone())
        .list(q.subject.as_deref())
        .await?;
    let view: Vec<RefreshTokenView> = tokens.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/api/v1/refresh-tokens/{id}", tag = "refresh tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let done = RefreshTokenAdmin::new(state.store.clone())
        .revoke(&admin.actor, &id)
        .await?;
    if !done {
        return Err(Problem::not_found(format!(
            "no live refresh token {:?}",
            *id
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/refresh-tokens", tag = "refresh tokens",
    params(("name" = String, Path, description = "The user")),
    responses((status = 200, body = Revoked, description = "Every live one revoked")))]
pub async fn revoke_user(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let revoked = RefreshTokenAdmin::new(state.store.clone())
        .revoke_subject(&admin.actor, &name)
        .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}
