//! Every refusal, as the registry's error shape: `{"errors":[{"code","message"}]}` with a
//! JSON content type (the docker client parses the body only then). The client gets a short
//! fixed message; causes go to the log.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::token_request::RequestError;
use crate::token_service::Refusal;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 401: the Basic realm to challenge with.
    pub basic_realm: Option<String>,
    /// For 429: seconds to wait.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            basic_realm: None,
            retry_after: None,
        }
    }

    pub fn from_request(e: RequestError, realm: &str) -> ApiError {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError {
            status,
            code: e.code,
            message: e.message,
            basic_realm: (status == StatusCode::UNAUTHORIZED).then(|| realm.to_string()),
            retry_after: None,
        }
    }

    pub fn from_refusal(r: Refusal, realm: &str) -> ApiError {
        match r {
            Refusal::BadRequest { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            Refusal::Unauthorized { message } => ApiError {
                basic_realm: Some(realm.to_string()),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
            },
            Refusal::Throttled { retry_after } => ApiError {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOOMANYREQUESTS",
                    "too many failed attempts: wait before trying again",
                )
            },
            Refusal::Unavailable(e) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("{} is unavailable; try again shortly", e.backend),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(realm) = &self.basic_realm {
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                format!(
                    "Basic realm=\"{}\", charset=\"UTF-8\"",
                    realm.replace('"', "")
                ),
            ));
        }
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header((header::RETRY_AFTER, "5"));
        }
        resp.json(json!({ "errors": [{ "code": self.code, "message": self.message }] }))
    }
}

pub async fn not_found() -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such endpoint: the token endpoint is /token",
    )
    .error_response()
}

pub async fn method_not_allowed() -> HttpResponse {
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "/token accepts GET (token spec) and POST (OAuth2 form)",
    )
    .error_response();
    resp.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    resp
}
