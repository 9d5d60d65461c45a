use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the backends a token request needs answer. A 503 names the one that does not
/// (and the log says why).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = Map::new();
    let mut ready = true;
    match state.store.ping().await {
        Ok(()) => {
            checks.insert("database".into(), json!("ok"));
        }
        Err(e) => {
            ready = false;
            tracing::warn!(backend = "database", error = %e, "readiness check failed");
            checks.insert("database".into(), json!("unavailable"));
        }
    }
    if let Some(ldap) = state.tokens.authn().ldap() {
        match ldap.ping().await {
            Ok(server) => {
                checks.insert("ldap".into(), json!(format!("ok ({server})")));
            }
            Err(e) => {
                ready = false;
                tracing::warn!(backend = "ldap", error = %e.cause, "readiness check failed");
                checks.insert("ldap".into(), json!("unavailable"));
            }
        }
    }
    if let Some(fed) = state.tokens.authn().federation() {
        match fed.ping().await {
            Ok(()) => {
                checks.insert("oidc_issuers".into(), json!("ok"));
            }
            Err(e) => {
                ready = false;
                tracing::warn!(backend = "oidc issuer", error = %e.cause, "readiness check failed");
                checks.insert("oidc_issuers".into(), json!("unavailable"));
            }
        }
    }
    let body = json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": Value::Object(checks) });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
