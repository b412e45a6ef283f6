//! Platform administration: users, roles, admins, the first super admin, and the audit log.
//! Who may do what is decided by `AdminService`; these handlers only translate.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::{
    AdminUserPatch, AuditEvent, AuditQuery, NewAccount, PlatformRole, ProfilePatch, UserId,
    UserQuery,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{PageInfo, PageQuery, UserBody};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQueries};
use crate::http::access::PlatformAdmin;
use crate::http::client::Client;
use crate::state::AppState;
use castellan_domain::OneTimeCode;
use castellan_domain::Password;

/// The administration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(set_role))
        .routes(routes!(create_admin))
        .routes(routes!(bootstrap))
        .routes(routes!(audit))
        .routes(routes!(activity))
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found("No such user"))
}

/// Paging and filters over users.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersParams {
    /// Substring of the email or names.
    search: Option<String>,
    /// Only this role.
    role: Option<String>,
    /// Only verified (true) or unverified (false) emails.
    email_verified: Option<bool>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserListBody {
    /// This page.
    users: Vec<UserBody>,
    /// Its place in the list.
    #[serde(flatten)]
    paging: PageInfo,
}

/// List users (admin).
#[utoipa::path(get, path = "/users", tag = "admin", security(("bearer" = [])), params(PageQuery, ListUsersParams),
    responses(
        (status = 200, body = UserListBody),
        (status = 403, description = "Not an admin (AUTHORIZATION_ERROR)", body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    ApiQueries(paging, params): ApiQueries<PageQuery, ListUsersParams>,
) -> Result<Json<UserListBody>, ApiError> {
    let (page, per_page) = paging.resolve(20);
    let query = UserQuery {
        page,
        per_page,
        search: params.search,
        role: params
            .role
            .as_deref()
            .map(PlatformRole::parse)
            .transpose()?,
        email_verified: params.email_verified,
    };
    let page = state.admin.list_users(&caller.principal, &query).await?;
    Ok(Json(UserListBody {
        users: page.users.iter().map(UserBody::from).collect(),
        paging: PageInfo {
            total: page.total,
            page: query.page,
            per_page: query.per_page,
        },
    }))
}

/// One user (admin).
#[utoipa::path(get, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, body = UserBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
    ))]
async fn get_user(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Path(id): Path<String>,
) -> Result<Json<UserBody>, ApiError> {
    let user = state
        .admin
        .get_user(&caller.principal, user_id(&id)?)
        .await?;
    Ok(Json(UserBody::from(&user)))
}

/// Changes an admin may make to a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserRequest {
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
    /// Mark the email verified.
    email_verified: Option<bool>,
}

/// Change a user (admin).
#[utoipa::path(patch, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), request_body = AdminUserRequest,
    responses(
        (status = 200, body = UserBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    Client(context): Client,
    caller: PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AdminUserRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let patch = AdminUserPatch {
        profile: ProfilePatch {
            first_name: request.first_name,
            last_name: request.last_name,
        },
        email_verified: request.email_verified,
    };
    let user = state
        .admin
        .update_user(&caller.principal, user_id(&id)?, patch, &context)
        .await?;
    Ok(Json(UserBody::from(&user)))
}

/// Delete a user and end their sessions (admin; super admin for admins).
#[utoipa::path(delete, path = "/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
    ))]
async fn delete_user(
    State(state): State<AppState>,
    Client(context): Client,
    caller: PlatformAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .delete_user(&caller.principal, user_id(&id)?, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A role to set.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `super_admin`, `admin`, `user` or `guest`.
    #[schema(example = "guest")]
    role: String,
}

/// Set a user's platform role (admin between `user` and `guest`; super admin otherwise).
#[utoipa::path(put, path = "/users/{id}/role", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), request_body = RoleRequest,
    responses(
        (status = 200, body = UserBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
        (status = 422, description = "Unknown role (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn set_role(
    State(state): State<AppState>,
    Client(context): Client,
    caller: PlatformAdmin,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RoleRequest>,
) -> Result<Json<UserBody>, ApiError> {
    let role = PlatformRole::parse(&request.role)?;
    let user = state
        .admin
        .set_role(&caller.principal, user_id(&id)?, role, &context)
        .await?;
    Ok(Json(UserBody::from(&user)))
}

/// A new admin account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdminRequest {
    /// Email.
    email: String,
    /// Password meeting the policy.
    #[schema(value_type = String)]
    password: Password,
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
    /// `admin` (default) or `super_admin`.
    role: Option<String>,
}

/// Create an admin or super admin (super admin only).
#[utoipa::path(post, path = "/admins", tag = "admin", security(("bearer" = [])), request_body = AdminRequest,
    responses(
        (status = 201, body = UserBody),
        (status = 403, description = "Not a super admin (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 409, description = "CONFLICT_ERROR", body = ErrorBody),
    ))]
async fn create_admin(
    State(state): State<AppState>,
    Client(context): Client,
    caller: PlatformAdmin,
    ApiJson(request): ApiJson<AdminRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let role = PlatformRole::parse(request.role.as_deref().unwrap_or("admin"))?;
    let new = NewAccount {
        email: request.email,
        password: request.password,
        first_name: request.first_name,
        last_name: request.last_name,
    };
    let user = state
        .admin
        .create_admin(&caller.principal, new, role, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(&user))))
}

/// The first super admin, with the setup token the server printed at start.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BootstrapRequest {
    /// The one-time setup token.
    #[schema(value_type = String)]
    setup_token: OneTimeCode,
    /// Email.
    email: String,
    /// Password meeting the policy.
    #[schema(value_type = String)]
    password: Password,
    /// Given name.
    first_name: Option<String>,
    /// Family name.
    last_name: Option<String>,
}

/// Create the first super admin. Works once, only while no super admin exists, and only with the
/// setup token printed at start.
#[utoipa::path(post, path = "/admin/bootstrap", tag = "admin", request_body = BootstrapRequest,
    responses(
        (status = 201, body = UserBody),
        (status = 401, description = "Wrong or used setup token (TOKEN_ERROR)", body = ErrorBody),
        (status = 409, description = "A super admin exists (CONFLICT_ERROR)", body = ErrorBody),
    ))]
async fn bootstrap(
    State(state): State<AppState>,
    Client(context): Client,
    ApiJson(request): ApiJson<BootstrapRequest>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let new = NewAccount {
        email: request.email,
        password: request.password,
        first_name: request.first_name,
        last_name: request.last_name,
    };
    let user = state
        .admin
        .bootstrap(&request.setup_token, new, &context)
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(&user))))
}

/// Filters over the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action, e.g. `auth.signin.failed`.
    action: Option<String>,
    /// Only events by this user id.
    actor: Option<String>,
    /// Only events on this target.
    target: Option<String>,
    /// Only successes (true) or failures (false).
    success: Option<bool>,
    /// Only events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    /// Id.
    id: String,
    /// When.
    at: DateTime<Utc>,
    /// What, e.g. `auth.signin.failed`.
    action: String,
    /// Who.
    actor: Option<String>,
    /// To what.
    target: Option<String>,
    /// From which IP.
    ip: Option<String>,
    /// With which client.
    user_agent: Option<String>,
    /// Outcome.
    success: bool,
    /// Note.
    detail: Option<String>,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: event.at,
            action: event.action,
            actor: event.actor.map(|actor| actor.to_string()),
            target: event.target,
            ip: event.ip,
            user_agent: event.user_agent,
            success: event.success,
            detail: event.detail,
        }
    }
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListBody {
    /// Newest first.
    events: Vec<AuditEventBody>,
    /// Its place in the list.
    #[serde(flatten)]
    paging: PageInfo,
}

/// The audit log of security events, newest first (admin).
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(PageQuery, AuditParams),
    responses(
        (status = 200, body = AuditListBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn audit(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    ApiQueries(paging, params): ApiQueries<PageQuery, AuditParams>,
) -> Result<Json<AuditListBody>, ApiError> {
    let (page, per_page) = paging.resolve(50);
    let query = AuditQuery {
        page,
        per_page,
        action: params.action,
        actor: params
            .actor
            .as_deref()
            .map(|actor| {
                user_id(actor).map_err(|_| ApiError::invalid("actor", "must be a user id"))
            })
            .transpose()?,
        target: params.target,
        success: params.success,
        since: params.since,
    };
    let (events, total) = state.admin.audit(&caller.principal, &query).await?;
    Ok(Json(AuditListBody {
        events: events.into_iter().map(AuditEventBody::from).collect(),
        paging: PageInfo {
            total,
            page: query.page,
            per_page: query.per_page,
        },
    }))
}

/// Recent activity: the newest audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityBody {
    /// Newest first, at most 50.
    events: Vec<AuditEventBody>,
}

/// Recent activity across the platform: the 50 newest audit events (admin).
#[utoipa::path(get, path = "/admin/activity", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = ActivityBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn activity(
    State(state): State<AppState>,
    caller: PlatformAdmin,
) -> Result<Json<ActivityBody>, ApiError> {
    let query = AuditQuery {
        page: 1,
        per_page: 50,
        ..AuditQuery::default()
    };
    let (events, _) = state.admin.audit(&caller.principal, &query).await?;
    Ok(Json(ActivityBody {
        events: events.into_iter().map(AuditEventBody::from).collect(),
    }))
}
