//! The benchmark's baselines, served by the same binary in the same configuration as
//! `/token` (only with `server.benchmark_routes = true`):
//!
//! - `/bench/constant`: a constant token-shaped JSON answer: the HTTP stack alone.
//! - `/bench/sign`: the same answer around one freshly signed token over a comparable claim
//!   set: the floor cost of any fresh token.
//!
//! `/token` is then measured as a ratio to these, so that a slow machine or a noisy
//! neighbour does not make the figures meaningless. Both write their body with the same
//! function as `/token`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::token::token_body;
use super::AppState;
use crate::domain::Scope;
use crate::token::Access;
use crate::token_service::TokenService;

pub async fn constant(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(state.bench_constant.clone())
}

pub async fn sign(state: web::Data<AppState>) -> HttpResponse {
    let scope = bench_scope();
    let token =
        state
            .tokens
            .signer()
            .issue("bench", &state.tokens.service, &[Access::from(&scope)]);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(token_body(&token, |_| {}))
}

fn bench_scope() -> Scope {
    Scope::parse("repository:team/app:pull,push").expect("a valid scope")
}

/// The constant body: a real token signed once at start, so the size matches.
pub fn constant_body(tokens: &TokenService) -> web::Bytes {
    let scope = bench_scope();
    let token = tokens
        .signer()
        .issue("bench", &tokens.service, &[Access::from(&scope)]);
    web::Bytes::from(token_body(&token, |_| {}))
}
