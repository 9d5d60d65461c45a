//! The admin API, under `/api/v1`: JSON in and out, errors as RFC 9457 problem documents
//! that say what to fix, callers authenticated by a personal access token with the admin
//! scope and allowed `portcullis:admin:*` by policy ([`Admin`]). Every change goes through
//! the `manage` services, which audit it with its actor.
//!
//! The OpenAPI 3.1 document is generated from these handlers ([`openapi::document`]),
//! served at `/api/v1/openapi.json`, and checked into the repository as `openapi.json`
//! (a test keeps the two equal).

mod access_tokens;
mod audit;
mod bindings;
mod caller;
mod explain;
mod groups;
mod keys;
pub mod openapi;
mod policies;
mod problem;
mod refresh_tokens;
mod robots;
mod roles;
mod users;

use actix_web::{web, HttpRequest, HttpResponse};

pub use caller::Admin;
pub use keys::jwks;
pub use problem::Problem;

use crate::domain::Lifetime;

/// The largest JSON body accepted.
const MAX_BODY: usize = 64 * 1024;

/// The routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig, cors: &crate::config::CorsConfig) {
    use actix_web::web::{delete, get, patch, post, put};
    let json = web::JsonConfig::default()
        .limit(MAX_BODY)
        .content_type_required(true)
        .error_handler(|e, _| json_error(e).into());
    let path = web::PathConfig::default()
        .error_handler(|e, _| Problem::not_found(format!("no such resource: {e}")).into());
    let query = web::QueryConfig::default()
        .error_handler(|e, _| Problem::bad_request(format!("bad query: {e}")).into());
    use actix_web::http::Method;
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::Condition::new(
                cors.enabled(),
                super::cors::cors(
                    cors,
                    &[
                        Method::GET,
                        Method::POST,
                        Method::PUT,
                        Method::PATCH,
                        Method::DELETE,
                    ],
                ),
            ))
            .app_data(json)
            .app_data(path)
            .app_data(query)
            .route("/openapi.json", get().to(openapi::serve))
            .service(
                web::resource("/users")
                    .route(get().to(users::list))
                    .route(post().to(users::create)),
            )
            .service(
                web::resource("/users/{name}")
                    .route(get().to(users::show))
                    .route(patch().to(users::change))
                    .route(delete().to(users::delete)),
            )
            .service(web::resource("/users/{name}/password").route(put().to(users::set_password)))
            .service(web::resource("/users/{name}/groups").route(get().to(users::groups)))
            .service(
                web::resource("/users/{name}/tokens")
                    .route(get().to(access_tokens::list))
                    .route(post().to(access_tokens::create)),
            )
            .service(
                web::resource("/users/{name}/tokens/{id}")
                    .route(delete().to(access_tokens::revoke)),
            )
            .service(
                web::resource("/users/{name}/refresh-tokens")
                    .route(delete().to(refresh_tokens::revoke_user)),
            )
            .service(
                web::resource("/groups")
                    .route(get().to(groups::list))
                    .route(post().to(groups::create)),
            )
            .service(web::resource("/groups/{name}").route(delete().to(groups::delete)))
            .service(web::resource("/groups/{name}/members").route(get().to(groups::members)))
            .service(
                web::resource("/groups/{name}/members/{user}")
                    .route(put().to(groups::add_member))
                    .route(delete().to(groups::remove_member)),
            )
            .service(
                web::resource("/robots")
                    .route(get().to(robots::list))
                    .route(post().to(robots::create)),
            )
            .service(
                web::resource("/robots/{name}")
                    .route(patch().to(robots::change))
                    .route(delete().to(robots::delete)),
            )
            .service(web::resource("/robots/{name}/secrets").route(post().to(robots::regenerate)))
            .service(web::resource("/refresh-tokens").route(get().to(refresh_tokens::list)))
            .service(
                web::resource("/refresh-tokens/{id}").route(delete().to(refresh_tokens::revoke)),
            )
            .service(
                web::resource("/bindings")
                    .route(get().to(bindings::list))
                    .route(post().to(bindings::create)),
            )
            .service(web::resource("/bindings/preview").route(post().to(bindings::preview)))
            .service(
                web::resource("/bindings/{id}")
                    .route(get().to(bindings::show))
                    .route(put().to(bindings::update))
                    .route(delete().to(bindings::delete)),
            )
            .service(
                web::resource("/keys")
                    .route(get().to(keys::list))
                    .route(post().to(keys::add)),
            )
            .service(web::resource("/keys/{id}/activate").route(post().to(keys::activate)))
            .service(web::resource("/keys/{id}/retire").route(post().to(keys::retire)))
            .service(
                web::resource("/roles")
                    .route(get().to(roles::list))
                    .route(post().to(roles::create)),
            )
            .service(
                web::resource("/roles/{name}")
                    .route(put().to(roles::update))
                    .route(delete().to(roles::delete)),
            )
            .service(web::resource("/explain").route(post().to(explain::explain_scopes)))
            .service(web::resource("/policies/status").route(get().to(policies::status)))
            .service(web::resource("/policies/reload").route(post().to(policies::reload)))
            .service(web::resource("/audit").route(get().to(audit::list)))
            .default_service(web::to(no_such_route)),
    );
}

/// Every path outside the table, as a problem document.
async fn no_such_route(req: HttpRequest) -> Result<HttpResponse, Problem> {
    Err(Problem::not_found(format!(
        "no {} {} in the admin API. Fix: see /api/v1/openapi.json",
        req.method(),
        req.path()
    )))
}

fn json_error(e: actix_web::error::JsonPayloadError) -> Problem {
    use actix_web::error::JsonPayloadError as J;
    use actix_web::http::StatusCode;
    match e {
        J::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be JSON. Fix: send Content-Type: application/json",
        ),
        J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request body too large",
            format!("the body is larger than {limit} bytes"),
        ),
        J::Deserialize(e) => {
            // serde_path_to_error is not used: serde's message names the field already
            // (`unknown field "x"`, `missing field "subjects"`).
            let field = field_of(&e.to_string());
            let message = format!("the body is not what this operation takes: {e}");
            match field {
                Some(f) => Problem::field(f, message),
                None => Problem::bad_request(message),
            }
        }
        other => Problem::bad_request(format!("the body could not be read: {other}")),
    }
}

/// The field serde names in `unknown field \`x\`` / `missing field \`x\``.
fn field_of(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next().map(str::to_owned)
}

/// A Unix time as RFC 3339.
pub(crate) fn time(at: i64) -> String {
    crate::timestamp::rfc3339(at)
}

/// An RFC 3339 time in a request.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<i64, Problem> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| {
            Problem::field(
                field,
                format!(
                    "{text:?} is not an RFC 3339 time ({e}). Fix: write e.g. 2026-12-31T18:00:00Z"
                ),
            )
        })
}

/// A lifetime such as `15m` or `30d`, if given.
pub(crate) fn lifetime(field: &str, text: Option<&str>) -> Result<Option<Lifetime>, Problem> {
    text.map(|t| Lifetime::parse(t).map_err(|e| Problem::field(field, e.to_string())))
        .transpose()
}
