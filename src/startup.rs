//! Building the application from a [`Config`]: keys, policies, store, then the listener.
//! Binding is separate from running so that tests (and the start-up log) know the real port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use anyhow::Context;

use crate::authn::{
    AccessTokens, AuthChain, Authenticator, ClientCertificates, CredentialCache, LdapDirectory,
    LocalUsers, PasswordHasher, RefreshTokens, Robots,
};
use crate::authn::{Federation, LoginSealer, OidcLogin, Throttle, ThrottleSettings};
use crate::authz::Reloader;
use crate::config::{Config, PasswordBackend};
use crate::http::deadline::BodyTimeout;
use crate::http::{self, AppState};
use crate::probe::Probe;
use crate::store::Store;
use crate::token::{KeyFiles, KeyRing, TokenSigner};
use crate::token_service::TokenService;

pub struct Application {
    port: u16,
    /// The main listener's server, then the metrics listener's if it has its own.
    servers: Vec<actix_web::dev::Server>,
    store: Store,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let files = KeyFiles::in_dir(&config.keys.dir);
        let store = Store::connect(&config.store.url).await.with_context(|| {
            format!(
                "store.url = {}",
                crate::store::redact_url(&config.store.url)
            )
        })?;
        // The signing keys, from the database (the first made or imported on first start).
        let ring = KeyRing::open(store.clone(), files.clone(), &config.token)
            .await
            .with_context(|| format!("keys.dir = {}", config.keys.dir.display()))?;
        ring.watch();
        let key = ring.active().key;
        // The policy files and the rules in the database, kept up to date at run time.
        let reloader = Reloader::start(&config.policies.dir, store.clone()).await?;
        reloader.watch(config.policies.watch);
        let policies = reloader.policies();

        let hasher = PasswordHasher::new(config.auth.hash_concurrency);
        let signer = TokenSigner::new(ring.slot(), &config.token);
        let directory = match &config.ldap {
            Some(ldap) => {
                tracing::info!(servers = ?ldap.urls, order = ?config.auth.order, "LDAP directory configured");
                Some(
                    LdapDirectory::new(ldap.clone())
                        .map_err(|e| anyhow::anyhow!("ldap.ca_file: {e}"))?,
                )
            }
            None => None,
        };
        let mut refresh = RefreshTokens::new(
            store.clone(),
            config.token.refresh_ttl,
            config.token.refresh_tokens_per_subject,
        );
        purge_periodically(store.clone());
        if let Some(d) = &directory {
            refresh = refresh.with_ldap(d.clone());
        }
        // Every backend a request may need, for /readyz.
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(store.clone()), reloader.clone()];
        // The authenticator chain, in the order its members are asked (see authn/chain.rs).
        let mut chain: Vec<Arc<dyn Authenticator>> = Vec::new();
        if !config.federation.is_empty() {
            let issuers: Vec<&str> = config
                .federation
                .iter()
                .map(|f| f.issuer.as_str())
                .collect();
            tracing::info!(entries = config.federation.len(), issuers = ?issuers, "workload identity federation configured");
            let federation = Federation::new(config.federation.clone());
            probes.extend(federation.probes());
            chain.push(Arc::new(federation));
        }
        if config
            .server
            .tls
            .as_ref()
            .is_some_and(|t| t.client.is_some())
        {
            chain.push(Arc::new(ClientCertificates::new(store.clone())));
        }
        chain.push(Arc::new(Robots::new(store.clone())));
        chain.push(Arc::new(AccessTokens::new(store.clone())));
        for backend in &config.auth.order {
            match (backend, &directory) {
                (PasswordBackend::Local, _) => {
                    chain.push(Arc::new(LocalUsers::new(store.clone(), hasher.clone())))
                }
                (PasswordBackend::Ldap, Some(d)) => {
                    probes.push(Arc::new(d.clone()));
                    chain.push(Arc::new(d.clone()));
                }
                (PasswordBackend::Ldap, None) => {}
            }
        }
        chain.push(Arc::new(refresh.clone()));
        let authn = AuthChain::new(
            store.clone(),
            chain,
            refresh,
            CredentialCache::new(config.auth.cache_ttl, config.auth.cache_max_entries),
            Arc::new(Throttle::new(ThrottleSettings {
                per_client: config.auth.max_failures_per_ip,
                per_client_and_name: config.auth.max_failures_per_ip_and_name,
                window: config.auth.failure_window,
                max_entries: config.auth.throttle_max_entries,
                ipv6_prefix: config.auth.ipv6_prefix,
            })),
        );
        tracing::info!(chain = ?authn.names(), "authenticators");
        let tokens = TokenService::new(
            config.token.service.clone(),
            signer,
            policies.clone(),
            authn,
        );
        // The sign-in pages: a local user's password always, the identity provider when
        // `[oidc]` is configured.
        let provider = match &config.oidc {
            None => None,
            Some(oidc) => {
                tracing::info!(issuer = %oidc.issuer, "browser sign-in configured at /login");
                let key = config.keys.dir.join("login-state.key");
                let sealer = LoginSealer::load_or_generate(&key).with_context(|| {
                    format!("the key sealing sign-ins in progress, {}", key.display())
                })?;
                let oidc = Arc::new(OidcLogin::new(oidc.clone(), &config.server.public_url));
                probes.push(oidc.clone());
                Some(crate::http::login::Provider { oidc, sealer })
            }
        };
        let login = Some(crate::http::login::Login::new(
            provider,
            store.clone(),
            &config.server.public_url,
        ));
        let tls = match &config.server.tls {
            None => None,
            Some(tls) => {
                let (rustls, cert, clients) = http::tls::server_config(tls)
                    .map_err(|problem| anyhow::anyhow!("server.tls: {problem}"))?;
                cert.watch();
                Some((rustls, cert, clients))
            }
        };
        crate::probe::watch(probes.clone());
        let state = Arc::new(
            AppState::new(
                tokens,
                store.clone(),
                reloader.clone(),
                config.server.benchmark_routes,
                login,
                probes,
                crate::manage::Keys::new(ring.clone()),
            )
            .with_proxies(crate::http::client_addr::TrustedProxies::new(
                config.server.trusted_proxies.clone(),
            ))
            .with_cors(config.server.cors.clone())
            .with_metrics_elsewhere(config.server.metrics_listen.is_some())
            .with_tls_certificate(tls.as_ref().map(|(_, cert, _)| cert.clone())),
        );
        if config.server.benchmark_routes {
            tracing::warn!(
                "server.benchmark_routes is on: /bench/constant and /bench/sign are served"
            );
        }

        let listener = TcpListener::bind(config.server.listen).with_context(|| {
            format!("cannot listen on {} (server.listen)", config.server.listen)
        })?;
        let port = listener.local_addr()?.port();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max_connections = connection_cap(config.server.max_connections);
        let body_timeout = actix_web::web::Data::new(BodyTimeout(config.server.request_timeout));
        let metrics_listener = match config.server.metrics_listen {
            None => None,
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (server.metrics_listen)"))?,
            ),
        };
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(body_timeout.clone())
                .wrap(actix_web::middleware::from_fn(
                    http::deadline::body_deadline,
                ))
                .configure(http::routes(app_state.clone()))
        })
        .workers(workers)
        // actix counts connections per worker.
        .max_connections(max_connections.div_ceil(workers).max(1))
        .backlog(1024)
        .client_request_timeout(config.server.request_timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .keep_alive(config.server.keep_alive);
        let server = match tls {
            None => server.listen(listener)?,
            Some((rustls, _, clients)) => {
                let server = match clients {
                    None => server,
                    Some(clients) => {
                        server.on_connect(move |conn, data| clients.on_connect(conn, data))
                    }
                };
                // A handshake gets the whole request timeout, so a client that stalls
                // in it holds its connection no longer than one that stalls in a request.
                server
                    .tls_handshake_timeout(config.server.request_timeout)
                    .listen_rustls_0_23(listener, rustls)?
            }
        }
        .shutdown_timeout(30)
        .run();
        let mut servers = vec![server];
        if let Some(listener) = metrics_listener {
            tracing::info!(listen = %listener.local_addr()?, "/metrics is served here only");
            servers.push(
                HttpServer::new(move || App::new().configure(http::metrics_routes(state.clone())))
                    .workers(1)
                    .max_connections(64)
                    .client_request_timeout(std::time::Duration::from_secs(5))
                    .listen(listener)?
                    .shutdown_timeout(5)
                    .run(),
            );
        }

        let bundle = std::fs::canonicalize(&files.bundle).unwrap_or(files.bundle.clone());
        tracing::info!(listen = %config.server.listen, port, "portcullis is listening");
        tracing::info!(
            realm = %config.server.realm(),
            service = %config.token.service,
            issuer = %config.token.issuer,
            "registry auth.token settings (print them with `portcullis registry-config`)"
        );
        tracing::info!(
            rootcertbundle = %bundle.display(),
            kid = key.kid(config.token.kid_format),
            libtrust_kid = %key.libtrust_kid,
            thumbprint = %key.thumbprint,
            keys = ring.keys().len(),
            "the registry must trust this certificate bundle"
        );
        tracing::info!(policies = %config.policies.dir.display(), summary = %policies.current().summary(), "policies loaded");
        tracing::info!(store = store.display_url(), "database ready");
        if let Some(file) = store.sqlite_file() {
            for w in crate::store::mode_warnings(file) {
                tracing::warn!("{w}");
            }
        }
        if config.server.public_url_derived && config.server.listen.ip().is_unspecified() {
            tracing::warn!(
                realm = %config.server.realm(),
                "server.public_url is not set and portcullis listens on all interfaces: the realm names localhost, which remote registries' clients cannot reach; set server.public_url"
            );
        }
        if let Some(w) = config.server.cleartext_warning() {
            tracing::warn!("{w}");
        }
        Ok(Application {
            port,
            servers,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Runs until SIGINT/SIGTERM; in-flight requests finish (up to 30 s) before it returns.
    /// When one server stops (the metrics listener's included), the others are stopped too.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handles: Vec<_> = self.servers.iter().map(|s| s.handle()).collect();
        let (first, _, rest) = futures_util::future::select_all(self.servers).await;
        for h in &handles {
            h.stop(true).await;
        }
        for r in futures_util::future::join_all(rest).await {
            r?;
        }
        first
    }
}

/// How often expired and revoked refresh tokens are deleted.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// How long a revoked or expired refresh token stays listed before it is deleted.
const PURGE_AFTER: i64 = 86400;

/// Deletes refresh tokens that expired or were revoked more than a day ago, at start and
/// then every hour, so that the table holds what is in use and not its history.
fn purge_periodically(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tick.tick().await;
            match store
                .refresh_token_purge(crate::store::now() - PURGE_AFTER)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "purged expired and revoked refresh tokens"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired refresh tokens"),
            }
        }
    });
}

/// File descriptors kept free for everything but client connections (database, log,
/// directory, identity provider, key files).
const SPARE_FILES: u64 = 256;

/// `server.max_connections`, within what the process may open: the soft open-file limit is
/// raised to the hard one (as Go's runtime does), and a cap above it is lowered, so that a
/// flood of connections meets the cap, never "too many open files".
fn connection_cap(wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    let files = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    let room = files.saturating_sub(SPARE_FILES).max(16) as usize;
    if wanted > room {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = files,
            using = room,
            "server.max_connections is above what the open-file limit leaves for connections: using {room}; raise the limit (ulimit -n, LimitNOFILE=) or lower server.max_connections"
        );
        room
    } else {
        wanted
    }
}
