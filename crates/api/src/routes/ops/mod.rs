//! Operations endpoints: liveness, readiness, detailed health and Prometheus metrics.

pub mod docs;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::health::Report;
use crate::state::AppState;

/// The operations routes, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(detailed))
        .routes(routes!(metrics))
}

/// A bare status answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok`, `alive`, `ready` or `not_ready`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether the process is up. Never touches a dependency.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process serves requests", body = StatusBody,
        example = json!({"status": "ok"}))))]
async fn health() -> Json<StatusBody> {
    Json(StatusBody { status: "ok" })
}

/// Kubernetes liveness probe: the process is alive.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Alive", body = StatusBody)))]
async fn live() -> Json<StatusBody> {
    Json(StatusBody { status: "alive" })
}

/// Kubernetes readiness probe: 200 once migrations ran and the database and key-value store
/// answer; 503 otherwise (with which of them failed).
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = StatusBody),
        (status = 503, description = "A dependency is down or migrations are pending"),
    ))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.health.report().await;
    if report.is_ready() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "database": report.database,
                "cache": report.cache,
                "migrations": report.migrations,
            })),
        )
    }
}

/// Every dependency with its latency. 200 while the database answers (`healthy` or
/// `degraded`), 503 when `unhealthy`.
#[utoipa::path(get, path = "/health/detailed", tag = "operations",
    responses(
        (status = 200, description = "Healthy or degraded", body = Report),
        (status = 503, description = "Unhealthy", body = Report),
    ))]
async fn detailed(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.health.report().await;
    let status = if report.database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
