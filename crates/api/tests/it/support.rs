//! Starting servers for tests: a fresh data directory, SQLite or a fresh PostgreSQL database,
//! the in-process store or a fresh Redis prefix, an ephemeral port, and a clean stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use castellan_api::config::{Config, ConnectionUrl};
use castellan_api::server;
use castellan_domain::ShiftedClock;
use castellan_persistence::testing::{TestPostgres, redis_with_fresh_prefix};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A password that meets the default policy.
pub const PASSWORD: &str = "Correct-Horse-9-Battery";

/// The access token of a token response.
pub fn access(tokens: &serde_json::Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// The refresh token of a token response.
pub fn refresh(tokens: &serde_json::Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

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
    // Tests send many requests from one address; the rate-limit tests lower these again.
    config.rate_limit.per_ip_per_minute = 100_000;
    config.rate_limit.per_ip_per_hour = 100_000;
    config.rate_limit.auth_per_ip_per_minute = 100_000;
    config.rate_limit.per_account_per_minute = 100_000;
    // PostgreSQL mode requires a shared master key.
    config.keys.master_key = Some(castellan_oidc::MasterKey::generate().1.into());
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

/// A loopback port held without listening: connections to it are refused (a server that is
/// down), yet no other test can bind it, until `listen` turns it into the listener.
pub fn held_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// The body of a setup call's answer, failing unless it succeeded (2xx), so a broken step is
/// reported where it happens rather than by a later, misleading assertion.
pub fn succeeded((status, body): (u16, serde_json::Value)) -> serde_json::Value {
    assert!((200..300).contains(&status), "{status}: {body}");
    body
}

/// A running server and a client for it.
#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub state: castellan_api::state::AppState,
    pub client: reqwest::Client,
    /// The server's clock: a test of an expiry moves it ahead instead of sleeping.
    pub clock: Arc<ShiftedClock>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    mail: JoinHandle<()>,
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // Relying parties check that the issuer is where they found the metadata.
        if config.issuer == "http://127.0.0.1" {
            config.issuer = format!("http://{address}");
        }
        config.resolve().expect("valid test configuration");
        let clock = Arc::new(ShiftedClock::new());
        let system = server::SystemPorts {
            clock: clock.clone(),
            ..server::SystemPorts::default()
        };
        let app = server::build_with(config, system)
            .await
            .expect("server starts");
        let (stop, stopped) = oneshot::channel::<()>();
        let state = app.state.clone();
        let mail = server::spawn_mail_worker(&state);
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
            state,
            base: format!("http://{address}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            stop: Some(stop),
            task: Some(task),
            mail,
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

    /// Sends `method path` with an optional JSON body and bearer token; returns status,
    /// headers and the JSON body (null when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        bearer: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// POST JSON.
    pub async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        bearer: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let (status, _, body) = self
            .call(reqwest::Method::POST, path, Some(body), bearer)
            .await;
        (status, body)
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, path: &str, bearer: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = self
            .call(reqwest::Method::GET, path, None, Some(bearer))
            .await;
        (status, body)
    }

    /// Creates an account and signs in; returns the token response.
    pub async fn account(&self, email: &str) -> serde_json::Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/signup",
                serde_json::json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        self.sign_in(email, PASSWORD).await
    }

    /// Signs in; returns the token response.
    pub async fn sign_in(&self, email: &str, password: &str) -> serde_json::Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/signin",
                serde_json::json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A super admin created through the bootstrap endpoint; returns its token response.
    pub async fn super_admin(&self, email: &str) -> serde_json::Value {
        let token = self
            .state
            .admin
            .issue_setup_token()
            .await
            .unwrap()
            .expect("no super admin yet");
        let (status, body) = self
            .post(
                "/api/v1/admin/bootstrap",
                serde_json::json!({"setup_token": token, "email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        self.sign_in(email, PASSWORD).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.mail.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Generates `<name>_embedded` and `<name>_production` tests from one async body per name.
/// `on_both_stores!(server: a, b)` starts a default server and calls `a(server)`;
/// `on_both_stores!(stores: a, b)` calls `a(stores)`, for a body that configures and starts its
/// own servers; `on_both_stores!(browser: a)` does the same for a body that drives Chromium
/// (both halves ignored); `on_both_stores!(production: a)` makes only `a_production`, for a body
/// that needs several replicas sharing PostgreSQL and Redis. Production tests are ignored, so a plain
/// `cargo test` counts them as such; run with `--include-ignored` (as `make ci` does), they fail
/// unless `DATABASE_URL` and `REDIS_URL` are set.
macro_rules! on_both_stores {
    (server: $($name:ident),+ $(,)?) => {$(
        castellan_persistence::testing::paste! {
            #[tokio::test]
            async fn [<$name _embedded>]() {
                let stores = $crate::support::Stores::Embedded;
                $name($crate::support::TestServer::start(stores).await.unwrap()).await;
            }

            #[tokio::test]
            #[ignore = "needs DATABASE_URL and REDIS_URL (make ci)"]
            async fn [<$name _production>]() {
                castellan_persistence::testing::require_backends();
                let stores = $crate::support::Stores::Production;
                $name($crate::support::TestServer::start(stores).await.unwrap()).await;
            }
        }
    )+};
    (stores: $($name:ident),+ $(,)?) => {$(
        castellan_persistence::testing::paste! {
            #[tokio::test]
            async fn [<$name _embedded>]() {
                $name($crate::support::Stores::Embedded).await;
            }

            #[tokio::test]
            #[ignore = "needs DATABASE_URL and REDIS_URL (make ci)"]
            async fn [<$name _production>]() {
                castellan_persistence::testing::require_backends();
                $name($crate::support::Stores::Production).await;
            }
        }
    )+};
    (browser: $($name:ident),+ $(,)?) => {$(
        castellan_persistence::testing::paste! {
            #[tokio::test]
            #[ignore = "needs chromium + chromedriver"]
            async fn [<$name _embedded>]() {
                $name($crate::support::Stores::Embedded).await;
            }

            #[tokio::test]
            #[ignore = "needs chromium + chromedriver, DATABASE_URL and REDIS_URL (make ci)"]
            async fn [<$name _production>]() {
                castellan_persistence::testing::require_backends();
                $name($crate::support::Stores::Production).await;
            }
        }
    )+};
    (production: $($name:ident),+ $(,)?) => {$(
        castellan_persistence::testing::paste! {
            #[tokio::test]
            #[ignore = "needs DATABASE_URL and REDIS_URL (make ci)"]
            async fn [<$name _production>]() {
                castellan_persistence::testing::require_backends();
                $name().await;
            }
        }
    )+};
}
pub(crate) use on_both_stores;
