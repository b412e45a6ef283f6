//! Attacks from RFC 9700 (OAuth 2.0 Security Best Current Practice) and the negative cases of
//! RFC 6749, 7009 and 7662, each driven through the real endpoints: open redirects after
//! sign-in and logout, PKCE and redirect URI matching, cached codes, codes and tokens used by
//! the wrong client, and what dynamic registration accepts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::oidc_support::{
    AFTER_LOGOUT, Browser, CALLBACK, admin_token, authorize_url, exchange, hidden, oauth_post,
    pkce, query, register, web_client,
};
use crate::support::{Stores, TestServer, access, on_both_stores};

on_both_stores!(server:
    a_client_introspects_only_its_own_tokens_unless_allowed_any,
    revoking_a_refresh_token_ends_the_access_tokens_of_its_grant,
    revoking_another_clients_token_changes_nothing,
);

on_both_stores!(stores:
    dynamic_registration_ignores_unknown_metadata_and_echoes_what_it_keeps,
);

const EMAIL: &str = "mallory-target@example.com";

async fn embedded() -> TestServer {
    TestServer::start(Stores::Embedded).await.unwrap()
}

/// An authorization request for `client_id` at [`CALLBACK`] with a fresh PKCE challenge;
/// `extra` replaces or adds parameters (an empty value removes one).
fn request(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("scope", "openid offline_access"),
        ("state", "st"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(existing, _)| existing != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    (authorize_url(server, &params), verifier)
}

/// The browser part of the code flow for `client_id`: (code, verifier).
async fn code_for(server: &TestServer, browser: &Browser, client_id: &str) -> (String, String) {
    let (url, verifier) = request(server, client_id, &[]);
    let callback = browser.authorize(&url, EMAIL).await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    (query(&callback)["code"].clone(), verifier)
}

/// A user's tokens for the web client `client` through the code flow.
async fn user_tokens(server: &TestServer, client: (&str, &str)) -> Value {
    let browser = Browser::new(server);
    let (code, verifier) = code_for(server, &browser, client.0).await;
    let (status, tokens) = exchange(server, client, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn introspect(server: &TestServer, client: (&str, &str), token: &str) -> Value {
    let (status, answer) =
        oauth_post(server, "/oauth2/introspect", client, &[("token", token)]).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn pair(client: &(String, String)) -> (&str, &str) {
    (client.0.as_str(), client.1.as_str())
}

#[tokio::test]
async fn next_after_sign_in_never_leaves_the_server() {
    let server = embedded().await;
    server.account(EMAIL).await;
    let refused = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\nSet-Cookie: planted=1",
        "/\\evil.example",
        "\\/evil.example",
        "//evil.example",
        "/.//evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
    ];
    for next in refused {
        let browser = Browser::new(&server);
        let login = serde_urlencoded::to_string([("next", next)]).unwrap();
        let form = browser.get(&format!("/login?{login}")).await;
        assert_eq!(form.status, 200, "{next:?}: {}", form.body);
        assert!(
            !form.body.contains("name=\"next\""),
            "{next:?} is not carried into the form"
        );
        // A forged form carries it anyway: the sign-in still lands on the default page.
        let page = browser
            .post(
                "/login",
                &[
                    ("email", EMAIL),
                    ("password", crate::support::PASSWORD),
                    ("csrf", &hidden(&form.body, "csrf")),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{next:?}: {}", page.body);
        assert_eq!(page.location.as_deref(), Some("/login"), "{next:?}");
    }
    // A local page is still where the sign-in returns.
    let browser = Browser::new(&server);
    let form = browser.get("/login?next=%2Fdevice%3Fuser_code%3DAB").await;
    assert_eq!(hidden(&form.body, "next"), "/device?user_code=AB");
    let page = browser
        .post(
            "/login",
            &[
                ("email", EMAIL),
                ("password", crate::support::PASSWORD),
                ("csrf", &hidden(&form.body, "csrf")),
                ("next", "/device?user_code=AB"),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/device?user_code=AB"));
    server.stop().await;
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_is_not_followed() {
    let server = embedded().await;
    server.account(EMAIL).await;
    let (client_id, _) = web_client(&server).await;
    for uri in [
        "https://evil.example/",
        "http://127.0.0.1:9/signed-out/",
        "http://127.0.0.1:10/signed-out",
        "http://127.0.0.1:9/signed-out?x=1",
    ] {
        let browser = Browser::new(&server);
        browser.sign_in(EMAIL).await;
        let logout = serde_urlencoded::to_string([
            ("client_id", client_id.as_str()),
            ("post_logout_redirect_uri", uri),
        ])
        .unwrap();
        let page = browser.get(&format!("/oauth2/logout?{logout}")).await;
        assert_eq!(page.status, 400, "{uri}: {}", page.body);
        assert!(page.location.is_none(), "{uri}");
    }
    let logout = serde_urlencoded::to_string([
        ("client_id", client_id.as_str()),
        ("post_logout_redirect_uri", AFTER_LOGOUT),
    ])
    .unwrap();
    let page = Browser::new(&server)
        .get(&format!("/oauth2/logout?{logout}"))
        .await;
    assert_eq!(page.location.as_deref(), Some(AFTER_LOGOUT));
    server.stop().await;
}

#[tokio::test]
async fn redirects_carrying_a_code_or_an_error_are_not_cached() {
    let server = embedded().await;
    server.account(EMAIL).await;
    let (client_id, _) = web_client(&server).await;
    let browser = Browser::new(&server);
    code_for(&server, &browser, &client_id).await;
    // Signed in and consented: the next request answers with the code at once.
    for (extra, carries) in [
        (vec![], "code"),
        (vec![("response_type", "token")], "error"),
    ] {
        let (url, _) = request(&server, &client_id, &extra);
        let response = browser.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(query(&location).contains_key(carries), "{location}");
        assert_eq!(
            response.headers().get("cache-control").unwrap(),
            "no-store",
            "{carries}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_requires_pkce_gets_it_with_the_global_switch_off() {
    let server = TestServer::start_with(Stores::Embedded, |config| {
        config.oidc.require_pkce = false;
    })
    .await
    .unwrap();
    let confidential = |require_pkce: bool| {
        json!({
            "client_name": "Web",
            "redirect_uris": [CALLBACK],
            "scope": "openid offline_access",
            "require_pkce": require_pkce,
        })
    };
    let strict = register(&server, confidential(true)).await;
    let lax = register(&server, confidential(false)).await;
    let public = register(
        &server,
        json!({
            "client_name": "SPA",
            "redirect_uris": [CALLBACK],
            "scope": "openid offline_access",
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let without_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
    for (client, required) in [(&strict, true), (&public, true), (&lax, false)] {
        let (url, _) = request(
            &server,
            client["client_id"].as_str().unwrap(),
            &without_pkce,
        );
        let page = Browser::new(&server).get(&url).await;
        let location = page.location.unwrap();
        if required {
            assert!(location.starts_with(CALLBACK), "{location}");
            assert_eq!(query(&location)["error"], "invalid_request");
        } else {
            assert!(location.starts_with("/login"), "{location}");
        }
    }
    server.stop().await;

    // With the switch on, a client's opt-out does not count.
    let server = embedded().await;
    let lax = register(&server, confidential(false)).await;
    let (url, _) = request(&server, lax["client_id"].as_str().unwrap(), &without_pkce);
    let location = Browser::new(&server).get(&url).await.location.unwrap();
    assert_eq!(query(&location)["error"], "invalid_request", "{location}");
    server.stop().await;
}

#[tokio::test]
async fn redirect_uris_match_exactly_and_loopback_ports_are_free_only_for_native_apps() {
    let server = embedded().await;
    let (confidential, _) = web_client(&server).await;
    for redirect in [
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callback/more",
        "http://127.0.0.1:9/callback?extra=1",
        "http://127.0.0.1:9/callback#fragment",
        "http://127.0.0.1:10/callback",
        "http://127.0.0.1/callback",
        "http://localhost:9/callback",
    ] {
        let (url, _) = request(&server, &confidential, &[("redirect_uri", redirect)]);
        let page = Browser::new(&server).get(&url).await;
        assert_eq!(page.status, 400, "{redirect}: {:?}", page.location);
        assert!(page.location.is_none(), "{redirect}");
    }
    let native = register(
        &server,
        json!({
            "client_name": "CLI",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "scope": "openid offline_access",
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let native = native["client_id"].as_str().unwrap();
    let (url, _) = request(
        &server,
        native,
        &[("redirect_uri", "http://127.0.0.1:51234/callback")],
    );
    let page = Browser::new(&server).get(&url).await;
    assert!(
        page.location.as_deref().unwrap().starts_with("/login"),
        "{:?}",
        page.location
    );
    server.stop().await;
}

#[tokio::test]
async fn an_openid_request_must_name_its_redirect_uri() {
    let server = embedded().await;
    let (client_id, _) = web_client(&server).await;
    for scope in ["openid profile", ""] {
        let (url, _) = request(
            &server,
            &client_id,
            &[("redirect_uri", ""), ("scope", scope)],
        );
        let page = Browser::new(&server).get(&url).await;
        assert_eq!(page.status, 400, "{scope:?}: {:?}", page.location);
        assert!(page.location.is_none());
        assert!(page.body.contains("invalid_request"), "{}", page.body);
    }
    // Plain OAuth may leave it out when exactly one is registered (RFC 6749 section 3.1.2.3).
    let (url, _) = request(
        &server,
        &client_id,
        &[("redirect_uri", ""), ("scope", "profile")],
    );
    let page = Browser::new(&server).get(&url).await;
    assert!(
        page.location.as_deref().unwrap().starts_with("/login"),
        "{:?}",
        page.location
    );
    server.stop().await;
}

async fn a_client_introspects_only_its_own_tokens_unless_allowed_any(server: TestServer) {
    server.account(EMAIL).await;
    let owner = web_client(&server).await;
    let other = web_client(&server).await;
    let tokens = user_tokens(&server, pair(&owner)).await;
    let access_token = access(&tokens);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspect(&server, pair(&owner), &access_token).await["active"],
        true
    );
    for token in [access_token.as_str(), refresh_token] {
        assert_eq!(
            introspect(&server, pair(&other), token).await,
            json!({"active": false})
        );
    }
    // A resource server granted introspect_any_token sees the access token.
    let resource = register(
        &server,
        json!({
            "client_name": "API",
            "grant_types": ["client_credentials"],
            "scope": "profile",
            "introspect_any_token": true,
        }),
    )
    .await;
    assert_eq!(resource["introspect_any_token"], true);
    let resource = (
        resource["client_id"].as_str().unwrap(),
        resource["client_secret"].as_str().unwrap(),
    );
    let seen = introspect(&server, resource, &access_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], owner.0.as_str());
    // The flag is granted (and taken back) through the admin API.
    let admin = admin_token(&server).await;
    let path = format!("/api/v1/clients/{}", other.0);
    let (status, _, body) = server
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"introspect_any_token": true})),
            Some(&admin),
        )
        .await;
    assert_eq!((status, &body["introspect_any_token"]), (200, &json!(true)));
    assert_eq!(
        introspect(&server, pair(&other), &access_token).await["active"],
        true
    );
    let (_, read) = server.get_as(&path, &admin).await;
    assert_eq!(read["introspect_any_token"], true, "stored: {read}");
    server.stop().await;
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_refused() {
    let server = embedded().await;
    server.account(EMAIL).await;
    let owner = web_client(&server).await;
    let thief = web_client(&server).await;
    let browser = Browser::new(&server);
    let (code, verifier) = code_for(&server, &browser, &owner.0).await;
    let (status, body) = exchange(&server, pair(&thief), &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(body.get("access_token").is_none());
    server.stop().await;
}

#[tokio::test]
async fn client_authentication_is_refused_when_doubled_or_missing() {
    let server = embedded().await;
    let (id, secret) = web_client(&server).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("redirect_uri", CALLBACK),
    ];
    let send = |basic: Option<(&str, &str)>, body: Vec<(&str, &str)>| {
        let mut request = server.client.post(server.url("/oauth2/token")).form(&body);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|value| value.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (
                status,
                challenge,
                body["error"].as_str().unwrap().to_owned(),
            )
        }
    };
    fn with<'a>(
        form: &[(&'a str, &'a str)],
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut body = form.to_vec();
        body.extend_from_slice(extra);
        body
    }
    // The secret in the header and in the body.
    let (status, _, error) = send(
        Some((&id, &secret)),
        with(&form, &[("client_id", &id), ("client_secret", &secret)]),
    )
    .await;
    assert!(
        (status, error.as_str()) == (401, "invalid_client")
            || (status, error.as_str()) == (400, "invalid_request"),
        "{status} {error}"
    );
    // No secret at all from a confidential client.
    let (status, _, error) = send(None, with(&form, &[("client_id", &id)])).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    // Basic with an empty or wrong secret: the challenge names Basic.
    for password in ["", "wrong"] {
        let (status, challenge, error) = send(Some((&id, password)), with(&form, &[])).await;
        assert_eq!((status, error.as_str()), (401, "invalid_client"));
        assert!(
            challenge
                .as_deref()
                .is_some_and(|value| value.starts_with("Basic")),
            "{challenge:?}"
        );
    }
    server.stop().await;
}

async fn revoking_a_refresh_token_ends_the_access_tokens_of_its_grant(server: TestServer) {
    server.account(EMAIL).await;
    let client = web_client(&server).await;
    let tokens = user_tokens(&server, pair(&client)).await;
    let first_access = access(&tokens);
    let (status, refreshed) = crate::oidc_support::refresh_with(
        &server,
        pair(&client),
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let second_access = access(&refreshed);
    // Another grant of the same user and client is not touched.
    let unrelated = access(&user_tokens(&server, pair(&client)).await);
    for token in [&first_access, &second_access, &unrelated] {
        assert_eq!(
            introspect(&server, pair(&client), token).await["active"],
            true
        );
    }
    let (status, _) = oauth_post(
        &server,
        "/oauth2/revoke",
        pair(&client),
        &[("token", refreshed["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    for token in [&first_access, &second_access] {
        assert_eq!(
            introspect(&server, pair(&client), token).await,
            json!({"active": false})
        );
    }
    assert_eq!(
        introspect(&server, pair(&client), &unrelated).await["active"],
        true
    );
    server.stop().await;
}

async fn revoking_another_clients_token_changes_nothing(server: TestServer) {
    server.account(EMAIL).await;
    let owner = web_client(&server).await;
    let other = web_client(&server).await;
    let tokens = user_tokens(&server, pair(&owner)).await;
    let access_token = access(&tokens);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    for (token, hint) in [
        (access_token.as_str(), "access_token"),
        (refresh_token, "refresh_token"),
    ] {
        let (status, body) = oauth_post(
            &server,
            "/oauth2/revoke",
            pair(&other),
            &[("token", token), ("token_type_hint", hint)],
        )
        .await;
        assert_eq!((status, body), (200, json!({})));
    }
    assert_eq!(
        introspect(&server, pair(&owner), &access_token).await["active"],
        true
    );
    assert_eq!(
        introspect(&server, pair(&owner), refresh_token).await["active"],
        true
    );
    server.stop().await;
}

async fn dynamic_registration_ignores_unknown_metadata_and_echoes_what_it_keeps(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.oidc.dynamic_registration = true;
    })
    .await
    .unwrap();
    let metadata = json!({
        "client_name": "Conformance RP",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "require_auth_time": true,
        "default_max_age": 60,
        "id_token_signed_response_alg": "RS256",
        "request_uris": ["https://rp.example/request.jwt"],
        "client_uri": "https://rp.example/",
        "logo_uri": "https://rp.example/logo.png",
        "tos_uri": "https://rp.example/tos",
        "policy_uri": "https://rp.example/privacy",
        "contacts": ["ops@rp.example"],
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "frontchannel_logout_uri": "https://rp.example/logout",
        "first_party": true,
        "introspect_any_token": true,
    });
    let (status, created) = server.post("/oauth2/register", metadata, None).await;
    assert_eq!(status, 201, "{created}");
    for (field, value) in [
        ("require_auth_time", json!(true)),
        ("default_max_age", json!(60)),
        ("id_token_signed_response_alg", json!("RS256")),
        ("client_uri", json!("https://rp.example/")),
        ("logo_uri", json!("https://rp.example/logo.png")),
        ("tos_uri", json!("https://rp.example/tos")),
        ("policy_uri", json!("https://rp.example/privacy")),
        ("contacts", json!(["ops@rp.example"])),
        // Only an administrator grants these.
        ("first_party", json!(false)),
        ("introspect_any_token", json!(false)),
    ] {
        assert_eq!(created[field], value, "{field}: {created}");
    }
    assert!(created.get("software_id").is_none());
    let management = created["registration_access_token"].as_str().unwrap();
    let path = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .strip_prefix(&server.base)
        .unwrap()
        .to_owned();
    let (status, read) = server.get_as(&path, management).await;
    assert_eq!(status, 200);
    assert_eq!(
        read["contacts"],
        json!(["ops@rp.example"]),
        "stored: {read}"
    );
    assert_eq!(read["default_max_age"], 60);

    for (field, value, mention) in [
        (
            "userinfo_signed_response_alg",
            json!("RS256"),
            "not supported",
        ),
        (
            "id_token_signed_response_alg",
            json!("HS256"),
            "id_token_signed_response_alg",
        ),
        ("logo_uri", json!("not a uri"), "logo_uri"),
    ] {
        let mut body = json!({"client_name": "Bad", "redirect_uris": [CALLBACK]});
        body[field] = value;
        let (status, refused) = server.post("/oauth2/register", body, None).await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{field}: {refused}"
        );
        let description = refused["error_description"].as_str().unwrap();
        assert!(description.contains(mention), "{field}: {description}");
    }

    // The administration API stays strict.
    let admin = admin_token(&server).await;
    let (status, _) = server
        .post(
            "/api/v1/clients",
            json!({"client_name": "Typo", "redirect_uris": [CALLBACK], "redirect_uri": CALLBACK}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 422);
    server.stop().await;
}

#[tokio::test]
async fn default_max_age_forces_a_fresh_sign_in() {
    let server = TestServer::start_with(Stores::Embedded, |config| {
        config.oidc.dynamic_registration = true;
    })
    .await
    .unwrap();
    server.account(EMAIL).await;
    let (status, created) = server
        .post(
            "/oauth2/register",
            json!({
                "client_name": "RP",
                "redirect_uris": [CALLBACK],
                "scope": "openid offline_access",
                "default_max_age": 60,
            }),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().unwrap();
    let browser = Browser::new(&server);
    code_for(&server, &browser, client_id).await;
    let (url, _) = request(&server, client_id, &[]);
    let page = browser.get(&url).await;
    assert!(
        page.location.as_deref().unwrap().starts_with(CALLBACK),
        "within a minute the session is fresh enough: {:?}",
        page.location
    );
    server.clock.advance(Duration::from_secs(120));
    let page = browser.get(&url).await;
    assert!(
        page.location.as_deref().unwrap().starts_with("/login"),
        "{:?}",
        page.location
    );
    server.stop().await;
}

#[test]
fn the_command_line_grants_introspection_of_any_token() {
    let dir = crate::support::TempDir::new();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_castellan"))
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "clients",
            "create",
            "--name",
            "API",
            "--grant-type",
            "client_credentials",
            "--scope",
            "profile",
            "--introspect-any-token",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["introspect_any_token"], true, "{created}");
}
