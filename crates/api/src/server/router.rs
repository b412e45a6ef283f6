//! The whole HTTP surface with its layers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::http::api_errors::{normalise_api_errors, unknown_api_route};
use crate::http::device::device_cookie;
use crate::http::envelope::{Envelope, envelope};
use crate::http::maintenance::maintenance_guard;
use crate::http::rate_limit::limit_requests;
use crate::http::request_id::RequestId;
use crate::http::security_headers::SecurityHeaders;
use crate::routes;

use crate::state::AppState;

/// The whole HTTP surface with its layers.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let (documented, openapi) = routes::documented_parts();
    let openapi = Arc::new(openapi);
    // Unknown routes under /api/v1 answer in the API's format, not the framework's.
    let documented = documented
        .route("/api/v1", axum::routing::any(unknown_api_route))
        .route("/api/v1/{*rest}", axum::routing::any(unknown_api_route));
    let router = documented
        .route(
            "/openapi.json",
            get(move || routes::ops::docs::openapi_json(openapi.clone())),
        )
        .route("/docs", get(routes::ops::docs::docs_page))
        .merge(routes::oauth2::router())
        .merge(routes::pages::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            maintenance_guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), device_cookie))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_requests,
        ))
        .with_state(state);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::extract::Request| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .map_or("", |id| id.0.as_str());
            // The path only: query strings can carry codes and tokens.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    router
        .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(config.server.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.server.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::new())
        // Outside the limit, timeout and panic layers, so their answers are rewritten too.
        .layer(middleware::from_fn(normalise_api_errors))
        .layer(cors(&config))
        .layer(trace)
        // Outermost, so the trace span sees the request id and every answer gets the headers.
        .layer(middleware::from_fn_with_state(
            Envelope {
                policy: SecurityHeaders {
                    hsts: config.issuer_is_https(),
                },
                metrics,
            },
            envelope,
        ))
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .server
        .cors
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(config.server.cors.max_age_secs))
}
