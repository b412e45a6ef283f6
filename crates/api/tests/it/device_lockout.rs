//! The lockout cannot be aimed at an account's owner: failures from unknown devices lock only
//! unknown devices, and a browser that signed in to the account before is judged on its own
//! failures (device cookies).

use std::time::Duration;

use serde_json::json;

use crate::oidc_support::{Browser, hidden};
use crate::support::{PASSWORD, Stores, TestServer, on_both_stores};

on_both_stores!(server:
    guesses_from_elsewhere_do_not_lock_out_the_owners_browser,
    a_device_cookie_is_given_where_credentials_are_taken,
);

on_both_stores!(stores: a_mailed_link_lets_the_owner_in_without_waiting_out_the_lock);

/// Tries the hosted sign-in form; returns the answer's status.
async fn page_sign_in(browser: &Browser, email: &str, password: &str) -> u16 {
    let form = browser.get("/login").await;
    assert_eq!(form.status, 200, "{}", form.body);
    browser
        .post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &hidden(&form.body, "csrf")),
            ],
        )
        .await
        .status
}

/// Tries the API sign-in from a client that keeps no cookies (a new device each time).
async fn api_sign_in(server: &TestServer, email: &str, password: &str) -> u16 {
    server
        .post(
            "/api/v1/auth/signin",
            json!({"email": email, "password": password}),
            None,
        )
        .await
        .0
}

async fn guesses_from_elsewhere_do_not_lock_out_the_owners_browser(server: TestServer) {
    server.account("owner@example.com").await;
    let owner = Browser::new(&server);
    assert_eq!(
        page_sign_in(&owner, "owner@example.com", PASSWORD).await,
        303
    );

    // Five wrong passwords from devices never seen before lock every unknown device...
    for _ in 0..5 {
        assert_eq!(
            api_sign_in(&server, "owner@example.com", "Wrong-Guess-1!").await,
            401
        );
    }
    assert_eq!(
        api_sign_in(&server, "owner@example.com", PASSWORD).await,
        429
    );
    let stranger = Browser::new(&server);
    assert_eq!(
        page_sign_in(&stranger, "owner@example.com", PASSWORD).await,
        429
    );

    // ...but the browser that signed in before still signs in with the right password.
    assert_eq!(
        page_sign_in(&owner, "owner@example.com", PASSWORD).await,
        303
    );

    // Its own failures are its own: five of them lock that browser too.
    for _ in 0..5 {
        assert_eq!(
            page_sign_in(&owner, "owner@example.com", "Wrong-Guess-1!").await,
            401
        );
    }
    assert_eq!(
        page_sign_in(&owner, "owner@example.com", PASSWORD).await,
        429
    );
    server.stop().await;
}

async fn a_device_cookie_is_given_where_credentials_are_taken(server: TestServer) {
    let response = server
        .client
        .post(server.url("/api/v1/auth/signin"))
        .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("castellan_device="))
        .expect("a device cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let (status, headers, _) = server
        .call(reqwest::Method::GET, "/api/v1/heartbeat", None, None)
        .await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("set-cookie"), "not on every request");
    server.stop().await;
}

/// The token of the first magic link mailed to `email`, from the embedded transport's `.eml`
/// files (lettre writes the body quoted-printable, so soft breaks are undone first).
async fn magic_link_token(server: &TestServer, email: &str) -> String {
    let dir = server.state.config.mail.outbox_dir.clone();
    for _ in 0..100 {
        let found = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
            .map(|raw| raw.replace("=\r\n", "").replace("=3D", "="))
            .filter(|message| message.contains(&format!("To: {email}")))
            .find_map(|message| {
                let start = message.find("/login/magic?token=")? + "/login/magic?token=".len();
                let token: String = message[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                Some(token)
            });
        if let Some(token) = found {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no magic link to {email} in {}", dir.display());
}

/// The owner on a browser the account has not seen, locked out by strangers' guesses, need
/// not wait: a magic link proves the mailbox, signs that browser in, and makes it a known
/// device, which the lock no longer holds back.
async fn a_mailed_link_lets_the_owner_in_without_waiting_out_the_lock(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.mail.poll_interval_ms = 100;
    })
    .await
    .unwrap();
    let email = "traveller@example.com";
    server.account(email).await;
    for _ in 0..5 {
        assert_eq!(api_sign_in(&server, email, "Wrong-Guess-1!").await, 401);
    }
    let new_laptop = Browser::new(&server);
    assert_eq!(page_sign_in(&new_laptop, email, PASSWORD).await, 429);

    let (status, _) = server
        .post("/api/v1/auth/magic-link", json!({"email": email}), None)
        .await;
    assert_eq!(status, 202);
    let token = magic_link_token(&server, email).await;
    let page = new_laptop.get(&format!("/login/magic?token={token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let signed_in = new_laptop
        .post(
            "/login/magic",
            &[("token", &token), ("csrf", &hidden(&page.body, "csrf"))],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    // That browser is known now: the password works there, and strangers are still held.
    assert_eq!(page_sign_in(&new_laptop, email, PASSWORD).await, 303);
    assert_eq!(api_sign_in(&server, email, PASSWORD).await, 429);
    server.stop().await;
}
