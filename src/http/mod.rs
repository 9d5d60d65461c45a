//! The HTTP edge: the route table, the handlers, and the mapping of every refusal to the
//! registry's error shape. The only module (with `startup`) that knows about actix-web.

pub mod api;
mod bench;
pub mod client_addr;
mod cors;
pub mod deadline;
mod error;
mod health;
pub mod login;
mod metrics;
pub mod request_id;
pub mod tls;
mod token;
pub mod token_request;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::web;

pub use error::ApiError;

use crate::authz::Reloader;
use crate::manage::Bindings;
use crate::probe::Probe;
use crate::store::Store;
use crate::token_service::TokenService;

/// What every handler shares.
pub struct AppState {
    pub tokens: TokenService,
    pub store: Store,
    /// The policy files and database rules in force, and their reload state.
    pub reloader: Arc<Reloader>,
    /// Role bindings and roles in the database.
    pub bindings: Bindings,
    /// Serve the benchmark baselines (`server.benchmark_routes`).
    pub bench_routes: bool,
    bench_constant: web::Bytes,
    /// Browser sign-in, when `[oidc]` is configured.
    pub login: Option<login::Login>,
    /// Every configured backend, for `/readyz`.
    pub probes: Vec<Arc<dyn Probe>>,
    /// The signing keys: rotation, the bundle and the JWKS.
    pub keys: crate::manage::Keys,
    /// Whose forwarding headers name the client.
    pub proxies: client_addr::TrustedProxies,
    /// Cross-origin access to `/token` and the admin API.
    pub cors: crate::config::CorsConfig,
    /// `/metrics` has a listener of its own (`server.metrics_listen`).
    metrics_elsewhere: bool,
    /// The HTTPS certificate, for its expiry and renewal state in `/metrics`.
    pub tls_certificate: Option<Arc<tls::ServerCertificate>>,
}

impl AppState {
    pub fn new(
        tokens: TokenService,
        store: Store,
        reloader: Arc<Reloader>,
        bench_routes: bool,
        login: Option<login::Login>,
        probes: Vec<Arc<dyn Probe>>,
        keys: crate::manage::Keys,
    ) -> AppState {
        let bench_constant = if bench_routes {
            bench::constant_body(&tokens)
        } else {
            web::Bytes::new()
        };
        AppState {
            tokens,
            bindings: Bindings::new(store.clone(), reloader.clone()),
            store,
            reloader,
            bench_routes,
            bench_constant,
            login,
            probes,
            keys,
            proxies: client_addr::TrustedProxies::default(),
            cors: Default::default(),
            metrics_elsewhere: false,
            tls_certificate: None,
        }
    }

    /// Who may call `/token` and the admin API from another origin (nobody by default).
    pub fn with_cors(mut self, cors: crate::config::CorsConfig) -> AppState {
        self.cors = cors;
        self
    }

    /// `/metrics` is served by [`metrics_routes`] on a listener of its own, not here.
    pub fn with_metrics_elsewhere(mut self, elsewhere: bool) -> AppState {
        self.metrics_elsewhere = elsewhere;
        self
    }

    pub fn with_tls_certificate(mut self, cert: Option<Arc<tls::ServerCertificate>>) -> AppState {
        self.tls_certificate = cert;
        self
    }

    /// The proxies whose forwarding headers name the client (none by default).
    pub fn with_proxies(mut self, proxies: client_addr::TrustedProxies) -> AppState {
        self.proxies = proxies;
        self
    }
}

/// The route table, in one place.
pub fn routes(state: Arc<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let bench_routes = state.bench_routes;
        let cors = state.cors.clone();
        let metrics_here = !state.metrics_elsewhere;
        // `/token` first, one handler choosing by method itself: routes are tried in order,
        // and actix's method guards allocate on every request (to list the allowed methods).
        // CORS is mounted only when configured: a middleware on `/token` costs its warm
        // path some 1,300 instructions even when it lets everything through.
        cfg.app_data(web::Data::from(state));
        if cors.enabled() {
            cfg.service(
                web::resource("/token")
                    .wrap(cors::cors(&cors, &[Method::GET, Method::POST]))
                    .to(token::token),
            );
        } else {
            cfg.route("/token", web::to(token::token));
        }
        if bench_routes {
            cfg.route("/bench/constant", web::get().to(bench::constant))
                .route("/bench/sign", web::get().to(bench::sign));
        }
        cfg
            // The sign-in pages: every answer, errors included, is a page of theirs.
            .service(
                web::scope("/login")
                    .app_data(login::form_config())
                    .app_data(web::QueryConfig::default().error_handler(login::query_error))
                    .app_data(web::PathConfig::default().error_handler(login::path_error))
                    .route("", web::get().to(login::start))
                    .route("/access", web::get().to(login::access_page))
                    .route(
                        "/identity-tokens/{id}/revoke",
                        web::post().to(login::revoke_identity),
                    )
                    .route("/admin/bindings", web::get().to(login::admin_bindings))
                    .route(
                        "/admin/bindings",
                        web::post().to(login::admin_create_binding),
                    )
                    .route(
                        "/admin/bindings/{id}/delete",
                        web::post().to(login::admin_delete_binding),
                    )
                    .route("/admin/audit", web::get().to(login::admin_audit))
                    .route("/admin/system", web::get().to(login::admin_system))
                    .route("/admin/robots", web::get().to(login::admin_robots))
                    .route("/admin/robots", web::post().to(login::admin_create_robot))
                    .route(
                        "/admin/robots/{name}/{action}",
                        web::post().to(login::admin_robot_action),
                    )
                    .route("/admin/users", web::get().to(login::admin_users))
                    .route("/admin/users", web::post().to(login::admin_create_user))
                    .route(
                        "/admin/users/{name}/{action}",
                        web::post().to(login::admin_user_action),
                    )
                    .route("/admin/groups", web::post().to(login::admin_create_group))
                    .route("/admin/members", web::post().to(login::admin_change_member))
                    .route("/password", web::get().to(login::password_form))
                    .route("/password", web::post().to(login::password_sign_in))
                    .route("/callback", web::get().to(login::callback))
                    .route("/tokens", web::get().to(login::tokens))
                    .route("/tokens", web::post().to(login::create))
                    .route("/tokens/{id}/revoke", web::post().to(login::revoke))
                    .default_service(web::to(login::no_such_page)),
            )
            .service(
                web::resource("/logout")
                    .app_data(login::form_config())
                    .route(web::post().to(login::logout))
                    .default_service(web::to(login::no_such_page)),
            )
            .configure(|cfg| api::routes(cfg, &cors))
            .route("/static/console.css", web::get().to(login::stylesheet))
            .route("/.well-known/jwks.json", web::get().to(api::jwks))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz));
        if metrics_here {
            cfg.route("/metrics", web::get().to(metrics::metrics));
        }
        cfg.default_service(web::to(error::not_found));
    }
}

/// The routes of `server.metrics_listen`: `/metrics` and nothing else.
pub fn metrics_routes(state: Arc<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(state))
            .route("/metrics", web::get().to(metrics::metrics))
            .default_service(web::to(error::not_found));
    }
}
