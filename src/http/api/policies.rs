//! `/api/v1/policies`: the reload state of the policy files, and a reload on demand.

use actix_web::{web, HttpResponse};

use super::{Admin, Problem};
use crate::audit::{self, EventOutcome};
use crate::authz::ReloadStatus;
use crate::http::AppState;

#[utoipa::path(get, path = "/api/v1/policies/status", tag = "policies",
    responses((status = 200, body = ReloadStatus)))]
pub async fn status(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(&*state.reloader.status()))
}

/// Reads the policy files again. A file with an error does not replace the policy in
/// force: the answer is still 200, with `files_error` saying where and how to fix it.
#[utoipa::path(post, path = "/api/v1/policies/reload", tag = "policies",
    responses((status = 200, body = ReloadStatus)))]
pub async fn reload(admin: Admin, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let status = state.reloader.reload("api").await;
    let detail = match &status.files_error {
        None => status.summary.clone(),
        Some(e) => format!(
            "not reloaded: {}:{}: {}",
            e.file,
            e.line.unwrap_or(0),
            e.message
        ),
    };
    audit::event(&audit::Event {
        event: "policies_reloaded",
        outcome: if status.files_error.is_none() {
            EventOutcome::Done
        } else {
            EventOutcome::Refused
        },
        actor: &admin.actor,
        target: "policies",
        detail: &detail,
    });
    Ok(HttpResponse::Ok().json(&*status))
}
