//! The `client_credentials` grant (RFC 6749 section 4.4): a client acting for itself, within
//! its own scopes minus those about a user.

use castellan_domain::{OAuthClient, RequestContext, Scope};

use super::{Grant, TokenRequest, TokenResponse};
use crate::provider::OidcProvider;
use crate::provider::error::OAuthError;

/// A client's request for a token about itself.
pub(in crate::provider) struct ClientCredentialsGrant {
    scope: Option<Scope>,
}

impl Grant for ClientCredentialsGrant {
    fn parse(request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(Self {
            scope: request.scope.as_deref().map(Scope::parse),
        })
    }

    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        _context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        // Scopes about a user mean nothing without one.
        let registered = client.metadata.scopes();
        let allowed: Scope = registered
            .iter()
            .filter(|scope| !matches!(*scope, "openid" | "offline_access" | "organization"))
            .collect();
        let scope = match self.scope {
            Some(requested) => {
                if !requested.within(&allowed) {
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
