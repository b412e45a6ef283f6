//! Organizations (`/api/v1/organizations`): create, list, read, update and delete here;
//! memberships, invitations, groups, domains and the permission check in the files beside
//! this one. Each organization-scoped handler names its permission through [`OrgAccess`],
//! whose proof it hands to the service.

mod access;
mod domains;
mod groups;
mod invitations;
mod members;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::{Organization, OrganizationPatch, OrganizationPolicy};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQueries, JsonOrForm};
use crate::http::access::{OrgAccess, OrgManage, OrgRead};
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::routes::api_v1::dto::{PageInfo, PageQuery};
use crate::state::AppState;

/// The organization routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(members::add_member, members::members))
        .routes(routes!(members::set_role))
        .routes(routes!(members::remove_member))
        .routes(routes!(members::leave))
        .routes(routes!(access::check))
        .routes(routes!(access::switch))
        .routes(routes!(invitations::accept))
        .routes(routes!(groups::groups, groups::create_group))
        .routes(routes!(groups::delete_group))
        .routes(routes!(groups::add_to_group))
        .routes(routes!(domains::domains, domains::add_domain))
        .routes(routes!(domains::verify_domain))
        .routes(routes!(domains::remove_domain))
        .routes(routes!(groups::remove_from_group))
}

/// An organization's policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyBody {
    /// Members must sign in with a second factor.
    #[serde(default)]
    mfa_required: bool,
    /// Allowed sign-in methods (`password`, `passkey`, `magic_link`, `sso`); empty: all.
    #[serde(default)]
    allowed_sign_in_methods: Vec<String>,
    /// Members' sessions end after this many hours; null: the platform's lifetime.
    #[serde(default)]
    session_lifetime_hours: Option<u32>,
    /// Users whose verified address is at one of the organization's verified domains join
    /// as members when they sign in.
    #[serde(default)]
    auto_join_verified_domains: bool,
}

impl From<&OrganizationPolicy> for PolicyBody {
    fn from(policy: &OrganizationPolicy) -> Self {
        Self {
            mfa_required: policy.mfa_required,
            allowed_sign_in_methods: policy.allowed_sign_in_methods.clone(),
            session_lifetime_hours: policy.session_lifetime_hours,
            auto_join_verified_domains: policy.auto_join_verified_domains,
        }
    }
}

impl From<PolicyBody> for OrganizationPolicy {
    fn from(body: PolicyBody) -> Self {
        Self {
            mfa_required: body.mfa_required,
            allowed_sign_in_methods: body.allowed_sign_in_methods,
            session_lifetime_hours: body.session_lifetime_hours,
            auto_join_verified_domains: body.auto_join_verified_domains,
        }
    }
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    /// Id.
    id: String,
    /// URL-safe unique name.
    #[schema(example = "acme-corp")]
    slug: String,
    /// Display name.
    name: String,
    /// What it asks of its members.
    policy: PolicyBody,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

impl From<&Organization> for OrganizationBody {
    fn from(organization: &Organization) -> Self {
        Self {
            id: organization.id.to_string(),
            slug: organization.slug.clone(),
            name: organization.name.clone(),
            policy: PolicyBody::from(&organization.policy),
            created_at: organization.created_at,
            updated_at: organization.updated_at,
        }
    }
}

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRequest {
    /// Display name.
    #[schema(example = "Acme Corp")]
    name: String,
    /// URL-safe unique name; made from the name when left out.
    slug: Option<String>,
}

/// Create an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/organizations", tag = "organizations", security(("bearer" = [])),
    request_body(content = CreateRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = OrganizationBody),
        (status = 409, description = "The slug is taken (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "Bad name or slug (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<CreateRequest>,
) -> Result<(StatusCode, Json<OrganizationBody>), ApiError> {
    let organization = state
        .organizations
        .organizations
        .create(
            &caller.principal,
            &request.name,
            request.slug.as_deref(),
            &context,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OrganizationBody::from(&organization)),
    ))
}

/// Which organizations to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Every organization (platform admins only); otherwise the caller's.
    #[serde(default)]
    all: bool,
    /// Part of the name or slug.
    search: Option<String>,
}

/// A page of organizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    /// This page.
    organizations: Vec<OrganizationBody>,
    /// Its place in the list.
    #[serde(flatten)]
    paging: PageInfo,
}

/// The caller's organizations, or every organization for a platform admin asking `all=true`.
#[utoipa::path(get, path = "/organizations", tag = "organizations", security(("bearer" = [])),
    params(ListQuery, PageQuery),
    responses(
        (status = 200, description = "A page", body = OrganizationList),
        (status = 403, description = "`all` without a platform admin role (AUTHORIZATION_ERROR)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiQueries(query, paging): ApiQueries<ListQuery, PageQuery>,
) -> Result<Json<OrganizationList>, ApiError> {
    let (page, per_page) = paging.resolve(20);
    let found = state
        .organizations
        .organizations
        .list(
            &caller.principal,
            query.all,
            query.search.as_deref(),
            page,
            per_page,
        )
        .await?;
    Ok(Json(OrganizationList {
        organizations: found.items.iter().map(OrganizationBody::from).collect(),
        paging: PageInfo {
            total: found.total,
            page,
            per_page,
        },
    }))
}

/// One organization (`org:read`).
#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn get(
    State(state): State<AppState>,
    access: OrgAccess<OrgRead>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let organization = state.organizations.organizations.get(&access.scope).await?;
    Ok(Json(OrganizationBody::from(&organization)))
}

/// Changes to an organization.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRequest {
    /// A new display name.
    name: Option<String>,
    /// A new slug.
    slug: Option<String>,
    /// A new policy (replaces the old one).
    policy: Option<PolicyBody>,
}

/// Rename an organization, change its slug or policy (`org:manage`).
#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    request_body(content = UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = OrganizationBody),
        (status = 403, description = "The caller's role does not grant org:manage (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "The slug is taken (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn update(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    JsonOrForm(request): JsonOrForm<UpdateRequest>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let organization = state
        .organizations
        .organizations
        .update(
            &access.scope,
            OrganizationPatch {
                name: request.name,
                slug: request.slug,
                policy: request.policy.map(OrganizationPolicy::from),
            },
            &context,
        )
        .await?;
    Ok(Json(OrganizationBody::from(&organization)))
}

/// Delete an organization and every membership (`org:manage`).
#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller's role does not grant org:manage (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn delete(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .organizations
        .delete(&access.scope, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
