//! The HTTP edge: the route table, the handlers, and the mapping of every refusal to the
//! registry's error shape. The only module (with `startup`) that knows about actix-web.

mod error;
mod health;
mod token;
pub mod token_request;

use std::sync::Arc;

use actix_web::web;

pub use error::ApiError;

use crate::store::Store;
use crate::token_service::TokenService;

/// What every handler shares.
pub struct AppState {
    pub tokens: TokenService,
    pub store: Store,
}

/// The route table, in one place.
pub fn routes(state: Arc<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(state))
            .service(
                web::resource("/token")
                    .route(web::get().to(token::get))
                    .route(web::post().to(token::post))
                    .default_service(web::to(error::method_not_allowed)),
            )
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .default_service(web::to(error::not_found));
    }
}
