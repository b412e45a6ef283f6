//! Per-IP rate limits on `/api/v1`: a per-minute and a per-hour budget for every route, and a
//! tighter one for the routes that take credentials or mailed links (sign-in and its second
//! step, sign-up, bootstrap, email resend, password reset, magic links), which the hosted pages'
//! credential forms share. Refresh is not among them: its tokens cannot be guessed, so the
//! session service counts it per token family and per account instead. The counters live in the key-value
//! store, so replicas share them. If the store cannot be reached the request is let through (and
//! logged): an outage of the cache should not take sign-in down with it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use castellan_domain::Limit;

use crate::error::{ApiError, set_rate_headers};
use crate::http::api_errors::is_api_path;
use crate::http::auth::SIGN_IN_ROUTES;
use crate::http::client::client_ip;
use crate::state::AppState;

/// API routes that take credentials or mail links besides [`SIGN_IN_ROUTES`]: they share the
/// sign-in budget too.
const AUTH_ROUTES: &[&str] = &[
    "/api/v1/auth/signup",
    "/api/v1/admin/bootstrap",
    "/api/v1/auth/email/resend",
    "/api/v1/auth/password/reset",
    "/api/v1/auth/password/reset/confirm",
    "/api/v1/auth/magic-link",
];

/// Hosted-page forms that take credentials or codes: they share the sign-in budget.
pub const PAGE_FORMS: &[&str] = &[
    "/login",
    "/login/mfa",
    "/login/passkey",
    "/login/sso",
    "/login/enrol",
    "/login/magic",
    "/login/magic-link",
    "/reset-password",
    "/invitations/accept",
    "/signup",
    "/device",
    "/api/v1/sso/acs",
];

/// Middleware applying the per-IP limits and writing the `X-RateLimit-*` headers.
pub async fn limit_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let config = &state.config.rate_limit;
    let path = request.uri().path();
    let page_form = request.method() == axum::http::Method::POST && PAGE_FORMS.contains(&path);
    if !config.enabled || !(is_api_path(path) || page_form) {
        return next.run(request).await;
    }
    let Some(ip) = client_ip(
        request.extensions(),
        request.headers(),
        &config.trusted_proxies,
    ) else {
        return next.run(request).await;
    };
    if config.allow_list.contains(&ip) {
        return next.run(request).await;
    }
    let minute = Duration::from_secs(60);
    let general = [
        Limit {
            limit: config.per_ip_per_minute,
            window: minute,
        },
        Limit {
            limit: config.per_ip_per_hour,
            window: Duration::from_secs(3600),
        },
    ];
    let mut decision = if page_form {
        Ok(None)
    } else {
        state.limiter.hit_all(&format!("ip:{ip}"), &general).await
    };
    if page_form
        || SIGN_IN_ROUTES.contains(&path)
        || AUTH_ROUTES.contains(&path)
            && decision
                .as_ref()
                .is_ok_and(|d| d.is_some_and(|d| d.allowed))
    {
        let auth = [Limit {
            limit: config.auth_per_ip_per_minute,
            window: minute,
        }];
        decision = state.limiter.hit_all(&format!("auth-ip:{ip}"), &auth).await;
    }
    match decision {
        Ok(Some(decision)) if !decision.allowed && page_form => {
            let mut response = (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts from your network. Wait a minute and try again.",
            )
                .into_response();
            set_rate_headers(response.headers_mut(), &decision);
            response
        }
        Ok(Some(decision)) if !decision.allowed => ApiError::rate_limited(decision).into_response(),
        Ok(Some(decision)) => {
            let mut response = next.run(request).await;
            set_rate_headers(response.headers_mut(), &decision);
            response
        }
        Ok(None) => next.run(request).await,
        Err(error) => {
            tracing::warn!(%error, "rate limits unavailable; letting the request through");
            next.run(request).await
        }
    }
}
