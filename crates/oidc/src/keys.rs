//! Signing keys and their rotation.
//!
//! There is always one `active` key (signs) and one `next` key (published in JWKS ahead of use,
//! so caches of relying parties already hold it when it starts signing). A rotation promotes
//! `next` to `active`, retires the old `active` (published until every token it signed has
//! expired) and generates a new `next`. Creating and rotating keys run under a database lease
//! and a guarded update, so several replicas on one database make exactly one new key per
//! rotation. Every replica reloads the published keys periodically and whenever it meets an
//! unknown `kid`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::key_material::key_material;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan_domain::{
    AuditAction, AuditEvent, Clock, DomainError, EventSink, KeyState, LeaseRepository,
    RequestContext, SigningKeyRecord, SigningKeyRepository,
};
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::MasterKey;

const LEASE: &str = "signing-keys";
/// The default algorithm: every token is RS256 unless a client asked for another.
pub const DEFAULT_ALGORITHM: &str = "RS256";
/// Every algorithm with its own key pair in rotation, the default first.
pub const ALGORITHMS: [&str; 3] = [DEFAULT_ALGORITHM, "ES256", "EdDSA"];

/// A parsed private key, ready to sign.
pub(crate) enum Signer {
    /// RS256.
    Rsa(RsaKeyPair),
    /// ES256 (P-256, fixed-width r||s signatures as JWS wants).
    Ecdsa(EcdsaKeyPair),
    /// EdDSA with Ed25519.
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    fn parse(algorithm: &str, der: &[u8]) -> Result<Self, DomainError> {
        Ok(match algorithm {
            "RS256" => Self::Rsa(RsaKeyPair::from_der(der).map_err(storage)?),
            "ES256" => Self::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(storage)?,
            ),
            "EdDSA" => Self::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(storage)?),
            other => {
                return Err(DomainError::internal(format!(
                    "unknown key algorithm {other}"
                )));
            }
        })
    }

    /// The JWS `alg`.
    pub(crate) fn algorithm(&self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rsa(_) => jsonwebtoken::Algorithm::RS256,
            Self::Ecdsa(_) => jsonwebtoken::Algorithm::ES256,
            Self::Ed25519(_) => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DomainError> {
        let failed = |_| DomainError::internal("signing a token failed");
        match self {
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
            Self::Ecdsa(key) => Ok(key
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Self::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
        }
    }
}

/// The key that signs for one algorithm.
pub(crate) struct ActiveSigner {
    pub(crate) kid: String,
    pub(crate) signer: Signer,
}

/// How keys are made and rotated.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// RSA modulus size: 2048, 3072 or 4096.
    pub rsa_bits: usize,
    /// How long a key signs before it is rotated.
    pub rotation_interval: Duration,
    /// The longest lifetime of any token a key signs; a retired key stays published this long.
    pub max_token_lifetime: Duration,
}

/// A published key as listed by `castellan keys list`.
#[derive(Debug, Clone)]
pub struct KeySummary {
    /// Key id.
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// `next`, `active` or `retired`.
    pub state: KeyState,
    /// Generated.
    pub created_at: DateTime<Utc>,
    /// Started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// Leaves JWKS.
    pub retire_after: Option<DateTime<Utc>>,
}

type KeyFingerprint<'a> = (
    &'a String,
    KeyState,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// What identifies a published key set: ids, states and dates, in a stable order.
fn fingerprint<'a>(keys: impl Iterator<Item = KeyFingerprint<'a>>) -> Vec<KeyFingerprint<'a>> {
    let mut keys: Vec<_> = keys.collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    keys
}

/// The keys this replica has loaded.
pub(crate) struct LoadedKeys {
    /// The active key of each algorithm, parsed once per load: parsing an RSA key costs more
    /// than signing with it.
    pub(crate) signers: HashMap<&'static str, ActiveSigner>,
    pub(crate) decoding: HashMap<String, (jsonwebtoken::Algorithm, DecodingKey)>,
    jwks: Arc<str>,
    summaries: Vec<KeySummary>,
}

#[derive(Deserialize)]
struct PublicJwk {
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
    #[serde(default)]
    x: String,
    #[serde(default)]
    y: String,
}

impl LoadedKeys {
    /// The signer of `algorithm` (each algorithm always has an active key).
    pub(crate) fn signer(&self, algorithm: &str) -> Result<&ActiveSigner, DomainError> {
        self.signers
            .get(algorithm)
            .ok_or_else(|| DomainError::internal(format!("no active {algorithm} signing key")))
    }
}

/// Generates, stores, loads and rotates the signing keys.
pub struct KeyManager {
    repository: Arc<dyn SigningKeyRepository>,
    leases: Arc<dyn LeaseRepository>,
    events: Arc<dyn EventSink>,
    master: MasterKey,
    clock: Arc<dyn Clock>,
    settings: KeySettings,
    holder: String,
    loaded: RwLock<Option<Arc<LoadedKeys>>>,
    /// Serialises first loads, so a burst of requests does not create keys in parallel.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

pub(crate) fn storage(error: impl std::error::Error + Send + Sync + 'static) -> DomainError {
    DomainError::caused("signing keys", error)
}

/// Generates a key for `algorithm` in `state`, its private half encrypted under the master key.
async fn generate(
    master: &MasterKey,
    algorithm: &'static str,
    bits: usize,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<SigningKeyRecord, DomainError> {
    let (mut jwk, der) = key_material(algorithm, bits).await?;
    // RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, which is
    // how serde_json (without preserve_order) writes the object built above.
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.to_string().as_bytes()));
    if let Some(members) = jwk.as_object_mut() {
        members.insert("kid".into(), kid.clone().into());
        members.insert("use".into(), "sig".into());
        members.insert("alg".into(), algorithm.into());
    }
    Ok(SigningKeyRecord {
        private_key: master.encrypt(&der, kid.as_bytes()).map_err(storage)?,
        kid,
        algorithm: algorithm.to_owned(),
        state,
        public_jwk: jwk.to_string(),
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        retire_after: None,
    })
}

fn static_algorithm(name: &str) -> Option<&'static str> {
    ALGORITHMS.into_iter().find(|known| *known == name)
}

impl KeyManager {
    /// A manager over the given stores. With `eager`, the keys are created (on first start, once
    /// across replicas) and loaded now, and any failure is returned; otherwise that happens on
    /// first use (for a server started before its schema is migrated).
    pub async fn start(
        repository: Arc<dyn SigningKeyRepository>,
        leases: Arc<dyn LeaseRepository>,
        events: Arc<dyn EventSink>,
        master: MasterKey,
        clock: Arc<dyn Clock>,
        settings: KeySettings,
        eager: bool,
    ) -> Result<Arc<Self>, DomainError> {
        let manager = Arc::new(Self {
            repository,
            leases,
            events,
            master,
            clock,
            settings,
            holder: format!("replica-{}", uuid::Uuid::new_v4().simple()),
            loaded: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
        });
        if eager {
            manager.current().await?;
        }
        Ok(manager)
    }

    /// Makes sure an active and a next key exist, creating the missing ones under the lease.
    async fn ensure_keys(&self) -> Result<Vec<SigningKeyRecord>, DomainError> {
        let mut attempts = 0;
        loop {
            let records = self.repository.published(self.clock.now()).await?;
            let complete = ALGORITHMS.iter().all(|algorithm| {
                [KeyState::Active, KeyState::Next].iter().all(|state| {
                    records
                        .iter()
                        .any(|key| key.algorithm == *algorithm && key.state == *state)
                })
            });
            if complete {
                return Ok(records);
            }
            if self
                .leases
                .try_acquire(LEASE, &self.holder, Duration::from_secs(120))
                .await
                .map_err(storage)?
            {
                let created = Self::create_missing(
                    &*self.repository,
                    &self.master,
                    &self.clock,
                    &self.settings,
                )
                .await;
                self.leases
                    .release(LEASE, &self.holder)
                    .await
                    .map_err(storage)?;
                created?;
                continue;
            }
            attempts += 1;
            if attempts > 240 {
                return Err(DomainError::internal(
                    "another replica holds the signing-key lease and made no keys in 60 s"
                        .to_owned(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn create_missing(
        repository: &dyn SigningKeyRepository,
        master: &MasterKey,
        clock: &Arc<dyn Clock>,
        settings: &KeySettings,
    ) -> Result<(), DomainError> {
        let records = repository.published(clock.now()).await?;
        for algorithm in ALGORITHMS {
            for state in [KeyState::Active, KeyState::Next] {
                if !records
                    .iter()
                    .any(|key| key.algorithm == algorithm && key.state == state)
                {
                    let key =
                        generate(master, algorithm, settings.rsa_bits, state, clock.now()).await?;
                    repository.insert(&key).await?;
                    tracing::info!(kid = %key.kid, algorithm, state = state.as_str(), "generated a signing key");
                }
            }
        }
        Ok(())
    }

    fn load(master: &MasterKey, records: &[SigningKeyRecord]) -> Result<LoadedKeys, DomainError> {
        let mut signers = HashMap::new();
        for algorithm in ALGORITHMS {
            let active = records
                .iter()
                .filter(|key| key.algorithm == algorithm && key.state == KeyState::Active)
                .max_by_key(|key| key.activated_at)
                .ok_or_else(|| {
                    DomainError::internal(format!("no active {algorithm} signing key"))
                })?;
            let der = master
                .decrypt(&active.private_key, active.kid.as_bytes())
                .map_err(storage)?;
            signers.insert(
                algorithm,
                ActiveSigner {
                    kid: active.kid.clone(),
                    signer: Signer::parse(algorithm, &der)?,
                },
            );
        }
        let mut decoding = HashMap::new();
        let mut jwks = Vec::new();
        // The default algorithm's keys first, each algorithm active, next, then retired: clients
        // that take the first key get the one that signs by default.
        let mut ordered: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|key| static_algorithm(&key.algorithm).is_some())
            .collect();
        ordered.sort_by_key(|key| {
            let family = ALGORITHMS
                .iter()
                .position(|algorithm| *algorithm == key.algorithm);
            let state = match key.state {
                KeyState::Active => 0,
                KeyState::Next => 1,
                KeyState::Retired => 2,
            };
            (family, state)
        });
        for key in &ordered {
            let jwk: PublicJwk = serde_json::from_str(&key.public_jwk).map_err(storage)?;
            let (algorithm, decoding_key) = match key.algorithm.as_str() {
                "ES256" => (
                    jsonwebtoken::Algorithm::ES256,
                    DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(storage)?,
                ),
                "EdDSA" => (
                    jsonwebtoken::Algorithm::EdDSA,
                    DecodingKey::from_ed_components(&jwk.x).map_err(storage)?,
                ),
                _ => (
                    jsonwebtoken::Algorithm::RS256,
                    DecodingKey::from_rsa_components(&jwk.n, &jwk.e).map_err(storage)?,
                ),
            };
            decoding.insert(key.kid.clone(), (algorithm, decoding_key));
            jwks.push(serde_json::from_str::<serde_json::Value>(&key.public_jwk).map_err(storage)?);
        }
        Ok(LoadedKeys {
            signers,
            decoding,
            jwks: Arc::from(serde_json::json!({ "keys": jwks }).to_string()),
            summaries: ordered
                .iter()
                .map(|key| KeySummary {
                    kid: key.kid.clone(),
                    algorithm: key.algorithm.clone(),
                    state: key.state,
                    created_at: key.created_at,
                    activated_at: key.activated_at,
                    retire_after: key.retire_after,
                })
                .collect(),
        })
    }

    fn loaded(&self) -> Option<Arc<LoadedKeys>> {
        self.loaded.read().map_or_else(
            |poisoned| poisoned.into_inner().clone(),
            |keys| keys.clone(),
        )
    }

    fn store(&self, keys: Arc<LoadedKeys>) {
        match self.loaded.write() {
            Ok(mut slot) => *slot = Some(keys),
            Err(poisoned) => *poisoned.into_inner() = Some(keys),
        }
    }

    /// The loaded keys, creating and loading them on first use.
    pub(crate) async fn current(&self) -> Result<Arc<LoadedKeys>, DomainError> {
        if let Some(keys) = self.loaded() {
            return Ok(keys);
        }
        let _first = self.loading.lock().await;
        if let Some(keys) = self.loaded() {
            return Ok(keys);
        }
        let records = self.ensure_keys().await?;
        let keys = Arc::new(Self::load(&self.master, &records)?);
        self.store(keys.clone());
        Ok(keys)
    }

    /// Re-reads the published keys (to see another replica's rotation).
    pub async fn reload(&self) -> Result<(), DomainError> {
        let records = self.ensure_keys().await?;
        // Most reloads find nothing new; skip decrypting and parsing the keys again then.
        let unchanged = self.loaded().is_some_and(|keys| {
            fingerprint(
                keys.summaries
                    .iter()
                    .map(|k| (&k.kid, k.state, k.activated_at, k.retire_after)),
            ) == fingerprint(
                records
                    .iter()
                    .map(|k| (&k.kid, k.state, k.activated_at, k.retire_after)),
            )
        });
        if !unchanged {
            self.store(Arc::new(Self::load(&self.master, &records)?));
        }
        Ok(())
    }

    /// The JWKS document, serialised once per load.
    pub async fn jwks_json(&self) -> Result<Arc<str>, DomainError> {
        Ok(self.current().await?.jwks.clone())
    }

    /// The published keys, active first.
    pub async fn summaries(&self) -> Result<Vec<KeySummary>, DomainError> {
        Ok(self.current().await?.summaries.clone())
    }

    /// Rotates now. Returns the new active key id.
    pub async fn rotate(&self, context: &RequestContext) -> Result<String, DomainError> {
        self.rotate_when(context, |_| true).await?.ok_or_else(|| {
            DomainError::internal(
                "another replica is rotating the signing keys; try again".to_owned(),
            )
        })
    }

    /// Rotates when the active key has signed for the rotation interval. True when this call
    /// rotated.
    pub async fn rotate_if_due(&self) -> Result<bool, DomainError> {
        let interval = chrono::Duration::from_std(self.settings.rotation_interval)
            .unwrap_or(chrono::Duration::MAX);
        let now = self.clock.now();
        let due_at =
            |activated: Option<DateTime<Utc>>| activated.is_some_and(|at| at + interval <= now);
        // Every replica asks every minute; only when its own copy says the active key is due
        // does it take the lease and look again in the database.
        if let Some(keys) = self.loaded() {
            let active = keys
                .summaries
                .iter()
                .find(|key| key.algorithm == DEFAULT_ALGORITHM && key.state == KeyState::Active);
            if !due_at(active.and_then(|key| key.activated_at)) {
                return Ok(false);
            }
        }
        let due = |records: &[SigningKeyRecord]| {
            records
                .iter()
                .find(|key| key.algorithm == DEFAULT_ALGORITHM && key.state == KeyState::Active)
                .is_some_and(|key| due_at(key.activated_at))
        };
        Ok(self
            .rotate_when(&RequestContext::default(), due)
            .await?
            .is_some())
    }

    async fn rotate_when(
        &self,
        context: &RequestContext,
        due: impl Fn(&[SigningKeyRecord]) -> bool,
    ) -> Result<Option<String>, DomainError> {
        if !self
            .leases
            .try_acquire(LEASE, &self.holder, Duration::from_secs(120))
            .await
            .map_err(storage)?
        {
            return Ok(None);
        }
        let result = self.rotate_holding_lease(context, due).await;
        self.leases
            .release(LEASE, &self.holder)
            .await
            .map_err(storage)?;
        let rotated = result?;
        self.reload().await?;
        Ok(rotated)
    }

    async fn rotate_holding_lease(
        &self,
        context: &RequestContext,
        due: impl Fn(&[SigningKeyRecord]) -> bool,
    ) -> Result<Option<String>, DomainError> {
        let now = self.clock.now();
        let records = self.repository.published(now).await?;
        if !due(&records) {
            return Ok(None);
        }
        let grace =
            chrono::Duration::from_std(self.settings.max_token_lifetime + Duration::from_secs(300))
                .unwrap_or(chrono::Duration::MAX);
        // Every algorithm rotates together; the answer is the default algorithm's new key.
        let mut promoted_default = None;
        for algorithm in ALGORITHMS {
            let Some(next) = records
                .iter()
                .find(|key| key.algorithm == algorithm && key.state == KeyState::Next)
            else {
                return Err(DomainError::internal(format!(
                    "no next {algorithm} signing key to promote"
                )));
            };
            let new_next = generate(
                &self.master,
                algorithm,
                self.settings.rsa_bits,
                KeyState::Next,
                now,
            )
            .await?;
            if !self
                .repository
                .rotate(&next.kid, &new_next, now, now + grace)
                .await?
            {
                return Ok(None);
            }
            tracing::info!(algorithm, active = %next.kid, next = %new_next.kid, "rotated the signing keys");
            self.events
                .record(
                    AuditEvent::new(AuditAction::KeyRotated, now, context)
                        .on(&next.kid)
                        .note(format!("algorithm={algorithm} next={}", new_next.kid)),
                )
                .await?;
            if algorithm == DEFAULT_ALGORITHM {
                promoted_default = Some(next.kid.clone());
            }
        }
        Ok(promoted_default)
    }
}
