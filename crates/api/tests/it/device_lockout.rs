//! The lockout cannot be aimed at an account's owner: failures from unknown devices lock only
//! unknown devices, and a browser that signed in to the account before is judged on its own
//! failures (device cookies).

use serde_json::json;

use crate::oidc_support::{Browser, hidden};
use crate::support::{PASSWORD, TestServer, on_both_stores};

on_both_stores!(server:
    guesses_from_elsewhere_do_not_lock_out_the_owners_browser,
    a_device_cookie_is_given_where_credentials_are_taken,
);

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
