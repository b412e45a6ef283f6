//! Passkeys with a real software authenticator (webauthn-authenticator-rs's SoftPasskey):
//! registration, username-first sign-in, the second step after a password, counters, rename
//! and delete, origin mismatch, a cloned-authenticator signal, and ceremonies begun on one
//! replica and finished on another sharing PostgreSQL and Redis.

use reqwest::Method;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

use crate::mfa::{claims, enrol_totp};
use crate::support::on_both_stores;
use crate::support::{PASSWORD, Stores, TempDir, TestServer, access, config_for};

on_both_stores!(stores:
    passkeys_register_sign_in_and_serve_as_second_factor,
    a_foreign_origin_is_refused_with_a_clear_error,
    without_a_domain_name_passkeys_say_what_to_configure,
);

/// The page origin the authenticator is told about (any port is allowed on localhost).
const ORIGIN: &str = "http://localhost:8443";

fn relying_party(config: &mut castellan_api::config::Config) {
    config.passkeys.rp_id = "localhost".to_owned();
    config.passkeys.origins = vec!["http://localhost".to_owned()];
    config.passkeys.allow_any_port = true;
}

fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    // The passkey ceremonies require user verification, which a software authenticator can
    // only claim.
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// Begins a registration on `begin_on` and finishes it on `finish_on` with the authenticator
/// answering as a page at `origin`; returns the completion's status and body.
async fn register(
    begin_on: &TestServer,
    finish_on: &TestServer,
    device: &mut WebauthnAuthenticator<SoftPasskey>,
    bearer: &str,
    origin: &str,
) -> (u16, Value) {
    let (status, begun) = begin_on
        .post(
            "/api/v1/passkeys/register/begin",
            json!({"name": "Laptop"}),
            Some(bearer),
        )
        .await;
    assert_eq!(status, 200, "{begun}");
    let selection = &begun["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], json!("preferred"));
    let options: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": begun["publicKey"]})).unwrap();
    let credential = device
        .do_registration(Url::parse(origin).unwrap(), options)
        .unwrap();
    finish_on
        .post(
            "/api/v1/passkeys/register/complete",
            json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
            Some(bearer),
        )
        .await
}

/// Begins a sign-in with `request` on `begin_on`, answers it, finishes on `finish_on`.
async fn authenticate(
    begin_on: &TestServer,
    finish_on: &TestServer,
    device: &mut WebauthnAuthenticator<SoftPasskey>,
    request: Value,
) -> (u16, Value) {
    let (status, begun) = begin_on
        .post("/api/v1/passkeys/authenticate/begin", request, None)
        .await;
    assert_eq!(status, 200, "{begun}");
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": begun["publicKey"]})).unwrap();
    let credential = device
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    finish_on
        .post(
            "/api/v1/passkeys/authenticate/complete",
            json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
            None,
        )
        .await
}

fn amr(tokens: &Value) -> Value {
    claims(&access(tokens))["amr"].clone()
}

async fn passkeys_register_sign_in_and_serve_as_second_factor(stores: Stores) {
    let server = TestServer::start_with(stores, relying_party).await.unwrap();
    let tokens = server.account("pat@example.com").await;
    let bearer = access(&tokens);
    let mut device = authenticator();
    let (status, passkey) = register(&server, &server, &mut device, &bearer, ORIGIN).await;
    assert_eq!(status, 201, "{passkey}");
    assert_eq!(passkey["name"], json!("Laptop"));

    // Username-first sign-in, no password: the same token answer, amr hwk.
    let (status, signed_in) = authenticate(
        &server,
        &server,
        &mut device,
        json!({"email": "pat@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(amr(&signed_in), json!(["hwk", "user"]));
    assert_eq!(signed_in["user"]["email"], json!("pat@example.com"));
    let (_, listed) = server.get_as("/api/v1/passkeys", &bearer).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["counter"], json!(1));
    assert!(listed[0]["last_used_at"].is_string());
    let (status, _) = authenticate(
        &server,
        &server,
        &mut device,
        json!({"email": "pat@example.com"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = server.get_as("/api/v1/passkeys", &bearer).await;
    assert_eq!(listed[0]["counter"], json!(2), "counters move on every use");

    // With no email the options name no credential (passwordless, conditional UI).
    let (_, begun) = server
        .post("/api/v1/passkeys/authenticate/begin", json!({}), None)
        .await;
    assert_eq!(begun["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(begun["mediation"], json!("conditional"));
    // An unknown email gets the same passwordless options, revealing nothing.
    let (_, begun) = server
        .post(
            "/api/v1/passkeys/authenticate/begin",
            json!({"email": "nobody@example.com"}),
            None,
        )
        .await;
    assert_eq!(begun["publicKey"]["allowCredentials"], json!([]));

    // A ceremony finishes once.
    let (_, begun) = server
        .post(
            "/api/v1/passkeys/authenticate/begin",
            json!({"email": "pat@example.com"}),
            None,
        )
        .await;
    let options: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": begun["publicKey"]})).unwrap();
    let answer = device
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .unwrap();
    let finish = json!({"ceremony_id": begun["ceremony_id"], "credential": answer});
    let (status, _) = server
        .post(
            "/api/v1/passkeys/authenticate/complete",
            finish.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .post("/api/v1/passkeys/authenticate/complete", finish, None)
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // As the second factor after a password.
    enrol_totp(&server, &bearer).await;
    let challenge = server.sign_in("pat@example.com", PASSWORD).await;
    assert_eq!(
        challenge["mfa_methods"],
        json!(["totp", "backup_code", "webauthn"])
    );
    let (status, signed_in) = authenticate(
        &server,
        &server,
        &mut device,
        json!({"mfa_token": challenge["mfa_token"]}),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(amr(&signed_in), json!(["pwd", "hwk", "mfa"]));
    assert_eq!(signed_in["twoFactor"], json!(true));

    // Rename and delete; another user cannot touch it.
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let other = access(&server.account("other@example.com").await);
    let (status, _, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/passkeys/{id}"),
            Some(json!({"name": "Mine now"})),
            Some(&other),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/passkeys/{id}"),
            Some(json!({"name": "Work laptop"})),
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 204);
    let (_, listed) = server.get_as("/api/v1/passkeys", &bearer).await;
    assert_eq!(listed[0]["name"], json!("Work laptop"));
    let (status, _, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/passkeys/{id}"),
            None,
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 204);
    let (_, listed) = server.get_as("/api/v1/passkeys", &bearer).await;
    assert_eq!(listed, json!([]));
    let (_, begun) = server
        .post(
            "/api/v1/passkeys/authenticate/begin",
            json!({"email": "pat@example.com"}),
            None,
        )
        .await;
    assert_eq!(begun["publicKey"]["allowCredentials"], json!([]));
    server.stop().await;
}

async fn a_foreign_origin_is_refused_with_a_clear_error(stores: Stores) {
    let server = TestServer::start_with(stores, relying_party).await.unwrap();
    let tokens = server.account("origin@example.com").await;
    let (status, body) = register(
        &server,
        &server,
        &mut authenticator(),
        &access(&tokens),
        // A subdomain the RP id covers, so the authenticator answers, but not a listed origin.
        "https://evil.localhost:8443",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("passkeys.origins"),
        "{body}"
    );
    let (_, listed) = server.get_as("/api/v1/passkeys", &access(&tokens)).await;
    assert_eq!(listed, json!([]));
    server.stop().await;
}

async fn without_a_domain_name_passkeys_say_what_to_configure(stores: Stores) {
    // The test issuer is an IP address, which WebAuthn cannot use as an RP id.
    let server = TestServer::start(stores).await.unwrap();
    let tokens = server.account("ip@example.com").await;
    let (status, body) = server
        .post(
            "/api/v1/passkeys/register/begin",
            json!({}),
            Some(&access(&tokens)),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("passkeys.rp_id"),
        "{body}"
    );
    server.stop().await;
}

on_both_stores!(production: ceremonies_cross_replicas_and_clones_are_caught);
/// Two replicas sharing PostgreSQL and Redis: each ceremony begins on one and finishes on
/// the other. A counter that goes backwards (a cloned authenticator) is refused and audited.
async fn ceremonies_cross_replicas_and_clones_are_caught() {
    let (mut config, dir, postgres) = config_for(Stores::Production).await.unwrap();
    relying_party(&mut config);
    // One issuer for both replicas, so each accepts the other's access tokens.
    config.issuer = "http://localhost:8000".to_owned();
    let database_url = config.database.url.expose().to_owned();
    let second_config = config.clone();
    let first = TestServer::start_config(config, dir, postgres).await;
    let second = TestServer::start_config(second_config, TempDir::new(), None).await;
    let tokens = first.account("replica@example.com").await;
    let bearer = access(&tokens);
    let mut device = authenticator();
    let (status, body) = register(&first, &second, &mut device, &bearer, ORIGIN).await;
    assert_eq!(status, 201, "{body}");
    let (status, signed_in) = authenticate(
        &second,
        &first,
        &mut device,
        json!({"email": "replica@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");

    // Make the stored counter run ahead of the authenticator's, as when a copy of the key
    // has been used elsewhere.
    let connection = sea_orm::Database::connect(&database_url).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &connection,
        "UPDATE passkeys SET credential = \
         jsonb_set(credential::jsonb, '{cred,counter}', '1000')::text",
    )
    .await
    .unwrap();
    let (status, body) = authenticate(
        &first,
        &second,
        &mut device,
        json!({"email": "replica@example.com"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("copied"),
        "{body}"
    );
    let events = first
        .state
        .audit
        .query(&castellan_domain::AuditQuery {
            page: 1,
            per_page: 10,
            action: Some("passkey.clone_suspected".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.1, 1);
    second.stop().await;
    first.stop().await;
}
