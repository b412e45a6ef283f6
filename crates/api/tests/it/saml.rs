//! SAML connections over the REST API: who may manage them (platform admins and members
//! holding `sso:manage`; other tenants see nothing), what a connection answers (the URLs to
//! give the IdP), the public SP metadata, and the checks on what an administrator gives.
//! The IdP certificate comes from `castellan-sso`'s samael-based test IdP.

use castellan_sso::testing::fixture;
use reqwest::Method;
use serde_json::{Value, json};

use crate::organizations::{Account, account, call};
use crate::support::TestServer;
use crate::support::on_both_stores;

on_both_stores!(server:
    connections_are_managed_by_sso_managers_only,
    connections_check_what_they_are_given,
);

/// An organization owned by `owner`, with `member` in the `member` role; its id.
async fn organization(server: &TestServer, owner: &Account, member: &Account) -> String {
    let (status, body) = call(
        server,
        Method::POST,
        "/api/v1/organizations",
        Some(json!({"name": "Acme"})),
        owner,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        server,
        Method::POST,
        &format!("/api/v1/organizations/{id}/members"),
        Some(json!({"user_id": member.id, "role": "member"})),
        owner,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    id
}

fn connection_request(organization: &str) -> Value {
    json!({
        "organization_id": organization,
        "provider": "okta",
        "idp_entity_id": "http://www.okta.com/exk-acme",
        "idp_sso_url": "https://acme.okta.example/app/sso/saml",
        "idp_certificates": [fixture().idp.certificate().to_base64()],
        "group_role_mapping": [{"group": "it-admins", "role": "admin"}],
    })
}

async fn connections_are_managed_by_sso_managers_only(server: TestServer) {
    let owner = account(&server, "owner@acme.example").await;
    let member = account(&server, "member@acme.example").await;
    let outsider = account(&server, "outsider@other.example").await;
    let org = organization(&server, &owner, &member).await;
    let path = "/api/v1/sso/configurations";

    // Without sso:manage: a member is refused, an outsider does not see the organization.
    let (status, body) = call(
        &server,
        Method::POST,
        path,
        Some(connection_request(&org)),
        &member,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &server,
        Method::POST,
        path,
        Some(connection_request(&org)),
        &outsider,
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let (status, created) = call(
        &server,
        Method::POST,
        path,
        Some(connection_request(&org)),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let metadata_url = server.url(&format!("/api/v1/sso/configurations/{id}/metadata"));
    assert_eq!(created["metadata_url"], metadata_url.as_str());
    assert_eq!(created["sp_entity_id"], metadata_url.as_str());
    assert_eq!(created["acs_url"], server.url("/api/v1/sso/acs").as_str());
    assert_eq!(created["provider"], "okta");
    assert_eq!(created["attribute_mapping"]["given_name"], "firstName");
    assert_eq!(created["group_role_mapping"][0]["role"], "admin");
    assert_eq!(created["enabled"], true);
    assert!(created.get("sealed_sp_key").is_none());

    let one = format!("{path}/{id}");
    let (status, _) = call(&server, Method::GET, &one, None, &member).await;
    assert_eq!(status, 403);
    let (status, _) = call(&server, Method::GET, &one, None, &outsider).await;
    assert_eq!(status, 404);
    let (status, _) = call(&server, Method::DELETE, &one, None, &member).await;
    assert_eq!(status, 403);
    let (status, body) = call(
        &server,
        Method::GET,
        &format!("{path}?organization_id={org}"),
        None,
        &owner,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{path}?organization_id={org}"),
        None,
        &outsider,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&server, Method::GET, path, None, &owner).await;
    assert_eq!(
        status, 422,
        "only platform admins list every organization's connections"
    );

    // The SP metadata is public and names the SP's entity id and ACS.
    let response = server.client.get(&metadata_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains(&format!("entityID=\"{metadata_url}\"")),
        "{xml}"
    );
    assert!(xml.contains(&server.url("/api/v1/sso/acs")), "{xml}");

    let (status, body) = call(
        &server,
        Method::PATCH,
        &one,
        Some(json!({"enabled": false, "trust_email": true})),
        &owner,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["enabled"].clone(), body["trust_email"].clone()),
        (json!(false), json!(true))
    );

    let (status, _) = call(&server, Method::DELETE, &one, None, &owner).await;
    assert_eq!(status, 204);
    let (status, _) = call(&server, Method::GET, &one, None, &owner).await;
    assert_eq!(status, 404);
    let response = server.client.get(&metadata_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

async fn connections_check_what_they_are_given(server: TestServer) {
    let owner = account(&server, "owner@acme.example").await;
    let member = account(&server, "member@acme.example").await;
    let org = organization(&server, &owner, &member).await;
    let path = "/api/v1/sso/configurations";
    let with = |change: &dyn Fn(&mut Value)| {
        let mut request = connection_request(&org);
        change(&mut request);
        request
    };
    for (request, field) in [
        (with(&|r| r["provider"] = json!("okta2")), "provider"),
        (
            with(&|r| r["idp_certificates"] = json!(["not a certificate"])),
            "idp_certificates",
        ),
        (
            with(&|r| {
                r.as_object_mut().unwrap().remove("idp_sso_url");
            }),
            "idp_sso_url",
        ),
        (with(&|r| r["signed_parts"] = json!("some")), "signed_parts"),
        (
            with(&|r| r["group_role_mapping"] = json!([{"group": "x", "role": "emperor"}])),
            "role",
        ),
        (
            with(&|r| r["idp_metadata_xml"] = json!("<not-metadata/>")),
            "idp_metadata_xml",
        ),
    ] {
        let (status, body) = call(&server, Method::POST, path, Some(request), &owner).await;
        assert_eq!(status, 422, "{field}: {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    let (status, body) = call(
        &server,
        Method::GET,
        &format!("{path}?organization_id={org}"),
        None,
        &owner,
    )
    .await;
    assert_eq!((status, body), (200, json!([])), "nothing was stored");
}
