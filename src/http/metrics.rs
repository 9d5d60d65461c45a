//! `GET /metrics`: the Prometheus text exposition (see `crate::metrics`).

use actix_web::{web, HttpResponse};

use super::AppState;

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let keys = state.keys.ring().keys();
    let status = state.reloader.status();
    let tls = state
        .tls_certificate
        .as_ref()
        .map(|c| (c.not_after(), c.last_reload_ok()));
    let body = crate::metrics::render(&keys, status.files_error.is_none(), &status.summary, tls);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body)
}
