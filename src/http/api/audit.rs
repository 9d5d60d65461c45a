//! `GET /api/v1/audit`: recent audit records, newest first, filtered by subject, outcome,
//! repository, kind and time. They come from a bounded window in the database
//! (`audit.keep_events`, `audit.keep_for`); the audit log is the record of truth.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{parse_time, time, Admin, Problem};
use crate::http::AppState;
use crate::store::{AuditQuery, AuditRow};

#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    /// RFC 3339, to the second.
    pub at: String,
    /// Identical records within a quarter second are one (a pull storm): how many.
    pub count: i64,
    /// When the last of them was.
    pub last_at: String,
    /// `token` for a token request; otherwise the event (`binding_created`, `sign_in`, …).
    pub kind: String,
    /// `issued`, `rejected`, `invalid`, `failed`, `throttled`; `done`, `refused`.
    pub outcome: String,
    /// Who: the token request's subject, or the event's actor.
    pub subject: String,
    /// What an event concerns (a user, `robot:NAME`, `binding 42`).
    pub target: String,
    /// The client's address, for token requests.
    pub client: String,
    /// The scopes asked for.
    pub requested: String,
    /// The scopes granted.
    pub granted: String,
    /// Why: each action's rule for a token request, or the event's detail.
    pub detail: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> AuditEvent {
        AuditEvent {
            id: r.id,
            at: time(r.at),
            count: r.count,
            last_at: time(r.last_at),
            kind: r.kind,
            outcome: r.outcome,
            subject: r.subject,
            target: r.target,
            client: r.client,
            requested: r.requested,
            granted: r.granted,
            detail: r.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    /// Pass as `before` for older records; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this subject (`alice`, `robot:ci`) or actor.
    #[param(max_length = 200)]
    pub subject: Option<String>,
    /// Only this outcome (`issued`, `rejected`, `done`, `refused`, …).
    #[param(max_length = 20)]
    pub outcome: Option<String>,
    /// Only records that asked for this repository.
    #[param(max_length = 255)]
    pub repository: Option<String>,
    /// Only this kind (`token`, or an event such as `binding_created`).
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only records at or before this time (RFC 3339).
    pub until: Option<String>,
    /// Only records older than this id (the previous page's `next`).
    pub before: Option<i64>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    _: Admin,
    state: web::Data<AppState>,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, Problem> {
    let q = q.into_inner();
    for (field, value, max) in [
        ("subject", &q.subject, 200),
        ("outcome", &q.outcome, 20),
        ("repository", &q.repository, 255),
        ("kind", &q.kind, 64),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(Problem::field(
                field,
                format!("is longer than {max} characters"),
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Problem::field("limit", "must be 1 to 500"));
    }
    let query = AuditQuery {
        subject: q.subject,
        outcome: q.outcome,
        repository: q.repository,
        kind: q.kind,
        since: q
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        before_id: q.before,
        limit: limit + 1,
    };
    let mut rows = state.store.audit_query(&query).await?;
    let next = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].id);
    rows.truncate(limit as usize);
    Ok(HttpResponse::Ok().json(AuditPage {
        items: rows.into_iter().map(AuditEvent::from).collect(),
        next,
    }))
}
