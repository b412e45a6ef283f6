//! What the caller may do and where: the permission check (`/api/v1/rbac/check`) and tokens
//! scoped to one of the caller's organizations (`/api/v1/auth/switch-organization`).

use axum::Json;
use axum::extract::State;
use castellan_domain::OrganizationId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::http::auth::Authenticated;
use crate::state::AppState;

/// What to check.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// A `resource:action` permission, e.g. `members:write`.
    permission: String,
    /// The organization id.
    resource_id: String,
}

/// The answer of a permission check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// Whether the caller may.
    allowed: bool,
    /// Why.
    #[schema(example = "role member does not grant members:write")]
    reason: String,
    /// The permission checked.
    permission: String,
    /// The organization checked.
    resource_id: String,
}

/// Whether the caller holds a permission in an organization, and why.
#[utoipa::path(get, path = "/rbac/check", tag = "organizations", security(("bearer" = [])),
    params(CheckQuery),
    responses(
        (status = 200, description = "Allowed or denied, with the reason", body = CheckResponse),
        (status = 422, description = "Unknown permission (VALIDATION_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn check(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQuery(query): ApiQuery<CheckQuery>,
) -> Result<Json<CheckResponse>, ApiError> {
    let id = uuid::Uuid::parse_str(&query.resource_id)
        .map(OrganizationId)
        .map_err(|_| ApiError::invalid("resource_id", "must be an organization id"))?;
    let decision = state
        .organizations
        .access
        .check(&caller.principal, id, &query.permission)
        .await?;
    Ok(Json(CheckResponse {
        allowed: decision.allowed,
        reason: decision.reason,
        permission: query.permission,
        resource_id: query.resource_id,
    }))
}

/// Which organization to scope the tokens to.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SwitchRequest {
    /// An organization id or slug; null or left out for tokens without an organization.
    #[schema(example = "acme-corp")]
    organization: Option<String>,
}

/// Mint new tokens from the caller's session, scoped to an organization: the access token
/// then carries `org_id`, `org_slug`, `roles` and `permissions`, and every refresh re-reads
/// them, so a role change shows in the next refresh.
#[utoipa::path(post, path = "/auth/switch-organization", tag = "organizations", security(("bearer" = [])),
    request_body(content = Option<SwitchRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "New tokens", body = crate::routes::api_v1::dto::TokenResponse),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn switch(
    State(state): State<AppState>,
    caller: Authenticated,
    crate::extract::OptionalBody(request): crate::extract::OptionalBody<SwitchRequest>,
) -> Result<axum::response::Response, ApiError> {
    let pair = state
        .sessions
        .switch_organization(&caller.principal, request.organization.as_deref())
        .await?;
    Ok(crate::routes::api_v1::tokens::token_answer(
        &state, &pair, false, "Switched",
    ))
}
