//! The HTTP surface as a first-time user and a generated client meet it: every answer is in the
//! OpenAPI document, refusals speak the format of their surface, query and body errors name
//! every field, pages opened without their parameters show a page, and the logs of a server
//! writing to a file carry no colour codes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header;
use serde_json::{Value, json};

use crate::support::{PASSWORD, Stores, TempDir, TestServer, access};

/// Operations that would end the caller's own session or account, or put the whole server in
/// maintenance mode: sent only requests their handlers refuse before acting.
const DESTRUCTIVE: &[&str] = &["logout", "delete_me", "erase", "set_maintenance"];

/// `path` with every `{parameter}` replaced by an id that names nothing.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "0190a5d2-0000-7000-8000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One request of the sweep, and the statuses its operation documents.
struct Probe<'a> {
    method: reqwest::Method,
    path: String,
    operation: &'a Value,
}

impl Probe<'_> {
    async fn send(
        &self,
        server: &TestServer,
        what: &str,
        bearer: Option<&str>,
        body: Option<(&str, &str)>,
        query: &str,
        undocumented: &mut Vec<String>,
    ) {
        let mut request = server.client.request(
            self.method.clone(),
            server.url(&format!("{}{query}", self.path)),
        );
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request
                .header(header::CONTENT_TYPE, content_type)
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let responses = &self.operation["responses"];
        if responses.get(&status).is_none() && responses.get("default").is_none() {
            let text = response.text().await.unwrap_or_default();
            undocumented.push(format!(
                "{} {}{query} ({what}): {status} is not documented; answered {text}",
                self.method, self.path
            ));
        }
    }
}

#[tokio::test]
async fn every_answer_is_documented_for_its_operation() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let admin = access(&server.super_admin("root@example.com").await);
    let document: Value =
        serde_json::from_str(&castellan_api::routes::openapi().to_json().unwrap()).unwrap();
    let mut undocumented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<reqwest::Method>() else {
                continue;
            };
            let id = operation["operationId"].as_str().unwrap_or_default();
            let probe = Probe {
                method,
                path: concrete(path),
                operation,
            };
            let has_body = operation.get("requestBody").is_some();
            let empty = has_body.then_some(("application/json", "{}"));
            let query = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .map(|parameter| format!("{}=-1%21", parameter["name"].as_str().unwrap()))
                .collect::<Vec<_>>()
                .join("&");
            let u = &mut undocumented;
            probe.send(&server, "no token", None, empty, "", u).await;
            if !DESTRUCTIVE.contains(&id) {
                probe
                    .send(&server, "admin", Some(&admin), empty, "", u)
                    .await;
            }
            if has_body {
                let text = Some(("text/plain", "hello"));
                probe
                    .send(&server, "text body", Some(&admin), text, "", u)
                    .await;
                let broken = Some(("application/json", "{"));
                probe
                    .send(&server, "broken JSON", Some(&admin), broken, "", u)
                    .await;
            }
            if !query.is_empty() && !DESTRUCTIVE.contains(&id) {
                let query = format!("?{query}");
                probe
                    .send(&server, "bad query", Some(&admin), empty, &query, u)
                    .await;
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "{} answers are not in the OpenAPI document:\n{}",
        undocumented.len(),
        undocumented.join("\n")
    );
    server.stop().await;
}

#[test]
fn the_document_marks_what_sign_in_and_sign_up_require() {
    let document: Value =
        serde_json::from_str(&castellan_api::routes::openapi().to_json().unwrap()).unwrap();
    let schemas = &document["components"]["schemas"];
    for name in ["SigninRequest", "SignupRequest"] {
        let required = schemas[name]["required"].as_array().unwrap();
        assert!(required.contains(&json!("email")), "{name}: {required:?}");
        assert!(
            required.contains(&json!("password")),
            "{name}: {required:?}"
        );
    }
    let export = &document["paths"]["/api/v1/compliance/data-export"]["post"]["requestBody"];
    assert_ne!(export["required"], json!(true), "{export}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_in_the_format_of_each_surface() {
    let server = TestServer::start_with(Stores::Embedded, |config| {
        config.server.body_limit_bytes = 1024;
    })
    .await
    .unwrap();
    let form = format!("grant_type=client_credentials&pad={}", "a".repeat(4096));
    let send = |path: &str| {
        server
            .client
            .post(server.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
    };
    let token = send("/oauth2/token").await.unwrap();
    assert_eq!(token.status(), 413);
    assert_eq!(token.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too large")
    );

    let api = send("/api/v1/auth/signin").await.unwrap();
    assert_eq!(api.status(), 413);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE", "{body}");

    let page = send("/login").await.unwrap();
    assert_eq!(page.status(), 413);
    let content_type = page.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(html.contains("What you sent is too large"), "{html}");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_422_naming_every_one() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let admin = access(&server.super_admin("root@example.com").await);
    let (status, body) = server
        .get_as("/api/v1/users?page=-1&email_verified=maybe", &admin)
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "VALIDATION_ERROR");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["page", "email_verified"], "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("page: ") && detail.contains("; email_verified: "),
        "{detail}"
    );

    let (status, body) = server
        .get_as("/api/v1/admin/audit?since=garbage", &admin)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("since: "),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_body_names_every_field_that_does_not_fit() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let (status, body) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": 3, "first_name": ["x"]}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "first_name", "password"], "{body}");
    assert_eq!(errors[2]["message"], "is required");
    server.stop().await;
}

#[tokio::test]
async fn a_sign_up_names_every_rule_it_breaks_at_once() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let (status, body) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "not-an-address", "password": "short", "first_name": "Ja\u{7}ne"}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "first_name"], "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("at least"), "every password rule: {detail}");
    server.stop().await;
}

#[tokio::test]
async fn a_name_is_refused_for_the_rule_it_breaks() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let sign_up = |email: &str, first_name: String| {
        server.post(
            "/api/v1/auth/signup",
            json!({"email": email, "password": PASSWORD, "first_name": first_name}),
            None,
        )
    };
    let (status, body) = sign_up("bell@example.com", "Ja\u{7}ne".to_owned()).await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("control characters"), "{detail}");
    assert!(!detail.contains("at most"), "{detail}");

    let (status, body) = sign_up("long@example.com", "x".repeat(101)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"], "first_name: must be at most 100 characters",
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_leeway_past_an_access_tokens_expiry_is_configurable() {
    let ttl = Duration::from_secs(900);
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let token = access(&server.account("leeway@example.com").await);
    server.clock.advance(ttl + Duration::from_secs(10));
    let (status, body) = server.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(status, 200, "within the default 30 s: {body}");
    server.clock.advance(Duration::from_secs(30));
    let (status, _) = server.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(status, 401, "40 s past exp");
    server.stop().await;

    let strict = TestServer::start_with(Stores::Embedded, |config| {
        config.tokens.clock_leeway_secs = 0;
    })
    .await
    .unwrap();
    let token = access(&strict.account("strict@example.com").await);
    strict.clock.advance(ttl + Duration::from_secs(2));
    let (status, _) = strict.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(status, 401, "no leeway: 2 s past exp is too late");
    strict.stop().await;
}

#[tokio::test]
async fn a_page_opened_without_its_parameters_shows_the_error_page() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    for path in [
        "/consent",
        "/select-organization",
        "/oauth2/authorize/continue",
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains("This page cannot be opened on its own"),
            "{path}: {html}"
        );
        assert!(html.contains("interaction"), "{path}: {html}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_sign_up_page_states_the_password_policy_in_force() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let html = server
        .client
        .get(server.url("/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for rule in [
        "12 to 128 characters",
        "an uppercase letter",
        "a lowercase letter",
        "a digit",
        "a special character",
    ] {
        assert!(html.contains(rule), "{rule}: {html}");
    }
    server.stop().await;

    let nist = TestServer::start_with(Stores::Embedded, |config| {
        config.accounts.password_policy = castellan_api::config::PasswordPolicyConfig::Nist;
        config.accounts.password_min_length = 15;
    })
    .await
    .unwrap();
    let html = nist
        .client
        .get(nist.url("/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("15 to 128 characters"), "{html}");
    assert!(!html.contains("uppercase"), "{html}");
    nist.stop().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_told_that_it_is_missing() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let (status, headers, body) = server
        .call(reqwest::Method::GET, "/api/v1/auth/me", None, None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(body["error_code"], "TOKEN_ERROR");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("No access token"),
        "{body}"
    );
    let (status, _, body) = server
        .call(
            reqwest::Method::GET,
            "/api/v1/auth/me",
            None,
            Some("garbage"),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "Invalid or expired token");
    server.stop().await;
}

#[tokio::test]
async fn logs_written_to_a_file_carry_no_colour_codes() {
    let dir = TempDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let log = dir.0.join("server.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_castellan"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CASTELLAN_") || name == "RUST_LOG" || name == "NO_COLOR" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .current_dir(&dir.0)
        .args(["serve"])
        .env("CASTELLAN_SERVER__BIND", &bind)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let health = format!("http://{bind}/health");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(&health).await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("listening"), "{written}");
    assert!(!written.contains('\u{1b}'), "{written:?}");
}
