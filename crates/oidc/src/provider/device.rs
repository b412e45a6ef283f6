//! The device authorization grant (RFC 8628): a device asks for a code pair and the user
//! enters the short code on the device page and decides; the device's polls of the token
//! endpoint are in `grants/device_code.rs`.

use castellan_domain::client::GRANT_DEVICE_CODE;
use castellan_domain::{
    ClientId, DomainError, OAuthClient, OneTimeCode, RandomSource, RequestContext, Scope, SessionId,
};
use serde::{Deserialize, Serialize};

use super::error::{OAuthError, OAuthErrorCode};
use super::{OidcProvider, kv_key};

/// A device authorization request's body (without client authentication).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceRequest {
    /// Requested scopes.
    pub scope: Option<String>,
}

/// The answer of the device authorization endpoint.
#[derive(Clone, Serialize)]
pub struct DeviceAuthorization {
    /// The secret the device polls with.
    pub device_code: OneTimeCode,
    /// The short code the user types.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

// Written out because the user code, alone or in the complete URI, approves the device.
impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum DeviceStatus {
    /// The user has not decided yet.
    Pending,
    /// Approved in this session.
    Approved(SessionId),
    /// Refused.
    Denied,
}

/// A device authorization, kept under its device code while the user decides.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DeviceRecord {
    pub client_id: ClientId,
    pub client_name: String,
    pub scope: Scope,
    pub expires_at: i64,
    pub status: DeviceStatus,
}

/// What the device page shows about a pending request.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    /// The client's name.
    pub client_name: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
}

/// How long a device must wait between polls after `slow_down`, added to the interval.
pub(super) const SLOW_DOWN_STEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Consonants only: no vowels (no words), nothing easily confused (RFC 8628 section 6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

fn new_user_code(random: &dyn RandomSource) -> String {
    let mut code = String::with_capacity(9);
    for index in 0..8 {
        if index == 4 {
            code.push('-');
        }
        let pick = random.below(USER_CODE_ALPHABET.len() as u32) as usize;
        code.push(char::from(USER_CODE_ALPHABET[pick]));
    }
    code
}

/// The user code as typed, reduced to its letters in upper case.
fn normalise_user_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl OidcProvider {
    /// Starts a device authorization for an authenticated client.
    pub async fn device_authorization(
        &self,
        client: &OAuthClient,
        request: DeviceRequest,
    ) -> Result<DeviceAuthorization, OAuthError> {
        if !client.metadata.allows(GRANT_DEVICE_CODE) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not use the device grant",
            ));
        }
        let scope = Scope::parse(request.scope.as_deref().unwrap_or("openid"));
        if scope.is_empty() || !scope.within(&client.metadata.scopes()) {
            return Err(OAuthError::invalid_scope(
                "a requested scope is unknown or not allowed for this client",
            ));
        }
        if scope.contains(castellan_domain::client::ORGANIZATION_SCOPE) {
            return Err(OAuthError::invalid_scope(
                "organization-scoped tokens are issued through the authorization code flow",
            ));
        }
        let lifetime = self.settings.device_code_lifetime;
        let device_code = OneTimeCode::new(self.random_token());
        let user_code = new_user_code(self.ports.random.as_ref());
        let grant = DeviceRecord {
            client_id: client.id(),
            client_name: client.metadata.client_name.clone(),
            scope,
            expires_at: self.now().timestamp()
                + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
            status: DeviceStatus::Pending,
        };
        let device_key = kv_key("device", device_code.expose());
        // Kept beyond expiry so a late poll learns `expired_token`, not `invalid_grant`.
        self.store_device(&device_key, &grant, lifetime * 2).await?;
        self.ports
            .kv
            .set(
                &format!("device-user:{}", normalise_user_code(&user_code)),
                device_key.as_bytes(),
                Some(lifetime),
            )
            .await?;
        let verification_uri = self.settings.endpoint("/device");
        Ok(DeviceAuthorization {
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            verification_uri,
            device_code,
            user_code,
            expires_in: lifetime.as_secs(),
            interval: self.settings.device_poll_interval.as_secs(),
        })
    }

    async fn store_device(
        &self,
        key: &str,
        grant: &DeviceRecord,
        ttl: std::time::Duration,
    ) -> Result<(), DomainError> {
        let bytes = serde_json::to_vec(grant)
            .map_err(|error| DomainError::caused("encoding a device grant", error))?;
        self.ports.kv.set(key, &bytes, Some(ttl)).await?;
        Ok(())
    }

    async fn device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<(String, DeviceRecord)>, DomainError> {
        let key = format!("device-user:{}", normalise_user_code(user_code));
        let Some(device_key) = self.ports.kv.get(&key).await? else {
            return Ok(None);
        };
        let device_key = String::from_utf8_lossy(&device_key).into_owned();
        let grant = self
            .ports
            .kv
            .get(&device_key)
            .await?
            .and_then(|bytes| serde_json::from_slice::<DeviceRecord>(&bytes).ok())
            .filter(|grant| matches!(grant.status, DeviceStatus::Pending));
        Ok(grant.map(|grant| (device_key, grant)))
    }

    /// The pending request a user code stands for; `None` when unknown, used or expired.
    pub async fn device_prompt(
        &self,
        user_code: &str,
    ) -> Result<Option<DevicePrompt>, DomainError> {
        Ok(self
            .device_by_user_code(user_code)
            .await?
            .map(|(_, grant)| DevicePrompt {
                client_name: grant.client_name,
                scopes: grant.scope.iter().map(str::to_owned).collect(),
            }))
    }

    /// The signed-in user's decision on the device page; false when the code is unknown,
    /// used or expired.
    pub async fn decide_device(
        &self,
        user_code: &str,
        session: SessionId,
        approve: bool,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        let Some((device_key, mut grant)) = self.device_by_user_code(user_code).await? else {
            return Ok(false);
        };
        // A user code works once.
        self.ports
            .kv
            .delete(&format!("device-user:{}", normalise_user_code(user_code)))
            .await?;
        grant.status = if approve {
            DeviceStatus::Approved(session)
        } else {
            DeviceStatus::Denied
        };
        self.store_device(&device_key, &grant, self.settings.device_code_lifetime)
            .await?;
        if approve {
            self.ports
                .participants
                .add(session, grant.client_id.as_str())
                .await?;
        }
        let mut event = castellan_domain::AuditEvent::new(
            castellan_domain::AuditAction::ConsentGranted,
            self.now(),
            context,
        )
        .on(&grant.client_id)
        .note(format!("device flow, scope={}", grant.scope));
        if !approve {
            event = event.failed("the user refused the device");
        }
        self.ports.events.record(event).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_and_forgive_typing() {
        let code = new_user_code(&castellan_domain::SystemRandom);
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        let letters = normalise_user_code(&code);
        assert_eq!(letters.len(), 8);
        assert!(letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        assert_eq!(normalise_user_code("bcdf ghjk"), "BCDFGHJK");
    }
}
