//! The outbound guard, seen through a client's `jwks_uri`: a `private_key_jwt` client whose
//! keys are published on loopback signs in only when the operator allow-lists the address, a
//! redirect to an internal address nobody listed is refused, and so is an oversized document.
//! Each refusal is shown next to the same request succeeding once the guard permits it, so a
//! refusal cannot come from anything else.

use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::oidc_support::register;
use crate::support::{Stores, TestServer, on_both_stores};

on_both_stores!(stores:
    a_loopback_jwks_uri_is_refused_unless_listed,
    a_redirect_to_an_unlisted_internal_address_is_refused,
    an_oversized_jwks_document_is_refused,
    the_deprecated_alias_still_allows_every_address,
);

/// The key pair a client signs its assertions with, and its public JWK.
struct ClientKey {
    signing: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl ClientKey {
    fn new() -> Self {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let encode = |bytes: Vec<u8>| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        };
        let jwk = json!({
            "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": encode(key.n().to_bytes_be()), "e": encode(key.e().to_bytes_be()),
        });
        let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        Self {
            signing: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    fn assertion(&self, client_id: &str, audience: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".to_owned());
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": audience,
            "exp": now + 60, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
        });
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

/// Serves the key's JWKS on `address` at `/jwks.json`, the same keys padded past `padding`
/// bytes at `/big.json`, and at `/redirect` a temporary redirect to `redirect_to`. Returns the
/// base URL.
async fn publish(address: &str, key: &ClientKey, padding: usize, redirect_to: String) -> String {
    let small = json!({"keys": [key.jwk.clone()]});
    let big = json!({"keys": [key.jwk.clone()], "padding": "x".repeat(padding)});
    let app = axum::Router::new()
        .route(
            "/jwks.json",
            axum::routing::get(move || async move { axum::Json(small) }),
        )
        .route(
            "/big.json",
            axum::routing::get(move || async move { axum::Json(big) }),
        )
        .route(
            "/redirect",
            axum::routing::get(
                move || async move { axum::response::Redirect::temporary(&redirect_to) },
            ),
        );
    let listener = tokio::net::TcpListener::bind((address, 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Registers a `private_key_jwt` client with `jwks_uri` and asks for a client-credentials
/// token with an assertion `key` signed; returns the token endpoint's status.
async fn sign_in_with_keys_at(server: &TestServer, key: &ClientKey, jwks_uri: &str) -> u16 {
    let client = register(
        server,
        json!({
            "client_name": "Keys elsewhere",
            "grant_types": ["client_credentials"],
            "scope": "profile",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let assertion = key.assertion(client_id, &server.url("/oauth2/token"));
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
    response.status().as_u16()
}

fn allow(hosts: &[&str]) -> impl FnOnce(&mut castellan_api::config::Config) {
    let hosts: Vec<String> = hosts.iter().map(|host| (*host).to_owned()).collect();
    move |config| config.outbound.allowed_hosts = hosts
}

async fn a_loopback_jwks_uri_is_refused_unless_listed(stores: Stores) {
    let key = ClientKey::new();
    let peer = publish("127.0.0.1", &key, 0, String::new()).await;
    let jwks_uri = format!("{peer}/jwks.json");

    let guarded = TestServer::start(stores).await.unwrap();
    assert_eq!(
        sign_in_with_keys_at(&guarded, &key, &jwks_uri).await,
        401,
        "loopback is refused by default"
    );
    guarded.stop().await;

    for listed in ["127.0.0.1", "127.0.0.0/8"] {
        let exempt = TestServer::start_with(stores, allow(&[listed]))
            .await
            .unwrap();
        assert_eq!(
            sign_in_with_keys_at(&exempt, &key, &jwks_uri).await,
            200,
            "reached when {listed} is listed"
        );
        exempt.stop().await;
    }
}

async fn a_redirect_to_an_unlisted_internal_address_is_refused(stores: Stores) {
    let key = ClientKey::new();
    // The keys really are at the redirect's target, on another loopback address.
    let target = publish("127.0.0.2", &key, 0, String::new()).await;
    let peer = publish("127.0.0.1", &key, 0, format!("{target}/jwks.json")).await;
    let jwks_uri = format!("{peer}/redirect");

    let first_hop_only = TestServer::start_with(stores, allow(&["127.0.0.1"]))
        .await
        .unwrap();
    assert_eq!(
        sign_in_with_keys_at(&first_hop_only, &key, &jwks_uri).await,
        401,
        "the redirect to 127.0.0.2 is refused"
    );
    first_hop_only.stop().await;

    let both_hops = TestServer::start_with(stores, allow(&["127.0.0.1", "127.0.0.2"]))
        .await
        .unwrap();
    assert_eq!(
        sign_in_with_keys_at(&both_hops, &key, &jwks_uri).await,
        200,
        "followed when its target is listed too"
    );
    both_hops.stop().await;
}

async fn an_oversized_jwks_document_is_refused(stores: Stores) {
    let key = ClientKey::new();
    let peer = publish("127.0.0.1", &key, 16 * 1024, String::new()).await;
    let server = TestServer::start_with(stores, |config| {
        allow(&["127.0.0.1"])(config);
        config.outbound.max_response_bytes = 8 * 1024;
    })
    .await
    .unwrap();
    assert_eq!(
        sign_in_with_keys_at(&server, &key, &format!("{peer}/jwks.json")).await,
        200,
        "a document within the limit is read"
    );
    assert_eq!(
        sign_in_with_keys_at(&server, &key, &format!("{peer}/big.json")).await,
        401,
        "the same keys in a document past the limit are refused"
    );
    server.stop().await;
}

async fn the_deprecated_alias_still_allows_every_address(stores: Stores) {
    let key = ClientKey::new();
    let peer = publish("127.0.0.1", &key, 0, String::new()).await;
    let server = TestServer::start_with(stores, |config| {
        config.oidc.allow_private_network_callbacks = true;
    })
    .await
    .unwrap();
    assert_eq!(
        sign_in_with_keys_at(&server, &key, &format!("{peer}/jwks.json")).await,
        200
    );
    server.stop().await;
}
