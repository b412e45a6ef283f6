//! OAuth client administration under `/api/v1/clients`, in RFC 7591 metadata names. The
//! client secret appears once, in the answer that creates or rotates it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use castellan_domain::ClientMetadata;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::http::access::PlatformAdmin;
use crate::http::client::Client;
use crate::routes::oauth2::{client_document, stored_client_document};
use crate::state::AppState;

/// The client administration routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
}

fn metadata(value: Value) -> Result<ClientMetadata, ApiError> {
    crate::extract::from_json_value(value)
}

/// Register a client (admin). The body is RFC 7591 client metadata plus Castellan's
/// `first_party`, `require_pushed_authorization_requests`, `require_pkce`,
/// `access_token_lifetime_secs` and `refresh_reuse_leeway_secs`; the answer carries `client_id`
/// and, for confidential
/// clients, `client_secret` (shown this once).
#[utoipa::path(post, path = "/clients", tag = "clients", security(("bearer" = [])),
    request_body(content = Object, description = "RFC 7591 client metadata"),
    responses(
        (status = 201, description = "The registered client, with its secret", body = Object),
        (status = 403, description = "Not an admin (AUTHORIZATION_ERROR)", body = ErrorBody),
        (status = 422, description = "Invalid metadata (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn create_client(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Client(context): Client,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let issued = state
        .clients
        .register(
            metadata(body)?,
            false,
            Some(caller.principal.user.id),
            &context,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(client_document(&state, &issued))))
}

/// List clients (admin).
#[utoipa::path(get, path = "/clients", tag = "clients", security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"clients\": [...]}", body = Object),
        (status = 403, description = "AUTHORIZATION_ERROR", body = ErrorBody),
    ))]
async fn list_clients(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
) -> Result<Json<Value>, ApiError> {
    let clients: Vec<Value> = state
        .clients
        .list()
        .await?
        .into_iter()
        .map(|client| stored_client_document(&state, client))
        .collect();
    Ok(Json(serde_json::json!({ "clients": clients })))
}

/// One client (admin).
#[utoipa::path(get, path = "/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client's metadata", body = Object),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
    ))]
async fn get_client(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state.clients.get(&client_id).await?;
    Ok(Json(stored_client_document(&state, client)))
}

/// Change a client (admin): the fields given replace the stored ones (JSON merge patch).
#[utoipa::path(patch, path = "/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    request_body(content = Object, description = "Metadata fields to change"),
    responses(
        (status = 200, description = "The client's metadata", body = Object),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
        (status = 422, description = "VALIDATION_ERROR", body = ErrorBody),
    ))]
async fn update_client(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Client(context): Client,
    Path(client_id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::validation("the body must be a JSON object"));
    };
    let issued = state
        .clients
        .patch(&client_id, patch, Some(caller.principal.user.id), &context)
        .await?;
    state.oidc.forget_client(&client_id);
    Ok(Json(client_document(&state, &issued)))
}

/// Delete a client (admin); its tokens stop refreshing.
#[utoipa::path(delete, path = "/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
    ))]
async fn delete_client(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Client(context): Client,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .clients
        .delete(&client_id, Some(caller.principal.user.id), &context)
        .await?;
    state.oidc.forget_client(&client_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new client secret (admin); the previous one keeps working for
/// `oidc.secret_rotation_overlap_hours`.
#[utoipa::path(post, path = "/clients/{client_id}/secret", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client with its new secret", body = Object),
        (status = 404, description = "NOT_FOUND_ERROR", body = ErrorBody),
        (status = 422, description = "The client has no secret (VALIDATION_ERROR)", body = ErrorBody),
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: PlatformAdmin,
    Client(context): Client,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let issued = state
        .clients
        .rotate_secret(&client_id, Some(caller.principal.user.id), &context)
        .await?;
    state.oidc.forget_client(&client_id);
    let mut document = client_document(&state, &issued);
    if let (Some(map), Some(until)) = (
        document.as_object_mut(),
        issued.client.previous_secret_expires_at,
    ) {
        map.insert(
            "previous_secret_expires_at".into(),
            until.timestamp().into(),
        );
    }
    Ok(Json(document))
}
