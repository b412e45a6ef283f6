//! AuthnRequests in flight: each is bound to the browser that started it (a cookie) and to the
//! RelayState it carries, and is used up by the first Response that names it.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::secret::hash_token;
use crate::sensitive::OneTimeCode;
use crate::{DomainError, KeyValueStore, RandomSource};

/// How long a browser may take at the IdP before its request lapses.
pub const REQUEST_TTL: Duration = Duration::from_secs(600);

/// What the ACS needs to know about the request a Response answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthn {
    /// The connection the request went out through.
    pub connection_id: Uuid,
    /// The AuthnRequest's ID: the Response's expected `InResponseTo`.
    pub request_id: String,
    /// The authorization in progress the sign-in belongs to, if any.
    pub interaction: Option<String>,
    /// The local page to continue on otherwise (checked by the caller when it was given).
    pub next: Option<String>,
}

/// The handles of one request: the RelayState sent through the IdP and the browser cookie.
#[derive(Debug, Clone)]
pub struct RequestHandles {
    /// The opaque RelayState (32 hex characters, within the binding's 80 bytes).
    pub relay_state: String,
    /// The cookie value that binds the request to this browser.
    pub browser: OneTimeCode,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    browser: String,
    pending: PendingAuthn,
}

/// AuthnRequests in flight, in the key-value store.
#[derive(Debug, Clone)]
pub struct AuthnRequests {
    kv: Arc<dyn KeyValueStore>,
    random: Arc<dyn RandomSource>,
}

impl AuthnRequests {
    /// Requests kept in `kv`.
    pub fn new(kv: Arc<dyn KeyValueStore>, random: Arc<dyn RandomSource>) -> Self {
        Self { kv, random }
    }

    /// Fresh handles for a request about to be built, bound to the browser's cookie `browser`
    /// when it has one (so sign-ins started in two tabs both finish), else to a new one.
    pub fn handles(&self, browser: Option<&str>) -> RequestHandles {
        let relay: [u8; 16] = self.random.bytes();
        let browser = match browser {
            Some(value)
                if (32..=128).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                value.to_owned()
            }
            _ => self.random.token(),
        };
        RequestHandles {
            relay_state: relay.iter().map(|b| format!("{b:02x}")).collect(),
            browser: OneTimeCode::new(browser),
        }
    }

    /// Remembers `pending` under `handles` until it is answered or lapses.
    pub async fn remember(
        &self,
        handles: &RequestHandles,
        pending: &PendingAuthn,
    ) -> Result<(), DomainError> {
        let stored = Stored {
            browser: hash_token(handles.browser.expose()),
            pending: pending.clone(),
        };
        let value = serde_json::to_vec(&stored)
            .map_err(|e| DomainError::caused("encoding a pending AuthnRequest", e))?;
        self.kv
            .set(&key(&handles.relay_state), &value, Some(REQUEST_TTL))
            .await
            .map_err(|e| DomainError::caused("storing a pending AuthnRequest", e))
    }

    /// Uses up the request behind `relay_state` when `browser` is the cookie it was bound to;
    /// `None` when there is none, it lapsed, was used, or belongs to another browser (which
    /// uses it up as well: a request is answered at most once).
    pub async fn take(
        &self,
        relay_state: &str,
        browser: Option<&str>,
    ) -> Result<Option<PendingAuthn>, DomainError> {
        if relay_state.is_empty() || relay_state.len() > 80 {
            return Ok(None);
        }
        let Some(value) = self
            .kv
            .take(&key(relay_state))
            .await
            .map_err(|e| DomainError::caused("reading a pending AuthnRequest", e))?
        else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&value)
            .map_err(|e| DomainError::caused("decoding a pending AuthnRequest", e))?;
        let presented = hash_token(browser.unwrap_or_default());
        let same_browser: bool = presented.as_bytes().ct_eq(stored.browser.as_bytes()).into();
        Ok((same_browser && browser.is_some()).then_some(stored.pending))
    }
}

fn key(relay_state: &str) -> String {
    format!("federation:authn:{}", hash_token(relay_state))
}
