//! The answer of the authorization endpoint: a redirect to the client carrying a fresh code
//! or an error, with its `state` and the issuer.

use castellan_domain::{
    ClientId, OneTimeCode, OrganizationId, RedirectUri, Scope, Session, SessionId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuthorizeError, Interaction};
use crate::provider::error::OAuthError;
use crate::provider::{OidcProvider, kv_key};

/// What a code stands for, kept until the code is exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::provider) struct CodeRecord {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub redirect_uri_given: bool,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub session_id: SessionId,
    pub claims: Option<Value>,
    #[serde(default)]
    pub organization: Option<OrganizationId>,
    /// When the code lapses by the provider's clock; the store's own expiry runs on its clock
    /// (Redis's), which is not the one the provider answers to.
    #[serde(default)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `redirect_uri` with `params` added to its query.
pub(in crate::provider) fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    query.append_pair(name, value);
                }
            }
            url.into()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

impl OidcProvider {
    /// A redirect to the client carrying `params`, its `state` and the issuer (RFC 9207).
    fn client_redirect<'a>(
        &'a self,
        redirect_uri: &RedirectUri,
        state: Option<&'a str>,
        mut params: Vec<(&'a str, &'a str)>,
    ) -> String {
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.settings.issuer.as_str()));
        with_query(redirect_uri.as_str(), &params)
    }

    pub(super) fn error_redirect(
        &self,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        error: &OAuthError,
    ) -> String {
        self.client_redirect(
            redirect_uri,
            state,
            vec![
                ("error", error.code.as_str()),
                ("error_description", error.description.as_str()),
            ],
        )
    }

    /// Issues a code for the interaction and returns the redirect that carries it.
    pub(super) async fn issue_code(
        &self,
        interaction: &Interaction,
        session: &Session,
    ) -> Result<String, AuthorizeError> {
        let code = OneTimeCode::new(self.random_token());
        let grant = CodeRecord {
            client_id: interaction.client_id.clone(),
            redirect_uri: interaction.redirect_uri.clone(),
            redirect_uri_given: interaction.redirect_uri_given,
            scope: interaction.scopes(),
            nonce: interaction.nonce.clone(),
            code_challenge: interaction.code_challenge.clone(),
            session_id: session.id,
            claims: interaction.claims.clone(),
            organization: interaction
                .chosen_organization
                .filter(|chosen| chosen.user == session.user_id)
                .map(|chosen| chosen.id),
            expires_at: chrono::Duration::from_std(self.settings.code_lifetime)
                .ok()
                .and_then(|lifetime| self.now().checked_add_signed(lifetime)),
        };
        let bytes = serde_json::to_vec(&grant)
            .map_err(|error| castellan_domain::DomainError::caused("encoding a code", error))?;
        self.ports
            .kv
            .set(
                &kv_key("code", code.expose()),
                &bytes,
                Some(self.settings.code_lifetime),
            )
            .await
            .map_err(castellan_domain::DomainError::from)?;
        self.ports
            .participants
            .add(session.id, interaction.client_id.as_str())
            .await?;
        Ok(self.client_redirect(
            &interaction.redirect_uri,
            interaction.state.as_deref(),
            vec![("code", code.expose())],
        ))
    }
}
