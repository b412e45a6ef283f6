//! Discovery documents under `/.well-known`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// The `/.well-known` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
        .routes(routes!(authorization_server_metadata))
}

fn discovery(state: &AppState) -> impl IntoResponse + use<> {
    let document = castellan_oidc::provider::discovery_document(state.oidc.settings());
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        document.to_string(),
    )
}

/// OpenID Connect Discovery: the provider's endpoints and what it supports.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "OpenID Provider Metadata", content_type = "application/json")))]
async fn openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    discovery(&state)
}

/// RFC 8414 authorization server metadata (the same document).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "OAuth 2.0 Authorization Server Metadata", content_type = "application/json")))]
async fn authorization_server_metadata(State(state): State<AppState>) -> impl IntoResponse {
    discovery(&state)
}

/// The JSON Web Key Set: the active key, the next key (published before it signs) and retired
/// keys until every token they signed has expired.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    responses((status = 200, description = "RFC 7517 key set", content_type = "application/json")))]
async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let document = state.keys.jwks_json().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        // The document is shared, not copied, for each request.
        axum::body::Body::from(axum::body::Bytes::from_owner(SharedText(document))),
    ))
}

/// Text shared behind an `Arc`, as a response body.
struct SharedText(std::sync::Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
