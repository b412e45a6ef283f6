//! The `client_credentials` grant (RFC 6749 section 4.4): a client acting for itself, within
//! its own scopes minus those about a user.

use castellan_domain::{OAuthClient, RequestContext};

use super::{Grant, TokenRequest, TokenResponse};
use crate::provider::error::OAuthError;
use crate::provider::{OidcProvider, normalise_scope, scopes_within};

/// A client's request for a token about itself.
pub(in crate::provider) struct ClientCredentialsGrant {
    scope: Option<String>,
}

impl Grant for ClientCredentialsGrant {
    fn parse(request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(Self {
            scope: request.scope,
        })
    }

    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        _context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        // Scopes about a user mean nothing without one.
        let allowed: String = client
            .metadata
            .scopes()
            .filter(|scope| !matches!(*scope, "openid" | "offline_access" | "organization"))
            .collect::<Vec<_>>()
            .join(" ");
        let scope = match self.scope.as_deref() {
            Some(requested) => {
                let requested = normalise_scope(requested);
                if !scopes_within(&requested, &allowed) {
                    return Err(OAuthError::invalid_scope(
                        "a requested scope is not allowed for this client",
                    ));
                }
                requested
            }
            None => allowed,
        };
        let access = provider
            .mint_access(client, &client.client_id, &scope, None, Vec::new(), None)
            .await?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }
}
