//! Organizations, memberships and the permission check (`/api/v1/organizations`,
//! `/api/v1/rbac/check`). Each organization-scoped handler names its permission through
//! [`OrgAccess`].

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use castellan_domain::{
    Added, Member, MemberRef, Organization, OrganizationId, OrganizationPatch, OrganizationPolicy,
    UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonOrForm, OptionalBody};
use crate::http::access::{AnyMember, MembersRead, MembersWrite, OrgAccess, OrgManage, OrgRead};
use crate::http::auth::Authenticated;
use crate::http::client::Client;
use crate::state::AppState;

/// The organization routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(add_member, members))
        .routes(routes!(set_role))
        .routes(routes!(remove_member))
        .routes(routes!(leave))
        .routes(routes!(check))
        .routes(routes!(switch))
        .routes(routes!(accept))
        .routes(routes!(groups, create_group))
        .routes(routes!(delete_group))
        .routes(routes!(add_to_group))
        .routes(routes!(domains, add_domain))
        .routes(routes!(verify_domain))
        .routes(routes!(remove_domain))
        .routes(routes!(remove_from_group))
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
pub struct ListQuery {
    /// Every organization (platform admins only); otherwise the caller's.
    #[serde(default)]
    all: bool,
    /// Part of the name or slug.
    search: Option<String>,
    /// 1-based page.
    page: Option<u64>,
    /// 1 to 100.
    per_page: Option<u64>,
}

/// A page of organizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    /// This page.
    organizations: Vec<OrganizationBody>,
    /// How many matched.
    total: u64,
    /// This page's number.
    page: u64,
    /// Its size.
    per_page: u64,
}

/// The caller's organizations, or every organization for a platform admin asking `all=true`.
#[utoipa::path(get, path = "/organizations", tag = "organizations", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = OrganizationList),
        (status = 403, description = "`all` without a platform admin role (AUTHORIZATION_ERROR)", body = ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    Query(query): Query<ListQuery>,
) -> Result<Json<OrganizationList>, ApiError> {
    let (page, per_page) = (query.page.unwrap_or(1), query.per_page.unwrap_or(20));
    let found = state
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
        total: found.total,
        page,
        per_page,
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
    let organization = state.organizations.get(&access.scope).await?;
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
    state.organizations.delete(&access.scope, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    /// The account's id.
    user_id: String,
    /// The account's email.
    email: String,
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
    /// `owner`, `admin`, `member` or `viewer`.
    role: String,
    /// Joined.
    joined_at: DateTime<Utc>,
}

impl From<&Member> for MemberBody {
    fn from(member: &Member) -> Self {
        Self {
            user_id: member.user.id.to_string(),
            email: member.user.email.as_str().to_owned(),
            first_name: member.user.first_name.clone(),
            last_name: member.user.last_name.clone(),
            role: member.membership.role.clone(),
            joined_at: member.membership.created_at,
        }
    }
}

/// Whom to add, and as what.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    /// An account id.
    user_id: Option<String>,
    /// Or an account's email.
    email: Option<String>,
    /// `owner`, `admin`, `member` (default) or `viewer`.
    role: Option<String>,
}

/// Add an existing account to the organization (`members:write`; only owners add owners).
#[utoipa::path(post, path = "/organizations/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body(content = AddMemberRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = MemberBody),
        (status = 202, description = "No account has the address: an invitation was mailed", body = InvitationBody),
        (status = 403, description = "The caller may not add members, or owners (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such organization of the caller's, or no such account (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Already a member (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn add_member(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    JsonOrForm(request): JsonOrForm<AddMemberRequest>,
) -> Result<axum::response::Response, ApiError> {
    let who = match (request.user_id, request.email) {
        (Some(id), _) => MemberRef::Id(id.parse()?),
        (None, Some(email)) => MemberRef::Email(email),
        (None, None) => return Err(ApiError::validation("user_id or email: one is required")),
    };
    let added = state
        .organizations
        .add_member(
            &access.scope,
            who,
            request.role.as_deref().unwrap_or("member"),
            &context,
        )
        .await?;
    Ok(match added {
        Added::Member(member) => {
            (StatusCode::CREATED, Json(MemberBody::from(&member))).into_response()
        }
        Added::Invited { email, expires_at } => (
            StatusCode::ACCEPTED,
            Json(InvitationBody {
                invited: email,
                expires_at,
                message: "No account has this address; an invitation was mailed",
            }),
        )
            .into_response(),
    })
}

/// An invitation sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    /// The invited address.
    invited: String,
    /// Until when it can be accepted.
    expires_at: DateTime<Utc>,
    /// What happened.
    message: &'static str,
}

/// The token of an invitation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptRequest {
    /// From the invitation's link.
    token: String,
}

/// Accept an invitation sent to the caller's address: the caller joins the organization with
/// the invited role.
#[utoipa::path(post, path = "/invitations/accept", tag = "organizations", security(("bearer" = [])),
    request_body(content = AcceptRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Joined", body = OrganizationBody),
        (status = 401, description = "Unknown, used, expired, or sent to another address (TOKEN_ERROR)", body = ErrorBody),
    ))]
async fn accept(
    State(state): State<AppState>,
    Client(context): Client,
    caller: Authenticated,
    JsonOrForm(request): JsonOrForm<AcceptRequest>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let organization = state
        .organizations
        .accept_invitation(&caller.principal.user, &request.token, &context)
        .await?;
    Ok(Json(OrganizationBody::from(&organization)))
}

/// The members and their roles (`members:read`).
#[utoipa::path(get, path = "/organizations/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Oldest first", body = [MemberBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn members(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead>,
) -> Result<Json<Vec<MemberBody>>, ApiError> {
    let members = state.organizations.members(&access.scope).await?;
    Ok(Json(members.iter().map(MemberBody::from).collect()))
}

/// A role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    role: String,
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    uuid::Uuid::parse_str(text)
        .map(UserId)
        .map_err(|_| ApiError::not_found("No such member"))
}

/// Change a member's role (`members:write`; only owners touch the owner role; an organization
/// keeps at least one owner).
#[utoipa::path(put, path = "/organizations/{org_id}/members/{user_id}/role", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("user_id" = String, Path, description = "Member's account id"),
    ),
    request_body(content = RoleRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such organization or member (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "Unknown role, or it would leave no owner (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn set_role(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
    JsonOrForm(request): JsonOrForm<RoleRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .set_role(&access.scope, user_id(&path.1)?, &request.role, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (`members:write`; an organization keeps at least one owner).
#[utoipa::path(delete, path = "/organizations/{org_id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("user_id" = String, Path, description = "Member's account id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such organization or member (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "It would leave no owner (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .remove_member(&access.scope, user_id(&path.1)?, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leave an organization (any member; the last owner cannot).
#[utoipa::path(post, path = "/organizations/{org_id}/leave", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 204, description = "Left"),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 422, description = "The caller is the last owner (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn leave(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<AnyMember>,
) -> Result<StatusCode, ApiError> {
    state.organizations.leave(&access.scope, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to check.
#[derive(Debug, Deserialize, IntoParams)]
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
async fn check(
    State(state): State<AppState>,
    caller: Authenticated,
    Query(query): Query<CheckQuery>,
) -> Result<Json<CheckResponse>, ApiError> {
    let id = uuid::Uuid::parse_str(&query.resource_id)
        .map(OrganizationId)
        .map_err(|_| ApiError::validation("resource_id: must be an organization id"))?;
    let decision = state
        .organizations
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
    request_body(content = SwitchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "New tokens", body = crate::routes::dto::TokenResponse),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn switch(
    State(state): State<AppState>,
    caller: Authenticated,
    crate::extract::OptionalBody(request): crate::extract::OptionalBody<SwitchRequest>,
) -> Result<axum::response::Response, ApiError> {
    let pair = state
        .accounts
        .switch_organization(&caller.principal, request.organization.as_deref())
        .await?;
    Ok(super::auth::token_answer(&state, &pair, false, "Switched"))
}

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
async fn groups(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead>,
) -> Result<Json<Vec<GroupBody>>, ApiError> {
    let groups = state.organizations.groups(&access.scope).await?;
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
async fn create_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    JsonOrForm(request): JsonOrForm<GroupRequest>,
) -> Result<(StatusCode, Json<GroupBody>), ApiError> {
    let group = state
        .organizations
        .create_group(&access.scope, &request.name, &request.roles)
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
async fn delete_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .delete_group(&access.scope, group_id(&path.1)?)
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
async fn add_to_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
    JsonOrForm(request): JsonOrForm<GroupMemberRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .add_to_group(
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
async fn remove_from_group(
    State(state): State<AppState>,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .remove_from_group(&access.scope, group_id(&path.1)?, user_id(&path.2)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The DNS record that proves a domain claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainRecord {
    /// Always `TXT`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Where to publish it.
    #[schema(example = "_castellan-verification.acme.example")]
    name: String,
    /// What it must say.
    #[schema(example = "castellan-verification=5f0c...")]
    value: String,
}

/// A domain an organization claims.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainBody {
    /// Id.
    id: String,
    /// The domain.
    #[schema(example = "acme.example")]
    domain: String,
    /// Whether it is verified.
    verified: bool,
    /// When it was verified.
    verified_at: Option<DateTime<Utc>>,
    /// How: `dns` or `operator`.
    verified_by: Option<String>,
    /// The record to publish for DNS verification.
    verification: DomainRecord,
    /// When it was claimed.
    created_at: DateTime<Utc>,
}

impl From<&castellan_domain::OrganizationDomain> for DomainBody {
    fn from(claim: &castellan_domain::OrganizationDomain) -> Self {
        Self {
            id: claim.id.to_string(),
            domain: claim.domain.clone(),
            verified: claim.verified_at.is_some(),
            verified_at: claim.verified_at,
            verified_by: claim.verified_by.clone(),
            verification: DomainRecord {
                kind: "TXT",
                name: claim.record_name(),
                value: claim.record_value(),
            },
            created_at: claim.created_at,
        }
    }
}

/// The organization's claimed email domains (`org:read`).
#[utoipa::path(get, path = "/organizations/{org_id}/domains", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, body = [DomainBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn domains(
    State(state): State<AppState>,
    access: OrgAccess<OrgRead>,
) -> Result<Json<Vec<DomainBody>>, ApiError> {
    let claims = state.organizations.domains(&access.scope).await?;
    Ok(Json(claims.iter().map(DomainBody::from).collect()))
}

/// A domain to claim.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DomainRequest {
    /// The domain.
    #[schema(example = "acme.example")]
    domain: String,
}

/// Claim an email domain; publish the returned TXT record, then verify (`org:manage`).
#[utoipa::path(post, path = "/organizations/{org_id}/domains", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    request_body(content = DomainRequest, content_type = "application/json"),
    responses(
        (status = 201, body = DomainBody),
        (status = 403, description = "Not allowed (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Already claimed by this organization (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "Not a domain name (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn add_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    JsonOrForm(request): JsonOrForm<DomainRequest>,
) -> Result<(StatusCode, Json<DomainBody>), ApiError> {
    let claim = state
        .organizations
        .add_domain(&access.scope, &request.domain, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(DomainBody::from(&claim))))
}

/// How to verify a domain.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct VerifyDomainRequest {
    /// `dns` (default: look up the TXT record) or `operator` (a platform admin vouches).
    #[serde(default)]
    method: Option<String>,
}

/// Verify a claimed domain by its DNS TXT record, or as a platform operator (`org:manage`).
#[utoipa::path(post, path = "/organizations/{org_id}/domains/{domain}/verify", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    request_body(content = VerifyDomainRequest, content_type = "application/json"),
    responses(
        (status = 200, body = DomainBody),
        (status = 400, description = "DNS verification is off (CONFIGURATION_ERROR)", body = ErrorBody),
        (status = 403, description = "Operator verification by a non-admin (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 404, description = "No such claim (NOT_FOUND_ERROR)", body = ErrorBody),
        (status = 409, description = "Verified by another organization (CONFLICT_ERROR)", body = ErrorBody),
        (status = 422, description = "The TXT record is not there yet (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn verify_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    Path(path): Path<(String, String)>,
    OptionalBody(request): OptionalBody<VerifyDomainRequest>,
) -> Result<Json<DomainBody>, ApiError> {
    let how = castellan_domain::Verification::parse(request.method.as_deref())?;
    let claim = state
        .organizations
        .verify_domain(&access.scope, &path.1, how, &context)
        .await?;
    Ok(Json(DomainBody::from(&claim)))
}

/// Drop a claimed domain (`org:manage`).
#[utoipa::path(delete, path = "/organizations/{org_id}/domains/{domain}", tag = "organizations", security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organization id"),
        ("domain" = String, Path, description = "The claimed domain"),
    ),
    responses(
        (status = 204, description = "Dropped"),
        (status = 404, description = "No such claim (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
async fn remove_domain(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<OrgManage>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .remove_domain(&access.scope, &path.1, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
