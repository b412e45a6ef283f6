//! Groups (`/api/v1/organizations/{org_id}/groups`): their members inherit the group's roles.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::members::user_id;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOrForm;
use crate::http::access::{MembersRead, MembersWrite, OrgAccess};
use crate::state::AppState;

/// A group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBody {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// Roles its members inherit (built-in names or custom role ids).
    roles: Vec<String>,
    /// Its members' account ids.
    members: Vec<String>,
}

impl From<&castellan_domain::Group> for GroupBody {
    fn from(group: &castellan_domain::Group) -> Self {
        Self {
            id: group.id.to_string(),
            name: group.name.clone(),
            roles: group.roles.clone(),
            members: group.members.iter().map(ToString::to_string).collect(),
        }
    }
}

fn group_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(text).map_err(|_| ApiError::not_found("No such group"))
}

/// The organization's groups (`members:read`).
#[utoipa::path(get, path = "/organizations/{org_id}/groups", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, body = [GroupBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn groups(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead>,
) -> Result<Json<Vec<GroupBody>>, ApiError> {
    let groups = state.organizations.groups.list(&access.scope).await?;
    Ok(Json(groups.iter().map(GroupBody::from).collect()))
}

/// A new group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupRequest {
    /// Name.
    #[schema(example = "Engineering")]
    name: String,
    /// Roles its members inherit.
    #[serde(default)]
    roles: Vec<String>,
}

/// Create a group whose members inherit its roles (`members:write`).
#[utoipa::path(post, path = "/organizations/{org_id}/groups", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body(content = GroupRequest, content_type = "application/json"),
    responses(
        (status = 201, body = GroupBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Unknown role (VALIDATION_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn create_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    JsonOrForm(request): JsonOrForm<GroupRequest>,
) -> Result<(StatusCode, Json<GroupBody>), ApiError> {
    let group = state
        .organizations
        .groups
        .create(&access.scope, &request.name, &request.roles)
        .await?;
    Ok((StatusCode::CREATED, Json(GroupBody::from(&group))))
}

/// Delete a group; its members lose what it gave them at once (`members:write`).
#[utoipa::path(delete, path = "/organizations/{org_id}/groups/{group_id}", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("group_id" = String, Path, description = "Group id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group in the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn delete_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .groups
        .delete(&access.scope, group_id(&path.1)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member to put into a group.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupMemberRequest {
    /// A member's account id.
    user_id: String,
}

/// Put a member of the organization into a group (`members:write`).
#[utoipa::path(post, path = "/organizations/{org_id}/groups/{group_id}/members", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("group_id" = String, Path, description = "Group id"),
    ),
    request_body(content = GroupMemberRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Added"),
        (status = 404, description = "No such group or member (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Already in the group (CONFLICT_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn add_to_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
    JsonOrForm(request): JsonOrForm<GroupMemberRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .groups
        .add_member(
            &access.scope,
            group_id(&path.1)?,
            user_id(&request.user_id)?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a user out of a group (`members:write`).
#[utoipa::path(delete, path = "/organizations/{org_id}/groups/{group_id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("group_id" = String, Path, description = "Group id"),
        ("user_id" = String, Path, description = "Member's account id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such group or group member (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn remove_from_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .groups
        .remove_member(&access.scope, group_id(&path.1)?, user_id(&path.2)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
