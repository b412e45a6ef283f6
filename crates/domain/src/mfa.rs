//! Second factors: what a user has enrolled (TOTP, backup codes, passkeys), the ports that store
//! them, and the sign-in challenge that sits between a first factor and a second. The protocol
//! work (TOTP codes, WebAuthn ceremonies) lives in the `mfa` and `passkeys` crates; the pieces
//! both of them and the sign-in flow share live here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::hash_token;
use crate::sensitive::OneTimeCode;
use crate::signin::method::Amr;
use crate::user::UserId;
use crate::{DomainError, KeyValueStore, RandomSource};

/// A way to pass the second step of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    /// A code from an authenticator app.
    Totp,
    /// One of the single-use recovery codes.
    BackupCode,
    /// A passkey or security key.
    Webauthn,
}

impl MfaMethod {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::BackupCode => "backup_code",
            Self::Webauthn => "webauthn",
        }
    }
}

/// A user's TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// Whose it is.
    pub user_id: UserId,
    /// The shared secret, sealed with [`SecretSealer`] (bound to the user id).
    pub sealed_secret: Vec<u8>,
    /// When the user proved the app works; `None` while enrolment is pending.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step a code was accepted for (no code is accepted twice).
    pub last_used_step: Option<i64>,
    /// When enrolment began.
    pub created_at: DateTime<Utc>,
}

/// A registered passkey as stored. `credential` is the WebAuthn library's own serialised
/// credential, which only the `passkeys` crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Row id.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: UserId,
    /// The credential id, base64url.
    pub credential_id: String,
    /// A name the user chose.
    pub name: String,
    /// The serialised credential (public key, counter, flags).
    pub credential: String,
    /// The signature counter last seen.
    pub counter: u32,
    /// Whether the authenticator may back the credential up (a synced passkey).
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last used to sign in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Storage of TOTP factors and backup codes.
#[async_trait::async_trait]
pub trait MfaRepository: Send + Sync + std::fmt::Debug {
    /// The user's TOTP factor, pending or confirmed.
    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, DomainError>;
    /// Stores a pending factor, replacing any earlier one.
    async fn put_totp(&self, factor: &TotpFactor) -> Result<(), DomainError>;
    /// Marks the factor confirmed, as of `at`, with the step of the code that confirmed it.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, DomainError>;
    /// Records `step` as used when it is later than every step used before, atomically; false
    /// when a code of this step or a later one was already accepted (a replay).
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, DomainError>;
    /// Removes the TOTP factor and every backup code.
    async fn delete_factors(&self, user: UserId) -> Result<bool, DomainError>;
    /// Replaces the backup codes with these hashes.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), DomainError>;
    /// Marks the unused code with this hash used, atomically; false when there is none.
    async fn use_backup_code(
        &self,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DomainError>;
    /// How many backup codes are left unused.
    async fn backup_codes_left(&self, user: UserId) -> Result<u32, DomainError>;
}

/// Storage of passkeys.
#[async_trait::async_trait]
pub trait PasskeyRepository: Send + Sync + std::fmt::Debug {
    /// A user's passkeys, oldest first.
    async fn list(&self, user: UserId) -> Result<Vec<PasskeyRecord>, DomainError>;
    /// The passkey with this credential id.
    async fn by_credential_id(&self, id: &str) -> Result<Option<PasskeyRecord>, DomainError>;
    /// Stores a new passkey (a taken credential id is a conflict).
    async fn create(&self, passkey: &PasskeyRecord) -> Result<(), DomainError>;
    /// Stores the credential, counter, backup flags and last use after a sign-in.
    async fn record_use(&self, passkey: &PasskeyRecord) -> Result<(), DomainError>;
    /// Renames one of the user's passkeys; false when the user has no such passkey.
    async fn rename(&self, user: UserId, id: Uuid, name: &str) -> Result<bool, DomainError>;
    /// Deletes one of the user's passkeys; false when the user has no such passkey.
    async fn delete(&self, user: UserId, id: Uuid) -> Result<bool, DomainError>;
}

/// Which second factors a user can present at sign-in. The sign-in flow asks this after a
/// correct password to decide whether a second step follows.
#[async_trait::async_trait]
pub trait FactorDirectory: Send + Sync + std::fmt::Debug {
    /// The user's usable second factors (empty: a password alone signs in).
    async fn second_factors(&self, user: UserId) -> Result<Vec<MfaMethod>, DomainError>;
}

/// Encrypts secrets at rest (TOTP seeds), bound to associated data such as the owner's id.
pub trait SecretSealer: Send + Sync + std::fmt::Debug {
    /// Encrypts `plaintext` bound to `associated`.
    fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, DomainError>;
    /// Decrypts what [`Self::seal`] produced with the same `associated`.
    fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, DomainError>;
}

/// What a pending second step remembers about the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// Who passed the first factor.
    pub user_id: UserId,
    /// The normalised email, for the lockout counter.
    pub email: String,
    /// How the first factor was passed (`pwd`).
    pub amr: Amr,
    /// The second factors on offer.
    pub methods: Vec<MfaMethod>,
    /// When the first factor passed.
    pub at: DateTime<Utc>,
    /// Where from.
    pub ip: Option<String>,
    /// The organization the sign-in asked to be scoped to (id or slug).
    #[serde(default)]
    pub organization: Option<String>,
}

impl PendingSignIn {
    /// What a passed first factor (`amr`) leaves pending: the user, and `methods` to finish
    /// with.
    pub fn after_first_factor(
        user: &crate::User,
        amr: Amr,
        methods: Vec<MfaMethod>,
        at: DateTime<Utc>,
        context: &crate::RequestContext,
    ) -> Self {
        Self {
            user_id: user.id,
            email: user.email.as_str().to_owned(),
            amr,
            methods,
            at,
            ip: context.ip.clone(),
            organization: None,
        }
    }
}

/// A second step in progress: the token the client holds and what it stands for.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// The opaque token (shown once; the store keeps only its hash).
    pub token: OneTimeCode,
    /// What it stands for.
    pub pending: PendingSignIn,
}

/// Failed codes a challenge survives before it is withdrawn.
pub const CHALLENGE_ATTEMPTS: i64 = 5;

/// Pending second steps in the key-value store, so whichever replica receives the code can
/// finish the sign-in that another began. A challenge is short-lived, used at most once, and
/// withdrawn after [`CHALLENGE_ATTEMPTS`] wrong codes.
#[derive(Debug, Clone)]
pub struct MfaChallenges {
    kv: std::sync::Arc<dyn KeyValueStore>,
    random: std::sync::Arc<dyn RandomSource>,
    ttl: Duration,
}

impl MfaChallenges {
    /// Challenges in `kv` that live for `ttl`, named by tokens drawn from `random`.
    pub fn new(
        kv: std::sync::Arc<dyn KeyValueStore>,
        random: std::sync::Arc<dyn RandomSource>,
        ttl: Duration,
    ) -> Self {
        Self { kv, random, ttl }
    }

    fn key(token: &OneTimeCode) -> String {
        format!("mfa-challenge:{}", hash_token(token.expose()))
    }

    fn failures_key(token: &OneTimeCode) -> String {
        format!("mfa-challenge-failures:{}", hash_token(token.expose()))
    }

    /// Opens a challenge for `pending`.
    pub async fn open(&self, pending: PendingSignIn) -> Result<MfaChallenge, DomainError> {
        let token = OneTimeCode::new(self.random.token());
        let value = serde_json::to_vec(&pending)
            .map_err(|error| DomainError::caused("encoding a challenge", error))?;
        self.kv
            .set(&Self::key(&token), &value, Some(self.ttl))
            .await?;
        Ok(MfaChallenge { token, pending })
    }

    fn decode(value: &[u8]) -> Result<PendingSignIn, DomainError> {
        serde_json::from_slice(value).map_err(|_| DomainError::InvalidToken)
    }

    /// What the challenge stands for, without using it up.
    pub async fn peek(&self, token: &OneTimeCode) -> Result<PendingSignIn, DomainError> {
        let value = self
            .kv
            .get(&Self::key(token))
            .await?
            .ok_or(DomainError::InvalidToken)?;
        Self::decode(&value)
    }

    /// Uses the challenge up; of two concurrent callers exactly one gets it.
    pub async fn consume(&self, token: &OneTimeCode) -> Result<PendingSignIn, DomainError> {
        let value = self
            .kv
            .take(&Self::key(token))
            .await?
            .ok_or(DomainError::InvalidToken)?;
        self.kv.delete(&Self::failures_key(token)).await?;
        Self::decode(&value)
    }

    /// Counts a wrong answer; the challenge is withdrawn at the limit.
    pub async fn fail(&self, token: &OneTimeCode) -> Result<(), DomainError> {
        let counter = self
            .kv
            .increment(&Self::failures_key(token), 1, self.ttl)
            .await?;
        if counter.value >= CHALLENGE_ATTEMPTS {
            self.kv.delete(&Self::key(token)).await?;
        }
        Ok(())
    }
}
