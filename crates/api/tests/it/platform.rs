//! Operating the platform: figures, activity and the redacted configuration for admins; and
//! maintenance mode, which two replicas sharing PostgreSQL and Redis obey alike.

use reqwest::Method;
use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{PASSWORD, Stores, TempDir, TestServer, access, config_for};

on_both_stores!(server:
    admins_see_figures_activity_and_the_redacted_configuration,
);

async fn admins_see_figures_activity_and_the_redacted_configuration(server: TestServer) {
    let admin = access(&server.super_admin("root@ops.example").await);
    let user = access(&server.account("user@ops.example").await);
    for path in [
        "/api/v1/admin/stats",
        "/api/v1/admin/activity",
        "/api/v1/admin/system/config",
        "/api/v1/admin/maintenance",
    ] {
        assert_eq!(server.get_as(path, &user).await.0, 403, "{path}");
    }
    server
        .post(
            "/api/v1/organizations",
            json!({"name": "Ops Org"}),
            Some(&user),
        )
        .await;
    let (status, stats) = server.get_as("/api/v1/admin/stats", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(stats["users"], json!(2));
    assert_eq!(stats["organizations"], json!(1));
    assert_eq!(stats["active_sessions"], json!(2));
    assert_eq!(stats["sign_ins_last_24h"], json!(2));
    let (_, activity) = server.get_as("/api/v1/admin/activity", &admin).await;
    assert_eq!(
        activity["events"][0]["action"],
        json!("organization.created")
    );
    let (status, config) = server.get_as("/api/v1/admin/system/config", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(config["keys"]["master_key"], json!("[redacted]"));
    assert_eq!(config["issuer"], json!(server.base));
    server.stop().await;
}

on_both_stores!(production: maintenance_mode_holds_on_every_replica);
async fn maintenance_mode_holds_on_every_replica() {
    let (mut config, dir, postgres) = config_for(Stores::Production).await.unwrap();
    // One issuer, so each replica accepts the other's tokens.
    config.issuer = "http://localhost:8000".to_owned();
    let second_config = config.clone();
    let first = TestServer::start_config(config, dir, postgres).await;
    let second = TestServer::start_config(second_config, TempDir::new(), None).await;
    let admin = access(&first.super_admin("root@maint.example").await);
    let user = access(&first.account("user@maint.example").await);
    let (status, state) = first
        .post(
            "/api/v1/admin/maintenance",
            json!({"enabled": true, "message": "upgrading"}),
            Some(&admin),
        )
        .await;
    assert_eq!((status, state["enabled"].clone()), (200, json!(true)));

    // The other replica refuses the user's writes, keeps reads and sign-in, lets the admin in.
    let (status, headers, body) = second
        .call(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "Blocked"})),
            Some(&user),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "120");
    assert!(body["detail"].as_str().unwrap().contains("upgrading"));
    assert_eq!(second.get_as("/api/v1/auth/me", &user).await.0, 200);
    second.sign_in("user@maint.example", PASSWORD).await;
    let (status, _) = second
        .post(
            "/api/v1/organizations",
            json!({"name": "Admin Org"}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 201);

    let (status, _) = second
        .post(
            "/api/v1/admin/maintenance",
            json!({"enabled": false}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = first
        .post(
            "/api/v1/organizations",
            json!({"name": "Open Again"}),
            Some(&user),
        )
        .await;
    assert_eq!(status, 201);
    second.stop().await;
    first.stop().await;
}
