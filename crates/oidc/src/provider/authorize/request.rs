//! Validating an authorization request: the client and its redirect URI first (until the
//! redirect URI is trusted, errors are shown to the user), then the response type, the
//! scopes and organization, PKCE and the interaction options (errors go to the client).

use std::sync::Arc;

use castellan_domain::client::{
    GRANT_AUTHORIZATION_CODE, ORGANIZATION_SCOPE, ORGANIZATION_SCOPE_PREFIX,
};
use castellan_domain::{ClientId, ClientMetadata, OAuthClient, RedirectUri, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Interaction;
use super::organization::{OrganizationRequest, organization_request};
use crate::provider::OidcProvider;
use crate::provider::error::{OAuthError, OAuthErrorCode};
use crate::provider::pkce::code_challenge;

/// The parameters of an authorization request, as sent (query or form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// Where to send the answer.
    pub redirect_uri: Option<String>,
    /// Requested scopes.
    pub scope: Option<String>,
    /// Opaque value returned to the client.
    pub state: Option<String>,
    /// Bound into the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method; only `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// Maximum authentication age in seconds.
    pub max_age: Option<String>,
    /// Who the client thinks is signing in.
    pub login_hint: Option<String>,
    /// Requested authentication context classes.
    pub acr_values: Option<String>,
    /// Preferred languages of the pages.
    pub ui_locales: Option<String>,
    /// The `claims` request parameter (JSON).
    pub claims: Option<String>,
    /// A pushed request's handle (RFC 9126).
    pub request_uri: Option<String>,
    /// Request objects are not supported.
    pub request: Option<String>,
    /// Only `query`.
    pub response_mode: Option<String>,
    /// The organization (id or slug) the tokens are to be scoped to; the same as an
    /// `org:<slug>` scope.
    pub organization: Option<String>,
}

/// Why a request failed validation, and where to tell: the client's redirect URI and state
/// once the redirect URI is trusted, the user otherwise.
pub(super) struct RequestError {
    pub error: OAuthError,
    pub return_to: Option<(RedirectUri, Option<String>)>,
}

impl From<castellan_domain::DomainError> for RequestError {
    fn from(error: castellan_domain::DomainError) -> Self {
        Self {
            error: error.into(),
            return_to: None,
        }
    }
}

/// A request refused once its redirect URI is trusted: what the client is told there.
pub(in crate::provider) struct Refusal {
    code: OAuthErrorCode,
    description: &'static str,
}

impl Refusal {
    /// A refusal with `code`, described by `description`.
    pub(in crate::provider) fn new(code: OAuthErrorCode, description: &'static str) -> Self {
        Self { code, description }
    }

    fn invalid_request(description: &'static str) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
}

/// The redirect URI a request's answer goes to.
struct Redirect {
    uri: RedirectUri,
    /// Whether the request named it (then the token request must repeat it).
    given: bool,
}

/// The interaction options of a request: prompts, maximum authentication age and the
/// `claims` parameter.
struct Options {
    prompt: Vec<String>,
    max_age: Option<u64>,
    claims: Option<Value>,
}

impl OidcProvider {
    /// Validates a request and starts its interaction. `pushed` is true for a request that
    /// arrived through PAR (its client already authenticated).
    pub(super) async fn validate_request(
        &self,
        params: AuthorizationParams,
        pushed: bool,
    ) -> Result<Interaction, RequestError> {
        let (client_id, client, redirect) = self.client_and_redirect(&params).await?;
        let metadata = &client.metadata;
        let checked = check_response_type(&params, metadata, pushed)
            .and_then(|()| check_scope(&params, metadata))
            .and_then(|(scope, organization)| {
                // Public clients always; then the global switch for everyone, and a client
                // that asked for it even while the switch is off.
                let pkce_required =
                    metadata.is_public() || self.settings.require_pkce || metadata.require_pkce;
                let challenge = code_challenge(
                    params.code_challenge.as_deref(),
                    params.code_challenge_method.as_deref(),
                    pkce_required,
                )?;
                Ok((scope, organization, challenge, check_options(&params)?))
            });
        let (scope, organization, code_challenge, options) =
            checked.map_err(|refusal| RequestError {
                error: OAuthError::new(refusal.code, refusal.description),
                return_to: Some((redirect.uri.clone(), params.state.clone())),
            })?;
        Ok(Interaction {
            id: self.random_token(),
            client_id,
            client_name: metadata.client_name.clone(),
            first_party: metadata.first_party,
            redirect_uri: redirect.uri,
            redirect_uri_given: redirect.given,
            scope: scope.to_string(),
            state: params.state,
            nonce: params.nonce,
            code_challenge,
            prompt: options.prompt,
            max_age: options.max_age.or(metadata.default_max_age),
            login_hint: params.login_hint,
            acr_values: params.acr_values,
            ui_locales: params.ui_locales,
            claims: options.claims,
            signed_in: None,
            consented: false,
            organization,
            chosen_organization: None,
        })
    }

    /// The registered client and the redirect URI it may receive the answer at; errors here
    /// are the user's to see, since the redirect URI is not trusted yet.
    async fn client_and_redirect(
        &self,
        params: &AuthorizationParams,
    ) -> Result<(ClientId, Arc<OAuthClient>, Redirect), RequestError> {
        let page = |description: &str| RequestError {
            error: OAuthError::invalid_request(description.to_owned()),
            return_to: None,
        };
        let named = params
            .client_id
            .as_deref()
            .ok_or_else(|| page("client_id is missing"))?;
        let not_registered = || page("the client is not registered");
        let client_id = ClientId::parse(named).ok_or_else(not_registered)?;
        let client = self.client(&client_id).await?.ok_or_else(not_registered)?;
        let metadata = &client.metadata;
        let redirect = match params.redirect_uri.as_deref() {
            Some(requested) => Redirect {
                uri: metadata
                    .redirect_uri(requested)
                    .ok_or_else(|| page("the redirect_uri is not registered for this client"))?,
                given: true,
            },
            // OpenID Connect Core 3.1.2.1 makes redirect_uri required; plain OAuth may leave
            // it out when only one is registered (RFC 6749 section 3.1.2.3).
            None if requests_openid(params) => {
                return Err(page(
                    "redirect_uri is required in an OpenID Connect request",
                ));
            }
            None => Redirect {
                uri: metadata
                    .only_redirect_uri()
                    .ok_or_else(|| page("redirect_uri is missing"))?,
                given: false,
            },
        };
        Ok((client_id, client, redirect))
    }
}

/// True when the request is an OpenID Connect one: its scope, or the default scope when it
/// names none, holds `openid`.
fn requests_openid(params: &AuthorizationParams) -> bool {
    Scope::parse(params.scope.as_deref().unwrap_or(DEFAULT_SCOPE)).contains("openid")
}

/// The scope of a request that names none.
const DEFAULT_SCOPE: &str = "openid";

/// The shape of the request: no request object, pushed when the client must push, the code
/// flow in the query, and a client allowed the code grant.
fn check_response_type(
    params: &AuthorizationParams,
    metadata: &ClientMetadata,
    pushed: bool,
) -> Result<(), Refusal> {
    if params.request.is_some() {
        return Err(Refusal::new(
            OAuthErrorCode::RequestNotSupported,
            "request objects are not supported; use pushed authorization requests",
        ));
    }
    if metadata.require_pushed_authorization_requests && !pushed {
        return Err(Refusal::invalid_request(
            "this client must push its authorization requests (PAR)",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(Refusal::invalid_request("response_type is missing")),
        Some(_) => {
            return Err(Refusal::new(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|mode| mode != "query")
    {
        return Err(Refusal::invalid_request(
            "only response_mode=query is supported",
        ));
    }
    if !metadata.allows(GRANT_AUTHORIZATION_CODE) {
        return Err(Refusal::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    Ok(())
}

/// The normalised scopes, within the client's, and the organization they ask for.
fn check_scope(
    params: &AuthorizationParams,
    metadata: &ClientMetadata,
) -> Result<(Scope, Option<OrganizationRequest>), Refusal> {
    let scope = Scope::parse(params.scope.as_deref().unwrap_or(DEFAULT_SCOPE));
    let organization = organization_request(&scope.to_string(), params.organization.as_deref())
        .map_err(Refusal::invalid_request)?;
    let registered: Scope = scope
        .iter()
        .filter(|scope| !scope.starts_with(ORGANIZATION_SCOPE_PREFIX))
        .collect();
    if scope.is_empty() || !registered.within(&metadata.scopes()) {
        return Err(Refusal::new(
            OAuthErrorCode::InvalidScope,
            "a requested scope is unknown or not allowed for this client",
        ));
    }
    if organization.is_some() && !metadata.scopes().contains(ORGANIZATION_SCOPE) {
        return Err(Refusal::new(
            OAuthErrorCode::InvalidScope,
            "this client may not ask for organization-scoped tokens (its scope lacks organization)",
        ));
    }
    Ok((scope, organization))
}

/// `prompt` (known values, `none` alone), `max_age` (a number) and `claims` (a JSON object).
fn check_options(params: &AuthorizationParams) -> Result<Options, Refusal> {
    let prompt: Vec<String> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    for value in &prompt {
        if !matches!(
            value.as_str(),
            "none" | "login" | "consent" | "select_account"
        ) {
            return Err(Refusal::invalid_request(
                "prompt may contain none, login, consent or select_account",
            ));
        }
    }
    if prompt.len() > 1 && prompt.iter().any(|value| value == "none") {
        return Err(Refusal::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .map_err(|_| Refusal::invalid_request("max_age must be a non-negative integer"))?,
        ),
    };
    let claims = match params.claims.as_deref() {
        None => None,
        Some(text) => {
            let value: Value = serde_json::from_str(text)
                .map_err(|_| Refusal::invalid_request("claims must be a JSON object"))?;
            if !value.is_object() {
                return Err(Refusal::invalid_request("claims must be a JSON object"));
            }
            Some(value)
        }
    };
    Ok(Options {
        prompt,
        max_age,
        claims,
    })
}
