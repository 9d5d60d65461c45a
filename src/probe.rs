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

/// How often every backend is probed in the background, for `portcullis_backend_up` and
/// its latency: a backend that fails between scrapes shows on the next one without
/// `/readyz` being asked.
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Asks `probe`, and records whether it answered and how long it took (the metrics). A
/// failure counts in `portcullis_backend_errors_total` only when `count_failure` (the
/// background probe): `/readyz` is open to anyone, whose asking must not inflate it.
pub async fn check_recorded(
    probe: &dyn Probe,
    count_failure: bool,
) -> Result<Option<String>, ProbeError> {
    let started = std::time::Instant::now();
    let result = probe.check().await;
    let name = probe.name();
    crate::metrics::backend_probe(&name, result.is_ok(), started.elapsed());
    if result.is_err() && count_failure {
        crate::metrics::backend_error(&name);
    }
    result
}

/// Probes every backend every [`PROBE_EVERY`], logging only when one changes state (one line
/// when it goes down, one when it is back), so an outage does not fill the log.
pub fn watch(probes: Vec<std::sync::Arc<dyn Probe>>) {
    tokio::spawn(async move {
        let mut down = vec![false; probes.len()];
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let results =
                futures_util::future::join_all(probes.iter().map(|p| check_recorded(&**p, true)))
                    .await;
            for ((probe, result), was_down) in probes.iter().zip(results).zip(down.iter_mut()) {
                match (result, *was_down) {
                    (Err(e), false) => {
                        *was_down = true;
                        tracing::warn!(backend = %probe.name(), error = %e, "backend probe failed: it does not answer");
                    }
                    (Ok(_), true) => {
                        *was_down = false;
                        tracing::info!(backend = %probe.name(), "backend answers again");
                    }
                    _ => {}
                }
            }
        }
    });
}
