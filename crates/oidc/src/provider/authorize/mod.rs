//! The authorization endpoint and the interaction behind it.
//!
//! A request is validated ([`request`]) and becomes an [`Interaction`], kept in the key-value
//! store while the user acts. [`interaction::next_step`] is the flow's state machine:
//! from the interaction, the browser's session and the stored consent it decides whether the
//! user must sign in, settle an organization ([`organization`]), consent ([`consent`]), or
//! whether a code can be issued; [`redirect`] builds the answer the client receives. A later
//! step (a second factor) is a new [`Step`] variant and one rule there, not a change to the
//! pages around it.

mod consent;
mod interaction;
mod organization;
mod redirect;
mod request;

use castellan_domain::{OAuthClient, SessionId};

pub use interaction::{Interaction, InteractionView, Step};
pub use organization::{ChosenOrganization, OrganizationRequest};
pub(super) use redirect::{CodeRecord, with_query};
pub use request::AuthorizationParams;
pub(super) use request::Refusal;

use super::error::{OAuthError, OAuthErrorCode};
use super::{OidcProvider, kv_key};

/// Why an authorization request failed, and how to tell.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The redirect URI cannot be trusted: show the error to the user.
    Page(OAuthError),
    /// Send the error back to the client at this URL.
    Redirect(String),
}

impl From<castellan_domain::DomainError> for AuthorizeError {
    fn from(error: castellan_domain::DomainError) -> Self {
        Self::Page(error.into())
    }
}

/// Where an authorization request goes next.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// To the client (a code or an error).
    Redirect(String),
    /// To the sign-in page.
    SignIn(InteractionView),
    /// To the consent page.
    Consent(InteractionView),
    /// To the organization picker.
    ChooseOrganization(InteractionView),
}

impl OidcProvider {
    /// Handles an authorization request from the browser, whose sign-in session (from its
    /// cookie) is `browser`.
    pub async fn authorize(
        &self,
        mut params: AuthorizationParams,
        browser: Option<SessionId>,
    ) -> Result<Resolution, AuthorizeError> {
        let mut pushed = false;
        if let Some(request_uri) = params.request_uri.clone() {
            let stored = self
                .ports
                .kv
                .take(&kv_key("par", &request_uri))
                .await
                .map_err(castellan_domain::DomainError::from)?;
            let stored: AuthorizationParams = stored
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    AuthorizeError::Page(OAuthError::new(
                        OAuthErrorCode::InvalidRequestUri,
                        "the request_uri is unknown, used or expired",
                    ))
                })?;
            if stored.client_id != params.client_id {
                return Err(AuthorizeError::Page(OAuthError::new(
                    OAuthErrorCode::InvalidRequestUri,
                    "the request_uri belongs to another client",
                )));
            }
            params = stored;
            pushed = true;
        }
        let interaction = self
            .validate_request(params, pushed)
            .await
            .map_err(|failure| match failure.return_to {
                Some((redirect_uri, state)) => AuthorizeError::Redirect(self.error_redirect(
                    &redirect_uri,
                    state.as_deref(),
                    &failure.error,
                )),
                None => AuthorizeError::Page(failure.error),
            })?;
        self.save_interaction(&interaction).await?;
        self.resume(&interaction.id, browser).await
    }

    /// Validates a pushed authorization request of an authenticated client and stores it;
    /// returns the `request_uri` and its lifetime in seconds.
    pub async fn push_authorization_request(
        &self,
        client: &OAuthClient,
        mut params: AuthorizationParams,
    ) -> Result<(String, u64), OAuthError> {
        if params.request_uri.is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
        }
        match params.client_id.as_deref() {
            Some(id) if id != client.client_id => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            _ => params.client_id = Some(client.client_id.clone()),
        }
        // Answered as JSON to the client that pushed it, whatever the redirect would have been.
        self.validate_request(params.clone(), true)
            .await
            .map_err(|failure| failure.error)?;
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", self.random_token());
        let bytes = serde_json::to_vec(&params).map_err(|error| {
            castellan_domain::DomainError::caused("encoding a pushed request", error)
        })?;
        self.ports
            .kv
            .set(
                &kv_key("par", &request_uri),
                &bytes,
                Some(self.settings.par_lifetime),
            )
            .await?;
        Ok((request_uri, self.settings.par_lifetime.as_secs()))
    }
}
