//! Finishing an upstream login at the callback: the `state` against the stored one (constant
//! time), the code exchanged with the PKCE verifier, the ID token validated (OpenID Connect) or
//! the userinfo read through the claim mapping (OAuth 2), and the resulting
//! [`UpstreamIdentity`].

use castellan_domain::{Clock, OutboundError, OutboundHttp};
use openidconnect::core::{CoreClient, CoreClientAuthMethod, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, ErrorResponseType,
    OAuth2TokenResponse as _, PkceCodeVerifier, RequestTokenError, StandardErrorResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::UpstreamError;
use super::claims::{EmailSource, UpstreamIdentity, github_primary_email, truthy};
use super::discovery;
use super::error::provider_text;
use super::http_client::{PortClient, get_bearer_json};
use super::id_token::{self, Expectations};
use super::login::{PendingLogin, UpstreamClient};
use super::provider::{OAuth2Endpoints, ProviderKind, TokenAuth};

/// What the provider sent the browser back with, from the query (or the form, for
/// `form_post`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    /// The `state` the login was started with.
    pub state: Option<String>,
    /// The authorization code.
    pub code: Option<SecretString>,
    /// An OAuth 2 error code instead of a code.
    pub error: Option<String>,
    /// The error's description.
    pub error_description: Option<String>,
    /// Apple's `user` form field (JSON with the name), sent on the first sign-in only.
    pub user: Option<String>,
}

impl UpstreamClient {
    /// Finishes the login `pending` started: answers the identity the provider vouches for,
    /// or the rule that failed. `clock` judges the ID token's expiry; `http` carries every
    /// request (token, key set, userinfo).
    pub async fn finish(
        &self,
        callback: &Callback,
        pending: &PendingLogin,
        http: &dyn OutboundHttp,
        clock: &dyn Clock,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        if pending.provider != self.provider.slug {
            return Err(UpstreamError::ProviderMismatch);
        }
        let sent = callback.state.as_deref().unwrap_or_default();
        let stored = pending.state.expose_secret();
        if stored.is_empty() || !bool::from(sent.as_bytes().ct_eq(stored.as_bytes())) {
            return Err(UpstreamError::StateMismatch);
        }
        if let Some(error) = &callback.error {
            return Err(UpstreamError::AuthorizationDenied {
                error: provider_text(error),
                description: callback.error_description.as_deref().map(provider_text),
            });
        }
        let code = callback
            .code
            .as_ref()
            .filter(|code| !code.expose_secret().is_empty())
            .ok_or(UpstreamError::MissingCode)?;
        let client = PortClient(http);
        let mut identity = match (&self.metadata, &self.provider.kind) {
            (Some(metadata), ProviderKind::Oidc { .. }) => {
                self.finish_oidc(metadata, code, pending, client, clock)
                    .await?
            }
            (None, ProviderKind::OAuth2(endpoints)) => {
                self.finish_oauth2(endpoints, code, pending, client).await?
            }
            _ => return Err(UpstreamError::Discovery("OpenID provider not discovered")),
        };
        if let Some(user) = callback
            .user
            .as_deref()
            .filter(|_| self.provider.name_in_callback_form)
        {
            apply_posted_name(&mut identity, user);
        }
        Ok(identity)
    }

    async fn finish_oidc(
        &self,
        metadata: &CoreProviderMetadata,
        code: &SecretString,
        pending: &PendingLogin,
        http: PortClient<'_>,
        clock: &dyn Clock,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let ProviderKind::Oidc {
            issuer,
            issuer_rule,
            email_verified_claims,
        } = &self.provider.kind
        else {
            return Err(UpstreamError::Discovery("not an OpenID provider"));
        };
        let nonce = pending.nonce.as_ref().ok_or(UpstreamError::NonceMismatch)?;
        let auth = match self.provider.token_auth {
            Some(auth) => auth,
            None => discovered_token_auth(metadata)?,
        };
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.provider.client_id.clone()),
            Some(self.client_secret()),
        )
        .set_redirect_uri(self.redirect_uri.clone())
        .set_auth_type(auth_type(auth));
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .map_err(|_| UpstreamError::Discovery("no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http)
            .await
            .map_err(token_error)?;
        let id_token = tokens
            .extra_fields()
            .id_token()
            .ok_or(UpstreamError::MissingIdToken)?;
        let keys = discovery::key_set(http, metadata).await?;
        let (token_issuer, mut claims) = id_token::verify(
            id_token,
            tokens.access_token(),
            Expectations {
                client_id: &self.provider.client_id,
                issuer,
                issuer_rule,
                keys,
                algorithms: metadata.id_token_signing_alg_values_supported(),
                nonce: Some(nonce),
                now: clock.now(),
            },
        )?;
        let subject = text(&claims, "sub").ok_or(UpstreamError::MissingClaim("subject"))?;
        if let Some(userinfo) = metadata
            .userinfo_endpoint()
            .filter(|_| !claims.contains_key("email"))
        {
            {
                let answer = get_bearer_json(
                    http,
                    userinfo.url().as_str(),
                    tokens.access_token().secret(),
                    "userinfo",
                )
                .await?;
                merge_userinfo(&mut claims, &subject, answer)?;
            }
        }
        let email = text(&claims, "email");
        let email_verified = email.is_some()
            && (truthy(claims.get("email_verified"))
                || email_verified_claims
                    .iter()
                    .any(|claim| truthy(claims.get(claim))));
        Ok(UpstreamIdentity {
            provider: self.provider.slug.clone(),
            issuer: token_issuer,
            subject,
            email,
            email_verified,
            given_name: text(&claims, "given_name"),
            family_name: text(&claims, "family_name"),
            name: text(&claims, "name"),
            picture: text(&claims, "picture"),
            raw_claims: claims,
        })
    }

    async fn finish_oauth2(
        &self,
        endpoints: &OAuth2Endpoints,
        code: &SecretString,
        pending: &PendingLogin,
        http: PortClient<'_>,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let auth = self.provider.token_auth.unwrap_or(TokenAuth::Basic);
        let client =
            oauth2::basic::BasicClient::new(ClientId::new(self.provider.client_id.clone()))
                .set_client_secret(self.client_secret())
                .set_auth_uri(
                    AuthUrl::new(endpoints.authorization_url.clone())
                        .map_err(|_| UpstreamError::InvalidSettings("authorization_url"))?,
                )
                .set_token_uri(
                    TokenUrl::new(endpoints.token_url.clone())
                        .map_err(|_| UpstreamError::InvalidSettings("token_url"))?,
                )
                .set_redirect_uri(self.redirect_uri.clone())
                .set_auth_type(auth_type(auth));
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pending.pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http)
            .await
            .map_err(token_error)?;
        let access_token: &AccessToken = tokens.access_token();
        let userinfo = get_bearer_json(
            http,
            &endpoints.userinfo_url,
            access_token.secret(),
            "userinfo",
        )
        .await?;
        let mut identity =
            endpoints
                .mapping
                .apply(&self.provider.slug, &endpoints.issuer, &userinfo)?;
        if let EmailSource::GitHubEmails { url } = &endpoints.email_source {
            let emails = get_bearer_json(http, url, access_token.secret(), "emails").await?;
            let primary = github_primary_email(&emails)?;
            identity.email_verified = primary.as_ref().is_some_and(|(_, verified)| *verified);
            identity.email = primary.map(|(email, _)| email);
        }
        Ok(identity)
    }

    fn client_secret(&self) -> ClientSecret {
        ClientSecret::new(self.provider.client_secret.expose_secret().to_owned())
    }
}

/// `client_secret_basic` unless the provider's discovery document allows only
/// `client_secret_post` (OpenID Connect Discovery 1.0 section 3: absent means basic).
fn discovered_token_auth(metadata: &CoreProviderMetadata) -> Result<TokenAuth, UpstreamError> {
    let Some(methods) = metadata.token_endpoint_auth_methods_supported() else {
        return Ok(TokenAuth::Basic);
    };
    if methods.contains(&CoreClientAuthMethod::ClientSecretBasic) {
        Ok(TokenAuth::Basic)
    } else if methods.contains(&CoreClientAuthMethod::ClientSecretPost) {
        Ok(TokenAuth::Post)
    } else {
        Err(UpstreamError::Discovery(
            "the token endpoint takes neither client_secret_basic nor client_secret_post",
        ))
    }
}

fn auth_type(auth: TokenAuth) -> AuthType {
    match auth {
        TokenAuth::Basic => AuthType::BasicAuth,
        TokenAuth::Post => AuthType::RequestBody,
    }
}

/// The failure of a token request, with the provider's OAuth 2 error where it sent one (GitHub
/// sends it with status 200, where the crate sees an unparsable token answer).
fn token_error<T>(
    error: RequestTokenError<OutboundError, StandardErrorResponse<T>>,
) -> UpstreamError
where
    T: ErrorResponseType + std::fmt::Display,
{
    match error {
        RequestTokenError::ServerResponse(answer) => refused(&answer),
        RequestTokenError::Request(transport) => UpstreamError::Transport(transport),
        RequestTokenError::Parse(_, body) => {
            refusal_in::<T>(&body).unwrap_or(UpstreamError::Malformed("the token answer"))
        }
        RequestTokenError::Other(_) => UpstreamError::Malformed("the token endpoint's answer"),
    }
}

/// The provider's refusal, as an error.
fn refused<T: ErrorResponseType + std::fmt::Display>(
    answer: &StandardErrorResponse<T>,
) -> UpstreamError {
    UpstreamError::TokenRefused {
        error: provider_text(&answer.error().to_string()),
        description: answer.error_description().map(|text| provider_text(text)),
    }
}

/// An OAuth 2 error answer in a body that is no token answer.
fn refusal_in<T: ErrorResponseType + std::fmt::Display>(body: &[u8]) -> Option<UpstreamError> {
    serde_json::from_slice::<StandardErrorResponse<T>>(body)
        .ok()
        .map(|answer| refused(&answer))
}

/// Completes ID token claims with userinfo claims they lack, once the userinfo answer is known
/// to be about the same subject (OpenID Connect Core 5.3.2).
fn merge_userinfo(
    claims: &mut Map<String, Value>,
    subject: &str,
    userinfo: Value,
) -> Result<(), UpstreamError> {
    let Value::Object(userinfo) = userinfo else {
        return Err(UpstreamError::Malformed("userinfo is not a JSON object"));
    };
    if userinfo.get("sub").and_then(Value::as_str) != Some(subject) {
        return Err(UpstreamError::UserinfoSubjectMismatch);
    }
    for (key, value) in userinfo {
        claims.entry(key).or_insert(value);
    }
    Ok(())
}

/// A non-empty string claim.
fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Takes the name from Apple's `user` form field where the ID token had none. The field is not
/// signed, so only the name is read from it, never the email.
fn apply_posted_name(identity: &mut UpstreamIdentity, user: &str) {
    let Ok(posted) = serde_json::from_str::<Value>(user) else {
        return;
    };
    let part = |key: &str| {
        posted
            .get("name")
            .and_then(|name| name.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(|value| value.chars().take(200).collect::<String>())
    };
    let (given, family) = (part("firstName"), part("lastName"));
    if identity.name.is_none() {
        let full: Vec<&str> = [given.as_deref(), family.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if !full.is_empty() {
            identity.name = Some(full.join(" "));
        }
    }
    identity.given_name = identity.given_name.take().or(given);
    identity.family_name = identity.family_name.take().or(family);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> UpstreamIdentity {
        UpstreamIdentity {
            provider: "apple".to_owned(),
            issuer: "https://appleid.apple.com".to_owned(),
            subject: "001.abc".to_owned(),
            email: Some("x@privaterelay.appleid.com".to_owned()),
            email_verified: true,
            given_name: None,
            family_name: None,
            name: None,
            picture: None,
            raw_claims: Map::new(),
        }
    }

    #[test]
    fn apples_posted_name_fills_only_the_name() {
        let mut signed_in = identity();
        apply_posted_name(
            &mut signed_in,
            r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"evil@example.com"}"#,
        );
        assert_eq!(signed_in.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(signed_in.given_name.as_deref(), Some("Ada"));
        assert_eq!(signed_in.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(
            signed_in.email.as_deref(),
            Some("x@privaterelay.appleid.com")
        );
        let mut untouched = identity();
        apply_posted_name(&mut untouched, "not json");
        assert_eq!(untouched, identity());
    }

    #[test]
    fn userinfo_about_another_subject_is_refused() {
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), Value::from("alice"));
        let other = serde_json::json!({"sub": "mallory", "email": "m@example.com"});
        assert!(matches!(
            merge_userinfo(&mut claims, "alice", other),
            Err(UpstreamError::UserinfoSubjectMismatch)
        ));
        let same = serde_json::json!({"sub": "alice", "email": "a@example.com"});
        merge_userinfo(&mut claims, "alice", same).unwrap();
        assert_eq!(claims["email"], "a@example.com");
    }

    fn metadata_with(methods: Option<&[&str]>) -> CoreProviderMetadata {
        let mut document = serde_json::json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        if let Some(methods) = methods {
            document["token_endpoint_auth_methods_supported"] = serde_json::json!(methods);
        }
        serde_json::from_value(document).unwrap()
    }

    #[test]
    fn the_token_endpoint_auth_follows_discovery() {
        assert_eq!(
            discovered_token_auth(&metadata_with(None)).unwrap(),
            TokenAuth::Basic
        );
        assert_eq!(
            discovered_token_auth(&metadata_with(Some(&["client_secret_post"]))).unwrap(),
            TokenAuth::Post
        );
        assert_eq!(
            discovered_token_auth(&metadata_with(Some(&[
                "client_secret_post",
                "client_secret_basic"
            ])))
            .unwrap(),
            TokenAuth::Basic
        );
        assert!(matches!(
            discovered_token_auth(&metadata_with(Some(&["private_key_jwt"]))),
            Err(UpstreamError::Discovery(_))
        ));
    }

    #[test]
    fn githubs_error_in_a_200_answer_is_the_providers_refusal() {
        let body = br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}"#;
        let error = refusal_in::<oauth2::basic::BasicErrorResponseType>(body);
        assert!(
            matches!(&error, Some(UpstreamError::TokenRefused { error, .. }) if error == "bad_verification_code"),
            "{error:?}"
        );
        assert!(refusal_in::<oauth2::basic::BasicErrorResponseType>(b"{}").is_none());
    }
}
