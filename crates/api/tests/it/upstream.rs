//! Castellan as the client of an upstream OpenID provider, driven against a second Castellan
//! on 127.0.0.1: `castellan-sso` builds the authorization URL, a signed-in browser follows it
//! through the upstream's `/oauth2/authorize` to the callback, and `finish` turns the code
//! into the upstream user's identity. Each refusal (state, nonce, PKCE verifier, a key set of
//! another provider, another issuer, an expired ID token) is shown against the same flow
//! succeeding, so it cannot come from anything else.

use std::time::Duration;

use async_trait::async_trait;
use castellan_api::outbound::{AllowList, GuardedOutbound, OutboundSettings};
use castellan_domain::{
    Clock, ManualClock, OutboundError, OutboundHttp, OutboundRequest, OutboundResponse,
    SystemClock, SystemRandom,
};
use castellan_sso::upstream::{
    Callback, ClaimMapping, EmailSource, IssuerRule, OAuth2Endpoints, PendingLogin, ProviderKind,
    ResponseMode, UpstreamClient, UpstreamError, UpstreamIdentity, UpstreamProvider,
};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::oidc_support::{Browser, query, register};
use crate::support::{TestServer, access, on_both_stores};

on_both_stores!(server:
    an_upstream_castellan_signs_the_user_in,
    an_oauth2_provider_maps_the_userinfo,
    a_state_of_another_login_is_refused,
    a_tampered_nonce_is_refused,
    a_wrong_pkce_verifier_is_refused_upstream,
    an_id_token_checked_against_another_key_set_is_refused,
    an_id_token_of_another_issuer_is_refused,
    an_expired_id_token_is_refused,
    an_access_token_not_matching_at_hash_is_refused,
);

/// Castellan's own issuer in these tests; nothing listens there, the browser stops at the
/// callback.
const DOWNSTREAM: &str = "http://127.0.0.1:9";
/// The provider's slug.
const SLUG: &str = "upstream";
const USER: &str = "federated@example.com";

/// The guarded outbound client with loopback allow-listed.
fn outbound() -> GuardedOutbound {
    GuardedOutbound::new(OutboundSettings {
        allow_everything: false,
        allowed: AllowList::parse(&["127.0.0.1"]).unwrap(),
        timeout: Duration::from_secs(10),
        max_response_bytes: 1 << 20,
    })
    .unwrap()
}

/// An upstream app registered at `upstream` for Castellan's callback; returns id and secret.
async fn upstream_app(upstream: &TestServer) -> (String, String) {
    let client = register(
        upstream,
        json!({
            "client_name": "Downstream Castellan",
            "redirect_uris": [format!("{DOWNSTREAM}/api/v1/auth/oauth/{SLUG}/callback")],
            "grant_types": ["authorization_code"],
            "scope": "openid profile email",
        }),
    )
    .await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// The upstream as an OpenID Connect provider at `issuer`.
fn oidc_provider(issuer: &str, (id, secret): &(String, String)) -> UpstreamProvider {
    UpstreamProvider {
        slug: SLUG.to_owned(),
        kind: ProviderKind::Oidc {
            issuer: issuer.to_owned(),
            issuer_rule: IssuerRule::Exact,
            email_verified_claims: Vec::new(),
        },
        client_id: id.clone(),
        client_secret: SecretString::from(secret.clone()),
        scopes: vec![
            "openid".to_owned(),
            "email".to_owned(),
            "profile".to_owned(),
        ],
        token_auth: None,
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
    }
}

/// A started login and the callback the signed-in browser came back with.
struct Returned {
    pending: PendingLogin,
    callback: Callback,
}

/// Starts a login with `client` and follows it through `upstream` as `USER`.
async fn sign_in_upstream(upstream: &TestServer, client: &UpstreamClient) -> Returned {
    let start = client.start(&SystemRandom).unwrap();
    let browser = Browser::new(upstream);
    let landed = browser.authorize(&start.authorization_url, USER).await;
    let prefix = format!("{DOWNSTREAM}/api/v1/auth/oauth/{SLUG}/callback?");
    assert!(landed.starts_with(&prefix), "landed on {landed}");
    let answer = query(&landed);
    Returned {
        pending: start.pending,
        callback: Callback {
            state: answer.get("state").cloned(),
            code: answer.get("code").cloned().map(SecretString::from),
            ..Callback::default()
        },
    }
}

/// The upstream user's id and a fresh discovered client for `provider`.
async fn prepared(upstream: &TestServer, provider: UpstreamProvider) -> (String, UpstreamClient) {
    let tokens = upstream.account(USER).await;
    let me = upstream.get_as("/api/v1/auth/me", &access(&tokens)).await.1;
    let client = UpstreamClient::discover(provider, DOWNSTREAM, &outbound())
        .await
        .unwrap();
    (me["id"].as_str().unwrap().to_owned(), client)
}

/// `pending` with `field` replaced by `value`, as a tampered store would hand it back.
fn tampered(pending: &PendingLogin, field: &str, value: &str) -> PendingLogin {
    let mut stored = serde_json::to_value(pending).unwrap();
    stored[field] = Value::from(value);
    serde_json::from_value(stored).unwrap()
}

async fn finish(
    client: &UpstreamClient,
    returned: &Returned,
    http: &dyn OutboundHttp,
    clock: &dyn Clock,
) -> Result<UpstreamIdentity, UpstreamError> {
    client
        .finish(&returned.callback, &returned.pending, http, clock)
        .await
}

async fn an_upstream_castellan_signs_the_user_in(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (user_id, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    assert_eq!(
        client.redirect_uri(),
        format!("{DOWNSTREAM}/api/v1/auth/oauth/{SLUG}/callback")
    );
    let start = client.start(&SystemRandom).unwrap();
    let sent = query(&start.authorization_url);
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["redirect_uri"], client.redirect_uri());
    assert!(sent["scope"].split(' ').any(|scope| scope == "openid"));
    assert!(sent.contains_key("nonce") && sent.contains_key("state"));
    assert!(!format!("{:?}", start.pending).contains(&sent["state"]));

    let returned = sign_in_upstream(&upstream, &client).await;
    let identity = finish(&client, &returned, &outbound(), &SystemClock)
        .await
        .unwrap();
    assert_eq!(identity.provider, SLUG);
    assert_eq!(identity.issuer, upstream.base);
    assert_eq!(identity.subject, user_id);
    assert_eq!(identity.email.as_deref(), Some(USER));
    assert_eq!(identity.raw_claims["sub"], user_id.as_str());

    // The code is single-use upstream: replaying the callback fails at the token endpoint.
    let replayed = finish(&client, &returned, &outbound(), &SystemClock).await;
    assert!(
        matches!(replayed, Err(UpstreamError::TokenRefused { ref error, .. }) if error == "invalid_grant"),
        "{replayed:?}"
    );
}

async fn an_oauth2_provider_maps_the_userinfo(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let provider = UpstreamProvider {
        kind: ProviderKind::OAuth2(Box::new(OAuth2Endpoints {
            authorization_url: upstream.url("/oauth2/authorize"),
            token_url: upstream.url("/oauth2/token"),
            userinfo_url: upstream.url("/oauth2/userinfo"),
            email_source: EmailSource::Userinfo,
            mapping: ClaimMapping {
                subject: "sub".to_owned(),
                email: Some("email".to_owned()),
                email_verified: Some("email_verified".to_owned()),
                name: vec!["name".to_owned()],
                given_name: None,
                family_name: None,
                picture: None,
            },
            issuer: upstream.base.clone(),
        })),
        token_auth: None,
        ..oidc_provider(&upstream.base, &app)
    };
    let (user_id, client) = prepared(&upstream, provider).await;
    let returned = sign_in_upstream(&upstream, &client).await;
    assert!(returned.pending.nonce.is_none());
    let identity = finish(&client, &returned, &outbound(), &SystemClock)
        .await
        .unwrap();
    assert_eq!(identity.subject, user_id);
    assert_eq!(identity.email.as_deref(), Some(USER));
    assert_eq!(identity.issuer, upstream.base);
}

async fn a_state_of_another_login_is_refused(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let mut returned = sign_in_upstream(&upstream, &client).await;
    let genuine = returned.callback.state.take();
    returned.callback.state = Some("another-browsers-state".to_owned());
    let refused = finish(&client, &returned, &outbound(), &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::StateMismatch)),
        "{refused:?}"
    );
    returned.callback.state = None;
    let missing = finish(&client, &returned, &outbound(), &SystemClock).await;
    assert!(
        matches!(missing, Err(UpstreamError::StateMismatch)),
        "{missing:?}"
    );
    // The code was not spent on a refused callback: the genuine state still signs in.
    returned.callback.state = genuine;
    finish(&client, &returned, &outbound(), &SystemClock)
        .await
        .unwrap();
}

async fn a_tampered_nonce_is_refused(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let mut returned = sign_in_upstream(&upstream, &client).await;
    returned.pending = tampered(&returned.pending, "nonce", "a-nonce-never-sent");
    let refused = finish(&client, &returned, &outbound(), &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::NonceMismatch)),
        "{refused:?}"
    );
    let fresh = sign_in_upstream(&upstream, &client).await;
    finish(&client, &fresh, &outbound(), &SystemClock)
        .await
        .unwrap();
}

async fn a_wrong_pkce_verifier_is_refused_upstream(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let mut returned = sign_in_upstream(&upstream, &client).await;
    let wrong = "a-verifier-of-another-login-0123456789-abcdefghijklmnop";
    returned.pending = tampered(&returned.pending, "pkce_verifier", wrong);
    let refused = finish(&client, &returned, &outbound(), &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::TokenRefused { ref error, .. }) if error == "invalid_grant"),
        "{refused:?}"
    );
    let fresh = sign_in_upstream(&upstream, &client).await;
    finish(&client, &fresh, &outbound(), &SystemClock)
        .await
        .unwrap();
}

/// The guarded client, with requests whose URL starts with a listed prefix sent elsewhere,
/// and JSON answers patched (URL suffix, field, new value): a provider whose answers lie.
#[derive(Debug)]
struct Rewriting {
    inner: GuardedOutbound,
    rewrites: Vec<(String, String)>,
    patches: Vec<(&'static str, &'static str, String)>,
}

#[async_trait]
impl OutboundHttp for Rewriting {
    async fn send(&self, mut request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let url = request.uri().to_string();
        if let Some((from, to)) = self.rewrites.iter().find(|(from, _)| url.starts_with(from)) {
            *request.uri_mut() = format!("{to}{}", &url[from.len()..]).parse().unwrap();
        }
        let mut response = self.inner.send(request).await?;
        for (suffix, field, value) in &self.patches {
            if url.ends_with(suffix) {
                let mut document: Value = serde_json::from_slice(response.body()).unwrap();
                document[*field] = Value::from(value.as_str());
                *response.body_mut() = serde_json::to_vec(&document).unwrap();
            }
        }
        Ok(response)
    }
}

async fn an_id_token_checked_against_another_key_set_is_refused(upstream: TestServer) {
    let other = TestServer::start(crate::support::Stores::Embedded)
        .await
        .unwrap();
    // The other instance publishes its own keys (its JWKS is created on first use).
    let other_keys = other.get_json("/.well-known/jwks.json").await;
    assert_eq!(other_keys.0, 200);
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let genuine_keys = upstream.get_json("/.well-known/jwks.json").await.1;
    assert_ne!(
        genuine_keys, other_keys.1,
        "the two instances have different keys"
    );
    let metadata = upstream
        .get_json("/.well-known/openid-configuration")
        .await
        .1;
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap().to_owned();
    let lying = Rewriting {
        inner: outbound(),
        rewrites: vec![(jwks_uri, other.url("/.well-known/jwks.json"))],
        patches: Vec::new(),
    };
    let returned = sign_in_upstream(&upstream, &client).await;
    let refused = finish(&client, &returned, &lying, &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::BadSignature)),
        "{refused:?}"
    );
    let fresh = sign_in_upstream(&upstream, &client).await;
    finish(&client, &fresh, &outbound(), &SystemClock)
        .await
        .unwrap();
    other.stop().await;
}

async fn an_id_token_of_another_issuer_is_refused(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    // Castellan is told the issuer is `…/elsewhere`; the documents there (served by the
    // upstream, issuer rewritten) say so too, but the upstream's ID tokens name the upstream.
    let claimed = upstream.url("/elsewhere");
    let lying = Rewriting {
        inner: outbound(),
        rewrites: vec![(format!("{claimed}/"), format!("{}/", upstream.base))],
        patches: vec![(
            "/.well-known/openid-configuration",
            "issuer",
            claimed.clone(),
        )],
    };
    upstream.account(USER).await;
    let client = UpstreamClient::discover(oidc_provider(&claimed, &app), DOWNSTREAM, &lying)
        .await
        .unwrap();
    let returned = sign_in_upstream(&upstream, &client).await;
    let refused = finish(&client, &returned, &lying, &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::WrongIssuer)),
        "{refused:?}"
    );

    // And discovery itself refuses a document naming another issuer than configured.
    let honest_documents = UpstreamClient::discover(
        oidc_provider(&claimed, &app),
        DOWNSTREAM,
        &Rewriting {
            patches: Vec::new(),
            ..lying
        },
    )
    .await;
    assert!(
        matches!(
            honest_documents,
            Err(UpstreamError::DiscoveryIssuerMismatch)
        ),
        "{honest_documents:?}"
    );
}

async fn an_expired_id_token_is_refused(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let returned = sign_in_upstream(&upstream, &client).await;
    let tomorrow = ManualClock::new(SystemClock.now() + chrono::Duration::days(1));
    let refused = finish(&client, &returned, &outbound(), &tomorrow).await;
    assert!(
        matches!(refused, Err(UpstreamError::Expired)),
        "{refused:?}"
    );
    // A clock a little ahead of the upstream's still accepts a fresh token.
    let fresh = sign_in_upstream(&upstream, &client).await;
    let within_skew = ManualClock::new(SystemClock.now() + chrono::Duration::seconds(30));
    finish(&client, &fresh, &outbound(), &within_skew)
        .await
        .unwrap();
}

async fn an_access_token_not_matching_at_hash_is_refused(upstream: TestServer) {
    let app = upstream_app(&upstream).await;
    let (_, client) = prepared(&upstream, oidc_provider(&upstream.base, &app)).await;
    let genuine = sign_in_upstream(&upstream, &client).await;
    let identity = finish(&client, &genuine, &outbound(), &SystemClock)
        .await
        .unwrap();
    assert!(
        identity.raw_claims.contains_key("at_hash"),
        "the upstream binds its ID tokens to the access token"
    );
    // The token answer's access token swapped for another one (as a man in the middle of a
    // mixed-up answer would): the ID token's at_hash no longer matches.
    let swapping = Rewriting {
        inner: outbound(),
        rewrites: Vec::new(),
        patches: vec![(
            "/oauth2/token",
            "access_token",
            "another-access-token".to_owned(),
        )],
    };
    let returned = sign_in_upstream(&upstream, &client).await;
    let refused = finish(&client, &returned, &swapping, &SystemClock).await;
    assert!(
        matches!(refused, Err(UpstreamError::AccessTokenHashMismatch)),
        "{refused:?}"
    );
}
