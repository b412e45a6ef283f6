//! Organizations and memberships: tenant isolation over every organization-scoped endpoint,
//! the permission matrix of the built-in roles, the last-owner rule, and platform admins above
//! organizations.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Stores, TestServer, access, servers};

/// An account's bearer token and id.
struct Account {
    bearer: String,
    id: String,
}

async fn account(server: &TestServer, email: &str) -> Account {
    let tokens = server.account(email).await;
    Account {
        bearer: access(&tokens),
        id: tokens["user"]["id"].as_str().unwrap().to_owned(),
    }
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
    who: &Account,
) -> (u16, Value) {
    let (status, _, body) = server.call(method, path, body, Some(&who.bearer)).await;
    (status, body)
}

async fn organization(server: &TestServer, owner: &Account, name: &str) -> Value {
    let (status, body) = call(
        server,
        Method::POST,
        "/api/v1/organizations",
        Some(json!({"name": name})),
        owner,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A member of organization A calls every organization-scoped endpoint against organization
/// B and never gets B's data: 404 (or a denial), and nothing in B changes.
#[tokio::test]
async fn tenants_are_isolated_on_every_scoped_endpoint() {
    for server in servers().await {
        let alice = account(&server, "alice@a.example").await;
        let bob = account(&server, "bob@b.example").await;
        let carol = account(&server, "carol@b.example").await;
        let a = organization(&server, &alice, "Alpha Org").await;
        let b = organization(&server, &bob, "Beta Org").await;
        let b_id = b["id"].as_str().unwrap();
        let (status, _) = call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{b_id}/members"),
            Some(json!({"email": "carol@b.example"})),
            &bob,
        )
        .await;
        assert_eq!(status, 201);
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/organizations/{b_id}"), None),
            (
                Method::PATCH,
                format!("/api/v1/organizations/{b_id}"),
                Some(json!({"name": "Taken Over"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/organizations/{b_id}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{b_id}/members"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/organizations/{b_id}/members"),
                Some(json!({"user_id": alice.id, "role": "owner"})),
            ),
            (
                Method::PUT,
                format!("/api/v1/organizations/{b_id}/members/{}/role", carol.id),
                Some(json!({"role": "owner"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/organizations/{b_id}/members/{}", carol.id),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/organizations/{b_id}/leave"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/roles?organization_id={b_id}"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/organizations/{b_id}/groups"),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/organizations/{b_id}/groups"),
                Some(json!({"name": "spies", "roles": ["owner"]})),
            ),
            (
                Method::POST,
                "/api/v1/roles".to_owned(),
                Some(json!({"organization_id": b_id, "name": "spy", "permissions": ["org:read"]})),
            ),
        ];
        for (method, path, body) in attempts {
            let (status, answer) = call(&server, method.clone(), &path, body, &alice).await;
            assert!(
                status == 404 || status == 403,
                "{method} {path} answered {status}: {answer}"
            );
            let text = answer.to_string();
            assert!(
                !text.contains("Beta") && !text.contains("carol") && !text.contains(&bob.id),
                "{method} {path} leaked: {text}"
            );
        }
        let (_, check) = call(
            &server,
            Method::GET,
            &format!("/api/v1/rbac/check?permission=org:read&resource_id={b_id}"),
            None,
            &alice,
        )
        .await;
        assert_eq!(check["allowed"], json!(false));
        assert_eq!(check["reason"], json!("not a member of this organization"));
        // Alice's own list holds only A; B is untouched.
        let (_, mine) = call(&server, Method::GET, "/api/v1/organizations", None, &alice).await;
        assert_eq!(mine["total"], json!(1));
        assert_eq!(mine["organizations"][0]["id"], a["id"]);
        let (status, unchanged) = call(
            &server,
            Method::GET,
            &format!("/api/v1/organizations/{b_id}"),
            None,
            &bob,
        )
        .await;
        assert_eq!(
            (status, unchanged["name"].clone()),
            (200, json!("Beta Org"))
        );
        let (_, members) = call(
            &server,
            Method::GET,
            &format!("/api/v1/organizations/{b_id}/members"),
            None,
            &bob,
        )
        .await;
        assert_eq!(members.as_array().unwrap().len(), 2);
        server.stop().await;
    }
}

/// Each built-in role against each permission, through `/rbac/check`, and the same rule seen
/// at the endpoints.
#[tokio::test]
async fn built_in_roles_grant_their_permissions_and_no_more() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let owner = account(&server, "owner@org.example").await;
    let org = organization(&server, &owner, "Matrix").await;
    let id = org["id"].as_str().unwrap();
    let expected: &[(&str, &[&str])] = &[
        ("owner", castellan_domain::org::PERMISSIONS),
        (
            "admin",
            &[
                "org:read",
                "members:read",
                "members:write",
                "roles:read",
                "roles:write",
                "users:read",
                "users:write",
                "clients:write",
                "sso:write",
                "scim:write",
                "webhooks:write",
                "audit:read",
            ],
        ),
        (
            "member",
            &["org:read", "members:read", "roles:read", "users:read"],
        ),
        ("viewer", &["org:read", "members:read"]),
    ];
    for (role, granted) in expected {
        let who = if *role == "owner" {
            Account {
                bearer: owner.bearer.clone(),
                id: owner.id.clone(),
            }
        } else {
            let who = account(&server, &format!("{role}@org.example")).await;
            let (status, _) = call(
                &server,
                Method::POST,
                &format!("/api/v1/organizations/{id}/members"),
                Some(json!({"user_id": who.id, "role": role})),
                &owner,
            )
            .await;
            assert_eq!(status, 201);
            who
        };
        for permission in castellan_domain::org::PERMISSIONS {
            let (status, check) = call(
                &server,
                Method::GET,
                &format!("/api/v1/rbac/check?permission={permission}&resource_id={id}"),
                None,
                &who,
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(
                check["allowed"],
                json!(granted.contains(permission)),
                "{role} / {permission}: {check}"
            );
        }
        // The endpoints agree: members:write adds, org:manage renames.
        let stranger = account(&server, &format!("added-by-{role}@org.example")).await;
        let (status, _) = call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{id}/members"),
            Some(json!({"user_id": stranger.id})),
            &who,
        )
        .await;
        assert_eq!(status == 201, granted.contains(&"members:write"), "{role}");
        let (status, _) = call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"name": "Matrix"})),
            &who,
        )
        .await;
        assert_eq!(status == 200, granted.contains(&"org:manage"), "{role}");
    }
    let (status, body) = call(
        &server,
        Method::GET,
        &format!("/api/v1/rbac/check?permission=everything&resource_id={id}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    server.stop().await;
}

/// An organization keeps an owner; only owners make owners; admins of the platform see all.
#[tokio::test]
async fn owners_are_kept_and_guarded() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let owner = account(&server, "first@own.example").await;
    let second = account(&server, "second@own.example").await;
    let org = organization(&server, &owner, "Owned").await;
    let id = org["id"].as_str().unwrap();
    let base = format!("/api/v1/organizations/{id}");
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("{base}/members/{}/role", owner.id),
        Some(json!({"role": "admin"})),
        &owner,
    )
    .await;
    assert_eq!(status, 422, "the last owner cannot step down");
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{base}/leave"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 422, "nor leave");
    call(
        &server,
        Method::POST,
        &format!("{base}/members"),
        Some(json!({"user_id": second.id, "role": "admin"})),
        &owner,
    )
    .await;
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("{base}/members/{}/role", second.id),
        Some(json!({"role": "owner"})),
        &second,
    )
    .await;
    assert_eq!(status, 403, "an admin cannot make itself owner");
    let (status, _) = call(
        &server,
        Method::PUT,
        &format!("{base}/members/{}/role", second.id),
        Some(json!({"role": "owner"})),
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{base}/leave"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204, "with another owner, the first may leave");
    let (status, _) = call(&server, Method::GET, &base, None, &owner).await;
    assert_eq!(status, 404);

    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/organizations?all=true",
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 403);
    let admin = server.super_admin("root@own.example").await;
    let admin = Account {
        bearer: access(&admin),
        id: admin["user"]["id"].as_str().unwrap().to_owned(),
    };
    let (status, all) = call(
        &server,
        Method::GET,
        "/api/v1/organizations?all=true&search=own",
        None,
        &admin,
    )
    .await;
    assert_eq!((status, all["total"].clone()), (200, json!(1)));
    let (status, _) = call(&server, Method::GET, &base, None, &admin).await;
    assert_eq!(status, 200, "platform admins stand above organizations");
    server.stop().await;
}

/// Two replicas sharing PostgreSQL and Redis: a role change made on one is what the other
/// enforces at once, although both cache permissions.
#[tokio::test]
async fn the_permission_cache_is_shared_by_replicas() {
    let Some((mut config, dir, postgres)) = crate::support::config_for(Stores::Production).await
    else {
        return;
    };
    config.issuer = "http://localhost:8000".to_owned();
    let second_config = config.clone();
    let first = TestServer::start_config(config, dir, postgres).await;
    let second =
        TestServer::start_config(second_config, crate::support::TempDir::new(), None).await;
    let owner = account(&first, "owner@shared.example").await;
    let helper = account(&first, "helper@shared.example").await;
    let org = organization(&first, &owner, "Shared").await;
    let id = org["id"].as_str().unwrap();
    call(
        &first,
        Method::POST,
        &format!("/api/v1/organizations/{id}/members"),
        Some(json!({"user_id": helper.id, "role": "viewer"})),
        &owner,
    )
    .await;
    let check = format!("/api/v1/rbac/check?permission=members:write&resource_id={id}");
    // Both replicas resolve (and cache) the viewer's permissions.
    for server in [&first, &second] {
        let (_, answer) = call(server, Method::GET, &check, None, &helper).await;
        assert_eq!(answer["allowed"], json!(false));
    }
    let (status, _) = call(
        &second,
        Method::PUT,
        &format!("/api/v1/organizations/{id}/members/{}/role", helper.id),
        Some(json!({"role": "admin"})),
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    let (_, answer) = call(&first, Method::GET, &check, None, &helper).await;
    assert_eq!(answer["allowed"], json!(true), "{answer}");
    second.stop().await;
    first.stop().await;
}

/// Tokens scoped to an organization carry its id, slug, the caller's roles and permissions;
/// they verify against the served JWKS, and a role change shows in the next refresh.
#[tokio::test]
async fn scoped_tokens_carry_roles_and_follow_role_changes() {
    for server in servers().await {
        let owner = account(&server, "owner@scoped.example").await;
        let tokens = server.account("worker@scoped.example").await;
        let worker = Account {
            bearer: access(&tokens),
            id: tokens["user"]["id"].as_str().unwrap().to_owned(),
        };
        let org = organization(&server, &owner, "Scoped Co").await;
        let id = org["id"].as_str().unwrap();
        call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{id}/members"),
            Some(json!({"user_id": worker.id, "role": "viewer"})),
            &owner,
        )
        .await;
        let (status, scoped) = call(
            &server,
            Method::POST,
            "/api/v1/auth/switch-organization",
            Some(json!({"organization": "scoped-co"})),
            &worker,
        )
        .await;
        assert_eq!(status, 200, "{scoped}");
        let claims = crate::tokens::verify_with_jwks(&server, &access(&scoped)).await;
        assert_eq!(claims["org_id"], json!(id));
        assert_eq!(claims["org_slug"], json!("scoped-co"));
        assert_eq!(claims["roles"], json!(["viewer"]));
        assert_eq!(claims["permissions"], json!(["org:read", "members:read"]));

        call(
            &server,
            Method::PUT,
            &format!("/api/v1/organizations/{id}/members/{}/role", worker.id),
            Some(json!({"role": "admin"})),
            &owner,
        )
        .await;
        let (status, renewed) = server
            .post(
                "/api/v1/auth/token/refresh",
                json!({"refresh_token": scoped["refresh_token"]}),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let claims = crate::tokens::verify_with_jwks(&server, &access(&renewed)).await;
        assert_eq!(claims["roles"], json!(["admin"]));
        assert!(
            claims["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("members:write"))
        );

        // An organization that allows passkeys only refuses a password session.
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"policy": {"allowed_sign_in_methods": ["passkey"]}})),
            &owner,
        )
        .await;
        let (status, refused) = call(
            &server,
            Method::POST,
            "/api/v1/auth/switch-organization",
            Some(json!({"organization": "scoped-co"})),
            &worker,
        )
        .await;
        assert_eq!(status, 403, "{refused}");
        // An organization that requires a second factor refuses a password-only session.
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"policy": {"mfa_required": true}})),
            &owner,
        )
        .await;
        let (status, refused) = call(
            &server,
            Method::POST,
            "/api/v1/auth/switch-organization",
            Some(json!({"organization": "scoped-co"})),
            &worker,
        )
        .await;
        assert_eq!(status, 403, "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains("two-step"));

        // Another tenant's organization cannot be switched to; no organization drops the scope.
        let stranger = account(&server, "stranger@scoped.example").await;
        let (status, _) = call(
            &server,
            Method::POST,
            "/api/v1/auth/switch-organization",
            Some(json!({"organization": id})),
            &stranger,
        )
        .await;
        assert_eq!(status, 404);
        let (status, plain) = call(
            &server,
            Method::POST,
            "/api/v1/auth/switch-organization",
            Some(json!({})),
            &Account {
                bearer: access(&renewed),
                id: worker.id.clone(),
            },
        )
        .await;
        assert_eq!(status, 200);
        let claims = crate::tokens::verify_with_jwks(&server, &access(&plain)).await;
        assert!(claims.get("org_id").is_none());
        server.stop().await;
    }
}

/// Custom roles: defined with permissions from the catalog, assigned by id, changed with
/// immediate effect, and not deletable while held; invisible to other tenants.
#[tokio::test]
async fn custom_roles_carry_their_permissions() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let owner = account(&server, "owner@roles.example").await;
    let member = account(&server, "member@roles.example").await;
    let stranger = account(&server, "stranger@roles.example").await;
    let org = organization(&server, &owner, "Roles Inc").await;
    let id = org["id"].as_str().unwrap();
    let create = |name: &str, permissions: Value| json!({"organization_id": id, "name": name, "permissions": permissions});
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/v1/roles",
        Some(create("bad", json!(["root:everything"]))),
        &owner,
    )
    .await;
    assert_eq!(status, 422);
    let (status, auditor) = call(
        &server,
        Method::POST,
        "/api/v1/roles",
        Some(create("auditor", json!(["org:read", "audit:read"]))),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{auditor}");
    let (status, _) = call(
        &server,
        Method::POST,
        "/api/v1/roles",
        Some(create("auditor", json!(["org:read"]))),
        &owner,
    )
    .await;
    assert_eq!(status, 409);
    let role = auditor["id"].as_str().unwrap();
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/members"),
        Some(json!({"user_id": member.id, "role": role})),
        &owner,
    )
    .await;
    assert_eq!(status, 201);
    let allowed = |permission: &'static str| {
        let server = &server;
        let member = &member;
        async move {
            call(
                server,
                Method::GET,
                &format!("/api/v1/rbac/check?permission={permission}&resource_id={id}"),
                None,
                member,
            )
            .await
            .1["allowed"]
                .clone()
        }
    };
    assert_eq!(allowed("audit:read").await, json!(true));
    assert_eq!(allowed("members:read").await, json!(false));
    let (status, _) = call(
        &server,
        Method::PATCH,
        &format!("/api/v1/roles/{role}"),
        Some(json!({"permissions": ["org:read", "audit:read", "members:read"]})),
        &owner,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        allowed("members:read").await,
        json!(true),
        "at once, despite the cache"
    );
    let (_, listed) = call(
        &server,
        Method::GET,
        &format!("/api/v1/roles?organization_id={id}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 5);
    for attempt in [
        (Method::PATCH, Some(json!({"name": "mine"}))),
        (Method::DELETE, None),
    ] {
        let (status, _) = call(
            &server,
            attempt.0,
            &format!("/api/v1/roles/{role}"),
            attempt.1,
            &stranger,
        )
        .await;
        assert_eq!(status, 404);
    }
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/roles/{role}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 409, "a member holds it");
    call(
        &server,
        Method::PUT,
        &format!("/api/v1/organizations/{id}/members/{}/role", member.id),
        Some(json!({"role": "viewer"})),
        &owner,
    )
    .await;
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/roles/{role}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    server.stop().await;
}

/// Sign-in can name the organization: the tokens are scoped at once, also after a second
/// step; an organization the account does not belong to is refused before any session opens.
#[tokio::test]
async fn sign_in_can_name_the_organization() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let owner = account(&server, "owner@signin.example").await;
    organization(&server, &owner, "Sign In Co").await;
    let sign_in = |organization: &'static str| {
        let server = &server;
        async move {
            server
                .post(
                    "/api/v1/auth/signin",
                    json!({
                        "email": "owner@signin.example",
                        "password": crate::support::PASSWORD,
                        "organization": organization,
                    }),
                    None,
                )
                .await
        }
    };
    let (status, tokens) = sign_in("sign-in-co").await;
    assert_eq!(status, 200, "{tokens}");
    let claims = crate::tokens::verify_with_jwks(&server, &access(&tokens)).await;
    assert_eq!(claims["org_slug"], json!("sign-in-co"));
    assert_eq!(claims["roles"], json!(["owner"]));
    let (status, _) = sign_in("someone-elses").await;
    assert_eq!(status, 404);

    // With two-step sign-in the organization carries through the second step.
    let (totp, _, _) = crate::mfa::enrol_totp(&server, &owner.bearer).await;
    let (status, challenge) = sign_in("sign-in-co").await;
    assert_eq!(
        (status, challenge["mfa_required"].clone()),
        (200, json!(true))
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, done) = server
        .post(
            "/api/v1/mfa/verify",
            json!({"mfa_token": challenge["mfa_token"], "code": totp.generate(now + 30)}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let claims = crate::tokens::verify_with_jwks(&server, &access(&done)).await;
    assert_eq!(claims["org_slug"], json!("sign-in-co"));
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    server.stop().await;
}

/// Members inherit the roles of their groups, and lose them when they leave the group or it
/// goes.
#[tokio::test]
async fn groups_pass_their_roles_to_members() {
    let server = TestServer::start(Stores::Embedded).await.unwrap();
    let owner = account(&server, "owner@groups.example").await;
    let viewer = account(&server, "viewer@groups.example").await;
    let org = organization(&server, &owner, "Groups Co").await;
    let id = org["id"].as_str().unwrap();
    call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/members"),
        Some(json!({"user_id": viewer.id, "role": "viewer"})),
        &owner,
    )
    .await;
    let check = format!("/api/v1/rbac/check?permission=members:write&resource_id={id}");
    let allowed =
        || async { call(&server, Method::GET, &check, None, &viewer).await.1["allowed"].clone() };
    assert_eq!(allowed().await, json!(false));
    let (status, group) = call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/groups"),
        Some(json!({"name": "Admins", "roles": ["admin"]})),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap();
    let members = format!("/api/v1/organizations/{id}/groups/{group_id}/members");
    let (status, _) = call(
        &server,
        Method::POST,
        &members,
        Some(json!({"user_id": viewer.id})),
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(allowed().await, json!(true));
    let (_, listed) = call(
        &server,
        Method::GET,
        &format!("/api/v1/organizations/{id}/groups"),
        None,
        &viewer,
    )
    .await;
    assert_eq!(listed[0]["members"], json!([viewer.id]));
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("{members}/{}", viewer.id),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(allowed().await, json!(false));
    // Only members of the organization join its groups; only owners hand out the owner role.
    let outsider = account(&server, "outsider@groups.example").await;
    let (status, _) = call(
        &server,
        Method::POST,
        &members,
        Some(json!({"user_id": outsider.id})),
        &owner,
    )
    .await;
    assert_eq!(status, 404);
    call(
        &server,
        Method::POST,
        &members,
        Some(json!({"user_id": viewer.id})),
        &owner,
    )
    .await;
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/groups"),
        Some(json!({"name": "Owners", "roles": ["owner"]})),
        &viewer,
    )
    .await;
    assert_eq!(status, 403, "an admin by group cannot create owners");
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/organizations/{id}/groups/{group_id}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(allowed().await, json!(false));
    server.stop().await;
}
