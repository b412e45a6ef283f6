//! The hosted pages in a real browser: headless Chromium, driven through ChromeDriver, signs up,
//! consents and lands back at the application; then signs out through the confirmation page.
//! The pages must work under their own Content-Security-Policy; passkey sign-in runs the one
//! script of ours against a virtual authenticator.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::oidc_support::{AFTER_LOGOUT, pkce, query, register};
use crate::support::{PASSWORD, Stores, TestServer, access, on_both_stores};

on_both_stores!(browser:
    a_browser_signs_up_consents_and_signs_out,
    a_browser_picks_the_organization,
    a_browser_signs_in_with_a_passkey_and_with_a_second_factor,
);

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

/// Starts ChromeDriver; fails when Chromium or ChromeDriver is missing (these tests are
/// ignored unless asked for, and asked for they must not pass without a browser).
async fn driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "chromium and chromium-driver are not installed (make browser-deps)"
    );
    // ChromeDriver takes a port number, not a listener, so the port may be gone by the time it
    // binds: a driver that exits, or a port answered by something else, means another try.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Owned by the guard at once, so every path below stops and reaps it.
        let mut driver = Driver {
            child: Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
            url: format!("http://127.0.0.1:{port}"),
        };
        if driver_ready(&mut driver).await {
            return driver;
        }
    }
    panic!("chromedriver did not start");
}

/// Waits until `driver` answers its status endpoint; false when it exited or never answered.
async fn driver_ready(driver: &mut Driver) -> bool {
    for _ in 0..100 {
        if driver.child.try_wait().unwrap().is_some() {
            return false;
        }
        let status = reqwest::get(format!("{}/status", driver.url)).await;
        if let Ok(response) = status
            && let Ok(body) = response.json::<Value>().await
        {
            return body["value"]["ready"].is_boolean();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                // Tests talk only to 127.0.0.1: no update checks or other background traffic.
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
            ],
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

/// The application: a page on 127.0.0.1 the browser lands on; returns its base URL and its
/// callback.
async fn application() -> (String, String) {
    let app = axum::Router::new().fallback(|| async { "application" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let callback = format!("{app_base}/callback");
    (app_base, callback)
}

async fn a_browser_signs_up_consents_and_signs_out(stores: Stores) {
    let driver = driver().await;
    let (app_base, callback) = application().await;

    let server = TestServer::start(stores).await.unwrap();
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

/// A user of two organizations signs in for an application that asks for the `organization`
/// scope, picks one on the hosted picker, consents, and the application's tokens are scoped to
/// the one picked.
async fn a_browser_picks_the_organization(stores: Stores) {
    let driver = driver().await;
    let (_, callback) = application().await;

    let server = TestServer::start(stores).await.unwrap();
    let owner = access(&server.account("owner@picker.example").await);
    let user = server.account("grace@picker.example").await;
    let mut organizations = Vec::new();
    for name in ["Initech", "Hooli"] {
        let (status, org) = server
            .post("/api/v1/organizations", json!({"name": name}), Some(&owner))
            .await;
        assert_eq!(status, 201, "{org}");
        let id = org["id"].as_str().unwrap().to_owned();
        let (status, _) = server
            .post(
                &format!("/api/v1/organizations/{id}/members"),
                json!({"user_id": user["user"]["id"], "role": "member"}),
                Some(&owner),
            )
            .await;
        assert_eq!(status, 201);
        organizations.push(id);
    }
    let client = register(
        &server,
        json!({
            "client_name": "Tenant App",
            "redirect_uris": [callback],
            "scope": "openid email organization",
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let authorize = crate::oidc_support::authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", &callback),
            ("scope", "openid organization"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    let browser = browser(&driver).await;
    browser.goto(&authorize).await.unwrap();
    arrive(&browser, &format!("{}/login", server.base)).await;
    fill(&browser, "#email", "grace@picker.example").await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    arrive(&browser, &format!("{}/select-organization", server.base)).await;
    let picker = browser.source().await.unwrap();
    assert!(
        picker.contains("Initech") && picker.contains("Hooli"),
        "{picker}"
    );
    let hooli = &organizations[1];
    click(&browser, &format!("button[value='{hooli}']")).await;
    arrive(&browser, &format!("{}/consent", server.base)).await;
    click(&browser, "button[value=allow]").await;
    let landed = arrive(&browser, &callback).await;
    let response = server
        .client
        .post(server.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", query(&landed)["code"].as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims =
        crate::tokens::verify_with_jwks_for(&server, access(&tokens).as_str(), client_id).await;
    assert_eq!(claims["org_id"], json!(hooli));
    assert_eq!(claims["org_slug"], json!("hooli"));
    assert_eq!(claims["roles"], json!(["member"]));

    browser.close().await.unwrap();
    server.stop().await;
}

/// A command of WebDriver's virtual-authenticator extension (which ChromeDriver implements):
/// `suffix` goes after `session/{id}/webauthn/`.
#[derive(Debug)]
struct Authenticators {
    suffix: String,
    body: Option<Value>,
}

impl Authenticators {
    /// Adds a CTAP2 platform authenticator with resident keys and user verification, which
    /// consents to every request.
    fn add() -> Self {
        Self {
            suffix: "authenticator".to_owned(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            })),
        }
    }

    /// The credentials an authenticator holds (with their private keys).
    fn credentials(authenticator: &str) -> Self {
        Self {
            suffix: format!("authenticator/{authenticator}/credentials"),
            body: None,
        }
    }

    /// Puts a credential into an authenticator.
    fn add_credential(authenticator: &str, credential: Value) -> Self {
        Self {
            suffix: format!("authenticator/{authenticator}/credential"),
            body: Some(credential),
        }
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for Authenticators {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.suffix
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        match &self.body {
            Some(body) => (http::Method::POST, Some(body.to_string())),
            None => (http::Method::GET, None),
        }
    }
}

/// Registers a passkey from the page, as an account page's script would: the browser's own
/// `navigator.credentials.create()` answers the server's options.
const REGISTER_PASSKEY: &str = r#"
const [token, done] = arguments;
const bytes = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((t.length + 3) % 4)), (c) => c.charCodeAt(0));
const text = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const headers = { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' };
(async () => {
  const begun = await (await fetch('/api/v1/passkeys/register/begin', { method: 'POST', headers, body: '{}' })).json();
  const options = begun.publicKey;
  options.challenge = bytes(options.challenge);
  options.user.id = bytes(options.user.id);
  for (const excluded of options.excludeCredentials || []) excluded.id = bytes(excluded.id);
  const made = await navigator.credentials.create({ publicKey: options });
  const credential = {
    id: made.id, rawId: text(made.rawId), type: made.type, extensions: {},
    response: { attestationObject: text(made.response.attestationObject), clientDataJSON: text(made.response.clientDataJSON) },
  };
  const answer = await fetch('/api/v1/passkeys/register/complete', { method: 'POST', headers, body: JSON.stringify({ ceremony_id: begun.ceremony_id, credential }) });
  done([answer.status, await answer.text()]);
})().catch((error) => done([0, String(error)]));
"#;

/// Waits until the page says `email` is signed in, clicking `button` while it is there.
async fn signed_in_after(browser: &Client, button: &str, email: &str) {
    let expected = format!("You are signed in as {email}");
    for _ in 0..100 {
        let page = browser.source().await.unwrap();
        if page.contains(&expected) {
            return;
        }
        if let Ok(element) = browser.find(Locator::Css(button)).await {
            // The page may navigate away between finding and clicking.
            let _ = element.click().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never signed in: {}", browser.source().await.unwrap());
}

/// Waits until the page shows `text`; returns the page.
async fn wait_for(browser: &Client, text: &str) -> String {
    for _ in 0..100 {
        let page = browser.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never showed {text:?}: {}", browser.source().await.unwrap());
}

/// The `amr` note of the newest successful sign-in in the audit log.
async fn last_sign_in_amr(server: &TestServer) -> String {
    let (events, _) = server
        .state
        .audit
        .query(&castellan_domain::AuditQuery {
            page: 1,
            per_page: 1,
            action: Some("auth.signin.succeeded".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    events[0].detail.clone().unwrap_or_default()
}

/// The hosted sign-in with passkeys and a second factor, in Chromium with a virtual
/// authenticator: a discoverable passkey signs in with no username and no password, and a
/// password sign-in of an account with TOTP asks for the code on the second page.
async fn a_browser_signs_in_with_a_passkey_and_with_a_second_factor(stores: Stores) {
    let driver = driver().await;
    let server = TestServer::start_with(stores, |config| {
        config.passkeys.rp_id = "localhost".to_owned();
        config.passkeys.origins = vec!["http://localhost".to_owned()];
        config.passkeys.allow_any_port = true;
    })
    .await
    .unwrap();
    // WebAuthn needs a domain name: the pages are opened at localhost, not 127.0.0.1.
    let base = server.base.replace("127.0.0.1", "localhost");
    let tokens = server.account("ada@example.com").await;

    let browser = browser(&driver).await;
    let authenticator = browser
        .issue_cmd(Authenticators::add())
        .await
        .expect("a virtual authenticator");
    let authenticator = authenticator.as_str().unwrap().to_owned();
    browser.goto(&format!("{base}/login")).await.unwrap();
    let registered: Value = browser
        .execute_async(REGISTER_PASSKEY, vec![json!(access(&tokens))])
        .await
        .unwrap();
    assert_eq!(registered[0], json!(201), "{registered}");

    // Passwordless: no email typed; the authenticator offers the discoverable credential,
    // through the email field's autofill (conditional mediation) where the browser resolves
    // it at once, else through the button.
    browser.goto(&format!("{base}/login")).await.unwrap();
    signed_in_after(&browser, "#passkey-signin", "ada@example.com").await;
    assert_eq!(last_sign_in_amr(&server).await, "amr=hwk,user");
    let credentials = browser
        .issue_cmd(Authenticators::credentials(&authenticator))
        .await
        .unwrap();
    browser.close().await.unwrap();

    // A password sign-in of an account with TOTP takes the second page, in a browser without
    // an authenticator (where autofill would offer the passkey at once).
    let (totp, _, _) = crate::mfa::enrol_totp(&server, &access(&tokens)).await;
    let browser = self::browser(&driver).await;
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(&browser, "#email", "ada@example.com").await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    let page = wait_for(&browser, "Two-step sign-in").await;
    assert!(page.contains("Use a passkey instead"));
    fill(&browser, "#code", "000000").await;
    click(&browser, "form[action='/login/mfa'] button[type=submit]").await;
    let page = wait_for(&browser, "wrong or was already used").await;
    assert!(page.contains("Use a passkey instead"), "{page}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fill(&browser, "#code", &totp.generate(now + 30)).await;
    click(&browser, "form[action='/login/mfa'] button[type=submit]").await;
    wait_for(&browser, "You are signed in as ada@example.com").await;
    assert_eq!(last_sign_in_amr(&server).await, "amr=pwd,otp,mfa");

    // The passkey as the second step instead of a code: the device arrives (the same
    // credential in a new authenticator) once the second page is showing.
    browser.delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(&browser, "#email", "ada@example.com").await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "form[action='/login'] button[type=submit]").await;
    wait_for(&browser, "Two-step sign-in").await;
    let device = browser.issue_cmd(Authenticators::add()).await.unwrap();
    let device = device.as_str().unwrap().to_owned();
    for credential in credentials.as_array().unwrap() {
        browser
            .issue_cmd(Authenticators::add_credential(&device, credential.clone()))
            .await
            .unwrap();
    }
    signed_in_after(&browser, "#passkey-signin", "ada@example.com").await;
    assert_eq!(last_sign_in_amr(&server).await, "amr=pwd,hwk,mfa");

    browser.close().await.unwrap();
    server.stop().await;
}
