//! The `/api/v1` error surface: every failure becomes
//! `{"detail","error_code","status_code"}` with stable codes. This is the one
//! place where errors are turned into HTTP; 5xx bodies stay generic and the cause is logged.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use castellan_domain::{DomainError, RateDecision};
use castellan_oidc::provider::{OAuthError, OAuthErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::extract::FieldError;

/// The machine-readable error codes of the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: the credentials are wrong.
    AuthenticationError,
    /// 401: the token is missing, invalid or expired.
    TokenError,
    /// 403: the caller may not do this.
    AuthorizationError,
    /// 404: no such resource (or route).
    NotFoundError,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request took too long.
    RequestTimeout,
    /// 409: the resource exists already.
    ConflictError,
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 415: the body is not JSON (or the form the route takes).
    UnsupportedMediaType,
    /// 422: the body is well-formed but a field is invalid.
    ValidationError,
    /// 429: too many requests.
    RateLimitError,
    /// 500: the server failed.
    InternalError,
    /// 503: the server cannot serve this now (maintenance, dependency down).
    ServiceUnavailable,
}

impl ErrorCode {
    /// The code that goes with an HTTP status the framework produced on its own.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::AuthenticationError,
            403 => Self::AuthorizationError,
            404 => Self::NotFoundError,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            409 => Self::ConflictError,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationError,
            429 => Self::RateLimitError,
            503 => Self::ServiceUnavailable,
            500..=599 => Self::InternalError,
            _ => Self::BadRequest,
        }
    }
}

/// The JSON body of every `/api/v1` error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for people.
    #[schema(example = "Invalid credentials")]
    pub detail: String,
    /// A stable code for programs.
    pub error_code: ErrorCode,
    /// The HTTP status, repeated for clients that only see the body.
    #[schema(example = 401)]
    pub status_code: u16,
    /// A machine-readable reason, where there is one (`PENDING_CONFIRMATION`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// The sentence, next to its `code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `VALIDATION_ERROR`: every field at fault with the rule it breaks (the `detail` says
    /// the same in one sentence).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error answered by the REST API.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    detail: String,
    rate: Option<Box<RateDecision>>,
    retry_after: Option<Duration>,
    reason_code: Option<&'static str>,
    fields: Box<[FieldError]>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            rate: None,
            retry_after: None,
            reason_code: None,
            fields: Box::default(),
        }
    }

    /// 422 `VALIDATION_ERROR` naming `field` and the rule it breaks.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError::new(field, message)])
    }

    /// 422 `VALIDATION_ERROR` naming every field at fault, in the detail and in `errors`.
    pub fn invalid_fields(fields: Vec<FieldError>) -> Self {
        let detail = fields
            .iter()
            .map(|error| format!("{}: {}", error.field, error.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::validation(detail);
        error.fields = fields.into_boxed_slice();
        error
    }

    /// 401 `TOKEN_ERROR`.
    pub fn token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TokenError,
            "Invalid or expired token",
        )
    }

    /// 401 `TOKEN_ERROR` for a request that presented no token at all.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TokenError,
            "No access token: send it as Authorization: Bearer <token> (or in the access_token cookie)",
        )
    }

    /// 403 `AUTHORIZATION_ERROR`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::AuthorizationError, detail)
    }

    /// 429 `RATE_LIMIT_ERROR` with the limit's headers.
    pub fn rate_limited(decision: RateDecision) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimitError,
            "Too many requests; slow down",
        );
        error.retry_after = Some(decision.reset_after);
        error.rate = Some(Box::new(decision));
        error
    }

    /// 400 `BAD_REQUEST`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, detail)
    }

    /// 404 `NOT_FOUND_ERROR`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFoundError, detail)
    }

    /// 422 `VALIDATION_ERROR`.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationError,
            detail,
        )
    }

    /// 500 `INTERNAL_ERROR`; logs `cause` and tells the client nothing about it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "The server could not complete the request",
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation { field, message } => Self::invalid(field, message),
            DomainError::Invalid(violations) => Self::invalid_fields(
                violations
                    .0
                    .into_iter()
                    .map(|(field, message)| FieldError::new(field, message))
                    .collect(),
            ),
            DomainError::Conflict("email") => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ConflictError,
                "An account with this email already exists",
            ),
            DomainError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ConflictError,
                format!("The {what} already exists"),
            ),
            DomainError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthenticationError,
                "Invalid credentials",
            ),
            DomainError::AccountLocked { retry_after } => {
                let mut error = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimitError,
                    "Too many failed sign-in attempts; try again later",
                );
                error.retry_after = Some(retry_after);
                error
            }
            DomainError::InvalidToken => Self::token(),
            DomainError::PendingConfirmation => {
                let mut error = Self::forbidden(
                    "Please confirm your email address to complete the registration.",
                );
                error.reason_code = Some("PENDING_CONFIRMATION");
                error
            }
            DomainError::InvalidMfaCode => Self::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthenticationError,
                "Invalid or already used code",
            ),
            DomainError::Passkey(why) => Self::bad_request(format!("Passkey refused: {why}")),
            DomainError::NotConfigured(what) => {
                Self::bad_request(format!("Not configured on this server: {what}"))
            }
            DomainError::Forbidden(why) => Self::forbidden(format!("Permission denied: {why}")),
            DomainError::NotFound(what) => Self::not_found(format!("No such {what}")),
            DomainError::RateLimited(decision) => Self::rate_limited(decision),
            other => Self::internal(&other),
        }
    }
}

/// Writes the `X-RateLimit-*` headers of a decision.
pub fn set_rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    for (name, value) in [
        ("x-ratelimit-limit", decision.limit.to_string()),
        ("x-ratelimit-remaining", decision.remaining.to_string()),
        ("x-ratelimit-reset", decision.reset_at.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let rate = self.rate;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            error: self.reason_code.map(|_| self.detail.clone()),
            detail: self.detail,
            error_code: self.code,
            status_code: self.status.as_u16(),
            code: self.reason_code,
            errors: self.fields.into_vec(),
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        if let Some(retry_after) = retry_after {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if let Some(rate) = rate {
            set_rate_headers(headers, &rate);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The headers that keep a token endpoint's answer, or its error, out of every cache
/// (RFC 6749 sections 5.1 and 5.2).
pub(crate) fn no_store() -> [(HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// An OAuth endpoint's error (RFC 6749 section 5.2): `{"error","error_description"}`, never
/// cached; `invalid_client` carries a Basic challenge, bearer-token errors a Bearer one.
#[derive(Debug, Clone)]
pub struct OAuthFailure(pub OAuthError);

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        Self(error)
    }
}

impl From<DomainError> for OAuthFailure {
    fn from(error: DomainError) -> Self {
        Self(error.into())
    }
}

impl OAuthFailure {
    /// The error answered with `status` rather than its code's own: a refusal made before the
    /// endpoint ran (a body over the limit is `invalid_request` with 413).
    pub fn with_status(self, status: StatusCode) -> Response {
        render_oauth(self.0, status)
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        render_oauth(self.0, status)
    }
}

/// The RFC 6749 body and headers of `error`, with `status`.
fn render_oauth(error: OAuthError, status: StatusCode) -> Response {
    let body = serde_json::json!({
        "error": error.code.as_str(),
        "error_description": error.description,
    });
    let mut response = (status, no_store(), Json(body)).into_response();
    let headers = response.headers_mut();
    let challenge = match error.code {
        OAuthErrorCode::InvalidClient => Some("Basic realm=\"castellan\"".to_owned()),
        OAuthErrorCode::InvalidToken | OAuthErrorCode::InsufficientScope => Some(format!(
            "Bearer realm=\"castellan\", error=\"{}\"",
            error.code.as_str()
        )),
        _ => None,
    };
    if let Some(value) = challenge.and_then(|value| HeaderValue::from_str(&value).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
