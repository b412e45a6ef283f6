//! Starting servers for tests: a fresh data directory, SQLite or a fresh PostgreSQL database,
//! the in-process store or a fresh Redis prefix, an ephemeral port, and a clean stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use castellan_api::config::{Config, ConnectionUrl};
use castellan_api::server;
use castellan_persistence::testing::{TestPostgres, redis_with_fresh_prefix};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which stores a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    /// SQLite file and in-process key-value store (the embedded default).
    Embedded,
    /// PostgreSQL and Redis (production mode).
    Production,
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("castellan-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A configuration for `stores`, or `None` (with the reason printed) when a backend is absent.
pub async fn config_for(stores: Stores) -> Option<(Config, TempDir, Option<TestPostgres>)> {
    let dir = TempDir::new();
    let mut config = Config {
        data_dir: dir.0.clone(),
        issuer: "http://127.0.0.1".to_owned(),
        ..Config::default()
    };
    config.server.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut postgres = None;
    if stores == Stores::Production {
        let database = TestPostgres::create().await?;
        let (redis_url, prefix) = redis_with_fresh_prefix()?;
        config.database.url = ConnectionUrl::from(database.url.clone());
        config.cache.url = ConnectionUrl::from(redis_url);
        config.cache.key_prefix = prefix;
        postgres = Some(database);
    }
    Some((config, dir, postgres))
}

/// A running server and a client for it.
#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
    _postgres: Option<TestPostgres>,
}

impl TestServer {
    /// Starts a server on `stores`; `None` when that backend is not configured.
    pub async fn start(stores: Stores) -> Option<Self> {
        Self::start_with(stores, |_| {}).await
    }

    /// Starts a server after `adjust` has changed the configuration.
    pub async fn start_with(stores: Stores, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let (mut config, dir, postgres) = config_for(stores).await?;
        adjust(&mut config);
        Some(Self::start_config(config, dir, postgres).await)
    }

    /// Starts a server on an already prepared configuration.
    pub async fn start_config(
        mut config: Config,
        dir: TempDir,
        postgres: Option<TestPostgres>,
    ) -> Self {
        config.resolve().expect("valid test configuration");
        let app = server::build(config).await.expect("server starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let router = server::router(app.state);
        let task = tokio::spawn(server::serve(
            listener,
            router,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Self {
            base: format!("http://{address}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
            _postgres: postgres,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`, returning status and JSON body (null when the body is not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Every store combination available here: embedded always, production when configured.
pub async fn servers() -> Vec<TestServer> {
    let mut all = vec![TestServer::start(Stores::Embedded).await.unwrap()];
    if let Some(production) = TestServer::start(Stores::Production).await {
        all.push(production);
    }
    all
}
