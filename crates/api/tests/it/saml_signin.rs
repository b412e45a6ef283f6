//! Signing in through an organization's SAML connection, end to end: the browser starts at
//! `/api/v1/sso/initiate` (or at an authorization naming the organization), the samael-based
//! test IdP verifies the signed AuthnRequest and answers it with a signed Response, and the
//! ACS signs the browser in (a new account, its membership and mapped role; `amr` `saml` in
//! the relying party's ID token). Each rule of the ACS has a Response that breaks it: refused
//! with an HTML page, the rule in the audit log.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use castellan_sso::IdpCertificate;
use castellan_sso::testing::{IDP_ENTITY, Spec, fixture, receive};
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::oidc_support::{
    Browser, CALLBACK, Page, admin_token, authorize_url, exchange, pkce, query, register,
};
use crate::organizations::{Account, account, call};
use crate::support::{TestServer, on_both_stores};

on_both_stores!(server:
    an_employee_signs_in_through_the_organizations_idp,
    encrypted_assertions_open_with_the_connections_key,
    the_relying_party_gets_its_code_after_the_idp,
    the_acs_refuses_each_broken_rule_and_records_it,
    existing_accounts_link_only_through_a_vouched_address,
    unsolicited_responses_need_the_connections_consent,
);

/// An organization with a SAML connection to the test IdP.
struct Sso {
    owner: Account,
    organization: String,
    slug: String,
    connection: Value,
}

async fn sso(server: &TestServer, settings: Value) -> Sso {
    let owner = account(server, "owner@acme.example").await;
    let (status, org) = call(
        server,
        Method::POST,
        "/api/v1/organizations",
        Some(json!({"name": "Acme"})),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{org}");
    let organization = org["id"].as_str().unwrap().to_owned();
    let mut request = json!({
        "organization_id": organization,
        "provider": "generic",
        "idp_entity_id": IDP_ENTITY,
        "idp_sso_url": "https://idp.example.test/saml/sso",
        "idp_certificates": [fixture().idp.certificate().to_base64()],
        "group_role_mapping": [{"group": "it-admins", "role": "admin"}],
    });
    for (key, value) in settings.as_object().unwrap() {
        request[key] = value.clone();
    }
    let (status, connection) = call(
        server,
        Method::POST,
        "/api/v1/sso/configurations",
        Some(request),
        &owner,
    )
    .await;
    assert_eq!(status, 201, "{connection}");
    Sso {
        owner,
        organization,
        slug: org["slug"].as_str().unwrap().to_owned(),
        connection,
    }
}

impl Sso {
    /// Changes the connection as its owner.
    async fn change(&self, server: &TestServer, changes: Value) {
        let path = format!(
            "/api/v1/sso/configurations/{}",
            self.connection["id"].as_str().unwrap()
        );
        let (status, body) = call(server, Method::PATCH, &path, Some(changes), &self.owner).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Reads the AuthnRequest the browser was sent to the IdP with: its id and RelayState.
    fn received(&self, page: &Page) -> (String, String) {
        assert_eq!(page.status, 302, "{}", page.body);
        let url = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        assert!(
            url.as_str()
                .starts_with("https://idp.example.test/saml/sso?")
        );
        let (request, relay) = receive(&url, &self.sp_certificate());
        assert_eq!(
            request.assertion_consumer_service_url.as_deref(),
            self.connection["acs_url"].as_str()
        );
        (request.id, relay.expect("the request carries a RelayState"))
    }

    /// The SP certificate, DER.
    fn sp_certificate(&self) -> Vec<u8> {
        let pem = self.connection["sp_certificate"].as_str().unwrap();
        STANDARD
            .decode(IdpCertificate::parse(pem).unwrap().to_base64())
            .unwrap()
    }

    /// A valid answer to `request_id` for `email`, in the groups given.
    fn answer(&self, request_id: Option<&str>, email: &str, groups: &[&str]) -> Spec {
        let mut spec = Spec::answering(request_id, Utc::now());
        let acs = self.connection["acs_url"].as_str().unwrap().to_owned();
        spec.destination = acs.clone();
        spec.recipient = acs;
        spec.audience = self.connection["sp_entity_id"].as_str().unwrap().to_owned();
        spec.name_id = email.to_owned();
        spec.attributes = vec![
            ("email".to_owned(), vec![email.to_owned()]),
            ("given_name".to_owned(), vec!["Ada".to_owned()]),
            ("family_name".to_owned(), vec!["Lovelace".to_owned()]),
            (
                "groups".to_owned(),
                groups.iter().map(|g| (*g).to_owned()).collect(),
            ),
        ];
        spec
    }
}

/// Starts a sign-in at the organization's IdP in `browser`; the request id and RelayState.
async fn start(browser: &Browser, sso: &Sso, next: &str) -> (String, String) {
    let path = format!(
        "/api/v1/sso/initiate?{}",
        serde_urlencoded::to_string([("organization", sso.slug.as_str()), ("next", next)]).unwrap()
    );
    sso.received(&browser.get(&path).await)
}

/// Posts a Response to the ACS as the IdP's page would.
async fn post_response(browser: &Browser, response: &str, relay: Option<&str>) -> Page {
    let mut form = vec![("SAMLResponse", response)];
    if let Some(relay) = relay {
        form.push(("RelayState", relay));
    }
    browser.post("/api/v1/sso/acs", &form).await
}

/// The `detail` of every refusal in the audit log, newest first.
async fn refusals(server: &TestServer) -> Vec<String> {
    let root = admin_token(server).await;
    let (status, page) = server
        .get_as(
            "/api/v1/admin/audit?action=sso.response.refused&per_page=100",
            &root,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            assert_eq!(event["success"], false);
            event["detail"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn member_role(server: &TestServer, sso: &Sso, email: &str) -> Option<String> {
    let (status, members) = call(
        server,
        Method::GET,
        &format!("/api/v1/organizations/{}/members", sso.organization),
        None,
        &sso.owner,
    )
    .await;
    assert_eq!(status, 200, "{members}");
    let list = members
        .as_array()
        .or_else(|| members["members"].as_array())
        .or_else(|| members["data"].as_array())
        .unwrap_or_else(|| panic!("a member list: {members}"))
        .clone();
    list.iter()
        .find(|m| m["email"] == email || m["user"]["email"] == email)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

async fn an_employee_signs_in_through_the_organizations_idp(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    let browser = Browser::new(&server);
    let (request_id, relay) = start(&browser, &sso, "/login").await;

    let response =
        fixture()
            .idp
            .respond(&sso.answer(Some(&request_id), "ada@acme.example", &["it-admins"]));
    let page = post_response(&browser, &response, Some(&relay)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/login"));
    let signed_in = browser.get("/login").await;
    assert!(
        signed_in
            .body
            .contains("You are signed in as ada@acme.example"),
        "{}",
        signed_in.body
    );
    // Provisioned just in time, a member with the role its group maps to.
    assert_eq!(
        member_role(&server, &sso, "ada@acme.example")
            .await
            .as_deref(),
        Some("admin")
    );

    // The same Response again answers a request that is used up, even posted with a fresh
    // request of the same browser.
    let (_, relay) = start(&browser, &sso, "/login").await;
    let page = post_response(&browser, &response, Some(&relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Single sign-on failed"), "{}", page.body);
    assert!(
        !page.body.contains("InResponseTo"),
        "the rule stays out of the page"
    );
    let details = refusals(&server).await;
    assert!(details[0].contains("rule=in_response_to"), "{details:?}");

    // Two sign-ins started in two tabs of one browser both finish.
    let (first, first_relay) = start(&browser, &sso, "/login").await;
    let (second, second_relay) = start(&browser, &sso, "/login").await;
    for (request_id, relay) in [(second, second_relay), (first, first_relay)] {
        let spec = sso.answer(Some(&request_id), "ada@acme.example", &["it-admins"]);
        let page = post_response(&browser, &fixture().idp.respond(&spec), Some(&relay)).await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
}

async fn encrypted_assertions_open_with_the_connections_key(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    let browser = Browser::new(&server);
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let mut spec = sso.answer(Some(&request_id), "ada@acme.example", &[]);
    spec.encrypt_for = Some(sso.sp_certificate());
    let page = post_response(&browser, &fixture().idp.respond(&spec), Some(&relay)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        member_role(&server, &sso, "ada@acme.example")
            .await
            .as_deref(),
        Some("member")
    );

    // Encrypted for another SP's key, it cannot be opened.
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let mut spec = sso.answer(Some(&request_id), "ada@acme.example", &[]);
    spec.encrypt_for = Some(castellan_sso::testing::sp_cert_der());
    let page = post_response(&browser, &fixture().idp.respond(&spec), Some(&relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(refusals(&server).await[0].contains("rule=decryption"));
}

async fn the_relying_party_gets_its_code_after_the_idp(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    let client = register(
        &server,
        json!({
            "client_name": "Acme Portal",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code"],
            "scope": "openid email organization",
        }),
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let client_secret = client["client_secret"].as_str().unwrap().to_owned();
    let (verifier, challenge) = pkce();
    let browser = Browser::new(&server);
    let start = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid email organization"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("organization", &sso.slug),
        ],
    );
    // authorize → sign-in page → the organization's IdP.
    let mut page = browser.get(&start).await;
    for _ in 0..3 {
        let location = page.location.clone().expect("a redirect");
        if location.starts_with("https://idp.example.test/") {
            break;
        }
        page = browser.get(&location).await;
    }
    let (request_id, relay) = sso.received(&page);
    let response = fixture()
        .idp
        .respond(&sso.answer(Some(&request_id), "grace@acme.example", &[]));
    let page = post_response(&browser, &response, Some(&relay)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // On through the authorization (consent, where asked) to the relying party; the account
    // has no password, so a detour through the sign-in page would fail.
    let location = page.location.as_deref().unwrap();
    let redirect = browser.authorize(location, "grace@acme.example").await;
    assert!(redirect.starts_with(CALLBACK), "{redirect}");
    let params = query(&redirect);
    assert_eq!(params["state"], "s1");
    let (status, tokens) = exchange(
        &server,
        (&client_id, &client_secret),
        &params["code"],
        &verifier,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["email"], "grace@acme.example");
    assert!(
        claims["amr"].as_array().unwrap().contains(&json!("saml")),
        "{claims}"
    );
    assert_eq!(claims["nonce"], "n1");
    assert_eq!(
        claims["org_id"].as_str(),
        Some(sso.organization.as_str()),
        "{claims}"
    );
}

/// What a refusal case changes in a valid Response.
type Breaks = fn(&mut Spec);

/// The one `<…Assertion …>…</…Assertion>` element of a Response, whatever its prefix.
fn assertion_of(xml: &str) -> &str {
    let (start, name) = xml
        .match_indices('<')
        .map(|(i, _)| {
            let name: String = xml[i + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>')
                .collect();
            (i, name)
        })
        .find(|(_, name)| name == "Assertion" || name.ends_with(":Assertion"))
        .expect("an assertion");
    let closing = format!("</{name}>");
    let end = start + xml[start..].find(&closing).expect("its end") + closing.len();
    &xml[start..end]
}

async fn the_acs_refuses_each_broken_rule_and_records_it(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    let idp = &fixture().idp;
    let browser = Browser::new(&server);
    let mut expected = Vec::new();
    let cases: [(&str, Breaks); 6] = [
        ("audience", |s| {
            s.audience = "https://other.example/sp".into()
        }),
        ("destination", |s| {
            s.destination = "https://other.example/acs".into()
        }),
        ("expired", |s| {
            s.issued_at -= Duration::hours(2);
            s.not_before -= Duration::hours(2);
            s.not_on_or_after = Utc::now() - Duration::hours(1);
        }),
        ("not_yet_valid", |s| {
            s.issued_at += Duration::hours(1);
            s.not_before = Utc::now() + Duration::hours(1);
            s.not_on_or_after = Utc::now() + Duration::hours(2);
        }),
        ("unsigned", |s| s.sign_assertion = false),
        ("signature_algorithm", |s| s.sha1 = true),
    ];
    for (rule, change) in &cases {
        let (request_id, relay) = start(&browser, &sso, "/login").await;
        let mut spec = sso.answer(Some(&request_id), "ada@acme.example", &[]);
        change(&mut spec);
        let page = post_response(&browser, &idp.respond(&spec), Some(&relay)).await;
        assert_eq!(page.status, 400, "{rule}: {}", page.body);
        assert!(page.body.contains("Single sign-on failed"), "{rule}");
        expected.push(*rule);
    }

    // Signed by a key the connection does not trust.
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let spec = sso.answer(Some(&request_id), "ada@acme.example", &[]);
    let page = post_response(&browser, &fixture().other_idp.respond(&spec), Some(&relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    expected.push("signature_invalid");

    // Another browser's request: its RelayState is used up by the wrong cookie, and the
    // Response answers a request this browser never made.
    let other = Browser::new(&server);
    let (theirs, their_relay) = start(&other, &sso, "/login").await;
    let spec = sso.answer(Some(&theirs), "ada@acme.example", &[]);
    let page = post_response(&browser, &idp.respond(&spec), Some(&their_relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    expected.push("in_response_to");
    // ... and the rightful browser cannot use it afterwards either.
    let page = post_response(&other, &idp.respond(&spec), Some(&their_relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    expected.push("in_response_to");

    // Signature wrapping: an unsigned assertion for someone else beside the signed one.
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let spec = sso.answer(Some(&request_id), "ada@acme.example", &[]);
    let xml = idp.respond_xml(&spec);
    let signed = assertion_of(&xml).to_owned();
    let evil = signed
        .replace("ada@acme.example", "mallory@acme.example")
        .replace(&spec.assertion_id, "_evil");
    let wrapped = xml.replacen(&signed, &format!("{evil}{signed}"), 1);
    let page = post_response(&browser, &STANDARD.encode(wrapped), Some(&relay)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    expected.push("exactly_one_assertion");

    let details = refusals(&server).await;
    let rules: Vec<String> = details
        .iter()
        .rev()
        .map(|detail| {
            detail
                .split_whitespace()
                .find_map(|word| word.strip_prefix("rule="))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(rules, expected, "{details:?}");
    assert!(
        details
            .iter()
            .all(|d| d.contains(sso.connection["id"].as_str().unwrap())),
        "{details:?}"
    );
    // Nobody was signed in or provisioned by any of them.
    assert_eq!(member_role(&server, &sso, "ada@acme.example").await, None);
    assert_eq!(
        member_role(&server, &sso, "mallory@acme.example").await,
        None
    );
}

async fn existing_accounts_link_only_through_a_vouched_address(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    account(&server, "linus@acme.example").await;
    let browser = Browser::new(&server);
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let spec = sso.answer(Some(&request_id), "linus@acme.example", &[]);
    let page = post_response(&browser, &fixture().idp.respond(&spec), Some(&relay)).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(member_role(&server, &sso, "linus@acme.example").await, None);

    // Once the organization trusts its IdP's addresses, the account is linked and joins.
    sso.change(&server, json!({"trust_email": true})).await;
    let (request_id, relay) = start(&browser, &sso, "/login").await;
    let spec = sso.answer(Some(&request_id), "linus@acme.example", &[]);
    let page = post_response(&browser, &fixture().idp.respond(&spec), Some(&relay)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        member_role(&server, &sso, "linus@acme.example")
            .await
            .as_deref(),
        Some("member")
    );
}

async fn unsolicited_responses_need_the_connections_consent(server: TestServer) {
    let sso = sso(&server, json!({})).await;
    let browser = Browser::new(&server);
    let spec = sso.answer(None, "ada@acme.example", &[]);
    let page = post_response(&browser, &fixture().idp.respond(&spec), Some("/login")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(refusals(&server).await[0].contains("rule=unsolicited"));

    sso.change(&server, json!({"allow_unsolicited": true}))
        .await;
    let spec = sso.answer(None, "ada@acme.example", &[]);
    let response = fixture().idp.respond(&spec);
    let page = post_response(&browser, &response, Some("/login")).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/login"));
    // The same assertion twice is a replay: the cache remembers its id.
    let page = post_response(&Browser::new(&server), &response, Some("/login")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(refusals(&server).await[0].contains("rule=replayed"));
    // A RelayState that is not a page of this server is not followed.
    let spec = sso.answer(None, "ada@acme.example", &[]);
    let page = post_response(
        &browser,
        &fixture().idp.respond(&spec),
        Some("https://evil.example/"),
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/login"));

    // A Response from an IdP no connection trusts.
    let mut spec = sso.answer(None, "ada@acme.example", &[]);
    spec.issuer = "https://unknown.example/idp".into();
    let page = post_response(&browser, &fixture().idp.respond(&spec), None).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(refusals(&server).await[0].contains("rule=unknown_idp"));
}
