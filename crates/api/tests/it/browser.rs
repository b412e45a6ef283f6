//! The hosted pages in a real browser: headless Chromium, driven through ChromeDriver, signs up,
//! consents and lands back at the application; then signs out through the confirmation page.
//! The pages must work under their own Content-Security-Policy, with no script of ours.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::oidc_support::{AFTER_LOGOUT, pkce, query, register};
use crate::support::{PASSWORD, Stores, TestServer};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// ChromeDriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts ChromeDriver, or says why the browser tests cannot run (and fails when CI requires
/// every backend).
async fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        let reason = "skipped: chromium and chromium-driver are not installed (make browser-deps)";
        assert!(
            std::env::var_os("REQUIRE_TEST_BACKENDS").is_none(),
            "{reason}, but REQUIRE_TEST_BACKENDS is set"
        );
        eprintln!("{reason}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Owned by the guard at once, so every path below stops and reaps it.
    let driver = Driver {
        child: Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        }),
    );
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn fill(browser: &Client, selector: &str, text: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(browser: &Client, selector: &str) {
    browser
        .find(Locator::Css(selector))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is at a URL starting with `prefix`.
async fn arrive(browser: &Client, prefix: &str) -> String {
    for _ in 0..100 {
        let url = browser.current_url().await.unwrap().to_string();
        if url.starts_with(prefix) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never reached {prefix}; at {}",
        browser.current_url().await.unwrap()
    );
}

#[tokio::test]
async fn a_browser_signs_up_consents_and_signs_out() {
    let Some(driver) = driver().await else {
        return;
    };
    // The application: a page at the callback that shows what it received.
    let app = axum::Router::new().fallback(|| async { "application" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let callback = format!("{app_base}/callback");

    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let client = register(
        &server,
        json!({
            "client_name": "Browser App",
            "redirect_uris": [callback],
            "post_logout_redirect_uris": [AFTER_LOGOUT, format!("{app_base}/bye")],
            "scope": "openid profile email",
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let authorize = crate::oidc_support::authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", &callback),
            ("scope", "openid email"),
            ("state", "browser-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let browser = browser(&driver).await;
    browser.goto(&authorize).await.unwrap();
    arrive(&browser, &format!("{}/login", server.base)).await;
    // The stylesheet loads under the page's policy: the button is styled, not the default.
    let background: Value = browser
        .execute(
            "return getComputedStyle(document.querySelector('button')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(
        background,
        json!("rgba(0, 0, 0, 0)"),
        "the stylesheet did not apply"
    );
    assert!(browser.source().await.unwrap().contains("Browser App"));
    click(&browser, "a[href^='/signup']").await;
    arrive(&browser, &format!("{}/signup", server.base)).await;
    fill(&browser, "#first_name", "Hedy").await;
    fill(&browser, "#email", "hedy@example.com").await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "button[type=submit]").await;
    arrive(&browser, &format!("{}/consent", server.base)).await;
    let consent = browser.source().await.unwrap();
    assert!(consent.contains("See your email address"), "{consent}");
    click(&browser, "button[value=allow]").await;
    let landed = arrive(&browser, &callback).await;
    let params = query(&landed);
    assert_eq!(params["state"], "browser-state");
    assert_eq!(params["iss"], server.base);
    assert!(params.contains_key("code"));

    // A second authorization in the same browser goes straight back to the application.
    browser.goto(&authorize).await.unwrap();
    let again = arrive(&browser, &callback).await;
    assert!(query(&again).contains_key("code"));

    // Logout without an ID token asks first; confirming ends the session.
    let logout = format!(
        "{}/oauth2/logout?{}",
        server.base,
        serde_urlencoded::to_string([
            ("client_id", client_id),
            ("post_logout_redirect_uri", &format!("{app_base}/bye")),
            ("state", "s1"),
        ])
        .unwrap()
    );
    browser.goto(&logout).await.unwrap();
    assert!(browser.source().await.unwrap().contains("Sign out?"));
    click(&browser, "button[type=submit]").await;
    let bye = arrive(&browser, &format!("{app_base}/bye")).await;
    assert_eq!(query(&bye)["state"], "s1");
    browser.goto(&authorize).await.unwrap();
    arrive(&browser, &format!("{}/login", server.base)).await;

    browser.close().await.unwrap();
    server.stop().await;
}
