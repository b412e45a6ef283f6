//! The REST API under `/api/v1`: JSON (or form) bodies, one error body for every failure.

pub mod account;
pub mod admin;
pub mod auth;
pub mod clients;
pub mod compliance;
pub mod dto;
pub mod email;
pub mod mfa;
pub mod organizations;
pub mod passkeys;
pub mod platform;
pub mod roles;
pub mod sso;
pub mod sso_signin;
pub mod tokens;

use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The routes under `/api/v1`, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(heartbeat))
        .merge(auth::router())
        .merge(account::router())
        .merge(admin::router())
        .merge(clients::router())
        .merge(mfa::router())
        .merge(passkeys::router())
        .merge(email::router())
        .merge(organizations::router())
        .merge(platform::router())
        .merge(compliance::router())
        .merge(roles::router())
        .merge(sso::router())
        .merge(sso_signin::router())
}

/// Whether the API is up: 200 with an empty body (a heartbeat for clients).
#[utoipa::path(get, path = "/heartbeat", tag = "meta",
    responses((status = 200, description = "The API is up; the body is empty")))]
async fn heartbeat() -> StatusCode {
    StatusCode::OK
}
