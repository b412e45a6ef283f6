//! The operations endpoints and the cross-cutting HTTP behaviour, on every store combination.

use reqwest::header;
use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{Stores, TestServer};

on_both_stores!(server:
    health_endpoints_answer,
    heartbeat_is_an_empty_200,
    api_errors_share_one_format,
    request_ids_are_kept_or_made,
    metrics_count_requests_by_route_template,
    the_openapi_document_is_served,
);
on_both_stores!(stores:
    readiness_waits_for_migrations,
    an_oversized_body_is_refused_in_the_api_format,
    security_headers_are_set,
    cors_follows_the_configured_origins,
);

async fn health_endpoints_answer(server: TestServer) {
    let (status, body) = server.get_json("/health").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = server.get_json("/health/live").await;
    assert_eq!((status, body), (200, json!({"status": "alive"})));
    let (status, body) = server.get_json("/health/ready").await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
    let (status, body) = server.get_json("/health/detailed").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], true);
    assert_eq!(body["cache"], true);
    assert_eq!(body["migrations"], true);
    assert!(body["checks"]["database"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let backends = (
        body["checks"]["database"]["backend"].clone(),
        body["checks"]["cache"]["backend"].clone(),
    );
    assert!(
        backends == (json!("sqlite"), json!("memory"))
            || backends == (json!("postgres"), json!("redis")),
        "{backends:?}"
    );
    server.stop().await;
}

async fn readiness_waits_for_migrations(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.database.run_migrations = false;
    })
    .await
    .unwrap();
    let (status, body) = server.get_json("/health/ready").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"status": "not_ready", "database": true, "cache": true, "migrations": false})
    );
    let (_, body) = server.get_json("/health/detailed").await;
    assert_eq!(body["migrations"], false);
    server.stop().await;
}

async fn heartbeat_is_an_empty_200(server: TestServer) {
    let response = server
        .client
        .get(server.url("/api/v1/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.unwrap().is_empty());
    server.stop().await;
}

async fn api_errors_share_one_format(server: TestServer) {
    let (status, body) = server.get_json("/api/v1/no/such/route").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"detail": "No such route", "error_code": "NOT_FOUND_ERROR", "status_code": 404})
    );

    let response = server
        .client
        .delete(server.url("/api/v1/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().get(header::ALLOW).is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "METHOD_NOT_ALLOWED");
    assert_eq!(body["status_code"], 405);

    // Outside /api/v1 the framework's own answers stand.
    let response = server
        .client
        .get(server.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().is_empty());
    server.stop().await;
}

async fn an_oversized_body_is_refused_in_the_api_format(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.server.body_limit_bytes = 1024;
    })
    .await
    .unwrap();
    let response = server
        .client
        .post(server.url("/api/v1/heartbeat"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(body["status_code"], 413);
    server.stop().await;
}

async fn request_ids_are_kept_or_made(server: TestServer) {
    let response = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", "upstream-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "upstream-42");
    let response = server
        .client
        .get(server.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(made, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    server.stop().await;
}

async fn security_headers_are_set(stores: Stores) {
    let server = TestServer::start(stores).await.unwrap();
    let response = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS on plain http"
    );
    let docs = server.client.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    server.stop().await;

    let https = TestServer::start_with(stores, |config| {
        config.issuer = "https://id.example.com".to_owned();
    })
    .await
    .unwrap();
    let response = https.client.get(https.url("/health")).send().await.unwrap();
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    https.stop().await;
}

async fn cors_follows_the_configured_origins(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.server.cors.allowed_origins = vec!["https://app.example.com".to_owned()];
    })
    .await
    .unwrap();
    let preflight = |origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/api/v1/heartbeat"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
    server.stop().await;
}

async fn metrics_count_requests_by_route_template(server: TestServer) {
    server.get_json("/health/live").await;
    server.get_json("/api/v1/not-here").await;
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    // The count is this server's own: one request, although other servers in this process
    // answer the same route.
    let live: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("http_requests_total{")
                && l.contains("route=\"/health/live\"")
                && l.contains("status=\"200\"")
        })
        .collect();
    assert_eq!(live.len(), 1, "{text}");
    assert!(live[0].ends_with("} 1"), "{text}");
    // Nor does it list a route only other servers served.
    assert!(!text.contains("route=\"/api/v1/auth/signin\""), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    // Unknown paths share one label rather than one series per path.
    assert!(!text.contains("not-here"), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    server.stop().await;
}

async fn the_openapi_document_is_served(server: TestServer) {
    let (status, body) = server.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        body["paths"]["/api/v1/heartbeat"]["get"].is_object(),
        "{body}"
    );
    assert!(
        body["paths"]["/health/detailed"]["get"].is_object(),
        "{body}"
    );
    server.stop().await;
}
