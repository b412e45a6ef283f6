//! Organization roles (`/api/v1/roles`): the built-in ones and the custom roles an
//! organization defines. Each handler names the permission it needs (`roles:read`,
//! `roles:write`) and where the organization comes from: the query or body, the token's
//! organization scope, or the role itself.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::{CustomRole, RoleView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOrForm;
use crate::http::access::{
    InQueryOrToken, NamesOrganization, OfRole, OrgAccess, OrgRequest, RolesRead, RolesWrite,
};
use crate::state::AppState;

/// The role routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

/// A role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleBody {
    /// The custom role's id (what memberships name as their role); null for built-in roles.
    id: Option<String>,
    /// Name; a built-in role is assigned by this name.
    name: String,
    /// Whether Castellan defines it.
    built_in: bool,
    /// Its permissions.
    permissions: Vec<String>,
}

impl From<&RoleView> for RoleBody {
    fn from(role: &RoleView) -> Self {
        Self {
            id: role.id.map(|id| id.to_string()),
            name: role.name.clone(),
            built_in: role.built_in,
            permissions: role.permissions.clone(),
        }
    }
}

impl From<&CustomRole> for RoleBody {
    fn from(role: &CustomRole) -> Self {
        Self::from(&RoleView::from(role))
    }
}

fn role_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("No such role"))
}

/// Whose roles (documents the query; [`InQueryOrToken`] reads it).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The organization id (default: the organization the caller's token is scoped to).
    #[allow(dead_code)]
    organization_id: Option<String>,
}

/// The organization's roles: the built-in ones, then its custom roles (`roles:read`).
#[utoipa::path(get, path = "/roles", tag = "organizations", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = [RoleBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    access: OrgAccess<RolesRead, InQueryOrToken>,
) -> Result<Json<Vec<RoleBody>>, ApiError> {
    let roles = state.organizations.roles.list(&access.scope).await?;
    Ok(Json(roles.iter().map(RoleBody::from).collect()))
}

/// A new custom role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRoleRequest {
    /// The organization id (default: the organization the caller's token is scoped to).
    organization_id: Option<String>,
    /// Unique within the organization.
    #[schema(example = "auditor")]
    name: String,
    /// Permissions from the catalog.
    #[schema(example = json!(["org:read", "audit:read"]))]
    permissions: Vec<String>,
}

/// Define a custom role (`roles:write`).
#[utoipa::path(post, path = "/roles", tag = "organizations", security(("bearer" = [])),
    request_body(content = CreateRoleRequest, content_type = "application/json"),
    responses(
        (status = 201, body = RoleBody),
        (status = 403, description = "The caller's role does not grant roles:write (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No organization named, or not one of the caller's (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "The name is taken (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "Unknown permission or bad name (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    OrgRequest { access, body }: OrgRequest<RolesWrite, CreateRoleRequest>,
) -> Result<(StatusCode, Json<RoleBody>), ApiError> {
    let role = state
        .organizations
        .roles
        .create(&access.scope, &body.name, &body.permissions)
        .await?;
    Ok((StatusCode::CREATED, Json(RoleBody::from(&role))))
}

/// Changes to a custom role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRoleRequest {
    /// A new name.
    name: Option<String>,
    /// The new permission set (replaces the old one).
    permissions: Option<Vec<String>>,
}

/// Rename a custom role or replace its permissions; members holding it are affected at once
/// (`roles:write`).
#[utoipa::path(patch, path = "/roles/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom role id")),
    request_body(content = UpdateRoleRequest, content_type = "application/json"),
    responses(
        (status = 200, body = RoleBody),
        (status = 404, description = "No such role in the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    access: OrgAccess<RolesWrite, OfRole>,
    Path(id): Path<String>,
    JsonOrForm(request): JsonOrForm<UpdateRoleRequest>,
) -> Result<Json<RoleBody>, ApiError> {
    let role = state
        .organizations
        .roles
        .update(
            &access.scope,
            role_id(&id)?,
            request.name.as_deref(),
            request.permissions.as_deref(),
        )
        .await?;
    Ok(Json(RoleBody::from(&role)))
}

/// Delete a custom role no member holds (`roles:write`).
#[utoipa::path(delete, path = "/roles/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such role in the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "A member holds it (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    access: OrgAccess<RolesWrite, OfRole>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .roles
        .delete(&access.scope, role_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

impl NamesOrganization for CreateRoleRequest {
    fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref()
    }
}
