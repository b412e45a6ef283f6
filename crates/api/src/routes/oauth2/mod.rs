//! The OAuth 2 / OpenID Connect endpoints a client calls directly: token, userinfo,
//! introspection, revocation, device authorization, PAR and dynamic registration. Bodies are
//! `application/x-www-form-urlencoded` with no repeated parameter (RFC 6749 section 3);
//! errors are RFC 6749 JSON; every answer is `Cache-Control: no-store`.

mod registration;
pub mod wellknown;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use castellan_domain::{ClientSecret, DomainError, IssuedClient, OAuthClient, OneTimeCode};
use castellan_oidc::provider::{
    AuthorizationParams, ClientCredentials, DeviceRequest, OAuthError, OAuthErrorCode, TokenRequest,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{OAuthFailure, no_store};
use crate::extract::OAuthForm;
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
        .route("/oauth2/register", post(registration::register))
        .route(
            "/oauth2/register/{client_id}",
            get(registration::read_registration)
                .put(registration::update_registration)
                .delete(registration::delete_registration),
        )
}

/// A JSON answer that no cache may keep.
fn no_store_answer(status: StatusCode, body: Value) -> Response {
    (status, no_store(), Json(body)).into_response()
}

/// [`no_store_answer`] for a typed answer.
fn no_store_json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, OAuthFailure> {
    let body = serde_json::to_value(body)
        .map_err(|error| DomainError::caused("encoding an answer", error))?;
    Ok(no_store_answer(status, body))
}

/// A client's request to a token, device authorization, PAR, introspection or revocation
/// endpoint: the form decoded once, the client authenticated once (HTTP Basic or the body's
/// fields), and the rest of the form as `T`.
struct ClientRequest<T> {
    client: Arc<OAuthClient>,
    params: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ClientRequest<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let prologue = async {
            let form = OAuthForm::parse(&headers, &body)?;
            let params = form.parse_into()?;
            let credentials = credentials(&headers, &form)?;
            let client = state.oidc.authenticate_client(&credentials).await?;
            Ok::<_, OAuthFailure>(Self { client, params })
        };
        prologue.await.map_err(IntoResponse::into_response)
    }
}

/// The client credentials of a request: HTTP Basic and the body's fields.
fn credentials(headers: &HeaderMap, form: &OAuthForm) -> Result<ClientCredentials, OAuthFailure> {
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(ClientCredentials::parse_basic)
    {
        Some(parsed) => Some(parsed?),
        None => None,
    };
    let field = |name: &str| form.get(name).map(str::to_owned);
    Ok(ClientCredentials {
        basic,
        client_id: field("client_id"),
        client_secret: field("client_secret").map(ClientSecret::new),
        client_assertion_type: field("client_assertion_type"),
        client_assertion: field("client_assertion").map(OneTimeCode::new),
    })
}

async fn token(
    State(state): State<AppState>,
    Client(context): Client,
    ClientRequest { client, params }: ClientRequest<TokenRequest>,
) -> Result<Response, OAuthFailure> {
    let answer = state.oidc.token(&client, params, &context).await?;
    no_store_json(StatusCode::OK, &answer)
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
        OAuthForm::parse(&headers, &body)?
            .get("access_token")
            .map(str::to_owned)
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
    Ok(no_store_answer(StatusCode::OK, Value::Object(claims)))
}

/// The `token` and `token_type_hint` of an introspection or revocation request.
#[derive(Default, Deserialize)]
struct TokenForm {
    token: Option<String>,
    token_type_hint: Option<String>,
}

impl TokenForm {
    /// The token, which both endpoints need.
    fn token(&self) -> Result<&str, OAuthFailure> {
        self.token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("token is missing").into())
    }
}

async fn introspect(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest<TokenForm>,
) -> Result<Response, OAuthFailure> {
    let answer = state
        .oidc
        .introspect(&client, params.token()?, params.token_type_hint.as_deref())
        .await?;
    Ok(no_store_answer(StatusCode::OK, Value::Object(answer)))
}

async fn revoke(
    State(state): State<AppState>,
    Client(context): Client,
    ClientRequest { client, params }: ClientRequest<TokenForm>,
) -> Result<Response, OAuthFailure> {
    state
        .oidc
        .revoke(
            &client,
            params.token()?,
            params.token_type_hint.as_deref(),
            &context,
        )
        .await?;
    Ok(no_store_answer(StatusCode::OK, json!({})))
}

async fn device_authorization(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest<DeviceRequest>,
) -> Result<Response, OAuthFailure> {
    let answer = state.oidc.device_authorization(&client, params).await?;
    no_store_json(StatusCode::OK, &answer)
}

async fn par(
    State(state): State<AppState>,
    ClientRequest { client, params }: ClientRequest<AuthorizationParams>,
) -> Result<Response, OAuthFailure> {
    let (request_uri, expires_in) = state
        .oidc
        .push_authorization_request(&client, params)
        .await?;
    Ok(no_store_answer(
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
            map.insert("client_secret".into(), secret.expose().into());
            map.insert("client_secret_expires_at".into(), 0.into());
        }
        if let Some(token) = &issued.registration_access_token {
            map.insert("registration_access_token".into(), token.expose().into());
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
