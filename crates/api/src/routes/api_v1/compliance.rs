//! Data-protection requests (`/api/v1/compliance/...`): export everything held about a user,
//! erase a user, and the consent ledger.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::{ConsentRecord, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOrForm;
use crate::extract::OptionalBody;
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;

/// The compliance routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(erase))
        .routes(routes!(consents, record_consent))
}

/// Whose data; the caller's when left out (only platform admins may name someone else).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SubjectRequest {
    /// A user id.
    user_id: Option<String>,
}

fn subject(request: &SubjectRequest) -> Result<Option<UserId>, ApiError> {
    Ok(request
        .user_id
        .as_deref()
        .map(str::parse::<UserId>)
        .transpose()?)
}

/// Everything held about the caller (or, for an admin, the named user) as one JSON document:
/// profile, memberships, sessions, second factors (metadata only), OAuth consents, consent
/// records and the audit entries by or about them.
#[utoipa::path(post, path = "/compliance/data-export", tag = "compliance", security(("bearer" = [])),
    request_body(content = Option<SubjectRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "The document", body = Object),
        (status = 403, description = "Naming another user without a platform admin role (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such user (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn export(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    OptionalBody(request): OptionalBody<SubjectRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let document = state
        .compliance
        .export(&caller.principal, subject(&request)?, &context)
        .await?;
    Ok(Json(document))
}

/// The result of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureResponse {
    /// What happened.
    message: &'static str,
    /// The alias the audit log keeps in place of the user.
    #[schema(example = "erased:3f1c0a9b2d4e5f60")]
    alias: String,
}

/// Erase the caller (or, for an admin, the named user): sessions and tokens end, the account
/// and its personal data are deleted, audit entries keep only an alias.
#[utoipa::path(post, path = "/compliance/data-deletion", tag = "compliance", security(("bearer" = [])),
    request_body(content = Option<SubjectRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "Erased", body = ErasureResponse),
        (status = 403, description = "Naming another user without a platform admin role (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 422, description = "The user is the only owner of an organization (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn erase(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    OptionalBody(request): OptionalBody<SubjectRequest>,
) -> Result<Json<ErasureResponse>, ApiError> {
    let alias = state
        .compliance
        .erase(&caller.principal, subject(&request)?, &context)
        .await?;
    Ok(Json(ErasureResponse {
        message: "The user and their personal data are erased",
        alias,
    }))
}

/// A consent decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentBody {
    /// What for.
    purpose: String,
    /// Which version of the policy.
    policy_version: String,
    /// Given or withdrawn.
    granted: bool,
    /// Where.
    source: String,
    /// When.
    at: DateTime<Utc>,
}

impl From<&ConsentRecord> for ConsentBody {
    fn from(record: &ConsentRecord) -> Self {
        Self {
            purpose: record.purpose.clone(),
            policy_version: record.policy_version.clone(),
            granted: record.granted,
            source: record.source.clone(),
            at: record.at,
        }
    }
}

/// The caller's consent decisions, oldest first.
#[utoipa::path(get, path = "/compliance/consent", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = [ConsentBody])))]
async fn consents(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<Json<Vec<ConsentBody>>, ApiError> {
    let records = state.compliance.consents(caller.principal.user.id).await?;
    Ok(Json(records.iter().map(ConsentBody::from).collect()))
}

/// A consent decision to record.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsentRequest {
    /// What for, e.g. `terms_of_service` or `marketing_email`.
    purpose: String,
    /// The version of the policy shown.
    policy_version: String,
    /// Given (true) or withdrawn (false).
    granted: bool,
    /// Where (default `api`).
    source: Option<String>,
}

/// Record a consent decision of the caller (append-only: a withdrawal is a new record).
#[utoipa::path(post, path = "/compliance/consent", tag = "compliance", security(("bearer" = [])),
    request_body(content = ConsentRequest, content_type = "application/json"),
    responses(
        (status = 201, body = ConsentBody),
        (status = 422, description = "A field is empty or too long (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn record_consent(
    State(state): State<AppState>,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentBody>), ApiError> {
    let record = state
        .compliance
        .record_consent(
            &caller.principal.user,
            &request.purpose,
            &request.policy_version,
            request.granted,
            request.source.as_deref().unwrap_or("api"),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ConsentBody::from(&record))))
}
