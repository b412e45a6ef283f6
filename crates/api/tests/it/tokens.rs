//! Access tokens verify with a generic JWT library against the served JWKS alone, before and
//! after a key rotation; several replicas rotating at once make exactly one new key.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{Clock, EventSink, KeyState, ManualClock, RequestContext, SystemClock};
use castellan_oidc::{KeyManager, KeySettings, MasterKey};
use castellan_persistence::{
    Database, DatabaseOptions, SqlAuditLog, SqlLeaseRepository, SqlSigningKeyRepository,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};

use crate::support::on_both_stores;
use crate::support::{Stores, TestServer, access, config_for};

on_both_stores!(server:
    access_tokens_verify_from_the_jwks_across_a_rotation,
);

/// Verifies `token` using only the JWKS document the server publishes.
pub async fn verify_with_jwks(server: &TestServer, token: &str) -> Value {
    verify_with_jwks_for(server, token, &server.base).await
}

/// Verifies `token`, meant for `audience`, using only the JWKS document the server publishes.
pub async fn verify_with_jwks_for(server: &TestServer, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let kid = header.kid.expect("kid in the header");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[server.base.as_str()]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

async fn access_tokens_verify_from_the_jwks_across_a_rotation(server: TestServer) {
    let before = server.account("jwks@example.com").await;
    let claims = verify_with_jwks(&server, &access(&before)).await;
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
        "sid",
    ] {
        assert!(!claims[claim].is_null(), "{claim} missing from {claims}");
    }
    assert_eq!(claims["sub"], before["user"]["id"]);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let jwks: Value = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rsa = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == "RS256")
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let kids = rsa(&jwks);
    assert_eq!(kids.len(), 2, "active and next: {jwks}");
    for key in jwks["keys"].as_array().unwrap() {
        let expected = match key["alg"].as_str().unwrap() {
            "RS256" => json!("RSA"),
            "ES256" => json!("EC"),
            "EdDSA" => json!("OKP"),
            other => panic!("unexpected algorithm {other}"),
        };
        assert_eq!((&key["kty"], &key["use"]), (&expected, &json!("sig")));
        assert!(key.get("d").is_none(), "private material published: {key}");
    }
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        6,
        "three algorithms: {jwks}"
    );
    let old_kid = jsonwebtoken::decode_header(access(&before))
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(old_kid, kids[0], "the active key is listed first");

    let promoted = server
        .state
        .keys
        .rotate(&RequestContext::default())
        .await
        .unwrap();
    assert_eq!(
        promoted, kids[1],
        "the pre-published next key becomes active"
    );

    // The old token still verifies, from the new JWKS alone, and is still accepted.
    verify_with_jwks(&server, &access(&before)).await;
    assert_eq!(
        server.get_as("/api/v1/auth/me", &access(&before)).await.0,
        200
    );
    let jwks: Value = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rsa(&jwks).len(), 3, "active, next and retired: {jwks}");

    let after = server
        .sign_in("jwks@example.com", crate::support::PASSWORD)
        .await;
    assert_eq!(
        jsonwebtoken::decode_header(access(&after))
            .unwrap()
            .kid
            .unwrap(),
        promoted
    );
    verify_with_jwks(&server, &access(&after)).await;

    // A token whose signature does not match is refused.
    let mut forged = access(&after);
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(server.get_as("/api/v1/auth/me", &forged).await.0, 401);
    server.stop().await;
}

on_both_stores!(production: replicas_rotating_together_make_exactly_one_new_key);
async fn replicas_rotating_together_make_exactly_one_new_key() {
    let (config, _dir, postgres) = config_for(Stores::Production).await.unwrap();
    let postgres = postgres.unwrap();
    let database = Database::connect(&postgres.url, &DatabaseOptions::default())
        .await
        .unwrap();
    database
        .migrate_up::<castellan_migration::Migrator>(None)
        .await
        .unwrap();
    let master = MasterKey::from_base64(config.keys.master_key.as_ref().unwrap().expose()).unwrap();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let settings = KeySettings {
        rsa_bits: 2048,
        rotation_interval: Duration::from_secs(86_400),
        max_token_lifetime: Duration::from_secs(900),
    };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let clock: Arc<dyn Clock> = clock.clone();
        let events: Arc<dyn EventSink> = Arc::new(SqlAuditLog::new(database.clone()));
        replicas.push(
            KeyManager::start(
                Arc::new(SqlSigningKeyRepository::new(database.clone())),
                Arc::new(SqlLeaseRepository::new(database.clone(), clock.clone())),
                events,
                master.clone(),
                clock,
                settings.clone(),
                true,
            )
            .await
            .unwrap(),
        );
    }
    // Three replicas on one empty table: one active and one next key, not three of each.
    let first = replicas[0].summaries().await.unwrap();
    assert_eq!(
        first.len(),
        6,
        "an active and a next key for each of three algorithms"
    );
    assert!(!replicas[0].rotate_if_due().await.unwrap(), "not due yet");
    clock.advance(Duration::from_secs(86_400));
    let attempts = replicas.iter().map(|replica| {
        let replica = replica.clone();
        tokio::spawn(async move { replica.rotate_if_due().await.unwrap() })
    });
    let mut rotated = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        rotated += usize::from(attempt.await.unwrap());
    }
    assert_eq!(rotated, 1);
    // Another replica sees the rotation once it reloads (every minute, or on an unknown kid).
    replicas[2].reload().await.unwrap();
    let keys = replicas[2].summaries().await.unwrap();
    let count = |state| keys.iter().filter(|key| key.state == state).count();
    assert_eq!(
        (
            count(KeyState::Active),
            count(KeyState::Next),
            count(KeyState::Retired)
        ),
        (3, 3, 3),
        "one rotation of each algorithm's keys"
    );
    database.close().await.unwrap();
}
