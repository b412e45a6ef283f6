//! Memberships (`/api/v1/organizations/{org_id}/members`): list, add (or invite an address
//! without an account), change a role, remove, and leave.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use castellan_domain::{Added, Member, MemberRef, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonOrForm;
use crate::http::access::{AnyMember, MembersRead, MembersWrite, OrgAccess};
use crate::http::client::Client;
use crate::state::AppState;

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
pub(super) async fn add_member(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    JsonOrForm(request): JsonOrForm<AddMemberRequest>,
) -> Result<axum::response::Response, ApiError> {
    let who = match (request.user_id, request.email) {
        (Some(id), _) => MemberRef::Id(id.parse()?),
        (None, Some(email)) => MemberRef::Email(email),
        (None, None) => {
            return Err(ApiError::invalid(
                "user_id",
                "is required unless email is given",
            ));
        }
    };
    let added = state
        .organizations
        .members
        .add(
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

/// The members and their roles (`members:read`).
#[utoipa::path(get, path = "/organizations/{org_id}/members", tag = "organizations", security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "Oldest first", body = [MemberBody]),
        (status = 404, description = "Not one of the caller's organizations (NOT_FOUND_ERROR)", body = ErrorBody),
    ))]
pub(super) async fn members(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead>,
) -> Result<Json<Vec<MemberBody>>, ApiError> {
    let members = state.organizations.members.list(&access.scope).await?;
    Ok(Json(members.iter().map(MemberBody::from).collect()))
}

/// A role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    role: String,
}

pub(super) fn user_id(text: &str) -> Result<UserId, ApiError> {
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
pub(super) async fn set_role(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
    JsonOrForm(request): JsonOrForm<RoleRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .members
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
pub(super) async fn remove_member(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<MembersWrite>,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .members
        .remove(&access.scope, user_id(&path.1)?, &context)
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
pub(super) async fn leave(
    State(state): State<AppState>,
    Client(context): Client,
    access: OrgAccess<AnyMember>,
) -> Result<StatusCode, ApiError> {
    state
        .organizations
        .members
        .leave(&access.scope, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
