//! Passkeys (`/api/v1/passkeys/...`): registration for a signed-in user, passwordless and
//! username-first sign-in, the second step after a password, and managing the passkeys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use castellan_domain::PasskeyRecord;
use castellan_passkeys::{AssertionResponse, AttestationResponse, Begun, SignInRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::dto::TokenResponse;
use super::tokens::{SessionMode, sign_in_answer};
use crate::error::no_store;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, JsonOrForm, OptionalBody};
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::OneTimeCode;

/// The `/api/v1/passkeys` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(rename, delete))
        .routes(routes!(register_begin))
        .routes(routes!(register_complete))
        .routes(routes!(authenticate_begin))
        .routes(routes!(authenticate_complete))
}

/// A registered passkey.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyBody {
    /// Id (for rename and delete).
    id: String,
    /// The user's name for it.
    name: String,
    /// The WebAuthn credential id, base64url.
    credential_id: String,
    /// Signature counter last seen (0 for authenticators that keep none, like synced passkeys).
    counter: u32,
    /// The authenticator may sync it (a multi-device passkey).
    backup_eligible: bool,
    /// It is backed up now.
    backup_state: bool,
    /// Registered.
    created_at: DateTime<Utc>,
    /// Last used to sign in.
    last_used_at: Option<DateTime<Utc>>,
}

impl From<&PasskeyRecord> for PasskeyBody {
    fn from(record: &PasskeyRecord) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            credential_id: record.credential_id.clone(),
            counter: record.counter,
            backup_eligible: record.backup_eligible,
            backup_state: record.backup_state,
            created_at: record.created_at,
            last_used_at: record.last_used_at,
        }
    }
}

/// A begun ceremony: send `ceremony_id` back with the authenticator's answer; pass `publicKey`
/// to `navigator.credentials.create()` or `.get()` (binary fields are base64url).
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyResponse {
    /// Names the ceremony (valid for a few minutes, once).
    ceremony_id: String,
    /// The WebAuthn options.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
    /// Conditional-UI hint: `conditional` when the options name no credentials.
    mediation: Option<&'static str>,
}

fn ceremony_answer<T: Serialize>(begun: Begun<T>) -> Result<Response, ApiError> {
    let options =
        serde_json::to_value(&begun.options).map_err(|error| ApiError::internal(&error))?;
    let public_key = options
        .get("publicKey")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let discoverable = public_key
        .get("allowCredentials")
        .and_then(serde_json::Value::as_array)
        .is_some_and(Vec::is_empty);
    Ok((
        no_store(),
        Json(CeremonyResponse {
            ceremony_id: begun.ceremony_id,
            public_key,
            mediation: discoverable.then_some("conditional"),
        }),
    )
        .into_response())
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = [PasskeyBody]),
        (status = 401, description = "Not signed in (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<PasskeyBody>>, ApiError> {
    let passkeys = state.passkeys.list(caller.principal.user.id).await?;
    Ok(Json(passkeys.iter().map(PasskeyBody::from).collect()))
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameRequest {
    /// 1 to 100 printable characters.
    #[schema(example = "Work laptop")]
    name: String,
}

fn passkey_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("No such passkey"))
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    request_body(content = RenameRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Renamed"),
        (status = 404, description = "No such passkey of the caller (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Bad name (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn rename(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(id): Path<String>,
    JsonOrForm(request): JsonOrForm<RenameRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .passkeys
        .rename(
            caller.principal.user.id,
            passkey_id(&id)?,
            &request.name,
            &context,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete one of the caller's passkeys.
#[utoipa::path(delete, path = "/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such passkey of the caller (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .passkeys
        .delete(caller.principal.user.id, passkey_id(&id)?, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Options for a new passkey.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RegisterBeginRequest {
    /// A name for it (default `Passkey N`).
    name: Option<String>,
}

/// Begin registering a passkey for the caller. The options prefer a discoverable credential
/// (so it can sign in without a username) and exclude the caller's existing passkeys.
#[utoipa::path(post, path = "/passkeys/register/begin", tag = "passkeys", security(("bearer" = [])),
    request_body(content = Option<RegisterBeginRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "Options for navigator.credentials.create()", body = CeremonyResponse),
        (status = 400, description = "Passkeys are not configured (BAD_REQUEST)", body = ErrorBody),
        (status = 401, description = "Not signed in (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn register_begin(
    State(state): State<AppState>,
    caller: Authenticated,
    OptionalBody(request): OptionalBody<RegisterBeginRequest>,
) -> Result<Response, ApiError> {
    let name = request.name;
    let begun = state
        .passkeys
        .begin_registration(&caller.principal.user, name)
        .await?;
    ceremony_answer(begun)
}

/// The authenticator's answer to a registration.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterCompleteRequest {
    /// From `register/begin`.
    ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, binary fields
    /// base64url.
    #[schema(value_type = Object)]
    credential: AttestationResponse,
}

/// Finish registering a passkey.
#[utoipa::path(post, path = "/passkeys/register/complete", tag = "passkeys", security(("bearer" = [])),
    request_body(content = RegisterCompleteRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = PasskeyBody),
        (status = 400, description = "The answer was refused, with the reason: wrong origin or RP id, expired ceremony, ... (BAD_REQUEST)", body = ErrorBody),
        (status = 409, description = "This credential is registered already (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn register_complete(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    ApiJson(request): ApiJson<RegisterCompleteRequest>,
) -> Result<(StatusCode, Json<PasskeyBody>), ApiError> {
    let record = state
        .passkeys
        .finish_registration(
            &caller.principal.user,
            &request.ceremony_id,
            &request.credential,
            &context,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(PasskeyBody::from(&record))))
}

/// Whom to sign in: nobody named (passwordless with a discoverable passkey), an email
/// (username-first), or the `mfa_token` of a sign-in's second step.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AuthenticateBeginRequest {
    /// Username-first sign-in.
    email: Option<String>,
    /// The second step after a password.
    #[schema(value_type = Option<String>)]
    mfa_token: Option<OneTimeCode>,
}

/// Begin a passkey sign-in.
#[utoipa::path(post, path = "/passkeys/authenticate/begin", tag = "passkeys",
    request_body(content = Option<AuthenticateBeginRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "Options for navigator.credentials.get()", body = CeremonyResponse),
        (status = 400, description = "Passkeys are not configured (BAD_REQUEST)", body = ErrorBody),
        (status = 401, description = "Unknown or expired mfa_token (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn authenticate_begin(
    State(state): State<AppState>,
    OptionalBody(request): OptionalBody<AuthenticateBeginRequest>,
) -> Result<Response, ApiError> {
    let begun = state
        .passkeys
        .begin_sign_in(SignInRequest {
            email: request.email,
            mfa_token: request.mfa_token,
        })
        .await?;
    ceremony_answer(begun)
}

/// The authenticator's answer to a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthenticateCompleteRequest {
    /// From `authenticate/begin`.
    ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, binary fields base64url.
    #[schema(value_type = Object)]
    credential: AssertionResponse,
}

/// Finish a passkey sign-in: the same token answer as `/auth/signin`, with `amr` `hwk`.
#[utoipa::path(post, path = "/passkeys/authenticate/complete", tag = "passkeys", params(SessionMode),
    request_body(content = AuthenticateCompleteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "The answer was refused, with the reason (BAD_REQUEST)", body = ErrorBody),
    ))]
async fn authenticate_complete(
    State(state): State<AppState>,
    Client(context): Client,
    ApiQuery(mode): ApiQuery<SessionMode>,
    ApiJson(request): ApiJson<AuthenticateCompleteRequest>,
) -> Result<Response, ApiError> {
    let proof = state
        .passkeys
        .finish_sign_in(&request.ceremony_id, &request.credential, &context)
        .await?;
    let outcome = state.signin.sign_in(proof, None, &context).await?;
    Ok(sign_in_answer(&state, outcome, mode.is_cookie()))
}
