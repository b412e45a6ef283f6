//! Dynamic client registration (RFC 7591) and its management (RFC 7592). A registration
//! body is read into its own type: the metadata Castellan understands (RFC 7591 and the
//! OpenID Connect Registration fields that matter), with everything else ignored as RFC 7591
//! section 2 asks, unlike the administration API, which refuses unknown fields. Castellan's
//! own settings (`first_party`, `access_token_lifetime_secs`, `introspect_any_token`,
//! `refresh_reuse_leeway_secs`) are not part of it: only an administrator grants them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use castellan_domain::{AccessToken, ClientAuthMethod, ClientMetadata, DomainError, OAuthClient};
use castellan_oidc::provider::{OAuthError, OAuthErrorCode};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{client_document, no_store_answer, stored_client_document};
use crate::error::OAuthFailure;
use crate::http::auth::bearer_from_headers;
use crate::http::client::Client;
use crate::state::AppState;

/// A registration request's metadata. Fields not named here are ignored, `request_uris`
/// among them: request objects are not supported, so nothing would fetch them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RegistrationRequest {
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<ClientAuthMethod>,
    scope: Option<String>,
    require_pushed_authorization_requests: bool,
    require_pkce: Option<bool>,
    backchannel_logout_uri: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    require_auth_time: bool,
    default_max_age: Option<u64>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    tos_uri: Option<String>,
    policy_uri: Option<String>,
    contacts: Vec<String>,
}

/// An `invalid_client_metadata` refusal.
fn invalid_metadata(description: impl Into<String>) -> OAuthFailure {
    OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description.into()).into()
}

impl RegistrationRequest {
    /// Reads a JSON object of metadata.
    fn from_body(body: &[u8]) -> Result<Self, OAuthFailure> {
        let value: Value = serde_json::from_slice(body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| invalid_metadata("the body must be a JSON object of client metadata"))?;
        serde_json::from_value(value).map_err(|error| invalid_metadata(error.to_string()))
    }

    /// The client metadata it asks for; the rules over it are checked when it is stored.
    fn into_metadata(self) -> Result<ClientMetadata, OAuthFailure> {
        if self.userinfo_signed_response_alg.is_some() {
            return Err(invalid_metadata(
                "userinfo_signed_response_alg: signed userinfo responses are not supported; \
                 leave it out to receive userinfo as plain JSON",
            ));
        }
        let name = self
            .client_name
            .ok_or_else(|| invalid_metadata("client_name is required"))?;
        let mut metadata = ClientMetadata::named(&name);
        metadata.redirect_uris = self.redirect_uris;
        metadata.post_logout_redirect_uris = self.post_logout_redirect_uris;
        if let Some(grant_types) = self.grant_types {
            metadata.grant_types = grant_types;
        }
        if let Some(method) = self.token_endpoint_auth_method {
            metadata.token_endpoint_auth_method = method;
        }
        if let Some(scope) = self.scope {
            metadata.scope = scope;
        }
        metadata.require_pushed_authorization_requests = self.require_pushed_authorization_requests;
        if let Some(require_pkce) = self.require_pkce {
            metadata.require_pkce = require_pkce;
        }
        metadata.backchannel_logout_uri = self.backchannel_logout_uri;
        metadata.jwks = self.jwks;
        metadata.jwks_uri = self.jwks_uri;
        if let Some(algorithm) = self.id_token_signed_response_alg {
            metadata.id_token_signed_response_alg = algorithm;
        }
        metadata.require_auth_time = self.require_auth_time;
        metadata.default_max_age = self.default_max_age;
        metadata.client_uri = self.client_uri;
        metadata.logo_uri = self.logo_uri;
        metadata.tos_uri = self.tos_uri;
        metadata.policy_uri = self.policy_uri;
        metadata.contacts = self.contacts;
        Ok(metadata)
    }
}

fn registration_error(error: DomainError) -> OAuthFailure {
    match error {
        DomainError::Validation { field, message } => {
            let code = if field.contains("redirect_uri") {
                OAuthErrorCode::InvalidRedirectUri
            } else {
                OAuthErrorCode::InvalidClientMetadata
            };
            OAuthError::new(code, format!("{field}: {message}")).into()
        }
        other => other.into(),
    }
}

/// Dynamic registration (RFC 7591), when enabled; with an initial access token configured,
/// the request must present it as a bearer token.
pub(super) async fn register(
    State(state): State<AppState>,
    Client(context): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    if !state.config.oidc.dynamic_registration {
        return Err(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "dynamic client registration is disabled",
        )
        .into());
    }
    if let Some(expected) = &state.config.oidc.registration_token {
        let presented = bearer_from_headers(&headers).unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "a valid initial access token is required",
            )
            .into());
        }
    }
    let metadata = RegistrationRequest::from_body(&body)?.into_metadata()?;
    let issued = state
        .clients
        .register(metadata, true, None, &context)
        .await
        .map_err(registration_error)?;
    Ok(no_store_answer(
        StatusCode::CREATED,
        client_document(&state, &issued),
    ))
}

/// The client behind an RFC 7592 request, checked against its registration access token.
async fn registered_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: &str,
) -> Result<OAuthClient, OAuthFailure> {
    let refused = || {
        OAuthFailure(OAuthError::new(
            OAuthErrorCode::InvalidToken,
            "invalid registration access token",
        ))
    };
    let token = AccessToken::new(bearer_from_headers(headers).ok_or_else(refused)?);
    let client = state
        .clients
        .repository()
        .get(client_id)
        .await?
        .ok_or_else(refused)?;
    if client.verify_registration_token(&token) {
        Ok(client)
    } else {
        Err(refused())
    }
}

pub(super) async fn read_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    let client = registered_client(&state, &headers, &client_id).await?;
    Ok(no_store_answer(
        StatusCode::OK,
        stored_client_document(&state, client),
    ))
}

pub(super) async fn update_registration(
    State(state): State<AppState>,
    Client(context): Client,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let client = registered_client(&state, &headers, &client_id).await?;
    let mut metadata = RegistrationRequest::from_body(&body)?.into_metadata()?;
    // What only an administrator grants stays as it was.
    metadata.first_party = client.metadata.first_party;
    metadata.access_token_lifetime_secs = client.metadata.access_token_lifetime_secs;
    metadata.introspect_any_token = client.metadata.introspect_any_token;
    metadata.refresh_reuse_leeway_secs = client.metadata.refresh_reuse_leeway_secs;
    let issued = state
        .clients
        .update(&client_id, metadata, None, &context)
        .await
        .map_err(registration_error)?;
    state.oidc.forget_client(&client_id);
    Ok(no_store_answer(
        StatusCode::OK,
        client_document(&state, &issued),
    ))
}

pub(super) async fn delete_registration(
    State(state): State<AppState>,
    Client(context): Client,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    registered_client(&state, &headers, &client_id).await?;
    state.clients.delete(&client_id, None, &context).await?;
    state.oidc.forget_client(&client_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
