//! `/api/v1/keys`: the token signing keys, and their rotation (as `portcullis key`). Every
//! change is in force on every replica within a second and audited with its actor.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{time, Admin, Problem};
use crate::http::AppState;
use crate::token::{KeyRing, KeyState, RingKey};

/// A signing key.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    /// The key's id: its libtrust kid (distribution 2.x's `kid`).
    pub id: String,
    /// `next` (published, not signing), `active` (signs), `retired` (published until what
    /// it signed has expired).
    pub state: String,
    pub algorithm: String,
    /// Its RFC 7638 thumbprint (distribution 3.x's `kid`).
    pub thumbprint: String,
    pub created_at: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
    /// For a retired key: from when no token it signed can be valid, so it may be retired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retire_after: Option<String>,
    /// When its certificate expires.
    pub certificate_expires_at: String,
}

impl KeyView {
    fn new(ring: &KeyRing, k: &RingKey) -> KeyView {
        KeyView {
            id: k.id().to_owned(),
            state: k.state.as_str().to_owned(),
            algorithm: k.key.algorithm.as_str().to_owned(),
            thumbprint: k.key.thumbprint.clone(),
            created_at: time(k.created_at),
            created_by: k.created_by.clone(),
            activated_at: k.activated_at.map(time),
            retired_at: k.retired_at.map(time),
            retire_after: match (k.state, k.retired_at) {
                (KeyState::Retired, Some(at)) => Some(time(ring.safe_to_drop_at(at))),
                _ => None,
            },
            certificate_expires_at: time(k.key.not_after),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses((status = 200, body = [KeyView], description = "The active key first, then the next ones, then the retired")))]
pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let keys = state.keys.list().await?;
    let ring = state.keys.ring();
    Ok(HttpResponse::Ok().json(
        keys.iter()
            .map(|k| KeyView::new(ring, k))
            .collect::<Vec<_>>(),
    ))
}

/// Adds a `next` key: published from now on in the bundle and the JWKS, not signing.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    responses((status = 201, body = KeyView, description = "Added; give the registry the new bundle before activating it")))]
pub async fn add(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let k = state.keys.add(&admin.actor, None).await?;
    Ok(HttpResponse::Created().json(KeyView::new(state.keys.ring(), &k)))
}

/// Makes a `next` key the one that signs; the active one becomes retired.
#[utoipa::path(post, path = "/api/v1/keys/{id}/activate", tag = "keys",
    params(("id" = String, Path, description = "The key's id, or a unique start of it")),
    responses((status = 200, body = KeyView, description = "It signs now, on every replica within a second")))]
pub async fn activate(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let k = state.keys.activate(&admin.actor, &id).await?;
    Ok(HttpResponse::Ok().json(KeyView::new(state.keys.ring(), &k)))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetireQuery {
    /// Drop a retired key even though tokens it signed may still be valid.
    #[serde(default)]
    pub force: bool,
}

/// Drops a retired (or next) key from what is published; refused (409) while tokens it
/// signed may be valid, unless `force`.
#[utoipa::path(post, path = "/api/v1/keys/{id}/retire", tag = "keys",
    params(("id" = String, Path, description = "The key's id, or a unique start of it"), RetireQuery),
    responses((status = 204, description = "Dropped")))]
pub async fn retire(
    admin: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<RetireQuery>,
) -> Result<HttpResponse, Problem> {
    state.keys.retire(&admin.actor, &id, q.force).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `/.well-known/jwks.json`: every published key, each under both kids, for tools that
/// fetch keys (no registry version fetches them: give distribution 3.x the file
/// `keys.dir/jwks.json`).
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "max-age=60"))
        .content_type("application/jwk-set+json")
        .body(state.keys.ring().jwks_json())
}
