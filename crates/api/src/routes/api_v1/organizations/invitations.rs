//! Accepting an invitation (`/api/v1/invitations/accept`): the signed-in addressee joins the
//! organization with the invited role.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::OrganizationBody;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOrForm;
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::OneTimeCode;

/// The token of an invitation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptRequest {
    /// From the invitation's link.
    #[schema(value_type = String)]
    token: OneTimeCode,
}

/// Accept an invitation sent to the caller's address: the caller joins the organization with
/// the invited role.
#[utoipa::path(post, path = "/invitations/accept", tag = "organizations", security(("bearer" = [])),
    request_body(content = AcceptRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Joined", body = OrganizationBody),
        (status = 401, description = "Unknown, used, expired, or sent to another address (TOKEN_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn accept(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<AcceptRequest>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let organization = state
        .organizations
        .invitations
        .accept(&caller.principal.user, &request.token, &context)
        .await?;
    Ok(Json(OrganizationBody::from(&organization)))
}
