//! Tools for the OpenID Connect tests: registering clients through the admin API, a browser
//! (cookie jar, no automatic redirects) that signs in and consents on the hosted pages, and
//! PKCE values.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{PASSWORD, TestServer, access};

/// Where test clients say they live; nothing listens there, the tests read the redirect.
pub const CALLBACK: &str = "http://127.0.0.1:9/callback";
/// Where test clients return after logout.
pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";

/// An admin's access token (creating the super admin on first use).
pub async fn admin_token(server: &TestServer) -> String {
    match server.state.admin.has_super_admin().await.unwrap() {
        false => access(&server.super_admin("root@example.com").await),
        true => access(&server.sign_in("root@example.com", PASSWORD).await),
    }
}

/// Registers a client through the admin API; returns its document (with the secret).
pub async fn register(server: &TestServer, metadata: Value) -> Value {
    let token = admin_token(server).await;
    let (status, body) = server.post("/api/v1/clients", metadata, Some(&token)).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A confidential web client with the code and refresh grants.
pub async fn web_client(server: &TestServer) -> (String, String) {
    let client = register(
        server,
        json!({
            "client_name": "Web App",
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": [AFTER_LOGOUT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email offline_access",
        }),
    )
    .await;
    (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&#61;", "=")
        .replace("&#47;", "/")
}

/// A browser: a cookie jar and no automatic redirects.
#[derive(Debug)]
pub struct Browser {
    pub client: reqwest::Client,
    base: String,
}

/// One answer the browser saw.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        Page {
            status,
            location,
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::read(self.client.get(self.absolute(url)).send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::read(
            self.client
                .post(self.absolute(url))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Follows an authorization from `start` through the hosted pages, signing in as `email`
    /// and allowing consent when asked; returns the redirect to the client.
    pub async fn authorize(&self, start: &str, email: &str) -> String {
        self.authorize_picking(start, email, None).await
    }

    /// Like [`Self::authorize`], picking the organization with id `organization` when the
    /// organization picker shows (which it must not without one).
    pub async fn authorize_picking(
        &self,
        start: &str,
        email: &str,
        organization: Option<&str>,
    ) -> String {
        let mut page = self.get(start).await;
        for _ in 0..10 {
            let Some(location) = page.location.clone() else {
                panic!("the flow stopped on a page: {} {}", page.status, page.body);
            };
            let target = self.absolute(&location);
            if !target.starts_with(&self.base) {
                return target;
            }
            if location.starts_with("/login") {
                let form = self.get(&location).await;
                assert_eq!(form.status, 200, "{}", form.body);
                page = self
                    .post(
                        "/login",
                        &[
                            ("email", email),
                            ("password", PASSWORD),
                            ("csrf", &hidden(&form.body, "csrf")),
                            ("interaction", &hidden(&form.body, "interaction")),
                        ],
                    )
                    .await;
            } else if location.starts_with("/select-organization") {
                let picker = self.get(&location).await;
                assert_eq!(picker.status, 200, "{}", picker.body);
                let organization = organization.expect("the organization picker showed");
                assert!(
                    picker.body.contains(&format!("value=\"{organization}\"")),
                    "{organization} is offered: {}",
                    picker.body
                );
                page = self
                    .post(
                        "/select-organization",
                        &[
                            ("csrf", &hidden(&picker.body, "csrf")),
                            ("interaction", &hidden(&picker.body, "interaction")),
                            ("organization", organization),
                        ],
                    )
                    .await;
            } else if location.starts_with("/consent") {
                let form = self.get(&location).await;
                assert_eq!(form.status, 200, "{}", form.body);
                page = self
                    .post(
                        "/consent",
                        &[
                            ("csrf", &hidden(&form.body, "csrf")),
                            ("interaction", &hidden(&form.body, "interaction")),
                            ("decision", "allow"),
                        ],
                    )
                    .await;
            } else {
                page = self.get(&location).await;
            }
        }
        panic!("the flow did not end");
    }

    /// Signs in on the standalone sign-in page.
    pub async fn sign_in(&self, email: &str) {
        let form = self.get("/login").await;
        let page = self
            .post(
                "/login",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("csrf", &hidden(&form.body, "csrf")),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
}

/// POSTs a form to an OAuth endpoint with HTTP Basic client credentials; returns status and
/// JSON body.
pub async fn oauth_post(
    server: &TestServer,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = server
        .client
        .post(server.url(path))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if path == "/oauth2/token" {
        assert_eq!(
            response.headers().get("cache-control").unwrap(),
            "no-store",
            "token responses must not be cached"
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Builds an authorization URL on `server`.
pub fn authorize_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    format!(
        "{}/oauth2/authorize?{}",
        server.base,
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// Exchanges a code (redirected to [`CALLBACK`]) at the token endpoint.
pub async fn exchange(
    server: &TestServer,
    client: (&str, &str),
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    oauth_post(
        server,
        "/oauth2/token",
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Presents a refresh token at the token endpoint.
pub async fn refresh_with(server: &TestServer, client: (&str, &str), token: &str) -> (u16, Value) {
    oauth_post(
        server,
        "/oauth2/token",
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}
