//! The error cases of RFC 6749, 7009, 7662, 8628, 9126 and 9700 that a client or an attacker
//! meets at the edges: malformed token requests, a code exchanged without its redirect URI,
//! grants a client does not hold, a public client at the introspection endpoint, device codes
//! and pushed requests used by another client, expired access tokens and pushed requests,
//! framing of the hosted pages, and refresh tokens after a password change.

use std::time::Duration;

use serde_json::{Value, json};

use crate::oidc_support::{
    Browser, CALLBACK, authorize_url, oauth_post, pkce, query, refresh_with, register, web_client,
};
use crate::support::{PASSWORD, Stores, TestServer, access, on_both_stores};

on_both_stores!(server:
    a_password_change_ends_the_refresh_tokens_of_every_client,
    a_device_code_polled_by_another_client_is_refused,
);

const EMAIL: &str = "negative@example.com";

async fn embedded() -> TestServer {
    TestServer::start(Stores::Embedded).await.unwrap()
}

/// Sends `body` as a raw form to the token endpoint with HTTP Basic credentials.
async fn raw_token_request(server: &TestServer, client: (&str, &str), body: &str) -> (u16, Value) {
    let response = server
        .client
        .post(server.url("/oauth2/token"))
        .basic_auth(client.0, Some(client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn error_of(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["error"].as_str())
}

/// A code for `client_id` issued to [`CALLBACK`], and its PKCE verifier.
async fn code_for(server: &TestServer, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid offline_access"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = Browser::new(server).authorize(&url, EMAIL).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    (query(&callback)["code"].clone(), verifier)
}

#[tokio::test]
async fn token_requests_without_a_grant_or_with_doubled_parameters_are_refused() {
    let server = embedded().await;
    let (id, secret) = web_client(&server).await;
    let client = (id.as_str(), secret.as_str());
    // RFC 6749 §5.2: a missing required parameter, or one given twice, is invalid_request.
    let missing = raw_token_request(&server, client, "code=x").await;
    assert_eq!(
        error_of(&missing),
        (400, Some("invalid_request")),
        "{}",
        missing.1
    );
    let doubled = raw_token_request(
        &server,
        client,
        &format!("grant_type=authorization_code&code=a&code=b&redirect_uri={CALLBACK}"),
    )
    .await;
    assert_eq!(
        error_of(&doubled),
        (400, Some("invalid_request")),
        "{}",
        doubled.1
    );
    let unknown = raw_token_request(&server, client, "grant_type=urn:example:magic").await;
    assert_eq!(
        error_of(&unknown),
        (400, Some("unsupported_grant_type")),
        "{}",
        unknown.1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_code_is_exchanged_only_with_the_redirect_uri_it_was_issued_to() {
    let server = embedded().await;
    server.account(EMAIL).await;
    let (id, secret) = web_client(&server).await;
    let client = (id.as_str(), secret.as_str());
    let (code, verifier) = code_for(&server, &id).await;
    // RFC 6749 §4.1.3: the authorization request named a redirect URI, so the exchange must.
    let without = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        error_of(&without),
        (400, Some("invalid_grant")),
        "{}",
        without.1
    );
    assert!(without.1.get("access_token").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_client_cannot_use_a_grant_it_was_not_registered_for() {
    let server = embedded().await;
    server.account(EMAIL).await;
    // A web client with refresh tokens, and one registered for codes only.
    let (holder_id, holder_secret) = web_client(&server).await;
    let codes_only = register(
        &server,
        json!({
            "client_name": "Codes only",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code"],
            "scope": "openid offline_access",
        }),
    )
    .await;
    let codes_only = (
        codes_only["client_id"].as_str().unwrap().to_owned(),
        codes_only["client_secret"].as_str().unwrap().to_owned(),
    );
    let (code, verifier) = code_for(&server, &holder_id).await;
    let (status, tokens) = oauth_post(
        &server,
        "/oauth2/token",
        (&holder_id, &holder_secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let answer = refresh_with(
        &server,
        (&codes_only.0, &codes_only.1),
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        error_of(&answer),
        (400, Some("unauthorized_client")),
        "{}",
        answer.1
    );
    // The holder's token was not touched by the refused request.
    let (status, _) = refresh_with(
        &server,
        (&holder_id, &holder_secret),
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_public_client_cannot_introspect() {
    let server = embedded().await;
    let spa = register(
        &server,
        json!({
            "client_name": "Single-page app",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid",
        }),
    )
    .await;
    let response = server
        .client
        .post(server.url("/oauth2/introspect"))
        .form(&[
            ("client_id", spa["client_id"].as_str().unwrap()),
            ("token", "anything"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    server.stop().await;
}

async fn a_device_code_polled_by_another_client_is_refused(server: TestServer) {
    let device_client = || async {
        let client = register(
            &server,
            json!({
                "client_name": "TV",
                "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
                "token_endpoint_auth_method": "none",
                "scope": "openid",
            }),
        )
        .await;
        client["client_id"].as_str().unwrap().to_owned()
    };
    let (owner, other) = (device_client().await, device_client().await);
    let grant: Value = server
        .client
        .post(server.url("/oauth2/device_authorization"))
        .form(&[("client_id", owner.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poll = |client_id: String| {
        let device_code = grant["device_code"].as_str().unwrap().to_owned();
        let server = &server;
        async move {
            let response = server
                .client
                .post(server.url("/oauth2/token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", client_id.as_str()),
                    ("device_code", device_code.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let stolen = poll(other).await;
    assert_eq!(
        error_of(&stolen),
        (400, Some("invalid_grant")),
        "{}",
        stolen.1
    );
    // The owner's request is still pending, not used up by the other client.
    let own = poll(owner).await;
    assert_eq!(
        error_of(&own),
        (400, Some("authorization_pending")),
        "{}",
        own.1
    );
}

#[tokio::test]
async fn a_pushed_request_belongs_to_its_client_and_expires() {
    let server = embedded().await;
    let (owner, owner_secret) = web_client(&server).await;
    let (other, _) = web_client(&server).await;
    let push = || async {
        let (_, challenge) = pkce();
        let (status, body) = oauth_post(
            &server,
            "/oauth2/par",
            (&owner, &owner_secret),
            &[
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("scope", "openid"),
                ("state", "pushed"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body
    };
    let refused = |page: crate::oidc_support::Page| {
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("invalid_request_uri"), "{}", page.body);
    };
    // RFC 9126 §4: the request_uri is bound to the client that pushed it.
    let pushed = push().await;
    let url = authorize_url(
        &server,
        &[
            ("client_id", other.as_str()),
            ("request_uri", pushed["request_uri"].as_str().unwrap()),
        ],
    );
    refused(Browser::new(&server).get(&url).await);
    // And it expires.
    let pushed = push().await;
    let lifetime = pushed["expires_in"].as_u64().unwrap();
    server.clock.advance(Duration::from_secs(lifetime + 1));
    let url = authorize_url(
        &server,
        &[
            ("client_id", owner.as_str()),
            ("request_uri", pushed["request_uri"].as_str().unwrap()),
        ],
    );
    refused(Browser::new(&server).get(&url).await);
    server.stop().await;
}

#[tokio::test]
async fn an_access_token_past_its_expiry_is_refused() {
    let server = embedded().await;
    let tokens = server.account(EMAIL).await;
    let (status, _) = server.get_as("/api/v1/auth/me", &access(&tokens)).await;
    assert_eq!(status, 200);
    let lifetime = tokens["expires_in"].as_u64().unwrap();
    let leeway = server.state.config.tokens.clock_leeway_secs;
    server
        .clock
        .advance(Duration::from_secs(lifetime + leeway + 1));
    let response = server
        .client
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth(access(&tokens))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let (status, _) = server.get_as("/api/v1/auth/me", &access(&tokens)).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn hosted_pages_refuse_to_be_framed() {
    let server = embedded().await;
    for path in ["/login", "/consent", "/signup"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        let headers = response.headers();
        let frame_options = headers
            .get("x-frame-options")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let policy = headers
            .get("content-security-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(
            frame_options.eq_ignore_ascii_case("deny") && policy.contains("frame-ancestors 'none'"),
            "{path}: X-Frame-Options {frame_options:?}, CSP {policy:?}"
        );
    }
    server.stop().await;
}

/// RFC 9700 §4.14: a password change ends the refresh tokens that clients hold for the
/// account's other sessions.
async fn a_password_change_ends_the_refresh_tokens_of_every_client(server: TestServer) {
    let api_tokens = server.account(EMAIL).await;
    let (id, secret) = web_client(&server).await;
    let (code, verifier) = code_for(&server, &id).await;
    let (status, client_tokens) = oauth_post(
        &server,
        "/oauth2/token",
        (&id, &secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{client_tokens}");
    let (status, _, body) = server
        .call(
            reqwest::Method::PUT,
            "/api/v1/users/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "An0ther-Passw0rd!"})),
            Some(&access(&api_tokens)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer = refresh_with(
        &server,
        (&id, &secret),
        client_tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        error_of(&answer),
        (400, Some("invalid_grant")),
        "{}",
        answer.1
    );
}
