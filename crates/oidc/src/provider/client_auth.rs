//! Client authentication at the token, PAR, device, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523, with `jti` replay
//! protection) and `none` for public clients.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use castellan_domain::{ClientAuthMethod, ClientId, ClientSecret, OAuthClient, OneTimeCode};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::OidcProvider;
use super::error::OAuthError;

/// `client_assertion_type` of RFC 7523 assertions.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a request presented to authenticate its client.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// Client id and secret from HTTP Basic.
    pub basic: Option<(String, ClientSecret)>,
    /// `client_id` from the body.
    pub client_id: Option<String>,
    /// `client_secret` from the body.
    pub client_secret: Option<ClientSecret>,
    /// `client_assertion_type` from the body.
    pub client_assertion_type: Option<String>,
    /// `client_assertion` from the body: a signed JWT whose `jti` is accepted once.
    pub client_assertion: Option<OneTimeCode>,
}

fn form_decode(text: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
}

impl ClientCredentials {
    /// Parses an `Authorization: Basic` value: base64 of the form-urlencoded id and secret
    /// joined by a colon (RFC 6749 section 2.3.1). `None` when it is not Basic.
    pub fn parse_basic(header: &str) -> Option<Result<(String, ClientSecret), OAuthError>> {
        let (scheme, value) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let malformed = || OAuthError::invalid_client();
        let decoded = STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some(decoded) = decoded else {
            return Some(Err(malformed()));
        };
        let Some((id, secret)) = decoded.split_once(':') else {
            return Some(Err(malformed()));
        };
        match (form_decode(id), form_decode(secret)) {
            (Some(id), Some(secret)) => Some(Ok((id, ClientSecret::new(secret)))),
            _ => Some(Err(malformed())),
        }
    }

    /// The client id the request names, however it names it.
    fn named_client(&self) -> Option<ClientId> {
        if let Some((id, _)) = &self.basic {
            return ClientId::parse(id);
        }
        if let Some(id) = &self.client_id {
            return ClientId::parse(id);
        }
        let assertion = self.client_assertion.as_ref()?.expose();
        let payload = assertion.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        ClientId::parse(claims.get("iss")?.as_str()?)
    }
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    jti: String,
}

impl OidcProvider {
    /// Authenticates the client of a request by the method it registered. Every failure is the
    /// same `invalid_client`; the reason goes to the log only.
    pub async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Arc<OAuthClient>, OAuthError> {
        let Some(client_id) = credentials.named_client() else {
            return Err(OAuthError::invalid_client());
        };
        if credentials
            .client_id
            .as_deref()
            .is_some_and(|body_id| client_id != *body_id)
        {
            return Err(OAuthError::invalid_client());
        }
        let Some(client) = self.client(&client_id).await? else {
            return Err(OAuthError::invalid_client());
        };
        let method = client.metadata.token_endpoint_auth_method;
        let now = self.now();
        let authenticated = match (method, credentials) {
            (
                ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost,
                ClientCredentials {
                    basic: Some((_, secret)),
                    client_secret: None,
                    client_assertion: None,
                    ..
                }
                | ClientCredentials {
                    basic: None,
                    client_secret: Some(secret),
                    client_assertion: None,
                    ..
                },
            ) => client.verify_secret(secret, now),
            (
                ClientAuthMethod::PrivateKeyJwt,
                ClientCredentials {
                    basic: None,
                    client_secret: None,
                    client_assertion: Some(assertion),
                    client_assertion_type: Some(assertion_type),
                    ..
                },
            ) if assertion_type == JWT_BEARER_ASSERTION => {
                self.verify_assertion(&client, assertion.expose()).await?
            }
            (
                ClientAuthMethod::None,
                ClientCredentials {
                    basic: None,
                    client_secret: None,
                    client_assertion: None,
                    ..
                },
            ) => true,
            _ => false,
        };
        if authenticated {
            Ok(client)
        } else {
            tracing::info!(client_id = %client.client_id, method = method.as_str(), "client authentication failed");
            Err(OAuthError::invalid_client())
        }
    }

    /// Checks a `private_key_jwt` assertion: signed by one of the client's keys, `iss` and
    /// `sub` the client, `aud` this provider, unexpired, and its `jti` never seen before.
    async fn verify_assertion(
        &self,
        client: &OAuthClient,
        assertion: &str,
    ) -> Result<bool, OAuthError> {
        let Ok(header) = jsonwebtoken::decode_header(assertion) else {
            return Ok(false);
        };
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Ok(false);
        }
        let keys = self.client_keys(client).await?;
        let candidates: Vec<&Jwk> = keys
            .keys
            .iter()
            .filter(|key| match (&header.kid, &key.common.key_id) {
                (Some(wanted), Some(kid)) => wanted == kid,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect();
        let mut validation = Validation::new(header.alg);
        let audiences = [
            self.settings.issuer.clone(),
            self.settings.endpoint("/oauth2/token"),
            self.settings.endpoint("/oauth2/par"),
            self.settings.endpoint("/oauth2/introspect"),
            self.settings.endpoint("/oauth2/revoke"),
            self.settings.endpoint("/oauth2/device_authorization"),
        ];
        validation.set_audience(&audiences);
        validation.set_issuer(&[client.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.leeway = 30;
        let mut claims = None;
        for key in candidates {
            let Ok(decoding) = DecodingKey::from_jwk(key) else {
                continue;
            };
            if let Ok(data) =
                jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation)
            {
                claims = Some(data.claims);
                break;
            }
        }
        let Some(claims) = claims else {
            return Ok(false);
        };
        if claims.sub != client.client_id || claims.iss != client.client_id || claims.jti.is_empty()
        {
            return Ok(false);
        }
        let left = claims.exp.saturating_sub(self.now().timestamp()).max(0);
        let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(0) + 60);
        let first_use = self
            .ports
            .kv
            .set_if_absent(
                &format!("assertion-jti:{}:{}", client.client_id, claims.jti),
                b"1",
                Some(ttl),
            )
            .await?;
        if !first_use {
            tracing::warn!(client_id = %client.client_id, "a client assertion was replayed");
        }
        Ok(first_use)
    }

    /// The client's public keys: inline, or fetched from its `jwks_uri`.
    async fn client_keys(&self, client: &OAuthClient) -> Result<JwkSet, OAuthError> {
        let document = match (&client.metadata.jwks, &client.metadata.jwks_uri) {
            (Some(jwks), _) => jwks.clone(),
            (None, Some(uri)) => self
                .ports
                .outbound
                .get_json(uri)
                .await
                .map_err(|error| {
                    tracing::warn!(client_id = %client.client_id, %error, "cannot fetch the client's jwks_uri");
                    OAuthError::invalid_client()
                })?,
            (None, None) => return Err(OAuthError::invalid_client()),
        };
        serde_json::from_value(document).map_err(|_| OAuthError::invalid_client())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        let (id, secret) = ClientCredentials::parse_basic(&header).unwrap().unwrap();
        assert_eq!(id, "my app");
        assert_eq!(secret.expose(), "s:cret");
        assert!(ClientCredentials::parse_basic("Bearer abc").is_none());
        assert!(
            ClientCredentials::parse_basic("Basic !!!")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let credentials = ClientCredentials {
            basic: Some(("id".to_owned(), ClientSecret::new("hunter2"))),
            client_secret: Some(ClientSecret::new("hunter3")),
            ..ClientCredentials::default()
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("hunter"));
    }
}
