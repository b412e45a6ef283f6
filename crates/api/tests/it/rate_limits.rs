//! Rate limits: per-IP budgets with `X-RateLimit-*` headers, 429 with `Retry-After`, a tighter
//! budget on sign-in, the allow-list, trusted proxies, and one budget shared by replicas.

use reqwest::Method;
use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{Stores, TestServer, config_for};

on_both_stores!(stores:
    a_client_over_its_budget_gets_429_with_headers,
    the_sign_in_page_shares_the_sign_in_budget,
    sign_in_has_a_tighter_budget,
    allow_listed_clients_are_not_limited,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget,
    each_account_has_its_own_budget,
);

fn tight(config: &mut castellan_api::config::Config) {
    config.rate_limit.per_ip_per_minute = 5;
    config.rate_limit.auth_per_ip_per_minute = 2;
}

async fn a_client_over_its_budget_gets_429_with_headers(stores: Stores) {
    let server = TestServer::start_with(stores, tight).await.unwrap();
    for expected_remaining in (0..5).rev() {
        let (status, headers, _) = server
            .call(Method::GET, "/api/v1/heartbeat", None, None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(
            headers["x-ratelimit-remaining"],
            expected_remaining.to_string().as_str()
        );
        let reset: i64 = headers["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            reset > chrono::Utc::now().timestamp(),
            "reset is a future timestamp"
        );
    }
    let (status, headers, body) = server
        .call(Method::GET, "/api/v1/heartbeat", None, None)
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (429, json!("RATE_LIMIT_ERROR"))
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // Operations endpoints are not part of the API budget.
    assert_eq!(server.get_json("/health").await.0, 200);
    server.stop().await;
}

async fn the_sign_in_page_shares_the_sign_in_budget(stores: Stores) {
    let server = TestServer::start_with(stores, tight).await.unwrap();
    let browser = crate::oidc_support::Browser::new(&server);
    // Browsing the pages is not limited by the sign-in budget.
    for _ in 0..3 {
        assert_eq!(browser.get("/login").await.status, 200);
    }
    let form = browser.get("/login").await;
    let csrf = crate::oidc_support::hidden(&form.body, "csrf");
    let attempt = [
        ("email", "nobody@example.com"),
        ("password", "whatever"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(browser.post("/login", &attempt).await.status, 401);
    assert_eq!(browser.post("/login", &attempt).await.status, 401);
    let page = browser.post("/login", &attempt).await;
    assert_eq!(page.status, 429, "{}", page.body);
    server.stop().await;
}

async fn sign_in_has_a_tighter_budget(stores: Stores) {
    let server = TestServer::start_with(stores, tight).await.unwrap();
    let attempt = json!({"email": "nobody@example.com", "password": "whatever"});
    assert_eq!(
        server
            .post("/api/v1/auth/signin", attempt.clone(), None)
            .await
            .0,
        401
    );
    assert_eq!(
        server
            .post("/api/v1/auth/signin", attempt.clone(), None)
            .await
            .0,
        401
    );
    let (status, body) = server.post("/api/v1/auth/signin", attempt, None).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (429, json!("RATE_LIMIT_ERROR"))
    );
    server.stop().await;
}

async fn allow_listed_clients_are_not_limited(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        tight(config);
        config.rate_limit.allow_list = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    .unwrap();
    for _ in 0..10 {
        let (status, headers, _) = server
            .call(Method::GET, "/api/v1/heartbeat", None, None)
            .await;
        assert_eq!(status, 200);
        assert!(headers.get("x-ratelimit-limit").is_none());
    }
    server.stop().await;
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        tight(config);
        config.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    .unwrap();
    let call = |client: &'static str| {
        server
            .client
            .get(server.url("/api/v1/heartbeat"))
            .header("x-forwarded-for", format!("198.51.100.7, {client}"))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(call("203.0.113.1").await.unwrap().status(), 200);
    }
    assert_eq!(call("203.0.113.1").await.unwrap().status(), 429);
    // A different client behind the same proxy still has its budget; the spoofable left-most
    // entry is ignored.
    assert_eq!(call("203.0.113.2").await.unwrap().status(), 200);
    server.stop().await;
}

on_both_stores!(production: replicas_share_one_budget_through_redis);
async fn replicas_share_one_budget_through_redis() {
    let (mut config, dir, postgres) = config_for(Stores::Production).await.unwrap();
    tight(&mut config);
    let second_config = config.clone();
    let first = TestServer::start_config(config, dir, postgres).await;
    let second =
        TestServer::start_config(second_config, crate::support::TempDir::new(), None).await;
    for server in [&first, &second, &first, &second, &first] {
        assert_eq!(
            server
                .call(Method::GET, "/api/v1/heartbeat", None, None)
                .await
                .0,
            200
        );
    }
    assert_eq!(
        second
            .call(Method::GET, "/api/v1/heartbeat", None, None)
            .await
            .0,
        429
    );
    second.stop().await;
    first.stop().await;
}

async fn each_account_has_its_own_budget(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.rate_limit.per_account_per_minute = 3;
    })
    .await
    .unwrap();
    let tokens = server.account("busy@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(server.get_as("/api/v1/auth/me", token).await.0, 200);
    }
    let (status, body) = server.get_as("/api/v1/auth/me", token).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (429, json!("RATE_LIMIT_ERROR"))
    );
    // Another account from the same address is unaffected.
    let other = server.account("calm@example.com").await;
    assert_eq!(
        server
            .get_as("/api/v1/auth/me", other["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    server.stop().await;
}
