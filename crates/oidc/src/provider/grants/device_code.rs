//! The device grant's token request (RFC 8628 section 3.4): the device polls until the user
//! decided on the device page, and is told to slow down when it polls too fast.

use castellan_domain::{DomainError, OAuthClient, OneTimeCode, RequestContext};

use super::{Grant, TokenRequest, TokenResponse, UserGrant, required};
use crate::provider::device::{DeviceRecord, DeviceStatus, SLOW_DOWN_STEP};
use crate::provider::error::{OAuthError, OAuthErrorCode};
use crate::provider::{OidcProvider, kv_key};

/// A device's poll.
pub(in crate::provider) struct DeviceCodeGrant {
    device_code: OneTimeCode,
}

impl Grant for DeviceCodeGrant {
    fn parse(request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(Self {
            device_code: required(request.device_code, "device_code")?,
        })
    }

    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        _context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let device_key = kv_key("device", self.device_code.expose());
        let Some(bytes) = provider.ports.kv.get(&device_key).await? else {
            return Err(OAuthError::invalid_grant("the device code is unknown"));
        };
        let record: DeviceRecord = serde_json::from_slice(&bytes)
            .map_err(|error| DomainError::caused("stored device grant", error))?;
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the device code belongs to another client",
            ));
        }
        if record.expires_at <= provider.now().timestamp() {
            return Err(OAuthError::new(
                OAuthErrorCode::ExpiredToken,
                "the device code has expired",
            ));
        }
        match record.status {
            DeviceStatus::Pending => Err(pending(provider, &device_key).await?),
            DeviceStatus::Denied => {
                provider.ports.kv.delete(&device_key).await?;
                Err(OAuthError::new(
                    OAuthErrorCode::AccessDenied,
                    "the user refused",
                ))
            }
            DeviceStatus::Approved(session_id) => {
                // Exactly one poll gets the tokens.
                if provider.ports.kv.take(&device_key).await?.is_none() {
                    return Err(OAuthError::invalid_grant(
                        "the device code was already used",
                    ));
                }
                let issued = provider
                    .session_tokens(
                        UserGrant {
                            client,
                            scope: &record.scope,
                            nonce: None,
                            claims: None,
                            organization: None,
                        },
                        session_id,
                    )
                    .await?;
                Ok(issued.response)
            }
        }
    }
}

/// The answer to a poll before the user decided: `authorization_pending`, or `slow_down`
/// (and a longer wait) for a second poll within the interval.
async fn pending(provider: &OidcProvider, device_key: &str) -> Result<OAuthError, OAuthError> {
    let interval = provider.settings.device_poll_interval;
    let poll_key = format!("device-poll:{device_key}");
    let first_in_interval = provider
        .ports
        .kv
        .set_if_absent(&poll_key, b"1", Some(interval))
        .await?;
    if first_in_interval {
        return Ok(OAuthError::new(
            OAuthErrorCode::AuthorizationPending,
            "the user has not decided yet",
        ));
    }
    // Polling too fast: the device must add this much to its interval.
    provider
        .ports
        .kv
        .set(&poll_key, b"1", Some(interval + SLOW_DOWN_STEP))
        .await?;
    Ok(OAuthError::new(OAuthErrorCode::SlowDown, "poll less often"))
}
