//! Keeps every surface speaking its own error format: an error response produced by the
//! framework or a tower layer (405, 408 timeout, 413 body limit, ...) is rewritten into
//! `/api/v1`'s `{"detail","error_code","status_code"}`, into RFC 6749's
//! `{"error","error_description"}` on the OAuth endpoints clients call, and into the hosted
//! error page on the pages. Errors our handlers produce are JSON or HTML already and pass
//! through untouched.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use castellan_oidc::provider::{OAuthError, OAuthErrorCode};

use crate::error::{ApiError, ErrorCode, OAuthFailure};
use crate::routes::pages::{PAGE_PATHS, refused_page};

/// Headers of the original error response worth keeping on the rewritten one.
const KEPT_HEADERS: &[&str] = &[
    "allow",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

/// The prefix whose errors this middleware owns.
const API_PREFIX: &str = "/api/v1";

/// True for `/api/v1` and everything below it (not `/api/v10`).
pub fn is_api_path(path: &str) -> bool {
    path.strip_prefix(API_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whose error format a path speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// The REST API.
    Api,
    /// The OAuth endpoints clients call (token, userinfo, introspection, ...).
    OAuth,
    /// The hosted pages and the browser-facing OAuth endpoints.
    Page,
    /// Operations, discovery, assets: left as they are.
    Other,
}

impl Surface {
    fn of(path: &str) -> Self {
        // The SAML ACS is a page under the API's prefix.
        if PAGE_PATHS.contains(&path) {
            Self::Page
        } else if is_api_path(path) {
            Self::Api
        } else if path.starts_with("/oauth2/") {
            Self::OAuth
        } else {
            Self::Other
        }
    }
}

/// Middleware that rewrites error responses that are neither JSON nor HTML into the format of
/// the surface they came from; other paths pass as is.
pub async fn normalise_api_errors(request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    let response = next.run(request).await;
    if surface == Surface::Other {
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
    let mut rewritten = match surface {
        Surface::Api => {
            ApiError::new(status, ErrorCode::for_status(status), detail_for(status)).into_response()
        }
        Surface::OAuth => {
            let code = if status.is_server_error() {
                OAuthErrorCode::ServerError
            } else {
                OAuthErrorCode::InvalidRequest
            };
            let description = detail_for(status).to_lowercase();
            OAuthFailure(OAuthError::new(code, description)).with_status(status)
        }
        Surface::Page | Surface::Other => refused_page(status),
    };
    for name in KEPT_HEADERS {
        if let Some(value) = response.headers().get(*name) {
            rewritten
                .headers_mut()
                .insert(header::HeaderName::from_static(name), value.clone());
        }
    }
    rewritten
}

fn detail_for(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "No such route".to_owned(),
        StatusCode::TOO_MANY_REQUESTS => "Too many requests; slow down".to_owned(),
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
