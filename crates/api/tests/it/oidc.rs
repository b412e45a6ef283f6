//! The OpenID Connect provider driven by real peers: the `openidconnect` crate as the relying
//! party for the code flow, a plain HTTP client for the device flow, client credentials,
//! introspection and PAR, on SQLite and on PostgreSQL + Redis.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::{Value, json};

use crate::oidc_support::{
    AFTER_LOGOUT, Browser, CALLBACK, admin_token, authorize_url, exchange, hidden, oauth_post,
    pkce, query, refresh_with, register, web_client,
};
use crate::support::on_both_stores;
use crate::support::{Stores, TestServer};

on_both_stores!(server:
    a_relying_party_library_completes_the_whole_flow,
    discovery_lists_what_is_implemented,
    bad_authorization_requests_are_refused_where_it_is_safe,
    codes_are_bound_to_client_redirect_and_verifier_and_used_once,
    refresh_may_narrow_scope_but_never_widen_it,
    client_credentials_introspection_and_revocation,
    the_device_flow_runs_end_to_end,
    pushed_authorization_requests,
    the_admin_api_manages_clients,
    hosted_pages_carry_csrf_protection_and_consent_can_be_refused,
    a_user_can_withdraw_consent,
    clients_may_ask_for_es256_or_eddsa_id_tokens,
);
on_both_stores!(stores:
    codes_expire,
    device_codes_expire,
    dynamic_registration_is_off_by_default_and_guarded_when_on,
    private_key_jwt_assertions_are_checked,
    back_channel_logout_reaches_every_client_of_the_session,
);

fn http_client() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn signed_up(server: &TestServer, email: &str) {
    server.account(email).await;
}

async fn a_relying_party_library_completes_the_whole_flow(server: TestServer) {
    signed_up(&server, "ada@example.com").await;
    let (client_id, secret) = web_client(&server).await;
    let http = http_client();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&server);
    let callback = browser.authorize(url.as_str(), "ada@example.com").await;
    assert!(callback.starts_with(CALLBACK), "{callback}");
    let params = query(&callback);
    assert_eq!(params["state"], *csrf.secret());
    assert_eq!(params["iss"], server.base, "RFC 9207 iss");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies");
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("ada@example.com")
    );
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    let raw: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&id_token.to_string())
        .unwrap()
        .claims;
    assert_eq!(raw["amr"], json!(["pwd"]));
    assert!(raw["sid"].is_string() && raw["acr"].is_string());

    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(
        info.email().map(|email| email.as_str()),
        Some("ada@example.com")
    );

    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let refreshed = rp
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert!(refreshed.id_token().is_some());

    // A second authorization rides the browser session and the remembered consent.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (again, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let page = browser.get(again.as_str()).await;
    assert_eq!(page.status, 303);
    assert!(
        page.location.as_deref().unwrap().starts_with(CALLBACK),
        "no sign-in, no consent: {:?}",
        page.location
    );

    // Revocation and introspection.
    let client = (client_id.as_str(), secret.as_str());
    let new_access = refreshed.access_token().secret().clone();
    let (status, active) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", &new_access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client_id);
    let (status, _) =
        oauth_post(&server, "/oauth2/revoke", client, &[("token", &new_access)]).await;
    assert_eq!(status, 200);
    let (_, inactive) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", &new_access)],
    )
    .await;
    assert_eq!(inactive, json!({"active": false}));
    let next_refresh = refreshed.refresh_token().unwrap().secret().clone();
    let (_, refresh_info) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", &next_refresh)],
    )
    .await;
    assert_eq!(refresh_info["active"], true, "{refresh_info}");
    let (status, _) = oauth_post(
        &server,
        "/oauth2/revoke",
        client,
        &[("token", &next_refresh)],
    )
    .await;
    assert_eq!(status, 200);
    let after = rp
        .exchange_refresh_token(&RefreshToken::new(next_refresh))
        .unwrap()
        .request_async(&http)
        .await;
    match after {
        Err(openidconnect::RequestTokenError::ServerResponse(refused)) => assert_eq!(
            refused.error(),
            &openidconnect::core::CoreErrorResponseType::InvalidGrant,
            "{refused:?}"
        ),
        other => panic!("a revoked refresh token is refused with invalid_grant: {other:?}"),
    }

    // RP-initiated logout with the ID token: no confirmation, back to the client.
    let logout = format!(
        "/oauth2/logout?{}",
        serde_urlencoded::to_string([
            ("id_token_hint", id_token.to_string().as_str()),
            ("post_logout_redirect_uri", AFTER_LOGOUT),
            ("state", "bye"),
        ])
        .unwrap()
    );
    let page = browser.get(&logout).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=bye").as_str())
    );
    // The session is gone: its access tokens stop working and prompt=none fails.
    let (status, gone) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", tokens.access_token().secret())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(gone["active"], false);
    let (_, challenge) = pkce();
    let silent = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
            ("state", "s"),
        ],
    );
    let page = browser.get(&silent).await;
    let params = query(page.location.as_deref().unwrap());
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "s");
    server.stop().await;
}

async fn discovery_lists_what_is_implemented(server: TestServer) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let (status, document) = server.get_json(path).await;
        assert_eq!(status, 200);
        assert_eq!(document["issuer"], server.base);
        assert_eq!(document["response_types_supported"], json!(["code"]));
        assert_eq!(
            document["code_challenge_methods_supported"],
            json!(["S256"])
        );
        assert_eq!(document["backchannel_logout_supported"], true);
        assert!(
            document.get("registration_endpoint").is_none(),
            "disabled by default"
        );
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
            "device_authorization_endpoint",
            "pushed_authorization_request_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let url = document[endpoint].as_str().unwrap();
            assert!(url.starts_with(&server.base), "{endpoint}: {url}");
        }
    }
    server.stop().await;
}

/// Starts an authorization and returns the redirect (or the page).
async fn authorize_with(server: &TestServer, params: &[(&str, &str)]) -> crate::oidc_support::Page {
    Browser::new(server)
        .get(&authorize_url(server, params))
        .await
}

async fn bad_authorization_requests_are_refused_where_it_is_safe(server: TestServer) {
    let (client_id, _) = web_client(&server).await;
    let (_, challenge) = pkce();
    let good = |extra: &[(&'static str, &'static str)]| {
        let mut params: Vec<(&str, String)> = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.clone()),
            ("redirect_uri", CALLBACK.to_owned()),
            ("scope", "openid email".to_owned()),
            ("state", "xyz".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        for (name, value) in extra {
            params.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                params.push((name, (*value).to_owned()));
            }
        }
        params
    };
    let run = |params: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let borrowed: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            authorize_with(server, &borrowed).await
        }
    };
    // Before the redirect URI is trusted: a page, never a redirect.
    for extra in [
        vec![("redirect_uri", "https://evil.example/callback")],
        vec![("client_id", "no-such-client")],
        vec![("client_id", "")],
    ] {
        let page = run(good(&extra)).await;
        assert_eq!(page.status, 400, "{extra:?}");
        assert!(page.location.is_none());
        assert!(page.body.contains("invalid_request"), "{}", page.body);
    }
    // After: redirected with error, state and iss.
    for (extra, error) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none")], "login_required"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("request", "eyJ.x.y")], "request_not_supported"),
    ] {
        let page = run(good(&extra)).await;
        assert_eq!(page.status, 303, "{extra:?}: {}", page.body);
        let params = query(page.location.as_deref().unwrap());
        assert_eq!(params["error"], error, "{extra:?}");
        assert_eq!(params["state"], "xyz");
        assert_eq!(params["iss"], server.base);
    }
    // Repeated parameters are refused.
    let page = Browser::new(&server)
        .get(&format!(
            "{}&scope=openid",
            authorize_url(&server, &[("client_id", &client_id), ("scope", "openid")])
        ))
        .await;
    assert_eq!(page.status, 400);
    server.stop().await;
}

/// Runs the browser part of the code flow for `client_id` and returns (code, verifier).
async fn code_for(
    server: &TestServer,
    client_id: &str,
    scope: &str,
    email: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        server,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    );
    let callback = Browser::new(server).authorize(&url, email).await;
    (query(&callback)["code"].clone(), verifier)
}

async fn codes_are_bound_to_client_redirect_and_verifier_and_used_once(server: TestServer) {
    signed_up(&server, "bob@example.com").await;
    let (client_id, secret) = web_client(&server).await;
    let client = (client_id.as_str(), secret.as_str());
    let (code, verifier) = code_for(
        &server,
        &client_id,
        "openid offline_access",
        "bob@example.com",
    )
    .await;
    let exchange_at = |code: String, verifier: String, redirect: &'static str| {
        let server = &server;
        async move {
            oauth_post(
                server,
                "/oauth2/token",
                client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    // Wrong secret: invalid_client, and the code survives.
    let (status, body) = exchange(&server, (&client_id, "wrong"), &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Wrong verifier or redirect: invalid_grant (the code is spent by the attempt).
    let (status, body) = exchange_at(code.clone(), pkce().0, CALLBACK).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (code, _) = code_for(
        &server,
        &client_id,
        "openid offline_access",
        "bob@example.com",
    )
    .await;
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (code, verifier) = code_for(
        &server,
        &client_id,
        "openid offline_access",
        "bob@example.com",
    )
    .await;
    let (status, body) =
        exchange_at(code.clone(), verifier.clone(), "http://127.0.0.1:9/other").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (code, verifier) = code_for(
        &server,
        &client_id,
        "openid offline_access",
        "bob@example.com",
    )
    .await;
    let (status, tokens) = exchange_at(code.clone(), verifier.clone(), CALLBACK).await;
    assert_eq!(status, 200, "{tokens}");
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode::<Value>(tokens["id_token"].as_str().unwrap())
            .unwrap()
            .claims;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "nonce round-trip");
    // Replay: refused, and what the code issued is revoked.
    let (status, body) = exchange_at(code, verifier, CALLBACK).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (_, introspection) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", tokens["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(introspection["active"], false);
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;
}

async fn codes_expire(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.oidc.code_ttl_secs = 1;
    })
    .await
    .unwrap();
    signed_up(&server, "late@example.com").await;
    let (client_id, secret) = web_client(&server).await;
    let (code, verifier) = code_for(&server, &client_id, "openid", "late@example.com").await;
    server.clock.advance(std::time::Duration::from_millis(1500));
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        (&client_id, &secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;
}

async fn refresh_may_narrow_scope_but_never_widen_it(server: TestServer) {
    signed_up(&server, "carol@example.com").await;
    let (client_id, secret) = web_client(&server).await;
    let client = (client_id.as_str(), secret.as_str());
    let (code, verifier) = code_for(
        &server,
        &client_id,
        "openid email offline_access",
        "carol@example.com",
    )
    .await;
    let (_, tokens) = exchange(&server, client, &code, &verifier).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid email profile"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The refused request left the token usable.
    let (status, narrowed) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    // Another client cannot use it.
    let (other_id, other_secret) = web_client(&server).await;
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        (&other_id, &other_secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The first token was rotated: presenting it again revokes the whole session.
    let (status, body) = refresh_with(&server, client, refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400, "reuse revoked the newer token too");
    let (_, info) = oauth_post(
        &server,
        "/oauth2/introspect",
        client,
        &[("token", narrowed["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(info["active"], false, "and the session's access tokens");
    server.stop().await;
}

async fn client_credentials_introspection_and_revocation(server: TestServer) {
    let service = register(
        &server,
        json!({
            "client_name": "Billing worker",
            "grant_types": ["client_credentials"],
            "scope": "profile email",
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    let id = service["client_id"].as_str().unwrap();
    let secret = service["client_secret"].as_str().unwrap();
    let token = |form: Vec<(&'static str, String)>| {
        let server = &server;
        async move {
            let response = server
                .client
                .post(server.url("/oauth2/token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", id.into()),
        ("client_secret", secret.into()),
        ("scope", "email".into()),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    assert_eq!(body["scope"], "email");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", id.into()),
        ("client_secret", secret.into()),
        ("scope", "openid".into()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = token(vec![
        ("grant_type", "authorization_code".into()),
        ("client_id", id.into()),
        ("client_secret", secret.into()),
        ("code", "x".into()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = token(vec![
        ("grant_type", "password".into()),
        ("client_id", id.into()),
        ("client_secret", secret.into()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, info) = oauth_post(
        &server,
        "/oauth2/introspect",
        (id, secret),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], id);
    assert_eq!(info["client_id"], id);
    assert_eq!(info["scope"], "email");
    assert_eq!(info["iss"], server.base);
    let (status, _) = oauth_post(
        &server,
        "/oauth2/introspect",
        (id, "wrong"),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 401);
    let (status, info) = oauth_post(
        &server,
        "/oauth2/introspect",
        (id, secret),
        &[("token", "not-a-token")],
    )
    .await;
    assert_eq!((status, info), (200, json!({"active": false})));
    let (status, _) = oauth_post(
        &server,
        "/oauth2/revoke",
        (id, secret),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    let (_, info) = oauth_post(
        &server,
        "/oauth2/introspect",
        (id, secret),
        &[("token", &access)],
    )
    .await;
    assert_eq!(info["active"], false);
    server.stop().await;
}

async fn the_device_flow_runs_end_to_end(server: TestServer) {
    signed_up(&server, "tv@example.com").await;
    let device = register(
        &server,
        json!({
            "client_name": "Living-room TV",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile offline_access",
        }),
    )
    .await;
    let client_id = device["client_id"].as_str().unwrap().to_owned();
    let start = || {
        let server = &server;
        let client_id = client_id.clone();
        async move {
            let response = server
                .client
                .post(server.url("/oauth2/device_authorization"))
                .form(&[
                    ("client_id", client_id.as_str()),
                    ("scope", "openid offline_access"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let poll = |device_code: String| {
        let server = &server;
        let client_id = client_id.clone();
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
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let grant = start().await;
    assert_eq!(grant["verification_uri"], format!("{}/device", server.base));
    let device_code = grant["device_code"].as_str().unwrap().to_owned();
    let user_code = grant["user_code"].as_str().unwrap().to_owned();
    let (_, body) = poll(device_code.clone()).await;
    assert_eq!(body["error"], "authorization_pending");
    let (_, body) = poll(device_code.clone()).await;
    assert_eq!(body["error"], "slow_down");

    let browser = Browser::new(&server);
    let page = browser.get(&format!("/device?user_code={user_code}")).await;
    assert_eq!(page.status, 303, "not signed in: sign in first");
    assert!(page.location.unwrap().starts_with("/login?next="));
    browser.sign_in("tv@example.com").await;
    let typed = user_code.to_lowercase().replace('-', " ");
    let page = browser
        .get(&format!(
            "/device?{}",
            serde_urlencoded::to_string([("user_code", typed)]).unwrap()
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Living-room TV"), "{}", page.body);
    let page = browser
        .post(
            "/device",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("user_code", &hidden(&page.body, "user_code")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (status, tokens) = poll(device_code.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    let (_, body) = poll(device_code).await;
    assert_eq!(body["error"], "invalid_grant", "a device code works once");

    // A refusal reaches the device as access_denied.
    let grant = start().await;
    let user_code = grant["user_code"].as_str().unwrap();
    let page = browser.get(&format!("/device?user_code={user_code}")).await;
    browser
        .post(
            "/device",
            &[
                ("csrf", &hidden(&page.body, "csrf")),
                ("user_code", user_code),
                ("decision", "deny"),
            ],
        )
        .await;
    let (status, body) = poll(grant["device_code"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    server.stop().await;
}

async fn device_codes_expire(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.oidc.device_code_ttl_secs = 1;
    })
    .await
    .unwrap();
    let device = register(
        &server,
        json!({
            "client_name": "Kiosk",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let id = device["client_id"].as_str().unwrap();
    let grant: Value = server
        .client
        .post(server.url("/oauth2/device_authorization"))
        .form(&[("client_id", id)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.clock.advance(std::time::Duration::from_millis(1500));
    let body: Value = server
        .client
        .post(server.url("/oauth2/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", id),
            ("device_code", grant["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "expired_token");
    server.stop().await;
}

async fn pushed_authorization_requests(server: TestServer) {
    signed_up(&server, "par@example.com").await;
    let pushed = register(
        &server,
        json!({
            "client_name": "PAR app",
            "redirect_uris": [CALLBACK],
            "require_pushed_authorization_requests": true,
        }),
    )
    .await;
    let id = pushed["client_id"].as_str().unwrap();
    let secret = pushed["client_secret"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid"),
        ("state", "pushed"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // Sent directly, the request is refused.
    let mut direct = params.to_vec();
    direct.push(("client_id", id));
    let page = authorize_with(&server, &direct).await;
    assert_eq!(
        query(page.location.as_deref().unwrap())["error"],
        "invalid_request"
    );

    let (status, body) = oauth_post(&server, "/oauth2/par", (id, secret), &params).await;
    assert_eq!(status, 201, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let url = authorize_url(&server, &[("client_id", id), ("request_uri", request_uri)]);
    let callback = Browser::new(&server)
        .authorize(&url, "par@example.com")
        .await;
    let answer = query(&callback);
    assert_eq!(answer["state"], "pushed");
    let (status, tokens) = oauth_post(
        &server,
        "/oauth2/token",
        (id, secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &answer["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    // A request_uri works once.
    let page = Browser::new(&server).get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("invalid_request_uri"));
    // PAR validates like the authorization endpoint, but answers in JSON.
    let (status, body) = oauth_post(
        &server,
        "/oauth2/par",
        (id, secret),
        &[
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = oauth_post(&server, "/oauth2/par", (id, "wrong"), &params).await;
    assert_eq!(status, 401);
    server.stop().await;
}

async fn the_admin_api_manages_clients(server: TestServer) {
    let admin = admin_token(&server).await;
    let user = crate::support::access(&server.account("plain@example.com").await);
    let metadata = json!({"client_name": "App", "redirect_uris": [CALLBACK]});
    let (status, _) = server
        .post("/api/v1/clients", metadata.clone(), Some(&user))
        .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .post(
            "/api/v1/clients",
            json!({"client_name": "App", "redirect_uris": ["http://app.example/cb"]}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("redirect_uris"));
    let (status, created) = server.post("/api/v1/clients", metadata, Some(&admin)).await;
    assert_eq!(status, 201);
    let id = created["client_id"].as_str().unwrap().to_owned();
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    let (status, shown) = server
        .get_as(&format!("/api/v1/clients/{id}"), &admin)
        .await;
    assert_eq!(status, 200);
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is shown once"
    );
    let (status, _, patched) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/clients/{id}"),
            Some(json!({"client_name": "Renamed", "first_party": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["client_name"], "Renamed");
    assert_eq!(patched["redirect_uris"], json!([CALLBACK]));
    let (status, rotated) = server
        .post(
            &format!("/api/v1/clients/{id}/secret"),
            json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(first_secret, second_secret);
    // Both secrets work during the overlap.
    for secret in [&first_secret, &second_secret] {
        let (status, body) = oauth_post(
            &server,
            "/oauth2/token",
            (&id, secret),
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
        assert_eq!(status, 400, "authenticated, then the grant fails: {body}");
    }
    let (status, list) = server.get_as("/api/v1/clients", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    let (status, _, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/clients/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        (&id, &second_secret),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    server.stop().await;
}

async fn dynamic_registration_is_off_by_default_and_guarded_when_on(stores: Stores) {
    let server = TestServer::start(stores).await.unwrap();
    let (status, _) = server
        .post(
            "/oauth2/register",
            json!({"client_name": "x", "redirect_uris": [CALLBACK]}),
            None,
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;

    let server = TestServer::start_with(stores, |config| {
        config.oidc.dynamic_registration = true;
        config.oidc.registration_token = Some("initial-access-token-1234".to_owned().into());
    })
    .await
    .unwrap();
    let (_, document) = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        document["registration_endpoint"],
        format!("{}/oauth2/register", server.base)
    );
    let metadata = json!({"client_name": "Self-registered", "redirect_uris": [CALLBACK]});
    let (status, _) = server
        .post("/oauth2/register", metadata.clone(), None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = server
        .post(
            "/oauth2/register",
            json!({"client_name": "Bad", "redirect_uris": ["ftp//nope"]}),
            Some("initial-access-token-1234"),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    let (status, created) = server
        .post(
            "/oauth2/register",
            metadata,
            Some("initial-access-token-1234"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let management = created["registration_access_token"].as_str().unwrap();
    let uri = created["registration_client_uri"].as_str().unwrap();
    let path = uri.strip_prefix(&server.base).unwrap();
    let (status, read) = server.get_as(path, management).await;
    assert_eq!(status, 200);
    assert_eq!(read["client_name"], "Self-registered");
    let (status, _) = server.get_as(path, "wrong").await;
    assert_eq!(status, 401);
    let (status, _, updated) = server
        .call(
            reqwest::Method::PUT,
            path,
            Some(json!({"client_name": "Renamed", "redirect_uris": [CALLBACK]})),
            Some(management),
        )
        .await;
    assert_eq!(
        (status, updated["client_name"].as_str()),
        (200, Some("Renamed"))
    );
    // Before the deletion the client authenticates: the grant, not the client, is refused.
    let credentials = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", "no-such-code"),
    ];
    let (status, refused) = oauth_post(&server, "/oauth2/token", credentials, &grant).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _, _) = server
        .call(reqwest::Method::DELETE, path, None, Some(management))
        .await;
    assert_eq!(status, 204);
    // Deleted: its credentials and its management token no longer work.
    let (status, refused) = oauth_post(&server, "/oauth2/token", credentials, &grant).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(server.get_as(path, management).await.0, 401);
    server.stop().await;
}

async fn private_key_jwt_assertions_are_checked(stores: Stores) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;

    // The jwks_uri below is served on loopback, which is refused unless allowed.
    let server = TestServer::start_with(stores, |config| {
        config.outbound.allowed_hosts = vec!["127.0.0.1".to_owned()];
    })
    .await
    .unwrap();
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let encode = |bytes: Vec<u8>| {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    };
    let jwk = json!({
        "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
        "n": encode(key.n().to_bytes_be()), "e": encode(key.e().to_bytes_be()),
    });
    let client = register(
        &server,
        json!({
            "client_name": "Signed",
            "grant_types": ["client_credentials"],
            "scope": "profile",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk.clone()]},
        }),
    )
    .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    let signing = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let signed_as = |client_id: &str, aud: &str, exp: i64, jti: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".to_owned());
        jsonwebtoken::encode(
            &header,
            &json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": exp, "iat": now, "jti": jti}),
            &signing,
        )
        .unwrap()
    };
    let assertion = |aud: &str, exp: i64, jti: &str| signed_as(&id, aud, exp, jti);
    let token_endpoint = format!("{}/oauth2/token", server.base);
    let request = |assertion: String| {
        let server = &server;
        async move {
            let response = server
                .client
                .post(server.url("/oauth2/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = request(assertion(&token_endpoint, now + 60, "one")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = request(assertion(&token_endpoint, now + 60, "one")).await;
    assert_eq!(status, 401, "a replayed jti is refused");
    let (status, _) = request(assertion("https://other.example/token", now + 60, "two")).await;
    assert_eq!(status, 401, "wrong audience");
    let (status, _) = request(assertion(&token_endpoint, now - 120, "three")).await;
    assert_eq!(status, 401, "expired");
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let other_pem = other.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &json!({"iss": id, "sub": id, "aud": token_endpoint, "exp": now + 60, "jti": "four"}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(other_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, _) = request(forged).await;
    assert_eq!(status, 401, "signed with another key");

    // The same key published at a jwks_uri instead of inline.
    let published = json!({"keys": [jwk]});
    let jwks_app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let published = published.clone();
            async move { axum::Json(published) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, jwks_app).await });
    let by_uri = register(
        &server,
        json!({
            "client_name": "Signed by URI",
            "grant_types": ["client_credentials"],
            "scope": "profile",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        }),
    )
    .await;
    let by_uri_id = by_uri["client_id"].as_str().unwrap();
    assert!(by_uri.get("client_secret").is_none());
    let (status, body) = request(signed_as(by_uri_id, &token_endpoint, now + 60, "five")).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

async fn back_channel_logout_reaches_every_client_of_the_session(stores: Stores) {
    let (sink, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let receiver = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                let sink = sink.clone();
                async move {
                    let _ = sink.send(form["logout_token"].clone());
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backchannel = format!("http://{}/backchannel", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    // The receiver listens on loopback, which Castellan refuses unless the operator allows it.
    let server = TestServer::start_with(stores, |config| {
        config.outbound.allowed_hosts = vec!["127.0.0.1".to_owned()];
    })
    .await
    .unwrap();
    signed_up(&server, "dana@example.com").await;
    let client = register(
        &server,
        json!({
            "client_name": "Listener",
            "redirect_uris": [CALLBACK],
            "backchannel_logout_uri": backchannel,
        }),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let browser = Browser::new(&server);
    browser
        .authorize(
            &authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", id),
                    ("redirect_uri", CALLBACK),
                    ("scope", "openid"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            ),
            "dana@example.com",
        )
        .await;
    // Without an ID token hint, logout asks first.
    let page = browser.get("/oauth2/logout").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out?"));
    let page = browser
        .post(
            "/oauth2/logout",
            &[("csrf", &hidden(&page.body, "csrf")), ("confirm", "yes")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("signed out"));
    let token = next_logout_token(&mut received).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let claims = verify_logout_token(&server, &token, id).await;
    assert!(claims.get("nonce").is_none());

    // A session ended any other way (here: the user ends their other sessions through the
    // API) reaches the client too.
    while received.try_recv().is_ok() {}
    browser
        .authorize(
            &authorize_url(
                &server,
                &[
                    ("response_type", "code"),
                    ("client_id", id),
                    ("redirect_uri", CALLBACK),
                    ("scope", "openid"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            ),
            "dana@example.com",
        )
        .await;
    let api = crate::support::access(
        &server
            .sign_in("dana@example.com", crate::support::PASSWORD)
            .await,
    );
    let (status, _, _) = server
        .call(
            reqwest::Method::DELETE,
            "/api/v1/sessions",
            None,
            Some(&api),
        )
        .await;
    assert!(status < 300, "{status}");
    let second = next_logout_token(&mut received).await;
    let again = verify_logout_token(&server, &second, id).await;
    assert_ne!(
        again["jti"], claims["jti"],
        "each logout token has its own jti"
    );
    assert_ne!(again["sid"], claims["sid"], "it names the other session");
    server.stop().await;
}

/// The next logout token the back-channel receiver got, waiting at most five seconds.
async fn next_logout_token(received: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(5), received.recv())
        .await
        .expect("a logout token arrived in time")
        .expect("the receiver is running")
}

/// Checks a logout token as a relying party must (OpenID Connect Back-Channel Logout 1.0,
/// section 2.6): signed with a key of the JWKS, from the issuer, for `client_id`, unexpired,
/// with `iat`, `jti`, `sid` and the logout event; returns its claims.
async fn verify_logout_token(server: &TestServer, token: &str, client_id: &str) -> Value {
    // Signature, `iss`, `aud` and `exp`.
    let claims = crate::tokens::verify_with_jwks_for(server, token, client_id).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let issued = claims["iat"].as_u64().expect("an iat claim");
    assert!(
        issued <= now + 60 && issued + 300 >= now,
        "iat {issued}, now {now}"
    );
    assert!(claims["exp"].as_u64().unwrap() > issued, "{claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "{claims}"
    );
    assert!(claims["sid"].is_string(), "{claims}");
    assert!(
        claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(),
        "{claims}"
    );
    claims
}

async fn hosted_pages_carry_csrf_protection_and_consent_can_be_refused(server: TestServer) {
    signed_up(&server, "erin@example.com").await;
    let (client_id, _) = web_client(&server).await;
    let browser = Browser::new(&server);
    // A sign-in form posted without the browser's CSRF value is refused.
    let page = browser
        .post(
            "/login",
            &[
                ("email", "erin@example.com"),
                ("password", crate::support::PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    let form = browser.get("/login").await;
    assert!(form.body.contains("autocomplete=\"current-password\""));
    let page = browser
        .post(
            "/login",
            &[
                ("email", "erin@example.com"),
                ("password", "wrong"),
                ("csrf", &hidden(&form.body, "csrf")),
            ],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("Wrong email or password"));
    browser.sign_in("erin@example.com").await;
    let (_, challenge) = pkce();
    let start = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid email"),
            ("state", "st"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = browser.get(&start).await;
    let consent_url = page.location.unwrap();
    assert!(
        consent_url.starts_with("/consent"),
        "signed in: straight to consent"
    );
    let consent = browser.get(&consent_url).await;
    assert!(
        consent.body.contains("See your email address"),
        "{}",
        consent.body
    );
    let page = browser
        .post(
            "/consent",
            &[
                ("csrf", &hidden(&consent.body, "csrf")),
                ("interaction", &hidden(&consent.body, "interaction")),
                ("decision", "deny"),
            ],
        )
        .await;
    let answer = query(page.location.as_deref().unwrap());
    assert_eq!(answer["error"], "access_denied");
    assert_eq!(answer["state"], "st");
    server.stop().await;
}

async fn a_user_can_withdraw_consent(server: TestServer) {
    let api = crate::support::access(&server.account("frank@example.com").await);
    let (client_id, secret) = web_client(&server).await;
    let client = (client_id.as_str(), secret.as_str());
    let (code, verifier) = code_for(
        &server,
        &client_id,
        "openid offline_access",
        "frank@example.com",
    )
    .await;
    let (_, tokens) = exchange(&server, client, &code, &verifier).await;
    let (status, consents) = server.get_as("/api/v1/users/me/consents", &api).await;
    assert_eq!(status, 200);
    assert_eq!(consents[0]["client_id"], client_id);
    assert_eq!(consents[0]["client_name"], "Web App");
    assert_eq!(consents[0]["scopes"], json!(["openid", "offline_access"]));
    let path = format!("/api/v1/users/me/consents/{client_id}");
    let (status, _, _) = server
        .call(reqwest::Method::DELETE, &path, None, Some(&api))
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = server
        .call(reqwest::Method::DELETE, &path, None, Some(&api))
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (404, Some("NOT_FOUND_ERROR"))
    );
    let (status, body) = oauth_post(
        &server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;
}

async fn clients_may_ask_for_es256_or_eddsa_id_tokens(server: TestServer) {
    use openidconnect::core::CoreJwsSigningAlgorithm;

    signed_up(&server, "gus@example.com").await;
    let http = http_client();
    let browser = Browser::new(&server);
    for (name, algorithm) in [
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let client = register(
            &server,
            json!({
                "client_name": format!("{name} app"),
                "redirect_uris": [CALLBACK],
                "first_party": true,
                "id_token_signed_response_alg": name,
            }),
        )
        .await;
        let metadata = CoreProviderMetadata::discover_async(
            IssuerUrl::new(server.base.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery with every key type in the JWKS");
        let rp = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client["client_id"].as_str().unwrap().to_owned()),
            Some(ClientSecret::new(
                client["client_secret"].as_str().unwrap().to_owned(),
            )),
        )
        .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        let callback = browser.authorize(url.as_str(), "gus@example.com").await;
        let tokens = rp
            .exchange_code(AuthorizationCode::new(query(&callback)["code"].clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().unwrap();
        let id_verifier = rp.id_token_verifier().set_allowed_algs([algorithm.clone()]);
        let claims = id_token.claims(&id_verifier, &nonce).expect("verifies");
        assert_eq!(id_token.signing_alg().unwrap(), &algorithm);
        let expected = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&id_verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims.access_token_hash(),
            Some(&expected),
            "{name} at_hash"
        );
    }
    server.stop().await;
}
