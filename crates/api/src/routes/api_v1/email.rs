//! The flows that send mail (`/api/v1/auth/...`, `/api/v1/users/me/email`): verification,
//! password reset, magic links and email change. Requests about an address answer the same
//! whether or not it has an account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::MessageBody;
use super::tokens::{SessionMode, sign_in_answer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonOrForm};
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::routes::pages;
use crate::state::AppState;
use castellan_domain::OneTimeCode;
use castellan_domain::Password;

/// The routes of the mail flows.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(request_magic_link))
        .routes(routes!(verify_magic_link))
        .routes(routes!(request_email_change))
        .routes(routes!(confirm_email_change_page, confirm_email_change))
}

/// An address.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    /// The address.
    #[schema(example = "jane@example.com")]
    email: String,
}

/// A token from an emailed link.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token.
    #[param(value_type = String)]
    #[schema(value_type = String)]
    token: OneTimeCode,
}

const SENT_IF_KNOWN: &str =
    "If the address belongs to an account, a message with a link is on its way";

fn accepted(message: &'static str) -> Response {
    (StatusCode::ACCEPTED, Json(MessageBody { message })).into_response()
}

/// Confirm an address with the link from the verification message; answers with a page.
#[utoipa::path(get, path = "/auth/email/verify", tag = "email", params(TokenQuery),
    responses(
        (status = 200, description = "An HTML page: the address is confirmed"),
        (status = 400, description = "An HTML page: the link is unknown, used or expired"),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Response {
    let outcome = state.email.verify_email(&query.token, &context).await;
    pages::link_page(
        outcome.map(|user| format!("{} is confirmed. You can close this page.", user.email)),
        "Email confirmed",
    )
}

/// Send a new verification link to an unconfirmed address. Always 202.
#[utoipa::path(post, path = "/auth/email/resend", tag = "email",
    request_body(content = EmailRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted", body = MessageBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<EmailRequest>,
) -> Result<Response, ApiError> {
    state
        .email
        .resend_verification(&request.email, &context)
        .await?;
    Ok(accepted(SENT_IF_KNOWN))
}

/// Mail a password-reset link (valid one hour, once). Always 202, whether or not the address
/// has an account.
#[utoipa::path(post, path = "/auth/password/reset", tag = "email",
    request_body(content = EmailRequest, content_type = "application/json"),
    responses((status = 202, description = "Accepted", body = MessageBody)))]
async fn request_reset(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<EmailRequest>,
) -> Result<Response, ApiError> {
    state
        .email
        .request_password_reset(&request.email, &context)
        .await?;
    Ok(accepted(SENT_IF_KNOWN))
}

/// A new password with the token from the reset link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    /// From the link.
    #[schema(value_type = String)]
    token: OneTimeCode,
    /// Meeting the password policy.
    #[schema(value_type = String)]
    new_password: Password,
}

/// Set a new password with a reset token: every session ends, and the account is told.
#[utoipa::path(post, path = "/auth/password/reset/confirm", tag = "email",
    request_body(content = ResetConfirmRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed; sign in with the new password", body = MessageBody),
        (status = 401, description = "Unknown, used or expired token (TOKEN_ERROR)", body = ErrorBody),
        (status = 422, description = "The password fails the policy; the token still works (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn confirm_reset(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<ResetConfirmRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .email
        .reset_password(&request.token, &request.new_password, &context)
        .await?;
    Ok(Json(MessageBody {
        message: "Password changed; sign in with the new password",
    }))
}

/// Mail a sign-in link (valid 15 minutes, once). Always 202 while magic links are on.
#[utoipa::path(post, path = "/auth/magic-link", tag = "email",
    request_body(content = EmailRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted", body = MessageBody),
        (status = 403, description = "Magic links are off (AUTHORIZATION_ERROR)", body = ErrorBody),
    ))]
async fn request_magic_link(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<EmailRequest>,
) -> Result<Response, ApiError> {
    state
        .email
        .request_magic_link(&request.email, &context)
        .await?;
    Ok(accepted(SENT_IF_KNOWN))
}

/// The token from a magic link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MagicLinkVerifyRequest {
    /// From the link.
    #[schema(value_type = String)]
    token: OneTimeCode,
}

/// Sign in with a magic-link token: the same answer as `/auth/signin` (a second factor still
/// applies). The link also confirms the address.
#[utoipa::path(post, path = "/auth/magic-link/verify", tag = "email", params(SessionMode),
    request_body(content = MagicLinkVerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in, or a second factor is required", body = super::tokens::SignInAnswer),
        (status = 401, description = "Unknown, used or expired token (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn verify_magic_link(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(mode): ApiQuery<SessionMode>,
    JsonOrForm(request): JsonOrForm<MagicLinkVerifyRequest>,
) -> Result<Response, ApiError> {
    let magic_link = state
        .email
        .verify_magic_link(&request.token, &context)
        .await?;
    let outcome = state
        .signin
        .sign_in(magic_link.into(), None, &context)
        .await?;
    Ok(sign_in_answer(&state, outcome, mode.is_cookie()))
}

/// Move the account to `email`: a confirmation goes to the new address, a notice to the old
/// one; nothing changes until the link is used.
#[utoipa::path(post, path = "/users/me/email", tag = "email", security(("bearer" = [])),
    request_body(content = EmailRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Confirmation sent to the new address", body = MessageBody),
        (status = 409, description = "Another account has the address (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "Not an address, or the current one (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn request_email_change(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<EmailRequest>,
) -> Result<Response, ApiError> {
    state
        .email
        .request_email_change(&caller.principal.user, &request.email, &context)
        .await?;
    Ok(accepted(
        "Open the link sent to the new address to complete the change",
    ))
}

/// Complete an email change with the link sent to the new address; answers with a page.
#[utoipa::path(get, path = "/auth/email/change/confirm", tag = "email", params(TokenQuery),
    responses(
        (status = 200, description = "An HTML page: the address changed"),
        (status = 400, description = "An HTML page: the link is unknown, used or expired"),
    ))]
async fn confirm_email_change_page(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Response {
    let outcome = state
        .email
        .confirm_email_change(&query.token, &context)
        .await;
    pages::link_page(
        outcome.map(|user| format!("Your account's address is now {}.", user.email)),
        "Email address changed",
    )
}

/// The token of an email change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeConfirmRequest {
    /// From the link.
    #[schema(value_type = String)]
    token: OneTimeCode,
}

/// Complete an email change (for clients that handle the link themselves).
#[utoipa::path(post, path = "/auth/email/change/confirm", tag = "email",
    request_body(content = ChangeConfirmRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = MessageBody),
        (status = 401, description = "Unknown, used or expired token (TOKEN_ERROR)", body = ErrorBody),
        (status = 409, description = "Another account took the address meanwhile (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn confirm_email_change(
    State(state): State<AppState>,
    Client(context): Client,
    JsonOrForm(request): JsonOrForm<ChangeConfirmRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .email
        .confirm_email_change(&request.token, &context)
        .await?;
    Ok(Json(MessageBody {
        message: "The account's address changed",
    }))
}
