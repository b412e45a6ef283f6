//! Route tables. Handlers are thin: extract, call one service, map the result.

pub mod api_v1;
pub mod docs;
pub mod operations;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The top of the OpenAPI document; paths are added by the routers that serve them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Castellan",
        description = "Castellan's REST API and operations endpoints. Errors under /api/v1 \
            share one body: {\"detail\", \"error_code\", \"status_code\"}.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "operations", description = "Health probes and metrics"),
        (name = "meta", description = "Service liveness for API clients"),
    )
)]
struct ApiDoc;

/// Every documented route, with its OpenAPI description.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(operations::router())
        .nest("/api/v1", api_v1::router())
}

/// The OpenAPI document of the REST API, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}
