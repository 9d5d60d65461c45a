//! `/healthz` (the process answers) and `/readyz` (every backend a token request needs
//! answers: each registered [`Probe`](crate::probe::Probe), reported by name).

use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde_json::{json, Map, Value};

use super::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: asks every backend at once. A 503 names the required ones that do not answer
/// (and the log says why); backends that are not required are reported but do not count.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let results = join_all(
        state
            .probes
            .iter()
            .map(|p| crate::probe::check_recorded(&**p, false)),
    )
    .await;
    let mut checks = Map::new();
    let mut ready = true;
    for (probe, result) in state.probes.iter().zip(results) {
        let name = probe.name();
        let text = match result {
            Ok(None) => "ok".to_string(),
            Ok(Some(detail)) => format!("ok ({detail})"),
            Err(e) => {
                ready &= !probe.required();
                tracing::warn!(backend = %name, error = %error_chain(&*e), "readiness check failed");
                "unavailable".to_string()
            }
        };
        checks.insert(name, json!(text));
    }
    let warnings: Vec<String> = state.probes.iter().flat_map(|p| p.warnings()).collect();
    let mut body = json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": Value::Object(checks) });
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `error: cause: its cause…`
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}
