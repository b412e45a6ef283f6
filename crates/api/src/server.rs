//! Starting Castellan: connect the stores, migrate, assemble the router with its layers, and
//! serve until a shutdown signal, letting in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use castellan_domain::{KeyValueStore, SystemClock};
use castellan_persistence::{
    Database, DatabaseError, DatabaseOptions, MemoryKeyValueStore, RedisKeyValueStore, RedisOptions,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use castellan_migration::Migrator;

use crate::config::Config;
use crate::health::HealthChecker;
use crate::http::api_errors::{normalise_api_errors, unknown_api_route};
use crate::http::metrics::{Metrics, record_request};
use crate::http::request_id::{RequestId, assign_request_id};
use crate::http::security_headers::{SecurityHeaders, add_security_headers};
use crate::routes;
use crate::state::AppState;

/// Why Castellan could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DatabaseError),
    /// The key-value store could not be reached.
    #[error("cache: {0}")]
    Cache(#[from] castellan_domain::KvError),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A started application: the state the router serves, and the database to close at the end.
#[derive(Debug)]
pub struct App {
    /// The shared state.
    pub state: AppState,
    /// The database connection pool.
    pub database: Database,
}

/// Connects the database (migrating it when configured) and the key-value store.
pub async fn build(config: Config) -> Result<App, StartupError> {
    let database = connect_database(&config).await?;
    if config.database.run_migrations {
        database.migrate_up::<Migrator>(None).await?;
        tracing::info!("database schema is up to date");
    }
    let (cache, cache_backend) = connect_cache(&config).await?;
    let metrics = Metrics::install().map_err(StartupError::Metrics)?;
    let health = HealthChecker::new(database.clone(), cache, cache_backend);
    let state = AppState {
        config: Arc::new(config),
        health: Arc::new(health),
        metrics,
    };
    Ok(App { state, database })
}

/// Opens the configured database.
pub async fn connect_database(config: &Config) -> Result<Database, DatabaseError> {
    let options = DatabaseOptions {
        max_connections: config.database.max_connections,
        min_connections: config.database.min_connections,
        connect_timeout: Duration::from_secs(config.database.connect_timeout_secs),
    };
    Database::connect(config.database.url.expose(), &options).await
}

async fn connect_cache(
    config: &Config,
) -> Result<(Arc<dyn KeyValueStore>, &'static str), StartupError> {
    if config.cache.url.is_empty() {
        return Ok((
            Arc::new(MemoryKeyValueStore::new(Arc::new(SystemClock))),
            "memory",
        ));
    }
    let timeout = Duration::from_millis(config.cache.timeout_ms);
    let options = RedisOptions {
        key_prefix: config.cache.key_prefix.clone(),
        connect_timeout: timeout,
        response_timeout: timeout,
    };
    let redis = RedisKeyValueStore::connect(config.cache.url.expose(), &options).await?;
    Ok((Arc::new(redis), "redis"))
}

/// The whole HTTP surface with its layers.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (documented, openapi) = routes::documented().split_for_parts();
    let openapi = Arc::new(openapi);
    // Unknown routes under /api/v1 answer in the API's format, not the framework's.
    let documented = documented
        .route("/api/v1", axum::routing::any(unknown_api_route))
        .route("/api/v1/{*rest}", axum::routing::any(unknown_api_route));
    let router = documented
        .route(
            "/openapi.json",
            get(move || routes::docs::openapi_json(openapi.clone())),
        )
        .route("/docs", get(routes::docs::docs_page))
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
        .layer(middleware::from_fn_with_state(
            SecurityHeaders {
                hsts: config.issuer_is_https(),
            },
            add_security_headers,
        ))
        .layer(middleware::from_fn(record_request))
        .layer(trace)
        .layer(middleware::from_fn(assign_request_id))
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

/// Binds the configured address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartupError::Bind { address, source })
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish for up to `grace` before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let draining = Arc::new(Notify::new());
    let signal_draining = draining.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        // notify_one keeps the permit if the grace timer is not waiting yet.
        signal_draining.notify_one();
    });
    tokio::select! {
        result = server => result,
        () = async {
            draining.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; exiting with requests still in flight");
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
