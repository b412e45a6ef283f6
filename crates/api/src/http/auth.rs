//! Authentication of API calls: a bearer access token, or the access-token cookie (then a
//! state-changing request must also carry the CSRF token). Each signed-in account also has a
//! request budget of its own.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::CookieJar;
use castellan_domain::{Limit, Principal};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::http::cookies::{ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER};
use crate::state::AppState;

/// The API's refresh route: it keeps working in maintenance mode, and is counted per token
/// family and per account (by the session service), not per address.
pub const REFRESH_ROUTE: &str = "/api/v1/auth/token/refresh";

/// API routes that sign in or finish a sign-in: they keep working in maintenance mode and
/// share the sign-in rate-limit budget.
pub const SIGN_IN_ROUTES: &[&str] = &[
    "/api/v1/auth/signin",
    "/api/v1/auth/two-factor",
    "/api/v1/mfa/verify",
    "/api/v1/passkeys/authenticate/begin",
    "/api/v1/passkeys/authenticate/complete",
    "/api/v1/auth/magic-link/verify",
];

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_from_headers(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Checks the double-submit CSRF token of a cookie-authenticated, state-changing request.
pub fn check_csrf(method: &Method, headers: &HeaderMap, jar: &CookieJar) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let cookie = jar
        .get(CSRF_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .unwrap_or_default();
    let header = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if cookie.is_empty() || !bool::from(cookie.as_bytes().ct_eq(header.as_bytes())) {
        return Err(ApiError::forbidden(
            "Missing or invalid CSRF token: repeat the csrf_token cookie in X-CSRF-Token",
        ));
    }
    Ok(())
}

/// What a session without a second factor may still reach when the platform requires one:
/// enrolment, who am I, and signing out.
pub(crate) const ENROLMENT_PATHS: &[&str] = &[
    "/api/v1/mfa",
    "/api/v1/passkeys",
    "/api/v1/auth/me",
    "/api/v1/auth/validate",
    "/api/v1/auth/logout",
];

/// A caller with a valid, unrevoked access token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = match bearer_from_headers(&parts.headers) {
            Some(token) => token.to_owned(),
            None => {
                let jar = CookieJar::from_headers(&parts.headers);
                let token = jar
                    .get(ACCESS_COOKIE)
                    .map(|cookie| cookie.value().to_owned())
                    .filter(|t| !t.is_empty());
                let Some(token) = token else {
                    return Err(ApiError::missing_token());
                };
                check_csrf(&parts.method, &parts.headers, &jar)?;
                token
            }
        };
        let principal = state.sessions.authenticate(&token).await?;
        // Nested routers see their path with the prefix stripped; the original has it all.
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path(), |original| original.path());
        if state.sessions.needs_enrollment(&principal.token.amr)
            && !ENROLMENT_PATHS
                .iter()
                .any(|prefix| path.starts_with(prefix))
        {
            return Err(ApiError::forbidden(
                "This server requires a second factor: enrol one at /api/v1/mfa/totp/enable \
                 or /api/v1/passkeys/register/begin, then sign in again",
            ));
        }
        let limits = &state.config.rate_limit;
        if limits.enabled {
            let budget = Limit {
                limit: limits.per_account_per_minute,
                window: Duration::from_secs(60),
            };
            let decision = state
                .limiter
                .hit(&format!("user:{}", principal.user.id), budget)
                .await?;
            if !decision.allowed {
                return Err(ApiError::rate_limited(decision));
            }
        }
        Ok(Self { principal })
    }
}
