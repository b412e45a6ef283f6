//! The flows that existing client applications use, on `/api/v1` paths, replayed on SQLite
//! and on PostgreSQL + Redis: a gateway with form login and bearer refresh, cookie sessions,
//! form clients, and a client with heartbeat, validate and role calls. The form two-factor
//! step and the MFA calls are in `mfa.rs`.

use std::collections::HashMap;

use reqwest::Method;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{PASSWORD, TestServer, access, refresh};

on_both_stores!(server:
    gateway_flow,
    cookie_sessions,
    form_flows,
    heartbeat_validate_and_role_client,
    deleting_the_account_needs_the_password_and_ends_every_session,
    a_refresh_token_raced_twice_has_one_winner_and_kills_the_session,
);

/// A gateway: health, register, form login, bearer use, first super admin, refresh with
/// the refresh token as bearer, logout that kills the token.
async fn gateway_flow(server: TestServer) {
    assert_eq!(
        server.get_json("/health").await,
        (200, json!({"status": "ok"}))
    );
    let (status, user) = server
        .post("/api/v1/auth/signup", json!({"email": "test.user@example.com", "full_name": "Test User", "password": PASSWORD}), None)
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "test.user@example.com");
    assert_eq!(
        (user["first_name"].clone(), user["last_name"].clone()),
        (json!("Test"), json!("User"))
    );
    assert_eq!(user["email_verified"], false);
    assert!(user["id"].is_string());

    let response = server
        .client
        .post(server.url("/api/v1/auth/signin"))
        .form(&[
            ("username", "test.user@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["user"]["email"], "test.user@example.com");
    let (status, me) = server.get_as("/api/v1/auth/me", &access(&tokens)).await;
    assert_eq!(
        (status, me["email"].clone()),
        (200, json!("test.user@example.com"))
    );

    // First-time super admin, then an admin-only call works with its token.
    let admin = server.super_admin("admin@example.com").await;
    assert_eq!(admin["user"]["role"], "super_admin");
    assert_eq!(server.get_as("/api/v1/users", &access(&admin)).await.0, 200);

    // Refresh with the refresh token as bearer (a gateway's /auth/refresh).
    let (status, _, renewed) = server
        .call(
            Method::POST,
            "/api/v1/auth/token/refresh",
            None,
            Some(&refresh(&tokens)),
        )
        .await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(refresh(&renewed), refresh(&tokens));

    // Logout revokes: the access token and the refresh token are dead at once.
    let (status, body) = server
        .post("/api/v1/auth/logout", json!({}), Some(&access(&renewed)))
        .await;
    assert_eq!(
        (status, body["message"].clone()),
        (200, json!("Logout successful"))
    );
    assert_eq!(
        server.get_as("/api/v1/auth/me", &access(&renewed)).await.0,
        401
    );
    assert_eq!(
        server.get_as("/api/v1/auth/me", &access(&tokens)).await.0,
        401
    );
    let (status, _, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/token/refresh",
            None,
            Some(&refresh(&renewed)),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (401, json!("TOKEN_ERROR"))
    );
    server.stop().await;
}

/// Cookies of a response: name -> (value, attributes lower-cased).
fn cookies(headers: &HeaderMap) -> HashMap<String, (String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| {
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let (name, value) = pair.split_once('=')?;
            Some((
                name.trim().to_owned(),
                (value.to_owned(), attributes.to_lowercase()),
            ))
        })
        .collect()
}

/// Cookie sessions: login that sets HttpOnly cookies, refresh from the cookie (with the CSRF header),
/// logout that revokes and clears them.
async fn cookie_sessions(server: TestServer) {
    server.account("cooluser1@example.com").await;
    let response = server
        .client
        .post(server.url("/api/v1/auth/signin?session=cookie"))
        .json(&json!({"email": "cooluser1@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set = cookies(response.headers());
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"message": "Login successful"})
    );
    let (access_cookie, access_attributes) = &set["access_token"];
    let (refresh_cookie, refresh_attributes) = &set["refresh_token"];
    let (csrf, csrf_attributes) = &set["csrf_token"];
    assert!(
        access_attributes.contains("httponly") && access_attributes.contains("samesite=lax"),
        "{access_attributes}"
    );
    assert!(
        refresh_attributes.contains("httponly") && refresh_attributes.contains("path=/api/v1/auth"),
        "{refresh_attributes}"
    );
    assert!(!csrf_attributes.contains("httponly"), "{csrf_attributes}");
    // Plain-http loopback issuer: no Secure flag, or the browser would drop the cookies.
    assert!(!access_attributes.contains("secure"), "{access_attributes}");
    let jar = |access: &str, refresh: &str| {
        format!("access_token={access}; refresh_token={refresh}; csrf_token={csrf}")
    };

    let me = server
        .client
        .get(server.url("/api/v1/auth/me"))
        .header("cookie", jar(access_cookie, refresh_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // A state-changing cookie request without the CSRF header is refused and changes nothing.
    let refused = server
        .client
        .post(server.url("/api/v1/auth/token/refresh"))
        .header("cookie", jar(access_cookie, refresh_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refreshed = server
        .client
        .post(server.url("/api/v1/auth/token/refresh"))
        .header("cookie", jar(access_cookie, refresh_cookie))
        .header("x-csrf-token", csrf.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let renewed = cookies(refreshed.headers());
    assert_eq!(
        refreshed.json::<serde_json::Value>().await.unwrap()["message"],
        "Access token refreshed successfully"
    );
    let (new_access, _) = &renewed["access_token"];
    let (new_refresh, _) = &renewed["refresh_token"];
    let csrf = &renewed["csrf_token"].0;
    assert_ne!(new_refresh, refresh_cookie);
    let jar = format!("access_token={new_access}; refresh_token={new_refresh}; csrf_token={csrf}");

    let logout = server
        .client
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &jar)
        .header("x-csrf-token", csrf.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let cleared = cookies(logout.headers());
    for name in ["access_token", "refresh_token", "csrf_token"] {
        let (value, attributes) = &cleared[name];
        assert!(
            value.is_empty() && attributes.contains("max-age=0"),
            "{name}: {value} {attributes}"
        );
    }
    assert_eq!(
        logout.json::<serde_json::Value>().await.unwrap()["message"],
        "Logout successful"
    );
    let me = server
        .client
        .get(server.url("/api/v1/auth/me"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    server.stop().await;
}

/// Form clients (the two-factor step is in `mfa.rs`): form registration and login, form refresh, logout
/// with a machine-readable code.
async fn form_flows(server: TestServer) {
    let response = server
        .client
        .post(server.url("/api/v1/auth/signup"))
        .form(&[
            ("username", "usermrdemonwolf"),
            ("email", "user@mrdemonwolf.github.io"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let login = server
        .client
        .post(server.url("/api/v1/auth/signin"))
        .form(&[
            ("email", "user@mrdemonwolf.github.io"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let tokens: serde_json::Value = login.json().await.unwrap();
    let renewed = server
        .client
        .post(server.url("/api/v1/auth/token/refresh"))
        .form(&[("refresh_token", refresh(&tokens))])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let renewed: serde_json::Value = renewed.json().await.unwrap();
    let (status, body) = server
        .post("/api/v1/auth/logout", json!({}), Some(&access(&renewed)))
        .await;
    assert_eq!((status, body["code"].clone()), (200, json!("LOGGED_OUT")));
    assert_eq!(
        server
            .get_as("/api/v1/auth/validate", &access(&renewed))
            .await
            .0,
        401
    );
    server.stop().await;
}

/// A client of heartbeat, validate and role calls: heartbeat, register (409 on duplicate), login (429 on abuse), validate,
/// change password, list users (admin), get and change role, logout, delete own account.
async fn heartbeat_validate_and_role_client(server: TestServer) {
    let response = server
        .client
        .get(server.url("/api/v1/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let register = json!({"email": "member@example.com", "password": PASSWORD});
    assert_eq!(
        server
            .post("/api/v1/auth/signup", register.clone(), None)
            .await
            .0,
        201
    );
    let (status, body) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "MEMBER@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (409, json!("CONFLICT_ERROR"))
    );
    let (status, body) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "bad-address", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!("VALIDATION_ERROR"))
    );
    assert!(
        body["detail"].as_str().unwrap().starts_with("email:"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "weak@example.com", "password": "Passw0rd123!"}),
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"].as_str().unwrap().starts_with("password:"),
        "{body}"
    );

    let tokens = server.sign_in("member@example.com", PASSWORD).await;
    let token = access(&tokens);
    let (status, body) = server.get_as("/api/v1/auth/validate", &token).await;
    assert_eq!((status, body["valid"].clone()), (200, json!(true)));
    assert_eq!(body["sub"], tokens["user"]["id"]);
    assert_eq!(
        server
            .get_as("/api/v1/auth/validate", "not-a-token")
            .await
            .0,
        401
    );

    // Change password (`password` and `newPassword`); the old one stops working.
    let new_password = "Another-Horse-7-Staple";
    let (status, _, body) = server
        .call(
            Method::PUT,
            "/api/v1/users/me/password",
            Some(json!({"password": PASSWORD, "newPassword": new_password})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server
            .post(
                "/api/v1/auth/signin",
                json!({"email": "member@example.com", "password": PASSWORD}),
                None
            )
            .await
            .0,
        401
    );
    let tokens = server.sign_in("member@example.com", new_password).await;
    let token = access(&tokens);

    // Roles: a user may not list users; an admin may, and may change roles.
    let (status, body) = server.get_as("/api/v1/users", &token).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (403, json!("AUTHORIZATION_ERROR"))
    );
    let (status, role) = server.get_as("/api/v1/users/me/role", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        role,
        json!({"id": tokens["user"]["id"], "email": "member@example.com", "role": "user"})
    );
    let admin = access(&server.super_admin("root@example.com").await);
    let (status, list) = server
        .get_as("/api/v1/users?page=1&per_page=1&search=MEMBER", &admin)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        (list["total"].clone(), list["users"][0]["email"].clone()),
        (json!(1), json!("member@example.com"))
    );
    let id = tokens["user"]["id"].as_str().unwrap();
    let (status, _, body) = server
        .call(
            Method::PUT,
            &format!("/api/v1/users/{id}/role"),
            Some(json!({"role": "guest"})),
            Some(&admin),
        )
        .await;
    assert_eq!((status, body["role"].clone()), (200, json!("guest")));
    assert_eq!(
        server.get_as("/api/v1/users/me/role", &token).await.1["role"],
        "guest"
    );
    let (status, _, _) = server
        .call(
            Method::PUT,
            "/api/v1/users/00000000-0000-0000-0000-000000000000/role",
            Some(json!({"role": "user"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 404);

    // Abuse: five wrong passwords lock the address; even the right one is then refused.
    for _ in 0..5 {
        let (status, body) = server
            .post(
                "/api/v1/auth/signin",
                json!({"email": "member@example.com", "password": "wrong"}),
                None,
            )
            .await;
        assert_eq!(
            (status, body["error_code"].clone()),
            (401, json!("AUTHENTICATION_ERROR"))
        );
    }
    let (status, headers, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/signin",
            Some(json!({"email": "member@example.com", "password": new_password})),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (429, json!("RATE_LIMIT_ERROR"))
    );
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 800
    );

    // Logout invalidates the token; deleting the account ends everything.
    let (status, _) = server
        .post("/api/v1/auth/logout", json!({}), Some(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(server.get_as("/api/v1/auth/validate", &token).await.0, 401);
    server.stop().await;
}

async fn deleting_the_account_needs_the_password_and_ends_every_session(server: TestServer) {
    let first = server.account("leaving@example.com").await;
    let second = server.sign_in("leaving@example.com", PASSWORD).await;
    let (status, _, _) = server
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            Some(json!({"password": "wrong"})),
            Some(&access(&first)),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _, body) = server
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            Some(json!({"password": PASSWORD})),
            Some(&access(&first)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for tokens in [&first, &second] {
        assert_eq!(
            server.get_as("/api/v1/auth/me", &access(tokens)).await.0,
            401
        );
        let (status, _, _) = server
            .call(
                Method::POST,
                "/api/v1/auth/token/refresh",
                Some(json!({"refresh_token": refresh(tokens)})),
                None,
            )
            .await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        server
            .post(
                "/api/v1/auth/signin",
                json!({"email": "leaving@example.com", "password": PASSWORD}),
                None
            )
            .await
            .0,
        401
    );
    server.stop().await;
}

async fn a_refresh_token_raced_twice_has_one_winner_and_kills_the_session(server: TestServer) {
    let tokens = server.account("racer@example.com").await;
    let body = json!({"refresh_token": refresh(&tokens)});
    let (first, second) = tokio::join!(
        server.call(
            Method::POST,
            "/api/v1/auth/token/refresh",
            Some(body.clone()),
            None
        ),
        server.call(Method::POST, "/api/v1/auth/token/refresh", Some(body), None),
    );
    let winners: Vec<&serde_json::Value> = [&first, &second]
        .iter()
        .filter(|r| r.0 == 200)
        .map(|r| &r.2)
        .collect();
    assert_eq!(winners.len(), 1, "{} {}", first.0, second.0);
    // The loser's attempt was a reuse: the session, and so the winner's new tokens, are dead.
    assert_eq!(
        server
            .get_as("/api/v1/auth/me", &access(winners[0]))
            .await
            .0,
        401
    );
    server.stop().await;
}
