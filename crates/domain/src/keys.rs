//! Signing keys as stored: their state in the rotation (`next` is published before it signs,
//! `active` signs, `retired` only verifies until every token it signed has expired), the
//! public half as a JWK, and the private half encrypted under the master key.

use chrono::{DateTime, Utc};

use crate::DomainError;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in JWKS, not yet signing; becomes active at the next rotation.
    Next,
    /// Signs new tokens.
    Active,
    /// Still published so that tokens it signed verify; gone once `retire_after` passes.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            other => Err(DomainError::internal(format!(
                "unknown key state {other:?}"
            ))),
        }
    }
}

/// One stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, the JWT header's `kid` (the RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm, e.g. `RS256`.
    pub algorithm: String,
    /// Place in the rotation.
    pub state: KeyState,
    /// The public key as a JWK (JSON).
    pub public_jwk: String,
    /// The private key, encrypted under the master key.
    pub private_key: Vec<u8>,
    /// When it was generated.
    pub created_at: DateTime<Utc>,
    /// When it started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it leaves JWKS (retired keys only).
    pub retire_after: Option<DateTime<Utc>>,
}

/// Storage of signing keys.
#[async_trait::async_trait]
pub trait SigningKeyRepository: Send + Sync + std::fmt::Debug {
    /// Every key still published (not past `retire_after`), newest first.
    async fn published(&self, now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, DomainError>;
    /// Stores a new key.
    async fn insert(&self, key: &SigningKeyRecord) -> Result<(), DomainError>;
    /// In one transaction: the active key of `new_next`'s algorithm retires (published until
    /// `retire_after`), the key
    /// `expected_next` becomes active, and `new_next` is stored as the next key. False, with
    /// nothing changed, when `expected_next` is no longer the next key (another replica
    /// rotated first).
    async fn rotate(
        &self,
        expected_next: &str,
        new_next: &SigningKeyRecord,
        at: DateTime<Utc>,
        retire_after: DateTime<Utc>,
    ) -> Result<bool, DomainError>;
}
