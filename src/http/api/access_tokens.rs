//! `/api/v1/users/{name}/tokens`: personal access tokens, made for a user by an admin or
//! by automation (a dynamic-secret engine, a CI orchestrator): one call makes a token
//! scoped to one repository that expires in minutes, one call revokes it.

use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{lifetime, time, Admin, Problem};
use crate::domain::{ScopeLimit, TokenName};
use crate::http::AppState;
use crate::manage::AccessTokens;
use crate::store::AccessTokenRecord;

#[derive(Serialize, ToSchema)]
pub struct AccessTokenView {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<AccessTokenRecord> for AccessTokenView {
    fn from(t: AccessTokenRecord) -> AccessTokenView {
        AccessTokenView {
            id: t.id,
            owner: t.owner,
            name: t.name,
            scopes: t.scopes.split(' ').map(str::to_owned).collect(),
            created_at: time(t.created_at),
            expires_at: t.expires_at.map(time),
            last_used_at: t.last_used_at.map(time),
            revoked_at: t.revoked_at.map(time),
        }
    }
}

/// A token, with its secret shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedAccessToken {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The password for `docker login -u OWNER`, or `Authorization: Bearer` on this API
    /// when its scopes include `portcullis:admin:*`.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessToken {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// What it may be used for, e.g. `repository:team/app:pull,push`,
    /// `registry:catalog:*`, `portcullis:admin:*`.
    #[schema(min_items = 1, max_items = 100)]
    pub scopes: Vec<String>,
    /// How long it lives, e.g. `15m` or `30d`; none for a token that does not expire.
    pub expires_in: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users/{name}/tokens", tag = "personal access tokens",
    params(("name" = String, Path, description = "The owner")),
    responses((status = 200, body = Vec<AccessTokenView>)))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if state.store.user_get(&name).await?.is_none() {
        return Err(Problem::not_found(format!(
            "user {:?} does not exist",
            *name
        )));
    }
    let tokens = AccessTokens::new(state.store.clone())
        .list(Some(&name))
        .await?;
    let view: Vec<AccessTokenView> = tokens.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(post, path = "/api/v1/users/{name}/tokens", tag = "personal access tokens",
    params(("name" = String, Path, description = "The owner")),
    request_body = NewAccessToken,
    responses((status = 201, body = CreatedAccessToken, description = "Made; the secret is shown this once")))]
pub async fn create(
    admin: Admin,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Json<NewAccessToken>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let token_name =
        TokenName::parse(&body.name).map_err(|e| Problem::field("name", e.to_string()))?;
    if body.scopes.len() > 100 {
        return Err(Problem::field("scopes", "at most 100 scopes"));
    }
    let scopes = ScopeLimit::parse(&body.scopes).map_err(|e| {
        let i = body.scopes.iter().position(|s| s.trim() == e.scope);
        Problem::field(
            i.map_or("scopes".to_owned(), |i| format!("scopes[{i}]")),
            format!("{e}. Fix: write e.g. repository:team/app:pull,push"),
        )
    })?;
    let life = lifetime("expires_in", body.expires_in.as_deref())?;
    if state.store.user_get(&name).await?.is_none() {
        return Err(Problem::not_found(format!(
            "user {:?} does not exist",
            *name
        )));
    }
    let made = AccessTokens::new(state.store.clone())
        .create(&admin.actor, &name, &token_name, &scopes, life)
        .await?;
    Ok(HttpResponse::Created().json(CreatedAccessToken {
        id: made.id,
        owner: name.into_inner(),
        name: token_name.as_str().to_owned(),
        scopes: scopes.items().into_iter().map(str::to_owned).collect(),
        expires_at: made.expires_at.map(time),
        secret: made.secret.expose_secret().to_owned(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/tokens/{id}", tag = "personal access tokens",
    params(("name" = String, Path, description = "The owner"),
           ("id" = String, Path, description = "The token's id")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (owner, id) = path.into_inner();
    if admin.token_id.as_deref() == Some(id.as_str()) {
        return Err(Problem::new(
            actix_web::http::StatusCode::CONFLICT,
            "self",
            "Not on yourself",
            "this is the token this request is authenticated with; revoking it through itself is refused so that automation cannot lock itself out by mistake. Fix: revoke it with another token, or `portcullis token revoke`",
        ));
    }
    let done = AccessTokens::new(state.store.clone())
        .revoke(&admin.actor, &id, Some(&owner))
        .await?;
    if !done {
        return Err(Problem::not_found(format!(
            "user {owner:?} has no live token {id:?}"
        )));
    }
    Ok(HttpResponse::NoContent().finish())
}
