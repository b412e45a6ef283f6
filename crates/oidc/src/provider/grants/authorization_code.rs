//! The `authorization_code` grant (RFC 6749 section 4.1.3): a code is single use and bound to
//! its client, its redirect URI and its PKCE challenge; a replayed code revokes what it issued.

use std::time::Duration;

use castellan_domain::{
    AuditAction, AuditEvent, DomainError, OAuthClient, OneTimeCode, RequestContext,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Grant, TokenRequest, TokenResponse, UserGrant, required};
use crate::provider::authorize::CodeRecord;
use crate::provider::error::OAuthError;
use crate::provider::pkce::verify_code_verifier;
use crate::provider::{OidcProvider, kv_key};

/// How long a used code is remembered, to catch its replay.
const USED_CODE_MEMORY: Duration = Duration::from_secs(600);

/// A code exchange.
pub(in crate::provider) struct AuthorizationCodeGrant {
    code: OneTimeCode,
    redirect_uri: Option<String>,
    code_verifier: Option<OneTimeCode>,
}

/// What a used code issued, remembered to undo it on replay.
#[derive(Debug, Serialize, Deserialize)]
struct UsedCode {
    jti: String,
    exp: i64,
    grant_id: Option<Uuid>,
}

impl Grant for AuthorizationCodeGrant {
    fn parse(request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(Self {
            code: required(request.code, "code")?,
            redirect_uri: request.redirect_uri,
            code_verifier: request.code_verifier,
        })
    }

    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let code = self.code.expose();
        let Some(bytes) = provider.ports.kv.take(&kv_key("code", code)).await? else {
            code_replayed(provider, code, context).await?;
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired or already used",
            ));
        };
        let record: CodeRecord = serde_json::from_slice(&bytes)
            .map_err(|error| DomainError::caused("stored code", error))?;
        if record.expires_at.is_some_and(|at| provider.now() >= at) {
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired or already used",
            ));
        }
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        match self.redirect_uri.as_deref() {
            Some(uri) if uri == record.redirect_uri.as_str() => {}
            None if !record.redirect_uri_given => {}
            _ => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
        }
        verify_code_verifier(
            record.code_challenge.as_deref(),
            self.code_verifier.as_ref().map(OneTimeCode::expose),
        )?;
        let issued = provider
            .session_tokens(
                UserGrant {
                    client,
                    scope: &record.scope,
                    nonce: record.nonce.as_deref(),
                    claims: record.claims.as_ref(),
                    organization: record.organization,
                },
                record.session_id,
            )
            .await?;
        let used = serde_json::to_vec(&UsedCode {
            jti: issued.access_jti,
            exp: issued.access_exp,
            grant_id: issued.grant_id,
        })
        .map_err(|error| DomainError::caused("encoding a used code", error))?;
        provider
            .ports
            .kv
            .set(&kv_key("used-code", code), &used, Some(USED_CODE_MEMORY))
            .await?;
        Ok(issued.response)
    }
}

/// A code came back after it was exchanged: revoke what it issued.
async fn code_replayed(
    provider: &OidcProvider,
    code: &str,
    context: &RequestContext,
) -> Result<(), OAuthError> {
    let Some(bytes) = provider.ports.kv.take(&kv_key("used-code", code)).await? else {
        return Ok(());
    };
    let Ok(used) = serde_json::from_slice::<UsedCode>(&bytes) else {
        return Ok(());
    };
    provider.deny_token(&used.jti, used.exp).await?;
    if let Some(grant_id) = used.grant_id {
        provider
            .ports
            .session_service
            .revoke_grant(grant_id)
            .await?;
    }
    provider
        .ports
        .events
        .record(
            AuditEvent::new(AuditAction::CodeReplay, provider.now(), context)
                .on(&used.jti)
                .failed("an authorization code was used twice; its tokens were revoked"),
        )
        .await?;
    Ok(())
}
