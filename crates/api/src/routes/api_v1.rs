//! The REST API under `/api/v1`, shaped after Janua's reference.

use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The routes under `/api/v1`, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(heartbeat))
        .merge(super::auth::router())
        .merge(super::account::router())
        .merge(super::admin::router())
        .merge(super::clients::router())
        .merge(super::mfa::router())
        .merge(super::passkeys::router())
        .merge(super::email::router())
        .merge(super::organizations::router())
        .merge(super::platform::router())
        .merge(super::compliance::router())
        .merge(super::roles::router())
}

/// Whether the API is up: 200 with an empty body (seed 004's heartbeat).
#[utoipa::path(get, path = "/heartbeat", tag = "meta",
    responses((status = 200, description = "The API is up; the body is empty")))]
async fn heartbeat() -> StatusCode {
    StatusCode::OK
}
