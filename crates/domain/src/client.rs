//! OAuth 2 / OpenID Connect clients (relying parties): their registered metadata in RFC 7591
//! names, the rules over it, and the port that stores them.
//!
//! Client secrets are high-entropy random values; only their SHA-256 is stored and compared in
//! constant time. A rotated secret keeps working until its overlap ends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::protocol::{check_absolute, redirect_matches};
use crate::{AccessToken, ClientId, ClientSecret, DomainError, RedirectUri, Scope};

/// How a client proves its identity at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no secret; PKCE stands in for it.
    None,
}

impl ClientAuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// True when the client holds a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// Grant types a client may be allowed.
pub const GRANT_TYPES: [&str; 4] = [
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
];
/// `authorization_code`.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `refresh_token`.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The device authorization grant (RFC 8628).
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Scopes Castellan knows; a client's `scope` is a subset.
pub const SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "phone",
    "address",
    "organization",
];

/// The scope that lets a client ask for organization-scoped tokens: alone it asks the user to
/// pick one of their organizations; `org:<slug>` names one.
pub const ORGANIZATION_SCOPE: &str = "organization";

/// The prefix of the scope naming one organization by slug (`org:acme`).
pub const ORGANIZATION_SCOPE_PREFIX: &str = "org:";

/// The longest access-token lifetime a client may have (a day); deny-lists and retired keys
/// are kept at least this long.
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// The longest refresh-token reuse leeway a client may have (seconds).
pub const MAX_REFRESH_REUSE_LEEWAY_SECS: u64 = 300;

/// The most contacts a client may list.
pub const MAX_CONTACTS: usize = 10;

/// Signing algorithms ID tokens can be asked for.
pub const ID_TOKEN_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

fn default_grant_types() -> Vec<String> {
    vec![GRANT_AUTHORIZATION_CODE.to_owned()]
}

fn default_scope() -> String {
    "openid profile email".to_owned()
}

fn default_alg() -> String {
    "RS256".to_owned()
}

fn default_true() -> bool {
    true
}

/// A client's registered metadata, in RFC 7591 names plus Castellan's own flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// Name shown on the consent page.
    pub client_name: String,
    /// Where authorization responses may go (exact match; loopback ports free per RFC 8252),
    /// each a [`RedirectUri`] by [`Self::validate`]; kept as text because metadata is also
    /// the stored and answered document.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where the browser may return after logout.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// How it authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Space-separated scopes it may ask for.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Castellan's own application: consent is not asked.
    #[serde(default)]
    pub first_party: bool,
    /// Authorization requests must come through PAR (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// PKCE is required even of this confidential client (public clients always need it).
    #[serde(default = "default_true")]
    pub require_pkce: bool,
    /// Access-token lifetime for this client, overriding the global one.
    #[serde(default)]
    pub access_token_lifetime_secs: Option<u64>,
    /// For this long after a refresh token was rotated, presenting it again answers with a
    /// new token of the same family instead of counting as reuse (two tabs refreshing at
    /// once); 0, the default, treats every second use as reuse.
    #[serde(default)]
    pub refresh_reuse_leeway_secs: u64,
    /// Back-Channel Logout endpoint.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The client's public keys (for `private_key_jwt`), inline.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The client's public keys, by URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// How ID tokens are signed.
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: String,
    /// A resource server allowed to introspect tokens issued to other clients (RFC 7662
    /// section 4); without it a client learns only about its own tokens.
    #[serde(default)]
    pub introspect_any_token: bool,
    /// OpenID Connect Registration `require_auth_time`: the ID token always carries
    /// `auth_time` (Castellan includes it for every client, so this is kept as registered).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_auth_time: bool,
    /// OpenID Connect Registration `default_max_age`: the `max_age` of a request without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<u64>,
    /// The client's home page (RFC 7591 `client_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// The client's logo (RFC 7591 `logo_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// The client's terms of service (RFC 7591 `tos_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// The client's privacy policy (RFC 7591 `policy_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// Who runs the client (RFC 7591 `contacts`, usually e-mail addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
}

impl ClientMetadata {
    /// Metadata with defaults for everything but the name.
    pub fn named(name: &str) -> Self {
        Self {
            client_name: name.to_owned(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: default_grant_types(),
            token_endpoint_auth_method: ClientAuthMethod::default(),
            scope: default_scope(),
            first_party: false,
            require_pushed_authorization_requests: false,
            require_pkce: true,
            access_token_lifetime_secs: None,
            refresh_reuse_leeway_secs: 0,
            backchannel_logout_uri: None,
            jwks: None,
            jwks_uri: None,
            id_token_signed_response_alg: default_alg(),
            introspect_any_token: false,
            require_auth_time: false,
            default_max_age: None,
            client_uri: None,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
            contacts: Vec::new(),
        }
    }

    /// Checks the metadata against the rules; the first violation names its field.
    pub fn validate(&self) -> Result<(), DomainError> {
        let name = self.client_name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "client_name",
                "must be 1 to 200 printable characters",
            ));
        }
        if self.grant_types.is_empty() {
            return Err(DomainError::invalid("grant_types", "must not be empty"));
        }
        for grant in &self.grant_types {
            if !GRANT_TYPES.contains(&grant.as_str()) {
                return Err(DomainError::invalid(
                    "grant_types",
                    format!("unsupported grant type {grant:?}"),
                ));
            }
        }
        if self.allows(GRANT_AUTHORIZATION_CODE) && self.redirect_uris.is_empty() {
            return Err(DomainError::invalid(
                "redirect_uris",
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        for uri in &self.redirect_uris {
            RedirectUri::parse(uri).map_err(invalid("redirect_uris"))?;
        }
        for uri in &self.post_logout_redirect_uris {
            RedirectUri::parse(uri).map_err(invalid("post_logout_redirect_uris"))?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            check_absolute(uri).map_err(invalid("backchannel_logout_uri"))?;
            if uri.contains('#') {
                return Err(DomainError::invalid(
                    "backchannel_logout_uri",
                    "must not contain a fragment",
                ));
            }
        }
        if let Some(uri) = &self.jwks_uri {
            check_absolute(uri).map_err(invalid("jwks_uri"))?;
        }
        for scope in self.scope.split_whitespace() {
            if !SCOPES.contains(&scope) {
                return Err(DomainError::invalid(
                    "scope",
                    format!("unknown scope {scope:?}"),
                ));
            }
        }
        let public = self.token_endpoint_auth_method == ClientAuthMethod::None;
        if public && self.allows(GRANT_CLIENT_CREDENTIALS) {
            return Err(DomainError::invalid(
                "grant_types",
                "client_credentials needs a confidential client",
            ));
        }
        if self.token_endpoint_auth_method == ClientAuthMethod::PrivateKeyJwt {
            match (&self.jwks, &self.jwks_uri) {
                (Some(_), Some(_)) => {
                    return Err(DomainError::invalid(
                        "jwks",
                        "give either jwks or jwks_uri, not both",
                    ));
                }
                (None, None) => {
                    return Err(DomainError::invalid(
                        "jwks",
                        "private_key_jwt needs the client's keys (jwks or jwks_uri)",
                    ));
                }
                _ => {}
            }
        }
        if let Some(jwks) = &self.jwks
            && !jwks.get("keys").is_some_and(serde_json::Value::is_array)
        {
            return Err(DomainError::invalid(
                "jwks",
                "must be a JWK Set: {\"keys\": [...]}",
            ));
        }
        if !ID_TOKEN_ALGORITHMS.contains(&self.id_token_signed_response_alg.as_str()) {
            return Err(DomainError::invalid(
                "id_token_signed_response_alg",
                format!("supported: {}", ID_TOKEN_ALGORITHMS.join(", ")),
            ));
        }
        for (field, uri) in [
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("tos_uri", &self.tos_uri),
            ("policy_uri", &self.policy_uri),
        ] {
            if let Some(uri) = uri {
                check_absolute(uri).map_err(invalid(field))?;
            }
        }
        if self.contacts.len() > MAX_CONTACTS
            || self.contacts.iter().any(|contact| {
                contact.is_empty() || contact.len() > 320 || contact.chars().any(char::is_control)
            })
        {
            return Err(DomainError::invalid(
                "contacts",
                format!("at most {MAX_CONTACTS} printable entries of up to 320 characters"),
            ));
        }
        if self
            .access_token_lifetime_secs
            .is_some_and(|secs| secs == 0 || secs > MAX_ACCESS_TOKEN_LIFETIME_SECS)
        {
            return Err(DomainError::invalid(
                "access_token_lifetime_secs",
                format!("must be 1 to {MAX_ACCESS_TOKEN_LIFETIME_SECS}"),
            ));
        }
        if self.refresh_reuse_leeway_secs > MAX_REFRESH_REUSE_LEEWAY_SECS {
            return Err(DomainError::invalid(
                "refresh_reuse_leeway_secs",
                format!("must be 0 to {MAX_REFRESH_REUSE_LEEWAY_SECS}"),
            ));
        }
        Ok(())
    }

    /// How long after rotation a refresh token may be presented again without counting as
    /// reuse.
    pub fn refresh_reuse_leeway(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.refresh_reuse_leeway_secs)
    }

    /// True when the client may use `grant`.
    pub fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|allowed| allowed == grant)
    }

    /// True for public clients (no way to authenticate).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == ClientAuthMethod::None
    }

    /// The scopes the client may ask for.
    pub fn scopes(&self) -> Scope {
        Scope::parse(&self.scope)
    }

    /// True when `redirect_uri` is registered: exact match, except that a public (native)
    /// client's loopback IP redirect (RFC 8252 section 7.3) may use any port. A confidential
    /// client runs on a server with a fixed address, so it gets exact matching only.
    pub fn accepts_redirect_uri(&self, redirect_uri: &str) -> bool {
        let native = self.is_public();
        self.redirect_uris.iter().any(|registered| {
            registered == redirect_uri || (native && redirect_matches(registered, redirect_uri))
        })
    }

    /// The redirect URI a request named, parsed, when it is registered (as
    /// [`Self::accepts_redirect_uri`] says).
    pub fn redirect_uri(&self, requested: &str) -> Option<RedirectUri> {
        self.accepts_redirect_uri(requested)
            .then(|| RedirectUri::parse(requested).ok())
            .flatten()
    }

    /// The registered redirect URI, when there is exactly one (a request may then leave it
    /// out).
    pub fn only_redirect_uri(&self) -> Option<RedirectUri> {
        match self.redirect_uris.as_slice() {
            [only] => RedirectUri::parse(only).ok(),
            _ => None,
        }
    }

    /// True when `uri` is a registered post-logout redirect URI (exact match).
    pub fn accepts_post_logout_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }
}

/// A metadata rule broken by `field`'s value.
fn invalid(field: &'static str) -> impl Fn(crate::InvalidUri) -> DomainError {
    move |problem| DomainError::invalid(field, problem.to_string())
}

/// Hex SHA-256 of a client secret, as stored.
pub fn hash_secret(secret: &ClientSecret) -> String {
    crate::secret::hash_token(secret.expose())
}

/// Hex SHA-256 of an RFC 7592 registration access token, as stored.
pub fn hash_registration_token(token: &AccessToken) -> String {
    crate::secret::hash_token(token.expose())
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The public identifier (`client_id`).
    pub client_id: String,
    /// What it registered.
    pub metadata: ClientMetadata,
    /// SHA-256 of the current secret (confidential clients).
    pub secret_hash: Option<String>,
    /// SHA-256 of the secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops working.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// SHA-256 of the RFC 7592 registration access token, for dynamically registered clients.
    pub registration_token_hash: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl OAuthClient {
    /// Its id as a [`ClientId`]: ids are checked when registered, so a stored one is trusted.
    pub fn id(&self) -> ClientId {
        ClientId::registered(&self.client_id)
    }

    /// True when `secret` is the current secret, or the previous one within its overlap.
    /// Both comparisons always run, in constant time.
    pub fn verify_secret(&self, secret: &ClientSecret, now: DateTime<Utc>) -> bool {
        let presented = hash_secret(secret);
        let matches = |stored: &Option<String>| {
            stored
                .as_deref()
                .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())))
        };
        let current = matches(&self.secret_hash);
        let previous = matches(&self.previous_secret_hash)
            && self
                .previous_secret_expires_at
                .is_some_and(|until| until > now);
        current | previous
    }

    /// True when `token` is this client's registration access token (constant time).
    pub fn verify_registration_token(&self, token: &AccessToken) -> bool {
        let presented = hash_registration_token(token);
        self.registration_token_hash
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())))
    }
}

/// Storage of clients.
#[async_trait::async_trait]
pub trait ClientRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new client; `Conflict` when the id is taken.
    async fn create(&self, client: &OAuthClient) -> Result<(), DomainError>;
    /// The client with this id.
    async fn get(&self, client_id: &str) -> Result<Option<OAuthClient>, DomainError>;
    /// Every client, oldest first.
    async fn list(&self) -> Result<Vec<OAuthClient>, DomainError>;
    /// Replaces a client's stored fields; `NotFound` when absent.
    async fn update(&self, client: &OAuthClient) -> Result<(), DomainError>;
    /// Deletes a client; false when absent.
    async fn delete(&self, client_id: &str) -> Result<bool, DomainError>;
}

/// What a user allowed a client: the scopes, remembered so consent is asked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The user.
    pub user_id: crate::UserId,
    /// The client.
    pub client_id: String,
    /// The scopes granted so far.
    pub scopes: Vec<String>,
    /// When they were last granted.
    pub granted_at: DateTime<Utc>,
}

impl Consent {
    /// True when every scope in `requested` was granted.
    pub fn covers<'a>(&self, mut requested: impl Iterator<Item = &'a str>) -> bool {
        requested.all(|scope| self.scopes.iter().any(|granted| granted == scope))
    }
}

/// Storage of consents.
#[async_trait::async_trait]
pub trait ConsentRepository: Send + Sync + std::fmt::Debug {
    /// The user's consent for a client.
    async fn get(
        &self,
        user: crate::UserId,
        client_id: &str,
    ) -> Result<Option<Consent>, DomainError>;
    /// Stores (or replaces) a consent.
    async fn put(&self, consent: &Consent) -> Result<(), DomainError>;
    /// Every consent of a user.
    async fn for_user(&self, user: crate::UserId) -> Result<Vec<Consent>, DomainError>;
    /// Withdraws a consent; false when there was none.
    async fn delete(&self, user: crate::UserId, client_id: &str) -> Result<bool, DomainError>;
}

/// Which clients took part in a session, so logout can tell each of them (Back-Channel Logout).
#[async_trait::async_trait]
pub trait SessionParticipants: Send + Sync + std::fmt::Debug {
    /// Records that `client_id` received tokens in `session` (idempotent).
    async fn add(&self, session: crate::SessionId, client_id: &str) -> Result<(), DomainError>;
    /// The clients that took part in `session`.
    async fn of(&self, session: crate::SessionId) -> Result<Vec<String>, DomainError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instant the tests happen at: only the differences between times matter here.
    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn web_client() -> ClientMetadata {
        ClientMetadata {
            redirect_uris: vec!["https://app.example/callback".to_owned()],
            ..ClientMetadata::named("App")
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client = web_client();
        assert!(client.accepts_redirect_uri("https://app.example/callback"));
        assert!(!client.accepts_redirect_uri("https://app.example/callback/"));
        assert!(!client.accepts_redirect_uri("https://app.example/callback?x=1"));
        assert!(!client.accepts_redirect_uri("https://evil.example/callback"));
    }

    #[test]
    fn loopback_redirects_may_change_port_only() {
        let client = ClientMetadata {
            redirect_uris: vec![
                "http://127.0.0.1/cb".to_owned(),
                "http://[::1]:80/cb".to_owned(),
            ],
            token_endpoint_auth_method: ClientAuthMethod::None,
            ..ClientMetadata::named("CLI")
        };
        client.validate().unwrap();
        assert!(client.accepts_redirect_uri("http://127.0.0.1:51234/cb"));
        assert!(client.accepts_redirect_uri("http://[::1]:9/cb"));
        assert!(!client.accepts_redirect_uri("http://127.0.0.1:51234/other"));
        assert!(!client.accepts_redirect_uri("http://127.0.0.1.evil.example:1/cb"));
        assert!(!client.accepts_redirect_uri("http://localhost:51234/cb"));
    }

    #[test]
    fn confidential_clients_get_no_loopback_port_freedom() {
        let client = ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1:9/cb".to_owned()],
            ..ClientMetadata::named("Server on loopback")
        };
        client.validate().unwrap();
        assert!(client.accepts_redirect_uri("http://127.0.0.1:9/cb"));
        assert!(!client.accepts_redirect_uri("http://127.0.0.1:10/cb"));
        assert!(!client.accepts_redirect_uri("http://127.0.0.1/cb"));
    }

    #[test]
    fn metadata_rules_name_their_field() {
        let field_of = |metadata: ClientMetadata| match metadata.validate() {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(
            field_of(ClientMetadata::named("No redirect")),
            "redirect_uris"
        );
        let mut bad = web_client();
        bad.redirect_uris = vec!["http://app.example/cb".to_owned()];
        assert_eq!(field_of(bad), "redirect_uris");
        let mut bad = web_client();
        bad.redirect_uris = vec!["https://app.example/cb#frag".to_owned()];
        assert_eq!(field_of(bad), "redirect_uris");
        let mut bad = web_client();
        bad.grant_types = vec!["implicit".to_owned()];
        assert_eq!(field_of(bad), "grant_types");
        let mut bad = web_client();
        bad.scope = "openid admin".to_owned();
        assert_eq!(field_of(bad), "scope");
        let mut bad = web_client();
        bad.token_endpoint_auth_method = ClientAuthMethod::None;
        bad.grant_types = vec![GRANT_CLIENT_CREDENTIALS.to_owned()];
        assert_eq!(field_of(bad), "grant_types");
        let mut bad = web_client();
        bad.token_endpoint_auth_method = ClientAuthMethod::PrivateKeyJwt;
        assert_eq!(field_of(bad), "jwks");
        let mut bad = web_client();
        bad.logo_uri = Some("not a uri".to_owned());
        assert_eq!(field_of(bad), "logo_uri");
        let mut bad = web_client();
        bad.contacts = vec!["ops@example.com\nBcc: x".to_owned()];
        assert_eq!(field_of(bad), "contacts");
        let mut bad = web_client();
        bad.access_token_lifetime_secs = Some(MAX_ACCESS_TOKEN_LIFETIME_SECS + 1);
        assert_eq!(field_of(bad), "access_token_lifetime_secs");
        web_client().validate().unwrap();
    }

    #[test]
    fn secrets_verify_with_overlap() {
        let now = now();
        let client = OAuthClient {
            client_id: "c".to_owned(),
            metadata: web_client(),
            secret_hash: Some(hash_secret(&ClientSecret::new("new"))),
            previous_secret_hash: Some(hash_secret(&ClientSecret::new("old"))),
            previous_secret_expires_at: Some(now + chrono::Duration::hours(1)),
            registration_token_hash: None,
            created_at: now,
            updated_at: now,
        };
        assert!(client.verify_secret(&ClientSecret::new("new"), now));
        assert!(client.verify_secret(&ClientSecret::new("old"), now));
        assert!(!client.verify_secret(&ClientSecret::new("old"), now + chrono::Duration::hours(2)));
        assert!(!client.verify_secret(&ClientSecret::new("other"), now));
    }
}
