//! Accounts, as three services by use case: [`RegistrationService`] creates accounts,
//! [`SessionService`] holds the sessions a sign-in opens and the refresh tokens that extend them
//! (with logout and immediate revocation), and [`ProfileService`] changes and deletes accounts
//! (self-service, a mailed reset link, or an administrator). HTTP handlers and the CLI call
//! them, so the rules live in one place. Signing in itself is the [`crate::signin`] flow, which
//! opens its sessions through [`SessionService`].

mod profile;
mod refresh;
mod registration;
mod sessions;

pub use profile::{ProfilePorts, ProfileService};
pub use registration::{RegistrationPorts, RegistrationService};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit::{AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::kv::KeyValueStore;
use crate::password::PasswordPolicy;
use crate::random::RandomSource;
use crate::ratelimit::RateLimiter;
use crate::sensitive::{AccessToken, Password, RefreshToken};
use crate::session::{
    RefreshRecord, RefreshTokenRepository, Session, SessionEnds, SessionId, SessionRepository,
};
use crate::token::{OrganizationDirectory, TokenIssuer, VerifiedToken};
use crate::user::{User, UserRepository};

/// Tunable rules of accounts, as configured; each service takes the part it enforces.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Failed sign-ins that lock an account.
    pub lockout_threshold: u32,
    /// How long a lock lasts, and the window in which failures are counted.
    pub lockout_duration: Duration,
    /// A refresh token unused for this long expires (sliding).
    pub refresh_idle: Duration,
    /// A session ends this long after sign-in, whatever the refreshes.
    pub session_absolute: Duration,
    /// What new passwords must meet.
    pub password_policy: PasswordPolicy,
    /// Every account must have a second factor: until it enrols one, a password sign-in gives
    /// a session that may only enrol (`mfa_enrollment_required`).
    pub mfa_required: bool,
    /// A password sign-in waits until the address is confirmed (`PendingConfirmation`).
    pub require_verified_email: bool,
    /// How often the API's refresh tokens may be exchanged; `None`: without limit.
    pub refresh_budget: Option<RefreshBudget>,
}

/// How often refresh tokens may be exchanged. Refresh tokens are long random secrets that
/// cannot be guessed, so they are not counted per address like a password; they are counted
/// per token family (a client stuck in a refresh loop) and per account (many devices at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshBudget {
    /// Exchanges per minute of one token family.
    pub per_family_per_minute: u64,
    /// Exchanges per minute of one account's refresh tokens, all families together.
    pub per_account_per_minute: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            lockout_threshold: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            refresh_idle: Duration::from_secs(30 * 24 * 3600),
            session_absolute: Duration::from_secs(90 * 24 * 3600),
            password_policy: PasswordPolicy::default(),
            mfa_required: false,
            require_verified_email: false,
            refresh_budget: None,
        }
    }
}

impl AccountSettings {
    /// The rules the session service enforces.
    pub fn sessions(&self) -> SessionSettings {
        SessionSettings {
            refresh_idle: self.refresh_idle,
            session_absolute: self.session_absolute,
            mfa_required: self.mfa_required,
            refresh_budget: self.refresh_budget,
        }
    }
}

/// Tunable rules of the session service.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A refresh token unused for this long expires (sliding).
    pub refresh_idle: Duration,
    /// A session ends this long after sign-in, whatever the refreshes.
    pub session_absolute: Duration,
    /// Sessions without a second factor may only enrol one.
    pub mfa_required: bool,
    /// How often the API's refresh tokens may be exchanged; `None`: without limit.
    pub refresh_budget: Option<RefreshBudget>,
}

/// The adapters the session service works through.
#[derive(Debug, Clone)]
pub struct SessionPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenRepository>,
    /// Access-token signing and verification.
    pub tokens: Arc<dyn TokenIssuer>,
    /// The revocation deny-list.
    pub kv: Arc<dyn KeyValueStore>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Random tokens and codes.
    pub random: Arc<dyn RandomSource>,
    /// Where ended sessions are announced.
    pub session_ends: SessionEnds,
}

/// A request to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Email address (normalised on the way in).
    pub email: String,
    /// The chosen password.
    pub password: Password,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// Tokens handed out at sign-in or refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The signed access token.
    pub access_token: AccessToken,
    /// The opaque refresh token (shown once, stored hashed).
    pub refresh_token: RefreshToken,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The session both belong to.
    pub session_id: SessionId,
    /// The signed-in user.
    pub user: User,
    /// How the user authenticated (RFC 8176 names).
    pub amr: Vec<String>,
    /// The platform requires a second factor and the user has none yet: this session may only
    /// enrol one.
    pub mfa_enrollment_required: bool,
}

/// A rotated refresh token: the next token, its record, and what it belongs to.
#[derive(Debug, Clone)]
pub struct RefreshExchange {
    /// The next refresh token (shown once).
    pub token: RefreshToken,
    /// Its stored record.
    pub record: RefreshRecord,
    /// The session it extends.
    pub session: Session,
    /// The session's user.
    pub user: User,
}

/// An authenticated caller: the user as stored now, and the token they presented.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, freshly loaded.
    pub user: User,
    /// The verified access token.
    pub token: VerifiedToken,
}

impl Principal {
    /// The caller's session.
    pub fn session_id(&self) -> SessionId {
        self.token.session_id
    }
}

/// Sessions and their tokens: opening one for a signed-in user, scoping it to an
/// organization, refresh-token rotation, and ending sessions on every replica at once.
#[derive(Debug, Clone)]
pub struct SessionService {
    ports: SessionPorts,
    settings: SessionSettings,
    organizations: Arc<dyn OrganizationDirectory>,
    limiter: RateLimiter,
}

/// A name field trimmed, empty as `None`, and refused past 100 characters or with control
/// characters.
fn clean_name(field: &'static str, name: Option<String>) -> Result<Option<String>, DomainError> {
    let Some(name) = name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
    else {
        return Ok(None);
    };
    let too_long = name.chars().count() > 100;
    let control = name.chars().any(char::is_control);
    let message = match (too_long, control) {
        (false, false) => return Ok(Some(name)),
        (true, false) => "must be at most 100 characters",
        (false, true) => "must not contain control characters (such as a tab or a line break)",
        (true, true) => {
            "must be at most 100 characters and must not contain control characters \
             (such as a tab or a line break)"
        }
    };
    Err(DomainError::invalid(field, message))
}

impl SessionService {
    /// A service over the given adapters; sessions are scoped to the organizations
    /// `organizations` resolves.
    pub fn new(
        ports: SessionPorts,
        settings: SessionSettings,
        organizations: Arc<dyn OrganizationDirectory>,
    ) -> Self {
        Self {
            limiter: RateLimiter::new(ports.kv.clone(), ports.clock.clone()),
            ports,
            settings,
            organizations,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.ports.events.record(event).await
    }
}
