//! Platform roles and administration: who may do what, the first super admin, the audit log.

use reqwest::Method;
use serde_json::json;

use crate::support::on_both_stores;
use crate::support::{PASSWORD, TestServer, access};

on_both_stores!(server:
    the_setup_token_works_once_and_only_while_no_super_admin_exists,
    admins_manage_users_within_their_rank,
    security_events_reach_the_audit_log,
    sessions_are_listed_and_revoked,
    profile_changes_are_validated_and_saved,
    a_password_typed_into_the_email_field_is_not_recorded,
);

async fn the_setup_token_works_once_and_only_while_no_super_admin_exists(server: TestServer) {
    let token = server
        .state
        .admin
        .issue_setup_token()
        .await
        .unwrap()
        .unwrap();
    // A second replica (or call) gets none while one is outstanding.
    assert!(
        server
            .state
            .admin
            .issue_setup_token()
            .await
            .unwrap()
            .is_none()
    );
    let bad = json!({"setup_token": "wrong", "email": "root@example.com", "password": PASSWORD});
    let (status, body) = server.post("/api/v1/admin/bootstrap", bad, None).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (401, json!("TOKEN_ERROR"))
    );
    // A weak password is refused without burning the token.
    let weak = json!({"setup_token": token, "email": "root@example.com", "password": "short"});
    assert_eq!(
        server.post("/api/v1/admin/bootstrap", weak, None).await.0,
        422
    );
    let good = json!({"setup_token": token, "email": "root@example.com", "password": PASSWORD});
    let (status, body) = server
        .post("/api/v1/admin/bootstrap", good.clone(), None)
        .await;
    assert_eq!((status, body["role"].clone()), (201, json!("super_admin")));
    let (status, _) = server.post("/api/v1/admin/bootstrap", good, None).await;
    assert_eq!(status, 401, "the token is spent");
    assert!(
        server
            .state
            .admin
            .issue_setup_token()
            .await
            .unwrap()
            .is_none()
    );
    server.stop().await;
}

async fn admins_manage_users_within_their_rank(server: TestServer) {
    let root = access(&server.super_admin("root@example.com").await);
    let member = server.account("member@example.com").await;
    let member_id = member["user"]["id"].as_str().unwrap().to_owned();

    // Super admin creates an admin; an admin may not create admins.
    let (status, admin_user) = server
        .post(
            "/api/v1/admins",
            json!({"email": "ops@example.com", "password": PASSWORD, "role": "admin"}),
            Some(&root),
        )
        .await;
    assert_eq!((status, admin_user["role"].clone()), (201, json!("admin")));
    let admin = access(&server.sign_in("ops@example.com", PASSWORD).await);
    let (status, _) = server
        .post(
            "/api/v1/admins",
            json!({"email": "x@example.com", "password": PASSWORD}),
            Some(&admin),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .post(
            "/api/v1/admins",
            json!({"email": "y@example.com", "password": PASSWORD}),
            Some(&access(&member)),
        )
        .await;
    assert_eq!(status, 403);

    // An admin moves users between user and guest, but cannot grant admin.
    let role = |role: &str| json!({"role": role});
    let path = format!("/api/v1/users/{member_id}/role");
    assert_eq!(
        server
            .call(Method::PUT, &path, Some(role("guest")), Some(&admin))
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .call(Method::PUT, &path, Some(role("admin")), Some(&admin))
            .await
            .0,
        403
    );
    let (status, _, body) = server
        .call(Method::PUT, &path, Some(role("emperor")), Some(&root))
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!("VALIDATION_ERROR"))
    );

    // Read and change a user; verification flag included.
    let (status, body) = server
        .get_as(&format!("/api/v1/users/{member_id}"), &admin)
        .await;
    assert_eq!((status, body["role"].clone()), (200, json!("guest")));
    let (status, _, body) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{member_id}"),
            Some(json!({"first_name": "Mem", "email_verified": true})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (
            status,
            body["first_name"].clone(),
            body["email_verified"].clone()
        ),
        (200, json!("Mem"), json!(true))
    );
    let (status, list) = server.get_as("/api/v1/users?role=admin", &admin).await;
    assert_eq!((status, list["total"].clone()), (200, json!(1)));
    assert_eq!(
        server.get_as("/api/v1/users?per_page=500", &admin).await.0,
        422
    );
    assert_eq!(
        server.get_as("/api/v1/users/not-a-uuid", &admin).await.0,
        404
    );

    // The last super admin cannot be demoted or deleted, even by itself.
    let root_id = server.get_as("/api/v1/auth/me", &root).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        server
            .call(
                Method::PUT,
                &format!("/api/v1/users/{root_id}/role"),
                Some(role("admin")),
                Some(&root)
            )
            .await
            .0,
        403
    );
    assert_eq!(
        server
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{root_id}"),
                None,
                Some(&root)
            )
            .await
            .0,
        403
    );

    // Admins delete users; the deleted user's tokens die with the account.
    let (status, _, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{member_id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        server.get_as("/api/v1/auth/me", &access(&member)).await.0,
        401
    );
    assert_eq!(
        server
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{member_id}"),
                None,
                Some(&admin)
            )
            .await
            .0,
        404
    );
    server.stop().await;
}

async fn security_events_reach_the_audit_log(server: TestServer) {
    let root = access(&server.super_admin("root@example.com").await);
    server.account("audited@example.com").await;
    let wrong = json!({"email": "audited@example.com", "password": "nope"});
    assert_eq!(server.post("/api/v1/auth/signin", wrong, None).await.0, 401);
    let (status, page) = server
        .get_as("/api/v1/admin/audit?action=auth.signin.failed", &root)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    let event = &page["events"][0];
    assert_eq!(
        (event["success"].clone(), event["target"].clone()),
        (json!(false), json!("audited@example.com"))
    );
    assert_eq!(event["ip"], "127.0.0.1");
    let (_, page) = server
        .get_as("/api/v1/admin/audit?per_page=100", &root)
        .await;
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["user.signup", "auth.signin.succeeded", "auth.signin.failed"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let member = access(&server.sign_in("audited@example.com", PASSWORD).await);
    assert_eq!(server.get_as("/api/v1/admin/audit", &member).await.0, 403);
    server.stop().await;
}

async fn sessions_are_listed_and_revoked(server: TestServer) {
    let first = server.account("sessions@example.com").await;
    let second = server.sign_in("sessions@example.com", PASSWORD).await;
    let third = server.sign_in("sessions@example.com", PASSWORD).await;
    let (status, sessions) = server.get_as("/api/v1/sessions", &access(&first)).await;
    assert_eq!(status, 200);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["amr"], json!(["pwd"]));

    // Revoke one other session by id; someone else's id is not found.
    let second_sid = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{second_sid}"),
            None,
            Some(&access(&first)),
        )
        .await;
    assert_eq!(status, 204);
    // That session ends at once: its access token is refused, the other two still work.
    let mut answers = Vec::new();
    for tokens in [&first, &second, &third] {
        answers.push(server.get_as("/api/v1/auth/me", &access(tokens)).await.0);
    }
    answers[1..].sort_unstable();
    assert_eq!(answers, [200, 200, 401], "first, then the other two sorted");
    let (_, left) = server.get_as("/api/v1/sessions", &access(&first)).await;
    let left: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(&second_sid.as_str()), "{left:?}");
    let stranger = server.account("stranger@example.com").await;
    let first_sid = sessions.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{first_sid}"),
            None,
            Some(&access(&stranger)),
        )
        .await;
    assert_eq!(status, 404);

    // Revoke all the others at once.
    let (status, _, body) = server
        .call(
            Method::DELETE,
            "/api/v1/sessions",
            None,
            Some(&access(&first)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server
            .get_as("/api/v1/sessions", &access(&first))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for tokens in [&second, &third] {
        assert_eq!(
            server.get_as("/api/v1/auth/me", &access(tokens)).await.0,
            401
        );
    }
    server.stop().await;
}

async fn profile_changes_are_validated_and_saved(server: TestServer) {
    let tokens = server.account("profile@example.com").await;
    let token = access(&tokens);
    let (status, _, body) = server
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(json!({"first_name": "  Ada ", "last_name": "Lovelace"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["first_name"].clone(), body["last_name"].clone()),
        (json!("Ada"), json!("Lovelace"))
    );
    let (status, _, body) = server
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(json!({"first_name": "x".repeat(101)})),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (422, json!("VALIDATION_ERROR"))
    );
    assert!(
        body["detail"].as_str().unwrap().starts_with("first_name:"),
        "{body}"
    );
    let (status, _, _) = server
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            Some(json!({"role": "super_admin"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused, not ignored");
    assert_eq!(
        server.get_as("/api/v1/users/me", &token).await.1["first_name"],
        "Ada"
    );
    server.stop().await;
}

async fn a_password_typed_into_the_email_field_is_not_recorded(server: TestServer) {
    let root = access(&server.super_admin("root@example.com").await);
    let mistyped = json!({"email": "My-Secret-Pass-42", "password": "anything"});
    assert_eq!(
        server.post("/api/v1/auth/signin", mistyped, None).await.0,
        401
    );
    let (_, page) = server
        .get_as("/api/v1/admin/audit?action=auth.signin.failed", &root)
        .await;
    let target = page["events"][0]["target"].as_str().unwrap();
    assert!(target.starts_with("sha256:"), "{target}");
    assert!(
        !page
            .to_string()
            .to_lowercase()
            .contains("my-secret-pass-42"),
        "{page}"
    );
    server.stop().await;
}
