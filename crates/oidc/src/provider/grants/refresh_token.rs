//! The `refresh_token` grant (RFC 6749 section 6): the token rotates with reuse detection,
//! and a requested scope may only narrow what was granted.

use castellan_domain::{DomainError, OAuthClient, RefreshToken, RequestContext, Scope};

use super::{Grant, TokenRequest, TokenResponse, UserGrant, required};
use crate::provider::OidcProvider;
use crate::provider::error::OAuthError;

/// A refresh.
pub(in crate::provider) struct RefreshTokenGrant {
    refresh_token: RefreshToken,
    scope: Option<Scope>,
}

impl Grant for RefreshTokenGrant {
    fn parse(request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(Self {
            refresh_token: required(request.refresh_token, "refresh_token")?,
            scope: request.scope.as_deref().map(Scope::parse),
        })
    }

    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let token = &self.refresh_token;
        // A narrower scope is checked before the token is touched, so a refused request
        // leaves it usable.
        if let Some(requested) = &self.scope {
            let Some((record, _)) = provider
                .ports
                .session_service
                .inspect_refresh(token)
                .await?
            else {
                return Err(OAuthError::invalid_grant(
                    "the refresh token is invalid or expired",
                ));
            };
            let granted = Scope::parse(record.scope.as_deref().unwrap_or_default());
            if !requested.within(&granted) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds what was granted",
                ));
            }
        }
        let exchange = provider
            .ports
            .session_service
            .exchange_refresh(token, Some(client), context)
            .await
            .map_err(|error| match error {
                DomainError::InvalidToken => {
                    OAuthError::invalid_grant("the refresh token is invalid, expired or reused")
                }
                other => other.into(),
            })?;
        let scope = self
            .scope
            .unwrap_or_else(|| Scope::parse(exchange.record.scope.as_deref().unwrap_or_default()));
        let response = provider
            .user_tokens(
                UserGrant {
                    client,
                    scope: &scope,
                    nonce: None,
                    claims: None,
                    organization: exchange.record.organization_id,
                },
                &exchange.session,
                &exchange.user,
                Some((exchange.token, exchange.record.grant_id)),
            )
            .await?
            .response;
        Ok(response)
    }
}
