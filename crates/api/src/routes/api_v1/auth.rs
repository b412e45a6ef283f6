//! Sign-up, sign-in, refresh, logout and token checks (`/api/v1/auth/...`), in bearer mode and
//! in cookie mode (the tokens in `HttpOnly` cookies).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use castellan_domain::{FirstFactor, NewAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{TokenResponse, UserBody};
use super::tokens::{SessionMode, SignInAnswer, sign_in_answer, token_answer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonOrForm, parse_json_or_form};
use crate::http::auth::{Authenticated, bearer_from_headers, check_csrf};
use crate::http::client::Client;
use crate::http::cookies::{REFRESH_COOKIE, clearing_cookies, secure_cookies};
use crate::state::AppState;
use castellan_domain::Password;
use castellan_domain::RefreshToken;

/// The `/api/v1/auth` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(validate))
        .routes(routes!(me))
}

/// A new account. JSON or form; `username` (for `email`) and `full_name` are accepted too.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    /// Email address (required; a form may send it as `username`).
    #[schema(example = "jane@example.com", required = true)]
    email: Option<String>,
    /// Accepted in place of `email` when it is an email address.
    username: Option<String>,
    /// Password meeting the policy (default: 12+ characters with upper, lower, digit, special).
    #[schema(value_type = String, example = "Correct-Horse-9-Battery")]
    password: Password,
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
    /// Split into first and last name when those are absent.
    full_name: Option<String>,
    /// The version of the terms of service the user accepted, recorded in the consent ledger.
    terms_version: Option<String>,
}

/// The created account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    #[serde(flatten)]
    user: UserBody,
    /// Confirmation.
    #[schema(example = "Account created")]
    message: &'static str,
    /// `PENDING_CONFIRMATION` when sign-in waits for the emailed link.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
}

fn email_from(email: Option<String>, username: Option<String>) -> Result<String, ApiError> {
    email
        .filter(|email| !email.trim().is_empty())
        .or_else(|| username.filter(|name| name.contains('@')))
        .ok_or_else(|| ApiError::invalid("email", "is required"))
}

/// Create an account (`user` role, email not yet verified).
#[utoipa::path(post, path = "/auth/signup", tag = "auth",
    request_body(content = SignupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = SignupResponse),
        (status = 409, description = "The email is taken (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "A field is invalid or the password fails the policy (VALIDATION_ERROR)", body = ErrorBody),
        (status = 429, description = "Rate limited (RATE_LIMIT_ERROR)", body = ErrorBody),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<SignupRequest>,
) -> Result<(StatusCode, Json<SignupResponse>), ApiError> {
    if !state.config.accounts.signup_enabled {
        return Err(ApiError::forbidden("Sign-up is disabled on this server"));
    }
    let email = email_from(request.email, request.username)?;
    let (mut first_name, mut last_name) = (request.first_name, request.last_name);
    if first_name.is_none()
        && last_name.is_none()
        && let Some(full) = request.full_name
    {
        let mut parts = full.trim().splitn(2, ' ');
        first_name = parts.next().map(ToOwned::to_owned);
        last_name = parts.next().map(ToOwned::to_owned);
    }
    let new = NewAccount {
        email,
        password: request.password,
        first_name,
        last_name,
    };
    let user = state
        .compliance
        .sign_up(
            &state.email,
            new,
            request.terms_version.as_deref(),
            &context,
        )
        .await?;
    let pending = state.email.settings().require_verified_email;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            user: UserBody::from(&user),
            message: if pending {
                "Please confirm your email address to complete the registration."
            } else {
                "Account created"
            },
            code: pending.then_some("PENDING_CONFIRMATION"),
        }),
    ))
}

/// Credentials: JSON `{email, password}` or form `username=...&password=...`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SigninRequest {
    /// Email address (required; a form may send it as `username`).
    #[schema(example = "jane@example.com", required = true)]
    email: Option<String>,
    /// Accepted in place of `email` (OAuth2 password-form style).
    username: Option<String>,
    /// Password.
    #[schema(value_type = String)]
    password: Password,
    /// `cookie` to receive the tokens as cookies instead of in the body.
    session: Option<String>,
    /// Scope the tokens to this organization (id or slug); the caller must belong to it.
    organization: Option<String>,
}

/// Sign in with email and password. Five failures lock the address for 15 minutes. When the
/// account has a second factor the answer is `{"mfa_required":true,"mfa_token",...}` instead of
/// tokens; finish at `/api/v1/mfa/verify` or with a passkey.
#[utoipa::path(post, path = "/auth/signin", tag = "auth", params(SessionMode),
    request_body(content = SigninRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in (cookie mode: `{\"message\":\"Login successful\"}` and Set-Cookie), or a second factor is required", body = SignInAnswer),
        (status = 401, description = "Invalid credentials (AUTHENTICATION_ERROR)", body = ErrorBody),
        (status = 403, description = "The address is not confirmed yet and the server requires it (code PENDING_CONFIRMATION)", body = ErrorBody),
        (status = 429, description = "Locked after repeated failures, or rate limited (RATE_LIMIT_ERROR)", body = ErrorBody),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(mode): ApiQuery<SessionMode>,
    JsonOrForm(request): JsonOrForm<SigninRequest>,
) -> Result<Response, ApiError> {
    let email = email_from(request.email, request.username)?;
    let cookie_mode = mode
        .session
        .or(request.session)
        .is_some_and(|mode| mode == "cookie");
    let password = FirstFactor::Password {
        email,
        password: request.password,
    };
    let outcome = state
        .signin
        .sign_in(password.into(), request.organization.as_deref(), &context)
        .await?;
    Ok(sign_in_answer(&state, outcome, cookie_mode))
}

/// A refresh token in a JSON or form body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token.
    #[schema(value_type = String)]
    refresh_token: RefreshToken,
}

/// Where the refresh token came from, which decides how the answer travels.
enum Presented {
    Body(RefreshToken),
    Cookie(RefreshToken),
}

fn refresh_token_from(
    method: &Method,
    headers: &HeaderMap,
    jar: &CookieJar,
    body: &[u8],
) -> Result<Option<Presented>, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let request: RefreshRequest = parse_json_or_form(headers, body)?;
        return Ok(Some(Presented::Body(request.refresh_token)));
    }
    if let Some(token) = bearer_from_headers(headers) {
        return Ok(Some(Presented::Body(RefreshToken::new(token))));
    }
    match jar
        .get(REFRESH_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty())
    {
        Some(token) => {
            check_csrf(method, headers, jar)?;
            Ok(Some(Presented::Cookie(RefreshToken::new(token))))
        }
        None => Ok(None),
    }
}

/// Exchange a refresh token for new tokens. The token comes as JSON `{refresh_token}`, as a form
/// field, as `Authorization: Bearer <refresh token>`, or from the cookie (with the
/// CSRF header). Each token works once; presenting a used one revokes its whole session.
#[utoipa::path(post, path = "/auth/token/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, content_type = "application/json",
        description = "Optional: the token may come as a bearer token or the cookie instead"),
    responses(
        (status = 200, description = "New tokens (cookie mode: `{\"message\":\"Access token refreshed successfully\"}` and Set-Cookie)", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused token (TOKEN_ERROR)", body = ErrorBody),
        (status = 403, description = "Cookie without the CSRF header (AUTHORIZATION_ERROR)", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    Client(context): Client,
    method: Method,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, ApiError> {
    match refresh_token_from(&method, &headers, &jar, &body)? {
        Some(Presented::Body(token)) => {
            let pair = state.sessions.refresh(&token, &context).await?;
            Ok(token_answer(
                &state,
                &pair,
                false,
                "Access token refreshed successfully",
            ))
        }
        Some(Presented::Cookie(token)) => {
            let pair = state.sessions.refresh(&token, &context).await?;
            Ok(token_answer(
                &state,
                &pair,
                true,
                "Access token refreshed successfully",
            ))
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::error::ErrorCode::TokenError,
            "No refresh token: send it as {\"refresh_token\"}, as a form field, as a bearer token or in the cookie",
        )),
    }
}

/// The answer to a logout.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResponse {
    /// Confirmation.
    #[schema(example = "Logout successful")]
    message: &'static str,
    /// Machine-readable outcome.
    #[schema(example = "LOGGED_OUT")]
    code: &'static str,
}

/// End the session: its access tokens stop working on every replica at once and its refresh
/// token is dead. Authenticate with the access token (header or cookie), or send the refresh
/// token in the body.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security((), ("bearer" = [])),
    request_body(content = Option<RefreshRequest>, content_type = "application/json",
        description = "Optional: the refresh token, when no access token is presented"),
    responses(
        (status = 200, description = "Logged out; cookies cleared", body = LogoutResponse),
        (status = 401, description = "No valid token (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    Client(context): Client,
    method: Method,
    headers: HeaderMap,
    jar: CookieJar,
    authenticated: Result<Authenticated, ApiError>,
    body: Bytes,
) -> Result<Response, ApiError> {
    match authenticated {
        Ok(caller) => state.sessions.logout(&caller.principal, &context).await?,
        Err(error) => match refresh_token_from(&method, &headers, &jar, &body)? {
            Some(Presented::Body(token) | Presented::Cookie(token)) => {
                state
                    .sessions
                    .logout_refresh_token(&token, &context)
                    .await?;
            }
            None => return Err(error),
        },
    }
    let mut cleared = CookieJar::new();
    for cookie in clearing_cookies(secure_cookies(&state.config.issuer)) {
        cleared = cleared.add(cookie);
    }
    Ok((
        cleared,
        Json(LogoutResponse {
            message: "Logout successful",
            code: "LOGGED_OUT",
        }),
    )
        .into_response())
}

/// What a valid token says.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    /// Always true (invalid tokens get 401).
    valid: bool,
    /// The user id (`sub`).
    sub: String,
    /// The session id (`sid`).
    session_id: String,
    /// Expiry, seconds since the epoch.
    exp: i64,
    /// The user's current platform role.
    role: &'static str,
}

/// Check an access token: 200 while it is valid and its session is not
/// revoked, 401 otherwise.
#[utoipa::path(get, path = "/auth/validate", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid", body = ValidateResponse),
        (status = 401, description = "Invalid, expired or revoked (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn validate(caller: Authenticated) -> Json<ValidateResponse> {
    let token = &caller.principal.token;
    Json(ValidateResponse {
        valid: true,
        sub: token.user_id.to_string(),
        session_id: token.session_id.to_string(),
        exp: token.expires_at.timestamp(),
        role: caller.principal.user.role.as_str(),
    })
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserBody),
        (status = 401, description = "Not signed in (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn me(caller: Authenticated) -> Json<UserBody> {
    Json(UserBody::from(&caller.principal.user))
}
