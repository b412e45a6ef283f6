//! What resource servers and clients ask about tokens: userinfo (OIDC Core 5.3), introspection
//! (RFC 7662) and revocation (RFC 7009).

use castellan_domain::{
    AuditAction, AuditEvent, OAuthClient, RefreshToken, RequestContext, UserId,
};
use serde_json::{Map, Value};

use super::OidcProvider;
use super::claims::user_claims;
use super::error::{OAuthError, OAuthErrorCode};

/// The claims userinfo returns.
pub type UserInfo = Map<String, Value>;

/// An introspection answer: `{"active": false}` or the token's claims.
pub type Introspection = Map<String, Value>;

fn inactive() -> Introspection {
    let mut answer = Map::new();
    answer.insert("active".into(), false.into());
    answer
}

impl OidcProvider {
    /// The user's claims for an access token with the `openid` scope.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, OAuthError> {
        let invalid =
            || OAuthError::new(OAuthErrorCode::InvalidToken, "the access token is invalid");
        let claims = self
            .verify_access_token(access_token)
            .await
            .map_err(|_| invalid())?;
        if !claims.has_scope("openid") {
            return Err(OAuthError::new(
                OAuthErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let user_id = uuid::Uuid::parse_str(&claims.sub).map_err(|_| invalid())?;
        let user = self
            .ports
            .users
            .by_id(UserId(user_id))
            .await?
            .ok_or_else(invalid)?;
        let mut answer = Map::new();
        answer.insert("sub".into(), claims.sub.clone().into());
        answer.extend(user_claims(
            &user,
            &claims.scope,
            claims.userinfo_claims.iter().map(String::as_str),
        ));
        Ok(answer)
    }

    /// Introspects an access or refresh token for an authenticated confidential client.
    /// Access tokens are described to the client they were issued to (or name as audience)
    /// and to clients allowed `introspect_any_token`; refresh tokens only to their client.
    pub async fn introspect(
        &self,
        client: &OAuthClient,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Introspection, OAuthError> {
        if client.metadata.is_public() {
            return Err(OAuthError::invalid_client());
        }
        let looks_like_jwt = token.split('.').count() == 3;
        if looks_like_jwt && hint != Some("refresh_token") {
            return Ok(match self.verify_access_token(token).await {
                // A client learns about its own tokens only, unless it is a resource server
                // allowed to introspect any (RFC 7662 section 4).
                Ok(claims)
                    if claims.client_id == client.client_id
                        || claims.aud == client.client_id
                        || client.metadata.introspect_any_token =>
                {
                    let mut answer = match serde_json::to_value(&claims) {
                        Ok(Value::Object(map)) => map,
                        _ => Map::new(),
                    };
                    answer.remove("userinfo_claims");
                    answer.remove("gid");
                    answer.insert("active".into(), true.into());
                    answer.insert("token_type".into(), "Bearer".into());
                    answer
                }
                _ => inactive(),
            });
        }
        let Some((record, session)) = self
            .ports
            .session_service
            .inspect_refresh(&RefreshToken::new(token))
            .await?
        else {
            return Ok(inactive());
        };
        if record.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Ok(inactive());
        }
        let mut answer = Map::new();
        answer.insert("active".into(), true.into());
        answer.insert("token_type".into(), "refresh_token".into());
        answer.insert("client_id".into(), client.client_id.clone().into());
        answer.insert("scope".into(), record.scope.unwrap_or_default().into());
        answer.insert("sub".into(), session.user_id.to_string().into());
        answer.insert("sid".into(), session.id.to_string().into());
        answer.insert("iss".into(), self.settings.issuer.clone().into());
        answer.insert("iat".into(), record.created_at.timestamp().into());
        answer.insert("exp".into(), record.expires_at.timestamp().into());
        Ok(answer)
    }

    /// Revokes a token the client holds. Unknown tokens, and tokens of other clients, are
    /// ignored: the answer is the same, so it reveals nothing.
    pub async fn revoke(
        &self,
        client: &OAuthClient,
        token: &str,
        hint: Option<&str>,
        context: &RequestContext,
    ) -> Result<(), OAuthError> {
        let looks_like_jwt = token.split('.').count() == 3;
        let revoked = if looks_like_jwt && hint != Some("refresh_token") {
            match self
                .ports
                .tokens
                .decode::<super::ClientAccessClaims>(token, false)
                .await
            {
                Ok(claims) if claims.client_id == client.client_id => {
                    self.deny_token(&claims.jti, claims.exp).await?;
                    Some(claims.jti)
                }
                _ => None,
            }
        } else if self
            .ports
            .session_service
            .revoke_refresh_grant(&RefreshToken::new(token), &client.client_id)
            .await?
            .is_some()
        {
            // The grant's access tokens end with it (RFC 7009 section 2.1).
            Some("refresh token".to_owned())
        } else {
            None
        };
        if let Some(what) = revoked {
            self.ports
                .events
                .record(
                    AuditEvent::new(AuditAction::TokenRevoked, self.now(), context)
                        .on(&client.client_id)
                        .note(what),
                )
                .await?;
        }
        Ok(())
    }
}
