//! Refresh-token families (RFC 9700 §4.14.2): a reused refresh token revokes its own family
//! (the grant's refresh tokens and the access tokens they issued) and nothing else, so the
//! browser's sign-in session and the user's other applications survive it; a client's reuse
//! leeway lets two tabs refresh at once.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope,
};
use serde_json::{Value, json};

use crate::oidc_support::{
    Browser, CALLBACK, admin_token, authorize_url, exchange, oauth_post, pkce, query, refresh_with,
    register, web_client,
};
use crate::support::{PASSWORD, Stores, TestServer, on_both_stores, refresh};

on_both_stores!(server:
    a_reused_refresh_token_revokes_its_family_and_keeps_the_browser_session,
    within_the_reuse_leeway_a_rotated_token_answers_with_its_family,
    the_reuse_leeway_is_bounded,
);

on_both_stores!(stores:
    refresh_is_counted_per_family_and_account_not_per_address,
);

/// Tokens for `client` in the browser's session, by a manual code flow with PKCE.
async fn tokens_for(server: &TestServer, browser: &Browser, client: (&str, &str)) -> Value {
    let (verifier, challenge) = pkce();
    let start = authorize_url(
        server,
        &[
            ("response_type", "code"),
            ("client_id", client.0),
            ("redirect_uri", CALLBACK),
            ("scope", "openid offline_access"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = browser.authorize(&start, "ada@example.com").await;
    let (status, tokens) = exchange(server, client, &query(&callback)["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn text<'a>(tokens: &'a Value, field: &str) -> &'a str {
    tokens[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {tokens}"))
}

async fn is_active(server: &TestServer, client: (&str, &str), token: &str) -> bool {
    let (status, answer) =
        oauth_post(server, "/oauth2/introspect", client, &[("token", token)]).await;
    assert_eq!(status, 200, "{answer}");
    answer["active"] == true
}

fn refused(answer: &(u16, Value)) -> bool {
    answer.0 == 400 && answer.1["error"] == "invalid_grant"
}

async fn a_reused_refresh_token_revokes_its_family_and_keeps_the_browser_session(
    server: TestServer,
) {
    server.account("ada@example.com").await;
    let (app_id, app_secret) = web_client(&server).await;
    let (other_id, other_secret) = web_client(&server).await;
    let other = (other_id.as_str(), other_secret.as_str());

    // The relying party signs the user in through the browser.
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(app_id.clone()),
        Some(ClientSecret::new(app_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
    let authorization = |prompt_none: bool| {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("offline_access".to_owned()))
            .set_pkce_challenge(challenge);
        if prompt_none {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::None);
        }
        (request.url().0, verifier)
    };
    let browser = Browser::new(&server);
    let (url, verifier) = authorization(false);
    let callback = browser.authorize(url.as_str(), "ada@example.com").await;
    let app_tokens = rp
        .exchange_code(AuthorizationCode::new(query(&callback)["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");

    // Another application of the same user, in the same browser session, reuses a token.
    let first = tokens_for(&server, &browser, other).await;
    let (status, second) = refresh_with(&server, other, text(&first, "refresh_token")).await;
    assert_eq!(status, 200, "{second}");
    assert!(is_active(&server, other, text(&second, "access_token")).await);
    assert!(refused(
        &refresh_with(&server, other, text(&first, "refresh_token")).await
    ));

    // Its whole family is dead: the newer refresh token and every access token it issued.
    assert!(refused(
        &refresh_with(&server, other, text(&second, "refresh_token")).await
    ));
    assert!(!is_active(&server, other, text(&second, "access_token")).await);
    assert!(!is_active(&server, other, text(&first, "access_token")).await);

    // The relying party keeps its tokens, refreshes through its library, and the browser
    // session answers a silent authorization without showing the sign-in form.
    let app = (app_id.as_str(), app_secret.as_str());
    assert!(is_active(&server, app, app_tokens.access_token().secret()).await);
    let refreshed = rp
        .exchange_refresh_token(app_tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the other family is untouched");
    assert!(is_active(&server, app, refreshed.access_token().secret()).await);
    let (silent, _) = authorization(true);
    let page = browser.get(silent.as_str()).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.unwrap();
    assert!(location.starts_with(CALLBACK), "{location}");
    assert!(query(&location).contains_key("code"), "{location}");

    // The reuse is on the audit log.
    let token = admin_token(&server).await;
    let (status, log) = server
        .get_as(
            "/api/v1/admin/audit?action=auth.token.reuse_detected",
            &token,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let entries = log["events"].as_array().expect("audit entries");
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["success"], false);
    server.stop().await;
}

async fn within_the_reuse_leeway_a_rotated_token_answers_with_its_family(server: TestServer) {
    server.account("ada@example.com").await;
    let client = register(
        &server,
        json!({
            "client_name": "Tabs",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid offline_access",
            "refresh_reuse_leeway_secs": 30,
        }),
    )
    .await;
    assert_eq!(client["refresh_reuse_leeway_secs"], 30, "{client}");
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let tabs = (id, secret);
    let browser = Browser::new(&server);
    let first = tokens_for(&server, &browser, tabs).await;
    let old = text(&first, "refresh_token");

    // Two tabs present the same token: both get a working member of the family.
    let (status, one) = refresh_with(&server, tabs, old).await;
    assert_eq!(status, 200, "{one}");
    let (status, two) = refresh_with(&server, tabs, old).await;
    assert_eq!(status, 200, "within the leeway: {two}");
    assert_ne!(text(&one, "refresh_token"), text(&two, "refresh_token"));
    let (status, three) = refresh_with(&server, tabs, text(&one, "refresh_token")).await;
    assert_eq!(status, 200, "{three}");
    assert!(is_active(&server, tabs, text(&two, "access_token")).await);

    // Past the leeway, the same token is reuse: the family goes.
    server.clock.advance(Duration::from_secs(31));
    assert!(refused(&refresh_with(&server, tabs, old).await));
    assert!(refused(
        &refresh_with(&server, tabs, text(&two, "refresh_token")).await
    ));
    assert!(refused(
        &refresh_with(&server, tabs, text(&three, "refresh_token")).await
    ));
    assert!(!is_active(&server, tabs, text(&three, "access_token")).await);
    server.stop().await;
}

async fn the_reuse_leeway_is_bounded(server: TestServer) {
    let token = admin_token(&server).await;
    let (status, body) = server
        .post(
            "/api/v1/clients",
            json!({
                "client_name": "Lax",
                "redirect_uris": [CALLBACK],
                "refresh_reuse_leeway_secs": 301,
            }),
            Some(&token),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("refresh_reuse_leeway_secs"),
        "{body}"
    );
    server.stop().await;
}

/// Exchanges an API refresh token; returns the status and the answer.
async fn api_refresh(server: &TestServer, token: &str) -> (u16, Value) {
    server
        .post(
            "/api/v1/auth/token/refresh",
            json!({ "refresh_token": token }),
            None,
        )
        .await
}

async fn refresh_is_counted_per_family_and_account_not_per_address(stores: Stores) {
    let server = TestServer::start_with(stores, |config| {
        config.rate_limit.auth_per_ip_per_minute = 4;
        config.rate_limit.refresh_per_family_per_minute = 3;
        config.rate_limit.refresh_per_account_per_minute = 5;
    })
    .await
    .unwrap();
    // A sign-up with its sign-in and two more sign-ins spend this address's credentials
    // budget...
    server.account("ada@example.com").await;
    let first = server.sign_in("ada@example.com", PASSWORD).await;
    let second = server.sign_in("ada@example.com", PASSWORD).await;
    // ...and its refreshes go on: they are counted per family, then per account.
    let mut token = refresh(&first);
    for _ in 0..3 {
        let (status, next) = api_refresh(&server, &token).await;
        assert_eq!(status, 200, "{next}");
        token = refresh(&next);
    }
    let (status, body) = api_refresh(&server, &token).await;
    assert_eq!(status, 429, "the family's budget is spent: {body}");
    assert_eq!(body["error_code"], "RATE_LIMIT_ERROR", "{body}");

    // Another family of the same account has its own budget, within the account's.
    let mut token = refresh(&second);
    for _ in 0..2 {
        let (status, next) = api_refresh(&server, &token).await;
        assert_eq!(status, 200, "{next}");
        token = refresh(&next);
    }
    let (status, body) = api_refresh(&server, &token).await;
    assert_eq!(status, 429, "the account's budget is spent: {body}");
    server.stop().await;
}
