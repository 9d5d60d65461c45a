//! The benchmark's baselines, served by the same binary in the same configuration as
//! `/token` (only with `server.benchmark_routes = true`):
//!
//! - `/bench/constant`: a constant token-shaped JSON answer: the HTTP stack alone.
//! - `/bench/sign`: the same answer around one freshly signed token over a comparable claim
//!   set: the floor cost of any fresh token.
//!
//! `/token` is then measured as a ratio to these, so that a slow machine or a noisy
//! neighbour does not make the figures meaningless.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::domain::Scope;
use crate::token::AccessEntry;

pub async fn constant(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(state.bench_constant.clone())
}

pub async fn sign(state: web::Data<AppState>) -> HttpResponse {
    let access = [AccessEntry::from(&bench_scope())];
    let token = state
        .tokens
        .signer()
        .issue("bench", &state.tokens.service, &access);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "token": token.token,
            "access_token": token.token,
            "expires_in": token.expires_in,
            "issued_at": token.issued_at_rfc3339(),
        }))
}

fn bench_scope() -> Scope {
    Scope::parse("repository:bench/app:pull").expect("a valid scope")
}

/// The constant body: a real token once signed at start, so the size matches.
pub fn constant_body(state: &crate::token_service::TokenService) -> web::Bytes {
    let token = state.signer().issue(
        "bench",
        &state.service,
        &[AccessEntry::from(&bench_scope())],
    );
    web::Bytes::from(
        json!({
            "token": token.token,
            "access_token": token.token,
            "expires_in": token.expires_in,
            "issued_at": token.issued_at_rfc3339(),
        })
        .to_string(),
    )
}
