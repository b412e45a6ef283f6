//! The OAuth 2 / OpenID Connect endpoints a client calls directly: token, userinfo,
//! introspection, revocation, device authorization, PAR and dynamic registration. Bodies are
//! `application/x-www-form-urlencoded` with no repeated parameter (RFC 6749 section 3);
//! errors are RFC 6749 JSON; every answer is `Cache-Control: no-store`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use castellan_domain::{ClientMetadata, DomainError, IssuedClient, OAuthClient};
use castellan_oidc::provider::{
    AuthorizationParams, ClientCredentials, DeviceRequest, OAuthError, OAuthErrorCode, TokenRequest,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::OAuthFailure;
use crate::extract::is_form;
use crate::http::auth::bearer_from_headers;
use crate::http::client::Client;
use crate::state::AppState;

/// The `/oauth2` endpoints for clients (the browser-facing ones live with the pages).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/userinfo", get(userinfo).post(userinfo))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/device_authorization", post(device_authorization))
        .route("/oauth2/par", post(par))
        .route("/oauth2/register", post(register))
        .route(
            "/oauth2/register/{client_id}",
            get(read_registration)
                .put(update_registration)
                .delete(delete_registration),
        )
}

/// A JSON answer that no cache may keep.
fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Parses a form body: the right content type, every parameter at most once.
pub(crate) fn oauth_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, OAuthFailure> {
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(
                OAuthError::invalid_request(format!("the parameter {name} is repeated")).into(),
            );
        }
    }
    serde_urlencoded::from_bytes(body).map_err(|error| {
        OAuthError::invalid_request(format!("the form is invalid: {error}")).into()
    })
}

#[derive(Debug, Default, Deserialize)]
struct ClientAuthFields {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// The client credentials of a request: HTTP Basic and the body's fields.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Result<ClientCredentials, OAuthFailure> {
    let fields: ClientAuthFields = oauth_form(headers, body)?;
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(ClientCredentials::parse_basic)
    {
        Some(parsed) => Some(parsed?),
        None => None,
    };
    Ok(ClientCredentials {
        basic,
        client_id: fields.client_id,
        client_secret: fields.client_secret,
        client_assertion_type: fields.client_assertion_type,
        client_assertion: fields.client_assertion,
    })
}

async fn authenticated_client(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<std::sync::Arc<OAuthClient>, OAuthFailure> {
    let credentials = credentials(headers, body)?;
    Ok(state.oidc.authenticate_client(&credentials).await?)
}

async fn token(
    State(state): State<AppState>,
    Client(context): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let request: TokenRequest = oauth_form(&headers, &body)?;
    let client = authenticated_client(&state, &headers, &body).await?;
    let response = state.oidc.token(&client, request, &context).await?;
    let body =
        serde_json::to_value(response).map_err(|error| DomainError::Storage(error.to_string()))?;
    Ok(no_store(StatusCode::OK, body))
}

#[derive(Debug, Default, Deserialize)]
struct BearerForm {
    access_token: Option<String>,
}

async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let from_header = bearer_from_headers(&headers).map(str::to_owned);
    let from_body = if body.is_empty() {
        None
    } else {
        oauth_form::<BearerForm>(&headers, &body)?.access_token
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("send the token once, not twice").into());
        }
        (Some(token), None) | (None, Some(token)) => token,
        (None, None) => {
            return Err(OAuthError::new(OAuthErrorCode::InvalidToken, "no access token").into());
        }
    };
    let claims = state.oidc.userinfo(&token).await?;
    Ok(no_store(StatusCode::OK, Value::Object(claims)))
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    token: Option<String>,
    token_type_hint: Option<String>,
}

/// The client and the `token`/`token_type_hint` of an introspection or revocation request.
async fn token_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(std::sync::Arc<OAuthClient>, String, Option<String>), OAuthFailure> {
    let form: TokenForm = oauth_form(headers, body)?;
    let client = authenticated_client(state, headers, body).await?;
    let token = form
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    Ok((client, token, form.token_type_hint))
}

async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let (client, token, hint) = token_form(&state, &headers, &body).await?;
    let answer = state
        .oidc
        .introspect(&client, &token, hint.as_deref())
        .await?;
    Ok(no_store(StatusCode::OK, Value::Object(answer)))
}

async fn revoke(
    State(state): State<AppState>,
    Client(context): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let (client, token, hint) = token_form(&state, &headers, &body).await?;
    state
        .oidc
        .revoke(&client, &token, hint.as_deref(), &context)
        .await?;
    Ok(no_store(StatusCode::OK, json!({})))
}

async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let request: DeviceRequest = oauth_form(&headers, &body)?;
    let client = authenticated_client(&state, &headers, &body).await?;
    let answer = state.oidc.device_authorization(&client, request).await?;
    let body =
        serde_json::to_value(answer).map_err(|error| DomainError::Storage(error.to_string()))?;
    Ok(no_store(StatusCode::OK, body))
}

async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let params: AuthorizationParams = oauth_form(&headers, &body)?;
    let client = authenticated_client(&state, &headers, &body).await?;
    let (request_uri, expires_in) = state
        .oidc
        .push_authorization_request(&client, params)
        .await?;
    Ok(no_store(
        StatusCode::CREATED,
        json!({ "request_uri": request_uri, "expires_in": expires_in }),
    ))
}

/// The RFC 7591 answer for a client: its metadata plus the id, the secret (once) and the
/// registration management fields.
pub(crate) fn client_document(state: &AppState, issued: &IssuedClient) -> Value {
    let client = &issued.client;
    let mut document = serde_json::to_value(&client.metadata).unwrap_or_else(|_| json!({}));
    if let Some(map) = document.as_object_mut() {
        map.insert("client_id".into(), client.client_id.clone().into());
        map.insert(
            "client_id_issued_at".into(),
            client.created_at.timestamp().into(),
        );
        if let Some(secret) = &issued.client_secret {
            map.insert("client_secret".into(), secret.clone().into());
            map.insert("client_secret_expires_at".into(), 0.into());
        }
        if let Some(token) = &issued.registration_access_token {
            map.insert("registration_access_token".into(), token.clone().into());
        }
        if client.registration_token_hash.is_some() {
            map.insert(
                "registration_client_uri".into(),
                format!(
                    "{}/oauth2/register/{}",
                    state.config.issuer, client.client_id
                )
                .into(),
            );
        }
    }
    document
}

/// The document of a stored client (no secrets: they were shown when issued).
pub(crate) fn stored_client_document(state: &AppState, client: OAuthClient) -> Value {
    client_document(
        state,
        &IssuedClient {
            client,
            client_secret: None,
            registration_access_token: None,
        },
    )
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

fn metadata_from(body: &[u8]) -> Result<ClientMetadata, OAuthFailure> {
    let mut value: Value = serde_json::from_slice(body).map_err(|_| {
        OAuthError::new(
            OAuthErrorCode::InvalidClientMetadata,
            "the body must be a JSON object of client metadata",
        )
    })?;
    // Fields a client may send back from an earlier answer but cannot set, and Castellan's
    // own settings, which only an administrator grants.
    if let Some(map) = value.as_object_mut() {
        for readonly in [
            "client_id",
            "client_secret",
            "client_id_issued_at",
            "client_secret_expires_at",
            "registration_access_token",
            "registration_client_uri",
            "first_party",
            "access_token_lifetime_secs",
        ] {
            map.remove(readonly);
        }
    }
    serde_json::from_value(value).map_err(|error| {
        OAuthError::new(OAuthErrorCode::InvalidClientMetadata, error.to_string()).into()
    })
}

/// Dynamic registration (RFC 7591), when enabled; with an initial access token configured,
/// the request must present it as a bearer token.
async fn register(
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
    let metadata = metadata_from(&body)?;
    let issued = state
        .clients
        .register(metadata, true, None, &context)
        .await
        .map_err(registration_error)?;
    Ok(no_store(
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
    let token = bearer_from_headers(headers).ok_or_else(refused)?;
    let client = state
        .clients
        .repository()
        .get(client_id)
        .await?
        .ok_or_else(refused)?;
    if client.verify_registration_token(token) {
        Ok(client)
    } else {
        Err(refused())
    }
}

async fn read_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    let client = registered_client(&state, &headers, &client_id).await?;
    Ok(no_store(
        StatusCode::OK,
        stored_client_document(&state, client),
    ))
}

async fn update_registration(
    State(state): State<AppState>,
    Client(context): Client,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let client = registered_client(&state, &headers, &client_id).await?;
    let mut metadata = metadata_from(&body)?;
    metadata.first_party = client.metadata.first_party;
    metadata.access_token_lifetime_secs = client.metadata.access_token_lifetime_secs;
    let issued = state
        .clients
        .update(&client_id, metadata, None, &context)
        .await
        .map_err(registration_error)?;
    state.oidc.forget_client(&client_id);
    Ok(no_store(StatusCode::OK, client_document(&state, &issued)))
}

async fn delete_registration(
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
