//! `GET /token` and `POST /token`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::token_request::{
    parse_get, parse_post, Flavor, RequestError, TokenRequest, MAX_REQUEST_BYTES,
};
use super::AppState;
use crate::audit::{self, Outcome, TokenEvent};
use crate::token_service::Grant;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let parsed = parse_get(req.query_string(), auth);
    respond(&req, &state, parsed).await
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read the body ourselves: it may be chunked (containers/image sends no Content-Length),
    // and an oversized one must be a 413 in the registry's shape, not actix's text.
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("could not read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                format!("the request body is larger than {MAX_REQUEST_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let parsed = parse_post(content_type, &body);
    respond(&req, &state, parsed).await
}

async fn respond(
    req: &HttpRequest,
    state: &AppState,
    parsed: Result<TokenRequest, RequestError>,
) -> Result<HttpResponse, ApiError> {
    let client_ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let realm = &state.tokens.service;
    let parsed = parsed.inspect_err(|e| {
        audit::token(&TokenEvent {
            outcome: if e.status == 401 {
                Outcome::Rejected
            } else {
                Outcome::Invalid
            },
            subject: "",
            auth: "",
            client_ip: &client_ip,
            client_id: "",
            service: "",
            requested: "",
            granted: "",
            reason: &e.message,
            jti: "",
        })
    });
    let request = parsed.map_err(|e| ApiError::from_request(e, realm))?;
    let flavor = request.flavor;
    let grant = state
        .tokens
        .handle(request, &client_ip)
        .await
        .map_err(|r| ApiError::from_refusal(r, realm))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body(&grant, flavor)))
}

/// Both `token` and `access_token` always (clients differ in which they read; oras reads only
/// `access_token` from a POST), `expires_in` as an integer, `issued_at` as RFC 3339, and a
/// refresh token only when one was asked for (crane switches to the POST flow on seeing one).
fn body(grant: &Grant, flavor: Flavor) -> Value {
    let mut m = Map::new();
    m.insert("token".into(), json!(grant.token.token));
    m.insert("access_token".into(), json!(grant.token.token));
    m.insert("expires_in".into(), json!(grant.token.expires_in));
    m.insert("issued_at".into(), json!(grant.token.issued_at_rfc3339()));
    if let Some(rt) = &grant.refresh_token {
        m.insert("refresh_token".into(), json!(rt.expose_secret()));
    }
    if flavor == Flavor::Post {
        let scope: Vec<String> = grant.granted.iter().map(|s| s.to_string()).collect();
        m.insert("scope".into(), json!(scope.join(" ")));
    }
    Value::Object(m)
}
