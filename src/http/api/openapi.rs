//! The admin API's OpenAPI 3.1 document, generated from the handlers' annotations
//! (`utoipa`), served at `/api/v1/openapi.json` and checked into the repository as
//! `openapi.json`; a test keeps the two equal, and the test suite runs schemathesis against
//! a live server with it.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    access_tokens, audit, bindings, explain, groups, keys, policies, refresh_tokens, robots, roles,
    users,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "portcullis admin API",
        description = "Users, groups, robots, tokens, role bindings, policies and signing keys of a portcullis token server. Callers send `Authorization: Bearer` and a personal access token made with the scope `portcullis:admin:*`, whose owner policy allows `portcullis:admin:*` (by default, the members of group admins). Errors are RFC 9457 problem documents.",
    ),
    paths(
        users::list, users::show, users::create, users::change, users::set_password,
        users::delete, users::groups,
        access_tokens::list, access_tokens::create, access_tokens::revoke,
        refresh_tokens::list, refresh_tokens::revoke, refresh_tokens::revoke_user,
        groups::list, groups::create, groups::delete, groups::members, groups::add_member,
        groups::remove_member,
        robots::list, robots::create, robots::regenerate, robots::change, robots::delete,
        bindings::list, bindings::show, bindings::create, bindings::preview, bindings::update, bindings::delete,
        roles::list, roles::create, roles::update, roles::delete,
        keys::list, keys::add, keys::activate, keys::retire,
        explain::explain_scopes,
        policies::status, policies::reload,
        audit::list,
    ),
    components(schemas(super::Problem)),
    modifiers(&Common),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// What every operation shares: the bearer scheme, and the problem documents it may answer
/// with (listed once here instead of on every handler).
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let problem = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let ops = [
                (&mut item.get, false),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
                (&mut item.delete, false),
            ];
            for (op, body) in ops {
                let Some(op) = op.as_mut() else { continue };
                let has_body = body && op.request_body.is_some();
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(what).into());
                };
                add("400", "The request is not valid; `field` names what to fix");
                add("401", "No valid credentials");
                add(
                    "403",
                    "The caller may not use the admin API, or this token was not made for it",
                );
                add("404", "No such resource");
                add("409", "Already exists, or a limit was reached");
                add("429", "Too many failed attempts from this address");
                add("503", "A backend (the database) is unavailable");
                if has_body {
                    add("413", "The body is too large");
                    add("415", "The body is not JSON");
                }
            }
        }
    }
}

/// The document, as served and as checked in.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as JSON text, pretty-printed (what `openapi.json` holds).
pub fn document_json() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// `GET /api/v1/openapi.json`: served to anyone (it is documentation, not data).
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openapi.json` in the repository is the document the code generates. After changing
    /// the API, regenerate it with `PORTCULLIS_WRITE_OPENAPI=1 cargo test --lib openapi`.
    #[test]
    fn the_checked_in_openapi_document_is_the_one_the_code_generates() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let generated = document_json();
        if std::env::var_os("PORTCULLIS_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "openapi.json differs from the generated document. Regenerate it: PORTCULLIS_WRITE_OPENAPI=1 cargo test --lib openapi"
        );
        assert!(generated.contains("\"openapi\": \"3.1.0\""));
    }
}
