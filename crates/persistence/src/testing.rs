//! Test support shared by every crate's tests: the PostgreSQL and Redis servers come from
//! `DATABASE_URL` and `REDIS_URL`; each test gets its own fresh database or key prefix so runs
//! never see each other's data. Tests that need a server are `#[ignore]`d, so a plain
//! `cargo test` reports them as ignored; run with `--include-ignored` (as `make ci` does), they
//! call [`require_backend`] first and fail when the server is not configured.
#![allow(clippy::panic, clippy::expect_used)]

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// Whether `variable` names a server.
fn is_set(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|url| !url.trim().is_empty())
}

/// Whether both `DATABASE_URL` and `REDIS_URL` are set.
pub fn backends_configured() -> bool {
    is_set("DATABASE_URL") && is_set("REDIS_URL")
}

/// Fails the test unless `variable` is set: an ignored backend test that was asked to run
/// must not pass without its server.
pub fn require_backend(variable: &str) {
    assert!(
        is_set(variable),
        "{variable} is not set, but this test needs its server: export it (make test finds the \
         local servers, make ci starts them) or leave the test ignored"
    );
}

/// Which half of a test pair runs: the embedded stores or the production servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// SQLite and the in-process key-value store.
    Embedded,
    /// PostgreSQL and Redis.
    Production,
}

#[doc(hidden)]
pub use pastey::paste;

/// Generates `<name>_embedded` and `<name>_production` tests from one async body per name:
/// `on_both_backends!(setup => name, ...)` calls `name(setup(Variant::…).await)`. The
/// production test is ignored; asked to run, it fails unless both servers are configured.
#[macro_export]
macro_rules! on_both_backends {
    ($setup:path => $($name:ident),+ $(,)?) => {$(
        $crate::testing::paste! {
            #[tokio::test]
            async fn [<$name _embedded>]() {
                $name($setup($crate::testing::Variant::Embedded).await).await;
            }

            #[tokio::test]
            #[ignore = "needs DATABASE_URL and REDIS_URL (make ci)"]
            async fn [<$name _production>]() {
                $crate::testing::require_backends();
                $name($setup($crate::testing::Variant::Production).await).await;
            }
        }
    )+};
}

/// Fails the test unless both `DATABASE_URL` and `REDIS_URL` are set.
pub fn require_backends() {
    require_backend("DATABASE_URL");
    require_backend("REDIS_URL");
}

/// Reads a backend URL from the environment; `None` when it is unset, unless
/// `REQUIRE_TEST_BACKENDS` is set (as CI does), which makes a missing URL a failure.
pub fn backend_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("REQUIRE_TEST_BACKENDS").is_some() => {
            panic!("{variable} is not set but REQUIRE_TEST_BACKENDS demands the backend tests")
        }
        _ => None,
    }
}

/// A PostgreSQL database created for one test and dropped when this value is.
#[derive(Debug)]
pub struct TestPostgres {
    /// The URL of the fresh database.
    pub url: String,
    server_url: String,
    name: String,
}

impl TestPostgres {
    /// Creates an empty database on the server `DATABASE_URL` names; `None` when it is unset.
    pub async fn create() -> Option<Self> {
        let server_url = backend_url("DATABASE_URL")?;
        let name = format!("castellan_test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&server_url).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&server_url).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            server_url,
            name,
        })
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // Drop runs outside any async context we can rely on, so a short-lived runtime on its
        // own thread does the cleanup; a failure only leaves a stray test database behind.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let admin = connect(&server_url).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await.ok();
            });
        });
        let _ = cleanup.join();
    }
}

async fn connect(url: &str) -> DatabaseConnection {
    sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|error| panic!("cannot reach the PostgreSQL test server: {error}"))
}

/// The Redis URL and a key prefix no other test run uses; `None` when `REDIS_URL` is unset.
pub fn redis_with_fresh_prefix() -> Option<(String, String)> {
    let url = backend_url("REDIS_URL")?;
    Some((
        url,
        format!("castellan-test:{}:", uuid::Uuid::new_v4().simple()),
    ))
}
