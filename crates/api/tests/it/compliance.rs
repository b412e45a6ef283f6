//! Data export, erasure with pseudonymised audit entries, and the consent ledger.

use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{PASSWORD, TestServer, access, succeeded};

on_both_stores!(server:
    export_holds_everything_about_the_user,
    erasure_removes_the_person_and_pseudonymises_the_log,
    erasure_keeps_the_admin_ranks,
);

async fn export_holds_everything_about_the_user(server: TestServer) {
    let (status, _) = server
        .post(
            "/api/v1/auth/signup",
            json!({"email": "dora@example.com", "password": PASSWORD, "terms_version": "2026-01"}),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let tokens = server.sign_in("dora@example.com", PASSWORD).await;
    let bearer = access(&tokens);
    succeeded(
        server
            .post(
                "/api/v1/organizations",
                json!({"name": "Dora Labs"}),
                Some(&bearer),
            )
            .await,
    );
    crate::mfa::enrol_totp(&server, &bearer).await;
    let (status, _) = server
        .post(
            "/api/v1/compliance/consent",
            json!({"purpose": "marketing_email", "policy_version": "v3", "granted": false}),
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 201);
    let (status, export) = server
        .post("/api/v1/compliance/data-export", json!({}), Some(&bearer))
        .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["profile"]["email"], json!("dora@example.com"));
    assert_eq!(export["memberships"][0]["slug"], json!("dora-labs"));
    assert_eq!(export["memberships"][0]["role"], json!("owner"));
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(export["second_factors"]["totp_enabled"], json!(true));
    assert_eq!(
        export["second_factors"]["backup_codes_remaining"],
        json!(10)
    );
    assert_eq!(
        export["consent_records"][0]["purpose"],
        json!("terms_of_service")
    );
    assert_eq!(export["consent_records"][0]["source"], json!("signup"));
    assert_eq!(export["consent_records"][1]["granted"], json!(false));
    let actions: Vec<&str> = export["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user.signup") && actions.contains(&"mfa.enabled"),
        "{actions:?}"
    );
    assert!(
        !export.to_string().contains("sealed"),
        "no secrets in the export"
    );

    // Someone else's data: only platform admins.
    let other = access(&server.account("eve@example.com").await);
    let dora_id = tokens["user"]["id"].as_str().unwrap();
    let (status, _) = server
        .post(
            "/api/v1/compliance/data-export",
            json!({"user_id": dora_id}),
            Some(&other),
        )
        .await;
    assert_eq!(status, 403);
    let admin = access(&server.super_admin("root@example.com").await);
    let (status, by_admin) = server
        .post(
            "/api/v1/compliance/data-export",
            json!({"user_id": dora_id}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (status, by_admin["profile"]["email"].clone()),
        (200, json!("dora@example.com"))
    );
    server.stop().await;
}

async fn erasure_removes_the_person_and_pseudonymises_the_log(server: TestServer) {
    let tokens = server.account("gone@example.com").await;
    let bearer = access(&tokens);
    let id = tokens["user"]["id"].as_str().unwrap().to_owned();
    let org = succeeded(
        server
            .post(
                "/api/v1/organizations",
                json!({"name": "Solo"}),
                Some(&bearer),
            )
            .await,
    );
    let (status, body) = server
        .post("/api/v1/compliance/data-deletion", json!({}), Some(&bearer))
        .await;
    assert_eq!(status, 422, "the only owner must hand over first: {body}");
    let heir = server.account("heir@example.com").await;
    let (status, _) = server
        .post(
            &format!(
                "/api/v1/organizations/{}/members",
                org["id"].as_str().unwrap()
            ),
            json!({"user_id": heir["user"]["id"], "role": "owner"}),
            Some(&bearer),
        )
        .await;
    assert_eq!(status, 201);
    let (status, erased) = server
        .post("/api/v1/compliance/data-deletion", json!({}), Some(&bearer))
        .await;
    assert_eq!(status, 200, "{erased}");
    let alias = erased["alias"].as_str().unwrap().to_owned();
    assert_eq!(server.get_as("/api/v1/auth/me", &bearer).await.0, 401);
    let (status, _) = server
        .post(
            "/api/v1/auth/signin",
            json!({"email": "gone@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let log = |target: String| {
        let server = &server;
        async move {
            server
                .state
                .audit
                .query(&castellan_domain::AuditQuery {
                    page: 1,
                    per_page: 100,
                    target: Some(target),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(log(id.clone()).await.1, 0, "no entry names the erased user");
    let (kept, count) = log(alias).await;
    assert!(count >= 3, "the entries stay, under the alias");
    assert!(
        kept.iter()
            .all(|event| event.ip.is_none() && event.actor.is_none())
    );
    // Mail to the address (the verification message of the sign-up) is gone with it.
    let database = sea_orm::Database::connect(server.state.config.database.url.expose())
        .await
        .unwrap();
    let count = |address: &str| {
        let statement = sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(&database),
            format!("SELECT COUNT(*) AS n FROM mail_outbox WHERE recipient = '{address}'"),
        );
        let database = &database;
        async move {
            let row = sea_orm::ConnectionTrait::query_one_raw(database, statement)
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(count("gone@example.com").await, 0);
    assert_eq!(
        count("heir@example.com").await,
        1,
        "other people's mail stays"
    );
    server.stop().await;
}

/// Erasure keeps the rules of `DELETE /users/{id}`: an admin cannot erase a super admin, and
/// the last super admin cannot erase themselves.
async fn erasure_keeps_the_admin_ranks(server: TestServer) {
    let root_tokens = server.super_admin("root@erase.example").await;
    let root = access(&root_tokens);
    let (status, _) = server
        .post(
            "/api/v1/admins",
            json!({"email": "ops@erase.example", "password": PASSWORD, "role": "admin"}),
            Some(&root),
        )
        .await;
    assert_eq!(status, 201);
    let ops = access(&server.sign_in("ops@erase.example", PASSWORD).await);
    let (status, refused) = server
        .post(
            "/api/v1/compliance/data-deletion",
            json!({"user_id": root_tokens["user"]["id"]}),
            Some(&ops),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = server
        .post("/api/v1/compliance/data-deletion", json!({}), Some(&root))
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(server.get_as("/api/v1/auth/me", &root).await.0, 200);
    server.stop().await;
}
