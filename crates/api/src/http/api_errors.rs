//! Keeps `/api/v1` speaking one error format: an error response produced by the framework or a
//! tower layer (405, 408 timeout, 413 body limit, ...) is rewritten into
//! `{"detail","error_code","status_code"}`. Errors our handlers produce are JSON already and
//! pass through untouched.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};

/// Headers of the original error response worth keeping on the rewritten one.
const KEPT_HEADERS: &[header::HeaderName] = &[header::ALLOW, header::RETRY_AFTER];

/// The prefix whose errors this middleware owns.
const API_PREFIX: &str = "/api/v1";

/// True for `/api/v1` and everything below it (not `/api/v10`).
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Middleware that rewrites non-JSON error responses under `/api/v1`; other paths pass as is.
pub async fn normalise_api_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let under_api = is_api_path(path);
    let response = next.run(request).await;
    if !under_api {
        return response;
    }
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    // JSON is ours already; HTML is a page a link in a message landed on, on purpose.
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(b"application/json") || value.starts_with(b"text/html")
        });
    if !is_error || ours {
        return response;
    }
    let mut rewritten =
        ApiError::new(status, ErrorCode::for_status(status), detail_for(status)).into_response();
    for name in KEPT_HEADERS {
        if let Some(value) = response.headers().get(name) {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

fn detail_for(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "No such route".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "This route does not accept that method".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "The request took too long".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large".to_owned(),
        other if other.is_server_error() => "The server could not complete the request".to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("The request failed")
            .to_owned(),
    }
}

/// The `/api/v1` fallback: an unknown route is a 404 in the API's format.
pub async fn unknown_api_route() -> ApiError {
    ApiError::not_found("No such route")
}
