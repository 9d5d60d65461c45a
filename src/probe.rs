//! Readiness: a backend a token request may need, asked whether it answers.
//!
//! Every configured backend (the database, the directory, each trusted workload issuer, the
//! sign-in provider) is one [`Probe`], registered at startup; `/readyz` asks them all
//! through this one method and reports each by its name. A new backend is ready-checked by
//! implementing it beside its own code, and one line at startup.

use futures_util::future::BoxFuture;

/// Why a backend is not ready: for the log line, never for the client.
pub type ProbeError = Box<dyn std::error::Error + Send + Sync>;

pub trait Probe: Send + Sync {
    /// The name `/readyz` reports it under (`database`, `ldap`, `oidc issuer https://…`).
    fn name(&self) -> String;

    /// `Ok` with an optional detail (which server answered) when it answers.
    fn check(&self) -> BoxFuture<'_, Result<Option<String>, ProbeError>>;

    /// Whether token requests need it, so that the replica is not ready without it. (The
    /// browser sign-in provider is reported but not required: registry clients do not
    /// need it, and a load balancer must not take every replica out when it is down.)
    fn required(&self) -> bool {
        true
    }

    /// Problems that do not make the replica unready but that an operator must see (a
    /// policy file that did not reload): listed by `/readyz` under `warnings`.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}
