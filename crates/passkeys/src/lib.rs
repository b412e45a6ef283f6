//! Passkeys for Castellan: WebAuthn registration and sign-in ceremonies through webauthn-rs.
//!
//! A ceremony's state lives in the key-value store for a short while under a random id, so the
//! replica that finishes a ceremony need not be the one that began it. Sign-in comes in three
//! forms: passwordless with a discoverable credential (no username), username-first, and as
//! the second step after a password.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan_domain::{
    AuditAction, AuditEvent, AuthMethod, Clock, DomainError, Email, EventSink, FirstFactor,
    KeyValueStore, MfaChallenges, OneTimeCode, PasskeyRecord, PasskeyRepository, Proof,
    RandomSource, RequestContext, User, UserId, UserRepository,
};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Webauthn, WebauthnBuilder,
    WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

pub use webauthn_rs::prelude::{
    PublicKeyCredential as AssertionResponse, RegisterPublicKeyCredential as AttestationResponse,
};

/// Who the relying party is.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// The RP id: the registrable domain passkeys are bound to (`example.com`).
    pub id: String,
    /// The name authenticators show.
    pub name: String,
    /// The origins pages may run ceremonies from; the first is the primary one.
    pub origins: Vec<Url>,
    /// Accept any port on these origins (development on localhost).
    pub allow_any_port: bool,
}

/// Why the relying party could not be set up; the message names what to change.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RelyingPartyError(String);

/// Builds the WebAuthn relying party, refusing an RP id that the origins cannot use.
pub fn relying_party(party: &RelyingParty) -> Result<Webauthn, RelyingPartyError> {
    let Some(primary) = party.origins.first() else {
        return Err(RelyingPartyError(
            "passkeys.origins is empty: list the origin of the pages (https://id.example.com)"
                .to_owned(),
        ));
    };
    if party.id.parse::<std::net::IpAddr>().is_ok() {
        return Err(RelyingPartyError(format!(
            "passkeys.rp_id is an IP address ({}); WebAuthn needs a domain name, such as \
             localhost or id.example.com",
            party.id
        )));
    }
    for origin in &party.origins {
        let host = origin.host_str().unwrap_or_default();
        if host != party.id && !host.ends_with(&format!(".{}", party.id)) {
            return Err(RelyingPartyError(format!(
                "passkeys.rp_id {} does not cover the origin {origin}: the RP id must be the \
                 origin's host or a parent domain of it",
                party.id
            )));
        }
    }
    let mut builder = WebauthnBuilder::new(&party.id, primary)
        .map_err(|error| RelyingPartyError(format!("passkeys: {error}")))?
        .rp_name(&party.name)
        .allow_any_port(party.allow_any_port);
    for origin in &party.origins[1..] {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .build()
        .map_err(|error| RelyingPartyError(format!("passkeys: {error}")))
}

/// What a ceremony remembers between its two calls.
#[derive(Debug, Serialize, Deserialize)]
enum Ceremony {
    Register {
        user_id: UserId,
        name: Option<String>,
        state: PasskeyRegistration,
    },
    Discoverable {
        state: DiscoverableAuthentication,
    },
    UsernameFirst {
        user_id: UserId,
        state: PasskeyAuthentication,
    },
    SecondFactor {
        user_id: UserId,
        mfa_token: OneTimeCode,
        state: PasskeyAuthentication,
    },
}

/// A ceremony begun: its id (send it back with the authenticator's answer) and the options for
/// `navigator.credentials`.
#[derive(Debug, Clone)]
pub struct Begun<T> {
    /// Names the ceremony's stored state.
    pub ceremony_id: String,
    /// The options for the browser.
    pub options: T,
}

/// Whom a sign-in ceremony is for.
#[derive(Debug, Clone, Default)]
pub struct SignInRequest {
    /// Username-first: the account's email. Unknown addresses get the passwordless options,
    /// so the answer reveals nothing.
    pub email: Option<String>,
    /// Second step after a password: the challenge from the first step.
    pub mfa_token: Option<OneTimeCode>,
}

/// The adapters the passkey service works through.
#[derive(Debug, Clone)]
pub struct PasskeyPorts {
    /// Registered passkeys.
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// Users, for username-first ceremonies and the owner of an assertion.
    pub users: Arc<dyn UserRepository>,
    /// Ceremony state, shared by every replica.
    pub kv: Arc<dyn KeyValueStore>,
    /// Pending second steps a passkey may answer.
    pub challenges: MfaChallenges,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Random tokens and codes.
    pub random: Arc<dyn RandomSource>,
}

/// The passkey use cases.
#[derive(Clone)]
pub struct PasskeyService {
    webauthn: Result<Arc<Webauthn>, RelyingPartyError>,
    passkeys: Arc<dyn PasskeyRepository>,
    users: Arc<dyn UserRepository>,
    kv: Arc<dyn KeyValueStore>,
    challenges: MfaChallenges,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    ceremony_ttl: Duration,
}

impl std::fmt::Debug for PasskeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyService")
            .field("configured", &self.webauthn.is_ok())
            .field("ceremony_ttl", &self.ceremony_ttl)
            .finish_non_exhaustive()
    }
}

fn encode_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Turns a WebAuthn failure into words a user or operator can act on.
fn ceremony_error(error: WebauthnError) -> DomainError {
    let message = match error {
        WebauthnError::InvalidRPOrigin => {
            "the page's origin is not one of this server's passkeys.origins".to_owned()
        }
        WebauthnError::InvalidRPIDHash => {
            "the passkey was made for another relying-party id than passkeys.rp_id".to_owned()
        }
        WebauthnError::MismatchedChallenge => {
            "the answer does not belong to this ceremony".to_owned()
        }
        WebauthnError::UserNotVerified => {
            "the authenticator did not verify the user (PIN or biometrics)".to_owned()
        }
        WebauthnError::CredentialAlteredAlgFromRequest | WebauthnError::CredentialNotFound => {
            "this passkey is not registered for the account".to_owned()
        }
        other => format!("the authenticator's answer was refused ({other})"),
    };
    DomainError::Passkey(message)
}

impl PasskeyService {
    /// A service for `party` (or the reason passkeys are off); ceremonies expire after
    /// `ceremony_ttl`.
    pub fn new(
        webauthn: Result<Webauthn, RelyingPartyError>,
        ports: PasskeyPorts,
        ceremony_ttl: Duration,
    ) -> Self {
        Self {
            webauthn: webauthn.map(Arc::new),
            passkeys: ports.passkeys,
            users: ports.users,
            kv: ports.kv,
            challenges: ports.challenges,
            events: ports.events,
            clock: ports.clock,
            random: ports.random,
            ceremony_ttl,
        }
    }

    /// Why passkeys are off, when they are.
    pub fn unavailable_reason(&self) -> Option<String> {
        self.webauthn.as_ref().err().map(ToString::to_string)
    }

    fn webauthn(&self) -> Result<&Webauthn, DomainError> {
        self.webauthn
            .as_deref()
            .map_err(|reason| DomainError::NotConfigured(reason.to_string()))
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    fn ceremony_key(id: &str) -> String {
        format!("passkey-ceremony:{id}")
    }

    async fn store(&self, ceremony: &Ceremony) -> Result<String, DomainError> {
        let bytes: [u8; 24] = self.random.bytes();
        let id = encode_id(&bytes);
        let value = serde_json::to_vec(ceremony)
            .map_err(|error| DomainError::caused("encoding a ceremony", error))?;
        self.kv
            .set(&Self::ceremony_key(&id), &value, Some(self.ceremony_ttl))
            .await?;
        Ok(id)
    }

    /// Takes a ceremony's state; each ceremony finishes at most once.
    async fn take(&self, id: &str) -> Result<Ceremony, DomainError> {
        let value = self
            .kv
            .take(&Self::ceremony_key(id))
            .await?
            .ok_or_else(|| {
                DomainError::Passkey("the ceremony is unknown or expired; begin again".to_owned())
            })?;
        serde_json::from_slice(&value)
            .map_err(|error| DomainError::caused("decoding a ceremony", error))
    }

    fn decode(record: &PasskeyRecord) -> Result<Passkey, DomainError> {
        serde_json::from_str(&record.credential).map_err(|error| {
            DomainError::caused(format!("stored passkey {} is invalid", record.id), error)
        })
    }

    /// The user's passkeys.
    pub async fn list(&self, user: UserId) -> Result<Vec<PasskeyRecord>, DomainError> {
        self.passkeys.list(user).await
    }

    /// Begins registering a passkey for a signed-in user. The options ask for a discoverable
    /// credential where the authenticator can make one, and exclude the user's existing ones.
    pub async fn begin_registration(
        &self,
        user: &User,
        name: Option<String>,
    ) -> Result<Begun<CreationChallengeResponse>, DomainError> {
        let webauthn = self.webauthn()?;
        let name = name.map(|name| clean_name(&name)).transpose()?;
        let existing = self.passkeys.list(user.id).await?;
        let exclude = existing
            .iter()
            .map(Self::decode)
            .map(|passkey| passkey.map(|passkey| passkey.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let display = match (&user.first_name, &user.last_name) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            (Some(first), None) => first.clone(),
            _ => user.email.as_str().to_owned(),
        };
        let (mut options, state) = webauthn
            .start_passkey_registration(user.id.0, user.email.as_str(), &display, Some(exclude))
            .map_err(ceremony_error)?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        let ceremony_id = self
            .store(&Ceremony::Register {
                user_id: user.id,
                name,
                state,
            })
            .await?;
        Ok(Begun {
            ceremony_id,
            options,
        })
    }

    /// Finishes a registration with the authenticator's answer and stores the passkey.
    pub async fn finish_registration(
        &self,
        user: &User,
        ceremony_id: &str,
        credential: &RegisterPublicKeyCredential,
        context: &RequestContext,
    ) -> Result<PasskeyRecord, DomainError> {
        let webauthn = self.webauthn()?;
        let Ceremony::Register {
            user_id,
            name,
            state,
        } = self.take(ceremony_id).await?
        else {
            return Err(DomainError::Passkey(
                "the ceremony is not a registration".to_owned(),
            ));
        };
        if user_id != user.id {
            return Err(DomainError::Passkey(
                "the ceremony belongs to another account".to_owned(),
            ));
        }
        let passkey = webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(ceremony_error)?;
        let count = self.passkeys.list(user.id).await?.len();
        let now = self.now();
        let record = PasskeyRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: encode_id(passkey.cred_id().as_ref()),
            name: name.unwrap_or_else(|| format!("Passkey {}", count + 1)),
            credential: serde_json::to_string(&passkey)
                .map_err(|error| DomainError::caused("encoding a passkey", error))?,
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            created_at: now,
            last_used_at: None,
        };
        self.passkeys.create(&record).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::PasskeyRegistered, now, context)
                    .by(user.id)
                    .on(record.id),
            )
            .await?;
        Ok(record)
    }

    /// Begins a sign-in ceremony: second step, username-first or passwordless.
    pub async fn begin_sign_in(
        &self,
        request: SignInRequest,
    ) -> Result<Begun<RequestChallengeResponse>, DomainError> {
        let webauthn = self.webauthn()?;
        if let Some(mfa_token) = request.mfa_token {
            let pending = self.challenges.peek(&mfa_token).await?;
            let passkeys = self.user_passkeys(pending.user_id).await?;
            if passkeys.is_empty() {
                return Err(DomainError::invalid(
                    "mfa_token",
                    "this account has no passkey; answer with a code instead",
                ));
            }
            let (options, state) = webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(ceremony_error)?;
            let ceremony_id = self
                .store(&Ceremony::SecondFactor {
                    user_id: pending.user_id,
                    mfa_token,
                    state,
                })
                .await?;
            return Ok(Begun {
                ceremony_id,
                options,
            });
        }
        if let Some(email) = request.email.as_deref().and_then(|e| Email::parse(e).ok())
            && let Some(user) = self.users.by_email(&email).await?
        {
            let passkeys = self.user_passkeys(user.id).await?;
            if !passkeys.is_empty() {
                let (options, state) = webauthn
                    .start_passkey_authentication(&passkeys)
                    .map_err(ceremony_error)?;
                let ceremony_id = self
                    .store(&Ceremony::UsernameFirst {
                        user_id: user.id,
                        state,
                    })
                    .await?;
                return Ok(Begun {
                    ceremony_id,
                    options,
                });
            }
        }
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(ceremony_error)?;
        let ceremony_id = self.store(&Ceremony::Discoverable { state }).await?;
        Ok(Begun {
            ceremony_id,
            options,
        })
    }

    async fn user_passkeys(&self, user: UserId) -> Result<Vec<Passkey>, DomainError> {
        self.passkeys
            .list(user)
            .await?
            .iter()
            .map(Self::decode)
            .collect()
    }

    /// Finishes a sign-in ceremony; returns its proof (a first factor, or the answer to a
    /// second step) for the sign-in flow, which opens the session.
    pub async fn finish_sign_in(
        &self,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        context: &RequestContext,
    ) -> Result<Proof, DomainError> {
        let webauthn = self.webauthn()?;
        let ceremony = self.take(ceremony_id).await?;
        let credential_id = encode_id(credential.raw_id.as_ref());
        let record = self
            .passkeys
            .by_credential_id(&credential_id)
            .await?
            .ok_or_else(|| {
                DomainError::Passkey("this passkey is not registered here".to_owned())
            })?;
        let mut passkey = Self::decode(&record)?;
        let (expected_user, second_factor, outcome) = match ceremony {
            Ceremony::Discoverable { state } => {
                let (user_handle, _) = webauthn
                    .identify_discoverable_authentication(credential)
                    .map_err(ceremony_error)?;
                if user_handle != record.user_id.0 {
                    return Err(DomainError::Passkey(
                        "the passkey's user handle does not match its account".to_owned(),
                    ));
                }
                let keys = [DiscoverableKey::from(&passkey)];
                let outcome = webauthn.finish_discoverable_authentication(credential, state, &keys);
                (None, None, outcome)
            }
            Ceremony::UsernameFirst { user_id, state } => {
                let outcome = webauthn.finish_passkey_authentication(credential, &state);
                (Some(user_id), None, outcome)
            }
            Ceremony::SecondFactor {
                user_id,
                mfa_token,
                state,
            } => {
                let outcome = webauthn.finish_passkey_authentication(credential, &state);
                (Some(user_id), Some(mfa_token), outcome)
            }
            Ceremony::Register { .. } => {
                return Err(DomainError::Passkey(
                    "the ceremony is a registration, not a sign-in".to_owned(),
                ));
            }
        };
        // Checked before the outcome, so another account's passkey is never reported as used.
        if expected_user.is_some_and(|user| user != record.user_id) {
            return Err(DomainError::Passkey(
                "this passkey belongs to another account".to_owned(),
            ));
        }
        let result = match outcome {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                self.events
                    .record(
                        AuditEvent::new(AuditAction::PasskeyCloneSuspected, self.now(), context)
                            .on(record.id)
                            .by(record.user_id)
                            .failed("signature counter went backwards"),
                    )
                    .await?;
                return Err(DomainError::Passkey(
                    "the authenticator's signature counter went backwards, so this passkey may \
                     have been copied; it was refused"
                        .to_owned(),
                ));
            }
            Err(error) => return Err(ceremony_error(error)),
        };
        let owner = record.user_id;
        self.record_use(record, &mut passkey, &result).await?;
        let user = self
            .users
            .by_id(owner)
            .await?
            .ok_or(DomainError::InvalidToken)?;
        Ok(match second_factor {
            Some(mfa_token) => Proof::Second {
                mfa_token,
                user,
                method: AuthMethod::HardwareKey,
            },
            None => FirstFactor::Passkey {
                user,
                user_verified: result.user_verified(),
            }
            .into(),
        })
    }

    /// Stores the counter, backup flags and last use after a successful assertion.
    async fn record_use(
        &self,
        mut record: PasskeyRecord,
        passkey: &mut Passkey,
        result: &AuthenticationResult,
    ) -> Result<(), DomainError> {
        passkey.update_credential(result);
        record.credential = serde_json::to_string(&*passkey)
            .map_err(|error| DomainError::caused("encoding a passkey", error))?;
        record.counter = result.counter();
        record.backup_eligible = result.backup_eligible();
        record.backup_state = result.backup_state();
        record.last_used_at = Some(self.now());
        self.passkeys.record_use(&record).await
    }

    /// Renames one of the user's passkeys.
    pub async fn rename(
        &self,
        user: UserId,
        id: Uuid,
        name: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let name = clean_name(name)?;
        if !self.passkeys.rename(user, id, &name).await? {
            return Err(DomainError::NotFound("passkey"));
        }
        self.events
            .record(
                AuditEvent::new(AuditAction::PasskeyRenamed, self.now(), context)
                    .by(user)
                    .on(id),
            )
            .await
    }

    /// Deletes one of the user's passkeys.
    pub async fn delete(
        &self,
        user: UserId,
        id: Uuid,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if !self.passkeys.delete(user, id).await? {
            return Err(DomainError::NotFound("passkey"));
        }
        self.events
            .record(
                AuditEvent::new(AuditAction::PasskeyDeleted, self.now(), context)
                    .by(user)
                    .on(id),
            )
            .await
    }
}

fn clean_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(id: &str, origins: &[&str]) -> RelyingParty {
        RelyingParty {
            id: id.to_owned(),
            name: "Castellan".to_owned(),
            origins: origins.iter().map(|o| Url::parse(o).unwrap()).collect(),
            allow_any_port: false,
        }
    }

    #[test]
    fn the_relying_party_must_cover_its_origins() {
        assert!(relying_party(&party("id.example.com", &["https://id.example.com"])).is_ok());
        assert!(
            relying_party(&party(
                "example.com",
                &["https://id.example.com", "https://app.example.com"]
            ))
            .is_ok()
        );
        let error = relying_party(&party("example.com", &["https://example.org"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not cover"), "{error}");
        let error = relying_party(&party("127.0.0.1", &["http://127.0.0.1:8000"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("IP address"), "{error}");
        let error = relying_party(&party("example.com", &[]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("passkeys.origins"), "{error}");
        // A suffix that is not a parent domain does not count.
        assert!(relying_party(&party("ample.com", &["https://example.com"])).is_err());
    }
}
