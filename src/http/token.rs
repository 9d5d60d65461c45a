//! `GET /token` and `POST /token`.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use secrecy::ExposeSecret;

use super::error::ApiError;
use super::token_request::{
    parse_get, parse_post, Flavor, Parsed, RequestError, MAX_REQUEST_BYTES,
};
use super::AppState;
use crate::audit::{self, Outcome, TokenEvent};
use crate::log_escape::push_json_string;
use crate::token::IssuedToken;
use crate::token_service::{Credentials, Grant};

/// `/token`: `GET` (token spec), `POST` (OAuth2 form), anything else a 405 naming both.
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    match *req.method() {
        Method::GET => get(req, state).await,
        Method::POST => post(req, state, payload).await,
        _ => Ok(super::error::method_not_allowed().await),
    }
}

async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let auth: Vec<&[u8]> = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .collect();
    let parsed = parse_get(req.query_string(), &auth);
    respond(&req, &state, parsed).await
}

async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Read the body ourselves: it may be chunked (containers/image sends no Content-Length),
    // and an oversized one must be a 413 in the registry's shape, not actix's text.
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if super::deadline::timed_out(&e) {
                ApiError::new(
                    actix_web::http::StatusCode::REQUEST_TIMEOUT,
                    "TIMEOUT",
                    "the request body did not arrive within server.request_timeout: send it at once",
                )
            } else {
                ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    format!("could not read the request body: {e}"),
                )
            }
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
    parsed: Result<Parsed, RequestError>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let answer = answer(req, state, parsed).await;
    crate::metrics::token_latency(started.elapsed());
    answer
}

async fn answer(
    req: &HttpRequest,
    state: &AppState,
    parsed: Result<Parsed, RequestError>,
) -> Result<HttpResponse, ApiError> {
    let client = state.proxies.client_ip(req);
    let request_id = super::request_id::RequestId::current();
    let mut id_buf = [0u8; 48];
    let request_id = request_id.write(&mut id_buf);
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
            remembered: false,
            client_ip: client,
            client_id: "",
            service: "",
            requested: &[],
            decisions: &[],
            reason: &e.message,
            jti: "",
            request_id,
        })
    });
    let Parsed {
        flavor,
        mut request,
    } = parsed.map_err(|e| ApiError::from_request(e, realm))?;
    // A request without credentials on a connection whose client certificate names a robot
    // or user is theirs (credentials sent explicitly win).
    if matches!(request.credentials, Credentials::Anonymous) {
        if let Some(login) = req.conn_data::<super::tls::ClientCertificateLogin>() {
            request.credentials = Credentials::ClientCertificate(login.0.clone());
        }
    }
    let grant = state
        .tokens
        .handle(request, client, request_id)
        .await
        .map_err(|r| ApiError::from_refusal(r, realm))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body(&grant, flavor)))
}

/// Both `token` and `access_token` always (clients differ in which they read; oras reads only
/// `access_token` from a POST), `expires_in` as an integer, `issued_at` as RFC 3339, and a
/// refresh token only when one was asked for (crane switches to the POST flow on seeing one).
fn body(grant: &Grant, flavor: Flavor) -> String {
    token_body(&grant.token, |out| {
        if let Some(t) = &grant.refresh_token {
            out.push_str(r#","refresh_token":"#);
            push_json_string(out, t.expose_secret());
        }
        if flavor == Flavor::Post {
            // Written in place, and escaped only if a name needs it.
            out.push_str(r#","scope":""#);
            let start = out.len();
            grant.write_granted(out);
            if crate::log_escape::plain(&out[start..]) {
                out.push('"');
            } else {
                let scope = out.split_off(start);
                out.pop();
                push_json_string(out, &scope);
            }
        }
    })
}

/// The JSON answer, written directly: the token appears twice and is ~700 bytes of base64url
/// that never needs escaping, so a generic serializer would spend most of its time scanning
/// it. `more` appends further members. Also used by the benchmark baselines, so that they
/// pay the same.
pub(super) fn token_body(token: &IssuedToken, more: impl FnOnce(&mut String)) -> String {
    let mut out = String::with_capacity(2 * token.token.len() + 200);
    out.push_str(r#"{"token":""#);
    out.push_str(&token.token);
    out.push_str(r#"","access_token":""#);
    out.push_str(&token.token);
    out.push_str(r#"","expires_in":"#);
    out.push_str(itoa::Buffer::new().format(token.expires_in));
    out.push_str(r#","issued_at":""#);
    crate::timestamp::push_rfc3339(&mut out, token.issued_at);
    out.push('"');
    more(&mut out);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_body_is_valid_json_with_every_field() {
        let token = IssuedToken {
            token: "aaa.bbb.ccc".into(),
            jti: "j".into(),
            issued_at: 0,
            expires_in: 300,
        };
        let v: serde_json::Value = serde_json::from_str(&token_body(&token, |out| {
            out.push_str(r#","refresh_token":"pcr_x","scope":"repository:a\"b:pull""#)
        }))
        .unwrap();
        assert_eq!(v["token"], "aaa.bbb.ccc");
        assert_eq!(v["access_token"], "aaa.bbb.ccc");
        assert_eq!(v["expires_in"], 300);
        assert_eq!(v["issued_at"], "1970-01-01T00:00:00Z");
        assert_eq!(v["refresh_token"], "pcr_x");
        assert_eq!(v["scope"], "repository:a\"b:pull");
        let v: serde_json::Value = serde_json::from_str(&token_body(&token, |_| {})).unwrap();
        assert!(v.get("refresh_token").is_none() && v.get("scope").is_none());
    }
}
