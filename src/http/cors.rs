//! Cross-origin access (`server.cors`) for `/token` and the admin API, so that a registry
//! UI on another origin can obtain tokens: through actix-cors, mounted on those two only.
//! Nothing is allowed cross-origin unless configured; preflight requests are answered;
//! credentials are never allowed with a wildcard origin (refused at start-up).

use actix_cors::Cors;
use actix_web::http::{header, Method};

use crate::config::CorsConfig;

/// The middleware for routes answering `methods`.
pub fn cors(c: &CorsConfig, methods: &[Method]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(methods.iter().cloned())
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        // What a browser app needs to read of a refusal: the challenge, and when to retry.
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(Some(c.max_age.as_secs() as usize));
    if c.any_origin {
        cors = cors.allow_any_origin().send_wildcard();
    }
    for origin in &c.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    if c.allow_credentials {
        cors = cors.supports_credentials();
    }
    cors
}
