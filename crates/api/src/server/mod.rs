//! Starting Castellan: connect the stores and build the adapters (`adapters.rs`), wire the
//! services in dependency order (`services.rs`) with their settings from the configuration
//! (`settings.rs`), assemble the router with its layers (`router.rs`), and serve until a
//! shutdown signal, letting in-flight requests finish.

mod adapters;
mod router;
mod services;
pub(crate) mod settings;

pub use adapters::connect_database;
pub use router::router;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use castellan_domain::{Clock, RandomSource, SystemClock, SystemRandom};
use castellan_persistence::{Database, DatabaseError};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::config::Config;

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
    /// The master key is missing, unreadable or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The mail transport could not be set up.
    #[error("{0}")]
    Mail(String),
    /// The outbound HTTP client could not be built.
    #[error("outbound HTTP client: {0}")]
    Outbound(String),
    /// A service could not start.
    #[error("{0}")]
    Service(#[from] castellan_domain::DomainError),
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

/// What the server reads from the machine rather than from its stores: the time and random
/// numbers. Production takes the system's; tests pass a clock they move.
#[derive(Debug, Clone)]
pub struct SystemPorts {
    /// The source of "now" for every rule, store and token.
    pub clock: Arc<dyn Clock>,
    /// The source of every secret, token, code and salt.
    pub random: Arc<dyn RandomSource>,
}

impl Default for SystemPorts {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            random: Arc::new(SystemRandom),
        }
    }
}

/// Connects the database (migrating it when configured) and the key-value store, loads the
/// signing keys, and wires the services, on the system's clock and random numbers.
pub async fn build(config: Config) -> Result<App, StartupError> {
    build_with(config, SystemPorts::default()).await
}

/// [`build`] on the given clock and random source.
pub async fn build_with(config: Config, system: SystemPorts) -> Result<App, StartupError> {
    // Wiring holds many adapters at once; boxing keeps callers' futures small.
    Box::pin(async move {
        let adapters = adapters::adapters(&config, &system).await?;
        services::services(config, adapters)
    })
    .await
}

/// The mail work, until the task is aborted: fulfilling links asked for by address, and
/// draining the outbox.
pub fn spawn_mail_worker(state: &AppState) -> tokio::task::JoinHandle<()> {
    let worker = state.mail_worker.clone();
    let email = state.email.clone();
    tokio::spawn(async move {
        tokio::join!(
            worker.run(std::future::pending()),
            fulfil_link_requests(email)
        );
    })
}

/// Fulfils links asked for by address as they are asked for (and every second, for those a
/// failure or another replica left).
async fn fulfil_link_requests(email: castellan_domain::EmailService) {
    const BATCH: u64 = 50;
    loop {
        match email.fulfil_link_requests(BATCH).await {
            // A full batch: more may be waiting.
            Ok(claimed) if claimed as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "fulfilling link requests failed"),
        }
        tokio::select! {
            // Not at once: the work a known address causes must not compete with the answer
            // to its own request (on a busy machine that would show in its timing), so it
            // lands a moment later, on whatever requests are being answered then.
            () = email.link_requested() => tokio::time::sleep(Duration::from_millis(250)).await,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Work every replica does in the background: fulfil link requests and send queued mail; reload the signing keys (to
/// see another replica's rotation) every minute, and rotate them when due (once across
/// replicas).
pub fn spawn_background(state: &AppState) -> tokio::task::JoinHandle<()> {
    let keys = state.keys.clone();
    let mail = spawn_mail_worker(state);
    tokio::spawn(async move {
        // Stopping the background work stops the mail worker with it.
        let _mail = AbortOnDrop(mail);
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = keys.rotate_if_due().await {
                tracing::warn!(%error, "scheduled key rotation failed");
            }
            if let Err(error) = keys.reload().await {
                tracing::warn!(%error, "reloading the signing keys failed");
            }
        }
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
