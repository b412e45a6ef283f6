//! The authorization endpoint (RFC 6749 §3.1) as the browser meets it: the request, by GET or
//! POST, and where it continues after each page.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use castellan_oidc::provider::{AuthorizationParams, OAuthError};
use serde::de::DeserializeOwned;

use super::errors::oauth_error_page;
use super::query::PageQuery;
use super::{InteractionQuery, resolve};
use crate::state::AppState;

/// Parses query or form text with every parameter at most once.
pub(super) fn parse_once<T: DeserializeOwned>(text: &[u8]) -> Result<T, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(text)
        .map_err(|_| OAuthError::invalid_request("the request parameters are malformed"))?;
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(OAuthError::invalid_request(format!(
            "the parameter {name} is repeated"
        )));
    }
    serde_urlencoded::from_bytes(text)
        .map_err(|error| OAuthError::invalid_request(format!("invalid parameters: {error}")))
}

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    match parse_once::<AuthorizationParams>(query.unwrap_or_default().as_bytes()) {
        Ok(params) => resolve(state.oidc.authorize(params, state.sso.session(&jar)).await),
        Err(error) => oauth_error_page(&error),
    }
}

pub(super) async fn authorize_post(
    State(state): State<AppState>,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    match parse_once::<AuthorizationParams>(&body) {
        Ok(params) => resolve(state.oidc.authorize(params, state.sso.session(&jar)).await),
        Err(error) => oauth_error_page(&error),
    }
}

pub(super) async fn authorize_continue(
    State(state): State<AppState>,
    jar: CookieJar,
    PageQuery(query): PageQuery<InteractionQuery>,
) -> Response {
    resolve(
        state
            .oidc
            .resume(&query.interaction, state.sso.session(&jar))
            .await,
    )
}
