//! Organizations and memberships: tenant isolation over every organization-scoped endpoint,
//! the permission matrix of the built-in roles, the last-owner rule, and platform admins above
//! organizations.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::on_both_stores;
use crate::support::{Stores, TestServer, access, succeeded};

on_both_stores!(server:
    tenants_are_isolated_on_every_scoped_endpoint,
    built_in_roles_grant_their_permissions_and_no_more,
    owners_are_kept_and_guarded,
    scoped_tokens_carry_roles_and_follow_role_changes,
    custom_roles_carry_their_permissions,
    sign_in_can_name_the_organization,
    groups_pass_their_roles_to_members,
    relying_parties_get_organization_scoped_tokens,
    admins_get_404_for_an_organization_that_does_not_exist,
);
on_both_stores!(stores:
    organizations_verify_their_domains,
);

/// An account's bearer token and id.
pub(crate) struct Account {
    pub(crate) bearer: String,
    pub(crate) id: String,
}

/// A new account, signed in.
pub(crate) async fn account(server: &TestServer, email: &str) -> Account {
    let tokens = server.account(email).await;
    Account {
        bearer: access(&tokens),
        id: tokens["user"]["id"].as_str().unwrap().to_owned(),
    }
}

/// `method path` as `who`; status and JSON body.
pub(crate) async fn call(
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
async fn tenants_are_isolated_on_every_scoped_endpoint(server: TestServer) {
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
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{b_id}/domains"),
        Some(json!({"domain": "beta.example"})),
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
        (
            Method::GET,
            format!("/api/v1/organizations/{b_id}/domains"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/organizations/{b_id}/domains"),
            Some(json!({"domain": "alpha.example"})),
        ),
        (
            Method::POST,
            format!("/api/v1/organizations/{b_id}/domains/beta.example/verify"),
            Some(json!({"method": "operator"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/organizations/{b_id}/domains/beta.example"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = call(&server, method.clone(), &path, body, &alice).await;
        assert_eq!(status, 404, "{method} {path} answered {status}: {answer}");
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
    let (_, domains) = call(
        &server,
        Method::GET,
        &format!("/api/v1/organizations/{b_id}/domains"),
        None,
        &bob,
    )
    .await;
    assert_eq!(domains[0]["domain"], json!("beta.example"));
    assert_eq!(domains[0]["verified"], json!(false));
    server.stop().await;
}

/// Each built-in role against each permission, through `/rbac/check`, and the same rule seen
/// at the endpoints.
async fn built_in_roles_grant_their_permissions_and_no_more(server: TestServer) {
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
                "sso:manage",
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
async fn owners_are_kept_and_guarded(server: TestServer) {
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
    succeeded(
        call(
            &server,
            Method::POST,
            &format!("{base}/members"),
            Some(json!({"user_id": second.id, "role": "admin"})),
            &owner,
        )
        .await,
    );
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

on_both_stores!(production: the_permission_cache_is_shared_by_replicas);
/// Two replicas sharing PostgreSQL and Redis: a role change made on one is what the other
/// enforces at once, although both cache permissions.
async fn the_permission_cache_is_shared_by_replicas() {
    let (mut config, dir, postgres) = crate::support::config_for(Stores::Production)
        .await
        .unwrap();
    config.issuer = "http://localhost:8000".to_owned();
    let second_config = config.clone();
    let first = TestServer::start_config(config, dir, postgres).await;
    let second =
        TestServer::start_config(second_config, crate::support::TempDir::new(), None).await;
    let owner = account(&first, "owner@shared.example").await;
    let helper = account(&first, "helper@shared.example").await;
    let org = organization(&first, &owner, "Shared").await;
    let id = org["id"].as_str().unwrap();
    succeeded(
        call(
            &first,
            Method::POST,
            &format!("/api/v1/organizations/{id}/members"),
            Some(json!({"user_id": helper.id, "role": "viewer"})),
            &owner,
        )
        .await,
    );
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
async fn scoped_tokens_carry_roles_and_follow_role_changes(server: TestServer) {
    let owner = account(&server, "owner@scoped.example").await;
    let tokens = server.account("worker@scoped.example").await;
    let worker = Account {
        bearer: access(&tokens),
        id: tokens["user"]["id"].as_str().unwrap().to_owned(),
    };
    let org = organization(&server, &owner, "Scoped Co").await;
    let id = org["id"].as_str().unwrap();
    succeeded(
        call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{id}/members"),
            Some(json!({"user_id": worker.id, "role": "viewer"})),
            &owner,
        )
        .await,
    );
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

    succeeded(
        call(
            &server,
            Method::PUT,
            &format!("/api/v1/organizations/{id}/members/{}/role", worker.id),
            Some(json!({"role": "admin"})),
            &owner,
        )
        .await,
    );
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
    succeeded(
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"policy": {"allowed_sign_in_methods": ["passkey"]}})),
            &owner,
        )
        .await,
    );
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
    succeeded(
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"policy": {"mfa_required": true}})),
            &owner,
        )
        .await,
    );
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

/// Custom roles: defined with permissions from the catalog, assigned by id, changed with
/// immediate effect, and not deletable while held; invisible to other tenants.
async fn custom_roles_carry_their_permissions(server: TestServer) {
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
    succeeded(
        call(
            &server,
            Method::PUT,
            &format!("/api/v1/organizations/{id}/members/{}/role", member.id),
            Some(json!({"role": "viewer"})),
            &owner,
        )
        .await,
    );
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/roles/{role}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204);

    // A token scoped to the organization names it for /roles without a parameter; an
    // unscoped token names none.
    let (status, scoped) = call(
        &server,
        Method::POST,
        "/api/v1/auth/switch-organization",
        Some(json!({"organization": id})),
        &owner,
    )
    .await;
    assert_eq!(status, 200, "{scoped}");
    let scoped = Account {
        bearer: access(&scoped),
        id: owner.id.clone(),
    };
    let (status, created) = call(
        &server,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"name": "scoped", "permissions": ["org:read"]})),
        &scoped,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, listed) = call(&server, Method::GET, "/api/v1/roles", None, &scoped).await;
    assert_eq!(status, 200);
    assert!(listed.to_string().contains("scoped"));
    let (status, _) = call(&server, Method::GET, "/api/v1/roles", None, &stranger).await;
    assert_eq!(status, 404);

    // A member whose role lacks org:read may still leave.
    let (_, auditor) = call(
        &server,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"organization_id": id, "name": "auditor", "permissions": ["audit:read"]})),
        &owner,
    )
    .await;
    succeeded(
        call(
            &server,
            Method::PUT,
            &format!("/api/v1/organizations/{id}/members/{}/role", member.id),
            Some(json!({"role": auditor["id"]})),
            &owner,
        )
        .await,
    );
    let (status, left) = call(
        &server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/leave"),
        None,
        &member,
    )
    .await;
    assert_eq!(status, 204, "{left}");
    server.stop().await;
}

/// Sign-in can name the organization: the tokens are scoped at once, also after a second
/// step; an organization the account does not belong to is refused before any session opens.
async fn sign_in_can_name_the_organization(server: TestServer) {
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
async fn groups_pass_their_roles_to_members(server: TestServer) {
    let owner = account(&server, "owner@groups.example").await;
    let viewer = account(&server, "viewer@groups.example").await;
    let org = organization(&server, &owner, "Groups Co").await;
    let id = org["id"].as_str().unwrap();
    succeeded(
        call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{id}/members"),
            Some(json!({"user_id": viewer.id, "role": "viewer"})),
            &owner,
        )
        .await,
    );
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
    succeeded(
        call(
            &server,
            Method::POST,
            &members,
            Some(json!({"user_id": viewer.id})),
            &owner,
        )
        .await,
    );
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

/// Moves a session's sign-in time back by `hours`, as if it had been open that long.
async fn age_session(server: &TestServer, session_id: &str, hours: i64) {
    use castellan_persistence::entities::session;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let database = sea_orm::Database::connect(server.state.config.database.url.expose())
        .await
        .unwrap();
    let id = uuid::Uuid::parse_str(session_id).unwrap();
    let created = chrono::Utc::now() - chrono::Duration::hours(hours);
    let updated = session::Entity::update_many()
        .col_expr(session::Column::CreatedAt, Expr::value(created))
        .filter(session::Column::Id.eq(id))
        .exec(&database)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 1);
}

/// The OpenID Connect flows take an organization: `org:<slug>` or `organization=` names one,
/// the bare `organization` scope lets the user pick on the hosted page. A relying-party
/// library receives tokens that carry it; a refresh follows role changes; leaving the
/// organization or outliving its session lifetime ends the grant.
async fn relying_parties_get_organization_scoped_tokens(server: TestServer) {
    use crate::oidc_support::{
        Browser, CALLBACK, authorize_url, oauth_post, pkce, query, refresh_with, register,
        web_client,
    };
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
        PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    let owner = account(&server, "owner@rp.example").await;
    let ada = account(&server, "ada@rp.example").await;
    let acme = organization(&server, &owner, "Acme").await;
    let globex = organization(&server, &owner, "Globex").await;
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    let globex_id = globex["id"].as_str().unwrap().to_owned();
    for (org, role) in [(&acme_id, "viewer"), (&globex_id, "admin")] {
        let (status, body) = call(
            &server,
            Method::POST,
            &format!("/api/v1/organizations/{org}/members"),
            Some(json!({"user_id": ada.id, "role": role})),
            &owner,
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let client = register(
        &server,
        json!({
            "client_name": "Tenant App",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid email offline_access organization",
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let credentials = (client_id.as_str(), secret.as_str());

    // A relying-party library names the organization with the org:<slug> scope.
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    assert!(
        metadata
            .scopes_supported()
            .unwrap()
            .iter()
            .any(|scope| scope.as_str() == "organization")
    );
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("org:acme".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&server);
    let callback = browser.authorize(url.as_str(), "ada@rp.example").await;
    let code = query(&callback)["code"].clone();
    let tokens = rp
        .exchange_code(openidconnect::AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().unwrap();
    id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies");
    let raw: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&id_token.to_string())
        .unwrap()
        .claims;
    assert_eq!(raw["org_id"], json!(acme_id));
    assert_eq!(raw["org_slug"], json!("acme"));
    let claims =
        crate::tokens::verify_with_jwks_for(&server, tokens.access_token().secret(), &client_id)
            .await;
    assert_eq!(claims["org_id"], json!(acme_id));
    assert_eq!(claims["roles"], json!(["viewer"]));
    assert_eq!(claims["permissions"], json!(["org:read", "members:read"]));
    let (_, introspected) = oauth_post(
        &server,
        "/oauth2/introspect",
        credentials,
        &[("token", tokens.access_token().secret())],
    )
    .await;
    assert_eq!(introspected["org_slug"], json!("acme"), "{introspected}");
    let acme_refresh = tokens.refresh_token().unwrap().secret().clone();

    // The bare organization scope: Ada belongs to two, so the hosted page asks.
    let (verifier, challenge) = pkce();
    let start = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid organization offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let picker = browser.get(&start).await;
    assert!(
        picker
            .location
            .as_deref()
            .unwrap()
            .starts_with("/select-organization"),
        "{picker:?}"
    );
    let page = browser.get(picker.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Acme") && page.body.contains("Globex"));
    let callback = browser
        .authorize_picking(&start, "ada@rp.example", Some(&globex_id))
        .await;
    let (status, picked) =
        crate::oidc_support::exchange(&server, credentials, &query(&callback)["code"], &verifier)
            .await;
    assert_eq!(status, 200, "{picked}");
    let claims = crate::tokens::verify_with_jwks_for(&server, access_of(&picked), &client_id).await;
    assert_eq!(claims["org_slug"], json!("globex"));
    assert_eq!(claims["roles"], json!(["admin"]));
    // Without a browser to ask, several organizations are an error, not a guess.
    let (_, challenge) = pkce();
    let silent = browser
        .get(&authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("scope", "openid organization"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
        ))
        .await;
    assert_eq!(
        query(silent.location.as_deref().unwrap())["error"],
        "interaction_required"
    );

    // A role change shows in the next refresh.
    succeeded(
        call(
            &server,
            Method::PUT,
            &format!("/api/v1/organizations/{acme_id}/members/{}/role", ada.id),
            Some(json!({"role": "admin"})),
            &owner,
        )
        .await,
    );
    let (status, renewed) = refresh_with(&server, credentials, &acme_refresh).await;
    assert_eq!(status, 200, "{renewed}");
    let claims =
        crate::tokens::verify_with_jwks_for(&server, access_of(&renewed), &client_id).await;
    assert_eq!(
        claims["org_slug"],
        json!("acme"),
        "the grant keeps its organization"
    );
    assert_eq!(claims["roles"], json!(["admin"]));

    // Leaving the organization ends its grant.
    succeeded(
        call(
            &server,
            Method::DELETE,
            &format!("/api/v1/organizations/{acme_id}/members/{}", ada.id),
            None,
            &owner,
        )
        .await,
    );
    let next = renewed["refresh_token"].as_str().unwrap();
    let (status, refused) = refresh_with(&server, credentials, next).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_grant");

    // Globex limits sessions to an hour: a session signed in two hours ago gets no more
    // Globex tokens.
    succeeded(
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{globex_id}"),
            Some(json!({"policy": {"session_lifetime_hours": 1}})),
            &owner,
        )
        .await,
    );
    let (status, fresh) = refresh_with(
        &server,
        credentials,
        picked["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "within the hour: {fresh}");
    age_session(&server, claims_sid(&fresh).as_str(), 2).await;
    let (status, refused) = refresh_with(
        &server,
        credentials,
        fresh["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("session lifetime"),
        "{refused}"
    );

    // A stranger naming Acme is refused after signing in; nothing is issued.
    account(&server, "eve@rp.example").await;
    let (_, challenge) = pkce();
    let start = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid"),
            ("organization", &acme_id),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ],
    );
    let refused = Browser::new(&server)
        .authorize(&start, "eve@rp.example")
        .await;
    let params = query(&refused);
    assert_eq!(params["error"], "access_denied", "{refused}");
    assert_eq!(params["state"], "s");
    assert!(!params.contains_key("code"));

    // A client not registered for organizations cannot ask for one.
    let (plain_id, _) = web_client(&server).await;
    let (_, challenge) = pkce();
    let page = Browser::new(&server)
        .get(&authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", &plain_id),
                ("redirect_uri", CALLBACK),
                ("scope", "openid org:acme"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert_eq!(
        query(page.location.as_deref().unwrap())["error"],
        "invalid_scope"
    );
    server.stop().await;
}

fn access_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn claims_sid(tokens: &Value) -> String {
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(access_of(tokens))
        .unwrap()
        .claims;
    claims["sid"].as_str().unwrap().to_owned()
}

/// TXT records a test DNS server answers with, by name (lower case, no trailing dot).
type Zone = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>>;

/// A DNS server on 127.0.0.1 (UDP) answering TXT questions from `zone`, NXDOMAIN otherwise.
async fn dns_server(zone: Zone) -> std::net::SocketAddr {
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use hickory_resolver::proto::rr::rdata::TXT;
    use hickory_resolver::proto::rr::{RData, Record};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0u8; 1500];
        while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
            let Ok(query) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(query.op_code())
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            answer.add_queries(query.queries().to_vec());
            if let Some(question) = query.queries().first() {
                let name = question
                    .name()
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let values = zone.lock().unwrap().get(&name).cloned();
                match values {
                    Some(values) => {
                        for value in values {
                            answer.add_answer(Record::from_rdata(
                                question.name().clone(),
                                60,
                                RData::TXT(TXT::new(vec![value])),
                            ));
                        }
                    }
                    None => {
                        answer.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
        }
    });
    address
}

/// Organizations claim email domains and verify them with a DNS TXT record (served here by a
/// DNS server on 127.0.0.1) or through a platform operator; a verified domain belongs to one
/// organization; with auto-join, users with a verified address there join on sign-in.
async fn organizations_verify_their_domains(stores: Stores) {
    let zone: Zone = Zone::default();
    let dns = dns_server(zone.clone()).await;
    let server = TestServer::start_with(stores, |config| {
        config.organizations.dns_servers = vec![dns.to_string()];
    })
    .await
    .unwrap();
    zone.lock().unwrap().clear();
    let owner = account(&server, "owner@acme.example").await;
    let rival = account(&server, "owner@rival.example").await;
    let acme = organization(&server, &owner, "Acme").await;
    let rival_org = organization(&server, &rival, "Rival").await;
    let acme_id = acme["id"].as_str().unwrap();
    let rival_id = rival_org["id"].as_str().unwrap();
    let domains = format!("/api/v1/organizations/{acme_id}/domains");
    for bad in ["127.0.0.1", "localhost", "acme_corp.example", ""] {
        let (status, body) = call(
            &server,
            Method::POST,
            &domains,
            Some(json!({"domain": bad})),
            &owner,
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, claim) = call(
        &server,
        Method::POST,
        &domains,
        Some(json!({"domain": "Acme.Example"})),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{claim}");
    assert_eq!(claim["domain"], json!("acme.example"));
    assert_eq!(
        claim["verification"]["name"],
        json!("_castellan-verification.acme.example")
    );
    let record = claim["verification"]["value"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &server,
        Method::POST,
        &domains,
        Some(json!({"domain": "acme.example"})),
        &owner,
    )
    .await;
    assert_eq!(status, 409, "claimed twice by one organization");

    // Not published yet: refused, and the message says what to publish where.
    let verify = format!("{domains}/acme.example/verify");
    let (status, missing) = call(&server, Method::POST, &verify, None, &owner).await;
    assert_eq!(status, 422, "{missing}");
    assert!(missing.to_string().contains(&record), "{missing}");
    zone.lock().unwrap().insert(
        "_castellan-verification.acme.example".to_owned(),
        vec!["v=spf1 -all".to_owned(), record.clone()],
    );
    let (status, verified) = call(&server, Method::POST, &verify, None, &owner).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["verified"], json!(true));
    assert_eq!(verified["verified_by"], json!("dns"));

    // The rival may claim it too, but not verify it while Acme holds it, even with the
    // right record published.
    let rival_domains = format!("/api/v1/organizations/{rival_id}/domains");
    let (status, rival_claim) = call(
        &server,
        Method::POST,
        &rival_domains,
        Some(json!({"domain": "acme.example"})),
        &rival,
    )
    .await;
    assert_eq!(status, 201);
    zone.lock()
        .unwrap()
        .get_mut("_castellan-verification.acme.example")
        .unwrap()
        .push(
            rival_claim["verification"]["value"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    let (status, taken) = call(
        &server,
        Method::POST,
        &format!("{rival_domains}/acme.example/verify"),
        Some(json!({"method": "dns"})),
        &rival,
    )
    .await;
    assert_eq!(status, 409, "{taken}");

    // Operator verification is for platform admins only.
    succeeded(
        call(
            &server,
            Method::POST,
            &domains,
            Some(json!({"domain": "acme-labs.example"})),
            &owner,
        )
        .await,
    );
    let labs = format!("{domains}/acme-labs.example/verify");
    let (status, _) = call(
        &server,
        Method::POST,
        &labs,
        Some(json!({"method": "operator"})),
        &owner,
    )
    .await;
    assert_eq!(status, 403);
    let admin = Account {
        bearer: crate::oidc_support::admin_token(&server).await,
        id: String::new(),
    };
    let (status, vouched) = call(
        &server,
        Method::POST,
        &labs,
        Some(json!({"method": "operator"})),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{vouched}");
    assert_eq!(vouched["verified_by"], json!("operator"));

    // Auto-join: a verified address at acme.example joins Acme as a member at sign-in;
    // an unverified one does not.
    succeeded(
        call(
            &server,
            Method::PATCH,
            &format!("/api/v1/organizations/{acme_id}"),
            Some(json!({"policy": {"auto_join_verified_domains": true}})),
            &owner,
        )
        .await,
    );
    let newcomer = account(&server, "newcomer@acme.example").await;
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/api/v1/organizations/{acme_id}"),
        None,
        &newcomer,
    )
    .await;
    assert_eq!(status, 404, "an unverified address joins nothing");
    let (status, _) = call(
        &server,
        Method::PATCH,
        &format!("/api/v1/users/{}", newcomer.id),
        Some(json!({"email_verified": true})),
        &admin,
    )
    .await;
    assert_eq!(status, 200);
    let signed_in = server
        .sign_in("newcomer@acme.example", crate::support::PASSWORD)
        .await;
    let newcomer = Account {
        bearer: access(&signed_in),
        id: newcomer.id,
    };
    let (status, joined) = call(
        &server,
        Method::GET,
        &format!("/api/v1/organizations/{acme_id}/members"),
        None,
        &newcomer,
    )
    .await;
    assert_eq!(status, 200, "{joined}");
    assert!(
        joined
            .as_array()
            .unwrap()
            .iter()
            .any(|member| member["user_id"] == json!(newcomer.id)
                && member["role"] == json!("member")),
        "{joined}"
    );

    // Dropping the claim frees the domain for the rival.
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("{domains}/acme.example"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 204);
    let (status, won) = call(
        &server,
        Method::POST,
        &format!("{rival_domains}/acme.example/verify"),
        None,
        &rival,
    )
    .await;
    assert_eq!(status, 200, "{won}");
    server.stop().await;

    // With DNS verification off, only operators verify.
    let server = TestServer::start_with(stores, |config| {
        config.organizations.dns_verification = false;
    })
    .await
    .unwrap();
    let owner = account(&server, "owner@off.example").await;
    let org = organization(&server, &owner, "Off").await;
    let domains = format!(
        "/api/v1/organizations/{}/domains",
        org["id"].as_str().unwrap()
    );
    succeeded(
        call(
            &server,
            Method::POST,
            &domains,
            Some(json!({"domain": "off.example"})),
            &owner,
        )
        .await,
    );
    let (status, off) = call(
        &server,
        Method::POST,
        &format!("{domains}/off.example/verify"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 400, "{off}");
    assert!(off.to_string().contains("dns_verification"), "{off}");
    server.stop().await;
}

/// A platform admin naming an organization that does not exist gets 404, not a foreign-key
/// failure as a 500, on every organization-scoped write.
async fn admins_get_404_for_an_organization_that_does_not_exist(server: TestServer) {
    let root = access(&server.super_admin("root@example.com").await);
    let missing = uuid::Uuid::new_v4();
    for (path, body) in [
        ("groups", json!({"name": "Ghosts"})),
        ("domains", json!({"domain": "ghost.example"})),
        (
            "members",
            json!({"email": "root@example.com", "role": "member"}),
        ),
    ] {
        let (status, answer) = server
            .post(
                &format!("/api/v1/organizations/{missing}/{path}"),
                body,
                Some(&root),
            )
            .await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["error_code"], "NOT_FOUND_ERROR", "{path}: {answer}");
    }
    server.stop().await;
}
