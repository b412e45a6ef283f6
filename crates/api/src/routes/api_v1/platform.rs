//! Operating the platform (`/api/v1/admin/...`, platform admins): figures, maintenance mode
//! and the effective configuration.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::http::access::PlatformAdmin;
use crate::http::client::Client;
use crate::state::AppState;

/// The platform routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(maintenance, set_maintenance))
        .routes(routes!(system_config))
}

/// Platform figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBody {
    /// Accounts.
    users: u64,
    /// Organizations.
    organizations: u64,
    /// Sessions not ended or expired.
    active_sessions: u64,
    /// Successful sign-ins in the last 24 hours.
    sign_ins_last_24h: u64,
}

/// Users, organizations, active sessions and sign-ins in the last 24 hours.
#[utoipa::path(get, path = "/admin/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = StatsBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn stats(
    State(state): State<AppState>,
    caller: PlatformAdmin,
) -> Result<Json<StatsBody>, ApiError> {
    let stats = state.platform.stats(&caller.principal).await?;
    Ok(Json(StatsBody {
        users: stats.users,
        organizations: stats.organizations,
        active_sessions: stats.active_sessions,
        sign_ins_last_24h: stats.sign_ins_last_24h,
    }))
}

/// Maintenance mode.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceBody {
    /// Whether writes are refused.
    enabled: bool,
    /// What users are told.
    message: Option<String>,
    /// Since when.
    since: Option<DateTime<Utc>>,
}

impl From<Option<castellan_domain::Maintenance>> for MaintenanceBody {
    fn from(state: Option<castellan_domain::Maintenance>) -> Self {
        Self {
            enabled: state.is_some(),
            message: state.as_ref().map(|state| state.message.clone()),
            since: state.map(|state| state.since),
        }
    }
}

/// Whether maintenance mode is on.
#[utoipa::path(get, path = "/admin/maintenance", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = MaintenanceBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn maintenance(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
) -> Result<Json<MaintenanceBody>, ApiError> {
    Ok(Json(MaintenanceBody::from(
        state.platform.maintenance().await?,
    )))
}

/// Turning maintenance mode on or off.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MaintenanceRequest {
    /// On or off.
    enabled: bool,
    /// What users are told while it is on.
    message: Option<String>,
}

/// Turn maintenance mode on or off for every replica: while on, writes under `/api/v1` answer
/// 503 with `Retry-After`, except sign-in and platform admins; reads keep working.
#[utoipa::path(post, path = "/admin/maintenance", tag = "admin", security(("bearer" = [])),
    request_body(content = MaintenanceRequest, content_type = "application/json"),
    responses(
        (status = 200, body = MaintenanceBody),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn set_maintenance(
    State(state): State<AppState>,
    Client(context): Client,
    caller: PlatformAdmin,
    ApiJson(request): ApiJson<MaintenanceRequest>,
) -> Result<Json<MaintenanceBody>, ApiError> {
    let on = request
        .enabled
        .then(|| request.message.unwrap_or_else(|| "back soon".to_owned()));
    let state = state
        .platform
        .set_maintenance(&caller.principal, on, &context)
        .await?;
    Ok(Json(MaintenanceBody::from(state)))
}

/// The effective configuration, as `castellan config check` prints it: every key with its
/// value, secrets shown as `[redacted]` (admin).
#[utoipa::path(get, path = "/admin/system/config", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The configuration as JSON", body = Object),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn system_config(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
) -> Result<Json<serde_json::Value>, ApiError> {
    serde_json::to_value(&*state.config)
        .map(Json)
        .map_err(|error| ApiError::internal(&error))
}
