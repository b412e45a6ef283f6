//! Dependency checks behind the health endpoints: each check is bounded by a timeout, timed,
//! and reported without internal error text (which is logged instead).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use castellan_domain::KeyValueStore;
use castellan_migration::Migrator;
use castellan_persistence::{Backend, Database};
use serde::Serialize;
use utoipa::ToSchema;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of one dependency check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// True when the dependency answered in time.
    pub ok: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// Which implementation is behind it (`sqlite`, `postgres`, `memory`, `redis`).
    pub backend: &'static str,
}

/// Overall state: `healthy` when everything answers, `degraded` when only the key-value store
/// is down (reads of the database still work), `unhealthy` when the database is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every dependency answers.
    Healthy,
    /// The database answers, the key-value store does not.
    Degraded,
    /// The database does not answer.
    Unhealthy,
}

/// The report of `GET /health/detailed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// The overall state.
    pub status: Status,
    /// The database answered.
    pub database: bool,
    /// The key-value store answered.
    pub cache: bool,
    /// Every migration has been applied.
    pub migrations: bool,
    /// The running version of Castellan.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Seconds since this process started serving.
    pub uptime_seconds: u64,
    /// Per-dependency detail.
    pub checks: Checks,
}

/// Per-dependency checks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checks {
    /// The relational database.
    pub database: Check,
    /// The key-value store.
    pub cache: Check,
}

impl Report {
    /// True when the server can take traffic: both stores answer and the schema is current.
    pub fn is_ready(&self) -> bool {
        self.database && self.cache && self.migrations
    }
}

/// Runs the dependency checks.
#[derive(Debug)]
pub struct HealthChecker {
    database: Database,
    cache: Arc<dyn KeyValueStore>,
    cache_backend: &'static str,
    /// Once the schema was seen current it stays so for this process (migrations only go
    /// forward while it runs), which spares the probe a query.
    migrated: AtomicBool,
    started: Instant,
}

impl HealthChecker {
    /// A checker over the given stores.
    pub fn new(
        database: Database,
        cache: Arc<dyn KeyValueStore>,
        cache_backend: &'static str,
    ) -> Self {
        Self {
            database,
            cache,
            cache_backend,
            migrated: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// Checks every dependency concurrently.
    pub async fn report(&self) -> Report {
        let (database, cache, migrations) = tokio::join!(
            self.check_database(),
            self.check_cache(),
            self.check_migrations()
        );
        let status = match (database.ok, cache.ok) {
            (true, true) => Status::Healthy,
            (true, false) => Status::Degraded,
            (false, _) => Status::Unhealthy,
        };
        Report {
            status,
            database: database.ok,
            cache: cache.ok,
            migrations,
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.started.elapsed().as_secs(),
            checks: Checks { database, cache },
        }
    }

    async fn check_database(&self) -> Check {
        let backend = match self.database.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        timed(backend, self.database.ping()).await
    }

    async fn check_cache(&self) -> Check {
        timed(self.cache_backend, self.cache.ping()).await
    }

    async fn check_migrations(&self) -> bool {
        if self.migrated.load(Ordering::Relaxed) {
            return true;
        }
        match tokio::time::timeout(CHECK_TIMEOUT, self.database.is_migrated::<Migrator>()).await {
            Ok(Ok(true)) => {
                self.migrated.store(true, Ordering::Relaxed);
                true
            }
            Ok(Ok(false)) => false,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the migration status");
                false
            }
            Err(_) => false,
        }
    }
}

async fn timed<E: std::fmt::Display>(
    backend: &'static str,
    check: impl Future<Output = Result<(), E>>,
) -> Check {
    let started = Instant::now();
    let ok = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(backend, %error, "health check failed");
            false
        }
        Err(_) => {
            tracing::warn!(backend, "health check timed out");
            false
        }
    };
    Check {
        ok,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        backend,
    }
}
