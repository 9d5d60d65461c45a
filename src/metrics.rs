//! Prometheus metrics (`GET /metrics`, the text format, through the `prometheus` crate).
//!
//! Counted on the warm path: every token request by outcome, authentication method and
//! whether the credential was remembered (the hit ratio of the remembered-credentials
//! cache is `remembered="true"` over all), and its latency. Read when scraped: the signing
//! keys' certificate expiry, the policy's reload state, and the build.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::audit::Outcome;

pub struct Metrics {
    registry: Registry,
    tokens: IntCounterVec,
    latency: Histogram,
    key_expiry: IntGaugeVec,
    key_count: IntGaugeVec,
    policy: IntGaugeVec,
    /// Without labels; absent, rather than 0, when HTTPS is off.
    tls_expiry: IntGaugeVec,
    tls_reload_ok: IntGaugeVec,
    authentication: HistogramVec,
    backend_errors: IntCounterVec,
    backend_up: IntGaugeVec,
    backend_probe: GaugeVec,
    password_waiting: IntGauge,
    password_wait: Histogram,
    audit_dropped: prometheus::IntCounter,
    audit_write_errors: prometheus::IntCounter,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry = Registry::new();
        let tokens = IntCounterVec::new(
            Opts::new(
                "portcullis_token_requests_total",
                "Token requests by outcome (issued, rejected, invalid, throttled, unavailable), authentication method, and whether the credential was remembered",
            ),
            &["outcome", "auth", "remembered"],
        )
        .expect("valid metric");
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "portcullis_token_request_duration_seconds",
                "Time to answer a token request, from its parsed head to its answer",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric");
        let key_expiry = IntGaugeVec::new(
            Opts::new(
                "portcullis_signing_certificate_expiry_seconds",
                "Seconds until each published signing key's certificate expires",
            ),
            &["kid", "state"],
        )
        .expect("valid metric");
        let key_count = IntGaugeVec::new(
            Opts::new("portcullis_signing_keys", "Signing keys by state"),
            &["state"],
        )
        .expect("valid metric");
        let policy = IntGaugeVec::new(
            Opts::new(
                "portcullis_policy_reload_ok",
                "1 when the policy files in force are the ones on disk (the last reload had no error), 0 when an error kept the previous policy",
            ),
            &["summary"],
        )
        .expect("valid metric");
        let tls_expiry = IntGaugeVec::new(
            Opts::new(
                "portcullis_tls_certificate_expiry_seconds",
                "Seconds until the HTTPS certificate being served expires (only with server.tls)",
            ),
            &[],
        )
        .expect("valid metric");
        let tls_reload_ok = IntGaugeVec::new(
            Opts::new(
                "portcullis_tls_certificate_reload_ok",
                "1 when the certificate files on disk are the ones served, 0 when a broken renewal kept the previous pair (only with server.tls)",
            ),
            &[],
        )
        .expect("valid metric");
        let authentication = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_authentication_duration_seconds",
                "Time the authenticator that decided a credential not remembered took (local: the database and argon2; ldap: the directory; federation: the issuer's token and keys; robot, access_token, refresh_token, client_certificate: the database)",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["authenticator"],
        )
        .expect("valid metric");
        let backend_errors = IntCounterVec::new(
            Opts::new(
                "portcullis_backend_errors_total",
                "Requests answered 503 because a backend failed (database, ldap, federation, oidc, password verification), and failed background probes of each backend",
            ),
            &["backend"],
        )
        .expect("valid metric");
        let backend_up = IntGaugeVec::new(
            Opts::new(
                "portcullis_backend_up",
                "1 when the backend answered its last probe (every 15 s, and at each /readyz), 0 when it did not",
            ),
            &["backend"],
        )
        .expect("valid metric");
        let backend_probe = GaugeVec::new(
            Opts::new(
                "portcullis_backend_probe_duration_seconds",
                "How long the backend's last probe took",
            ),
            &["backend"],
        )
        .expect("valid metric");
        let password_waiting = IntGauge::new(
            "portcullis_password_verifications_waiting",
            "Password verifications (argon2id) queued for a verification thread",
        )
        .expect("valid metric");
        let password_wait = Histogram::with_opts(
            HistogramOpts::new(
                "portcullis_password_verification_wait_seconds",
                "How long a password verification waited in the queue for a thread",
            )
            .buckets(vec![
                0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        let audit_dropped = prometheus::IntCounter::new(
            "portcullis_audit_records_dropped_total",
            "Audit records dropped because the audit file could not keep up (only with audit.when_full = \"drop\")",
        )
        .expect("valid metric");
        let audit_write_errors = prometheus::IntCounter::new(
            "portcullis_audit_write_errors_total",
            "Failed writes of the audit file (a full disk, say); the lines are kept and written again",
        )
        .expect("valid metric");
        let build = IntGaugeVec::new(
            Opts::new("portcullis_build_info", "The running build"),
            &["version"],
        )
        .expect("valid metric");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for c in [
            Box::new(tokens.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(key_expiry.clone()),
            Box::new(key_count.clone()),
            Box::new(policy.clone()),
            Box::new(tls_expiry.clone()),
            Box::new(tls_reload_ok.clone()),
            Box::new(authentication.clone()),
            Box::new(backend_errors.clone()),
            Box::new(backend_up.clone()),
            Box::new(backend_probe.clone()),
            Box::new(password_waiting.clone()),
            Box::new(password_wait.clone()),
            Box::new(audit_dropped.clone()),
            Box::new(audit_write_errors.clone()),
            Box::new(build),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            tokens,
            latency,
            key_expiry,
            key_count,
            policy,
            tls_expiry,
            tls_reload_ok,
            authentication,
            backend_errors,
            backend_up,
            backend_probe,
            password_waiting,
            password_wait,
            audit_dropped,
            audit_write_errors,
        }
    })
}

/// The `auth` label values a token request can have (credential kinds before
/// authentication, identity sources after), each with a slot in [`TOKEN_COUNTERS`].
const AUTH_LABELS: [&str; 11] = [
    "none",
    "anonymous",
    "password",
    "refresh_token",
    "bearer",
    "client_certificate",
    "access_token",
    "robot_secret",
    "ldap",
    "federation",
    "other",
];
const OUTCOMES: usize = 5;

/// The counter of each (outcome, auth, remembered), looked up once: `with_label_values`
/// hashes the labels and takes a lock, some hundreds of instructions a token request.
static TOKEN_COUNTERS: [OnceLock<prometheus::IntCounter>; OUTCOMES * AUTH_LABELS.len() * 2] =
    [const { OnceLock::new() }; OUTCOMES * AUTH_LABELS.len() * 2];

/// Counts one token request (called with its audit record).
pub fn token(outcome: Outcome, auth: &str, remembered: bool) {
    let auth = if auth.is_empty() { "none" } else { auth };
    let a = AUTH_LABELS
        .iter()
        .position(|l| *l == auth)
        .unwrap_or(AUTH_LABELS.len() - 1);
    let o = outcome as usize;
    let slot = (o * AUTH_LABELS.len() + a) * 2 + usize::from(remembered);
    TOKEN_COUNTERS[slot]
        .get_or_init(|| {
            metrics().tokens.with_label_values(&[
                outcome.as_str(),
                AUTH_LABELS[a],
                if remembered { "true" } else { "false" },
            ])
        })
        .inc();
}

/// The authenticator that decided a credential not remembered, and how long it took.
pub fn authentication(authenticator: &str, d: Duration) {
    metrics()
        .authentication
        .with_label_values(&[authenticator])
        .observe(d.as_secs_f64());
}

/// A request answered 503 because `backend` failed (or a failed probe of it).
pub fn backend_error(backend: &str) {
    metrics().backend_errors.with_label_values(&[backend]).inc();
}

/// A probe of `backend`: whether it answered, and how long it took.
pub fn backend_probe(backend: &str, up: bool, d: Duration) {
    let m = metrics();
    m.backend_up
        .with_label_values(&[backend])
        .set(i64::from(up));
    m.backend_probe
        .with_label_values(&[backend])
        .set(d.as_secs_f64());
}

/// A password verification entered (`+1`) or left (`-1`) the queue; `waited` when it left.
pub fn password_queue(delta: i64, waited: Option<Duration>) {
    let m = metrics();
    m.password_waiting.add(delta);
    if let Some(w) = waited {
        m.password_wait.observe(w.as_secs_f64());
    }
}

/// An audit record dropped because the audit buffer was full (`audit.when_full = "drop"`).
pub fn audit_dropped() {
    metrics().audit_dropped.inc();
}

/// A write of the audit file (or of the log) failed.
pub fn audit_write_error() {
    metrics().audit_write_errors.inc();
}

pub fn token_latency(d: Duration) {
    metrics().latency.observe(d.as_secs_f64());
}

/// The exposition, with what is read when scraped brought up to date.
/// `tls`: the HTTPS certificate's notAfter and whether its last renewal was used.
pub fn render(
    keys: &[crate::token::RingKey],
    policy_ok: bool,
    policy_summary: &str,
    tls: Option<(i64, bool)>,
) -> String {
    let m = metrics();
    let now = crate::store::now();
    m.key_expiry.reset();
    m.key_count.reset();
    for k in keys {
        m.key_expiry
            .with_label_values(&[k.id(), k.state.as_str()])
            .set(k.key.not_after - now);
        m.key_count.with_label_values(&[k.state.as_str()]).inc();
    }
    m.policy.reset();
    m.policy
        .with_label_values(&[policy_summary])
        .set(i64::from(policy_ok));
    if let Some((not_after, ok)) = tls {
        m.tls_expiry
            .with_label_values(&[] as &[&str])
            .set(not_after - now);
        m.tls_reload_ok
            .with_label_values(&[] as &[&str])
            .set(i64::from(ok));
    }
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .expect("the text encoder writes to memory");
    String::from_utf8(out).unwrap_or_default()
}
