//! Maintenance mode at the door: while an admin has it on, writes under `/api/v1` answer 503
//! with `Retry-After`, except sign-in (and what completes or ends one) and platform admins.
//! Reads and the hosted pages keep working. The switch is in the key-value store, so every
//! replica obeys it at once.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};
use crate::http::api_errors::is_api_path;
use crate::http::auth::{REFRESH_ROUTE, SIGN_IN_ROUTES, bearer_from_headers};
use crate::state::AppState;

/// Sign-out keeps working during maintenance too, beside [`SIGN_IN_ROUTES`] and refresh.
const LOGOUT: &str = "/api/v1/auth/logout";

/// How long clients are asked to wait.
const RETRY_AFTER_SECS: u32 = 120;

/// The middleware.
pub async fn maintenance_guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !write
        || !is_api_path(path)
        || SIGN_IN_ROUTES.contains(&path)
        || path == REFRESH_ROUTE
        || path == LOGOUT
    {
        return next.run(request).await;
    }
    let maintenance = match state.platform.maintenance().await {
        Ok(Some(maintenance)) => maintenance,
        // Off, or the store cannot say: serve (the store's outage shows on /health).
        _ => return next.run(request).await,
    };
    if let Some(token) = bearer_from_headers(request.headers())
        && let Ok(principal) = state.sessions.authenticate(token).await
        && principal.user.role.is_admin()
    {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServiceUnavailable,
        format!("Down for maintenance: {}", maintenance.message),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
