//! Self-service for the signed-in user: profile, password, role, account deletion and sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::{ProfilePatch, SessionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{MessageBody, SessionBody, UserBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::Password;

/// The self-service routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(my_role))
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(list_consents))
        .routes(routes!(withdraw_consent))
}

/// An application the user allowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentBody {
    /// The client.
    client_id: String,
    /// Its name.
    client_name: String,
    /// What it may access.
    scopes: Vec<String>,
    /// When it was last allowed.
    granted_at: chrono::DateTime<chrono::Utc>,
}

/// The applications the caller allowed.
#[utoipa::path(get, path = "/users/me/consents", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [ConsentBody]), (status = 401, description = "TOKEN_ERROR", body = ErrorBody)))]
async fn list_consents(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<ConsentBody>>, ApiError> {
    let consents = state.oidc.consents(caller.principal.user.id).await?;
    Ok(Json(
        consents
            .into_iter()
            .map(|granted| ConsentBody {
                client_id: granted.client_id,
                client_name: granted.client_name,
                scopes: granted.scopes,
                granted_at: granted.granted_at,
            })
            .collect(),
    ))
}

/// Withdraw an application's access: consent is asked again and its refresh tokens end.
#[utoipa::path(delete, path = "/users/me/consents/{client_id}", tag = "account", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 404, description = "No such consent (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn withdraw_consent(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .oidc
        .withdraw_consent(caller.principal.user.id, &client_id, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/users/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = UserBody), (status = 401, description = "TOKEN_ERROR", body = ErrorBody)))]
async fn get_me(caller: Authenticated) -> Json<UserBody> {
    Json(UserBody::from(&caller.principal.user))
}

/// Profile fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
}

/// Change the caller's profile.
#[utoipa::path(patch, path = "/users/me", tag = "account", security(("bearer" = [])),
    request_body = ProfileRequest,
    responses((status = 200, body = UserBody), (status = 422, description = "VALIDATION_ERROR", body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    ApiJson(request): ApiJson<ProfileRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let user = &caller.principal.user;
    let patch = ProfilePatch {
        first_name: request.first_name,
        last_name: request.last_name,
    };
    let updated = state
        .profiles
        .update_profile(user, patch, user.id, &context)
        .await?;
    Ok(Json(UserBody::from(&updated)))
}

/// The current password, to confirm a deletion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordConfirmation {
    /// The account's password.
    #[schema(value_type = String)]
    password: Password,
}

/// Delete the caller's account: every session ends and the tokens stop working.
#[utoipa::path(delete, path = "/users/me", tag = "account", security(("bearer" = [])),
    request_body = PasswordConfirmation,
    responses((status = 200, body = MessageBody), (status = 401, description = "Wrong password (AUTHENTICATION_ERROR)", body = ErrorBody)))]
async fn delete_me(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    ApiJson(request): ApiJson<PasswordConfirmation>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .profiles
        .delete_account(&caller.principal, &request.password, &context)
        .await?;
    Ok(Json(MessageBody {
        message: "Account deleted",
    }))
}

/// A password change. `{password, newPassword}` is accepted too.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    #[serde(alias = "password")]
    #[schema(value_type = String)]
    current_password: Password,
    /// The new password, meeting the policy.
    #[serde(alias = "newPassword")]
    #[schema(value_type = String)]
    new_password: Password,
}

/// Change the caller's password; every other session ends.
#[utoipa::path(put, path = "/users/me/password", tag = "account", security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, body = MessageBody),
        (status = 401, description = "Wrong current password (AUTHENTICATION_ERROR)", body = ErrorBody),
        (status = 422, description = "The new password fails the policy (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .profiles
        .change_password(
            &caller.principal,
            &request.current_password,
            &request.new_password,
            &context,
        )
        .await?;
    Ok(Json(MessageBody {
        message: "Password changed",
    }))
}

/// The caller's platform role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    /// User id.
    id: String,
    /// Email.
    email: String,
    /// `super_admin`, `admin`, `user` or `guest`.
    role: &'static str,
}

/// The caller's platform role.
#[utoipa::path(get, path = "/users/me/role", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = RoleBody), (status = 401, description = "TOKEN_ERROR", body = ErrorBody)))]
async fn my_role(caller: Authenticated) -> Json<RoleBody> {
    let user = &caller.principal.user;
    Json(RoleBody {
        id: user.id.to_string(),
        email: user.email.as_str().to_owned(),
        role: user.role.as_str(),
    })
}

/// The caller's active sessions, newest first.
#[utoipa::path(get, path = "/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [SessionBody]), (status = 401, description = "TOKEN_ERROR", body = ErrorBody)))]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<SessionBody>>, ApiError> {
    let current = caller.principal.session_id();
    let sessions = state.sessions.sessions(&caller.principal).await?;
    Ok(Json(
        sessions
            .iter()
            .map(|session| SessionBody::new(session, current))
            .collect(),
    ))
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedBody {
    /// Sessions ended.
    revoked: usize,
}

/// End every session of the caller except the current one.
#[utoipa::path(delete, path = "/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = RevokedBody), (status = 401, description = "TOKEN_ERROR", body = ErrorBody)))]
async fn revoke_other_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<RevokedBody>, ApiError> {
    let principal = &caller.principal;
    let revoked = state
        .sessions
        .revoke_all_sessions(principal.user.id, Some(principal.session_id()))
        .await?;
    Ok(Json(RevokedBody { revoked }))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), (status = 404, description = "Not one of the caller's sessions (NOT_FOUND_ERROR)", body = ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("No such session"))?;
    state
        .sessions
        .revoke_session(&caller.principal, SessionId(id), &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
