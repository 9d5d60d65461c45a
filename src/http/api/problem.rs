//! Every error of the admin API, as an RFC 9457 problem document
//! (`application/problem+json`): a `type` per kind of problem, the HTTP status, a `detail`
//! that says what to fix, and the `field` at fault when one is.
//!
//! Causes of a 503 go to the log (naming the backend), never to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::authz::FieldError;
use crate::manage::ManageError;
use crate::store::StoreError;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:portcullis:problem:` and the kind: `invalid-field`, `unauthorized`,
    /// `forbidden`, `not-found`, `conflict`, `limit`, `unavailable`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind, in words.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What is wrong and how to fix it.
    pub detail: String,
    /// The request field at fault (`subjects[1]`, `password`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip)]
    pub(super) challenge: bool,
    #[serde(skip)]
    pub(super) retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:portcullis:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            challenge: false,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem {
            field: Some(field.into()),
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-field",
                "A field of the request is not valid",
                detail,
            )
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem {
            challenge: true,
            ..Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                detail,
            )
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unavailable(backend: &str) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "A backend is unavailable",
            format!("the {backend} is unavailable; try again shortly (the server's log says why)"),
        )
    }

    pub fn throttled(retry_after: u64) -> Problem {
        Problem {
            retry_after: Some(retry_after),
            ..Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Too many failed attempts",
                "too many failed attempts from this address: wait before trying again",
            )
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        r.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.challenge {
            r.insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"portcullis admin API\"",
            ));
        }
        if let Some(s) = self.retry_after {
            r.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        r.body(serde_json::to_string(self).unwrap_or_default())
    }
}

impl From<FieldError> for Problem {
    fn from(e: FieldError) -> Problem {
        Problem::field(e.field, e.message)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::Unavailable { backend, .. } => {
                tracing::error!(backend, error = %e, "admin API request failed: the database is unavailable");
                crate::metrics::backend_error("database");
                Problem::unavailable("database")
            }
            StoreError::Conflict(what) => Problem::new(
                StatusCode::CONFLICT,
                "conflict",
                "Already exists",
                format!(
                    "{what} already exists. Fix: choose another name, or change the existing one"
                ),
            ),
            StoreError::NotFound(what) => Problem::not_found(format!("{what} does not exist")),
            StoreError::Limit(message) => Problem::new(
                StatusCode::CONFLICT,
                "limit",
                "A limit was reached",
                message,
            ),
        }
    }
}

impl From<ManageError> for Problem {
    fn from(e: ManageError) -> Problem {
        match e {
            ManageError::Invalid(message) => Problem::bad_request(message),
            ManageError::Field(f) => f.into(),
            ManageError::Store(s) => s.into(),
            ManageError::Refused(message) => {
                Problem::new(StatusCode::CONFLICT, "refused", "Not now", message)
            }
        }
    }
}
