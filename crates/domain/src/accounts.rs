//! The account service: sign-up, sign-in with lockout, sessions, refresh-token rotation with
//! reuse detection, logout with immediate revocation, and self-service password and profile
//! changes. HTTP handlers and the CLI both call it, so the rules live in one place.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::mfa::{FactorDirectory, MfaChallenge, MfaChallenges, PendingSignIn};
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::session::{
    RefreshRecord, RefreshTokenRepository, RequestContext, Session, SessionEndListener, SessionId,
    SessionRepository,
};
use crate::token::{
    AccessGrant, OrgChoice, OrgClaims, OrganizationDirectory, TokenIssuer, VerifiedToken,
};
use crate::user::{Email, PlatformRole, ProfilePatch, User, UserId, UserRepository};
use crate::{Clock, DomainError, KeyValueStore};

/// Tunable rules of the account service.
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
        }
    }
}

/// The adapters the account service works through.
#[derive(Debug, Clone)]
pub struct AccountPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenRepository>,
    /// Access-token signing and verification.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Lock counters and the revocation deny-list.
    pub kv: Arc<dyn KeyValueStore>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Which second factors each user has.
    pub factors: Arc<dyn FactorDirectory>,
    /// Pending second steps.
    pub challenges: MfaChallenges,
}

/// A request to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Email address (normalised on the way in).
    pub email: String,
    /// The chosen password.
    pub password: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// Tokens handed out at sign-in or refresh.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The signed access token.
    pub access_token: String,
    /// The opaque refresh token (shown once, stored hashed).
    pub refresh_token: String,
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

/// How a sign-in ended. Callers match on the outcome rather than assume tokens, so a new step
/// fails to compile until every caller handles it.
#[derive(Debug, Clone)]
pub enum SignInOutcome {
    /// Signed in: here are the tokens.
    Complete(TokenPair),
    /// The password was right and a second factor must follow.
    SecondFactor(MfaChallenge),
}

/// How a first factor ended, for callers that open sessions themselves (the hosted pages).
#[derive(Debug, Clone)]
pub enum FirstFactor {
    /// The user is fully authenticated, with these methods (`amr`).
    Done(User, Vec<String>),
    /// A second factor must follow.
    SecondFactor(MfaChallenge),
}

/// A rotated refresh token: the next token, its record, and what it belongs to.
#[derive(Debug, Clone)]
pub struct RefreshExchange {
    /// The next refresh token (shown once).
    pub token: String,
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

/// The account use cases.
#[derive(Debug, Clone)]
pub struct AccountService {
    ports: AccountPorts,
    hasher: Arc<dyn PasswordHasher>,
    settings: AccountSettings,
    /// Set once at start-up, after the protocol services that listen are built on this one.
    session_end: Arc<OnceLock<Arc<dyn SessionEndListener>>>,
    /// Set once at start-up, after the organization service is built on this one's ports.
    organizations: Arc<OnceLock<Arc<dyn OrganizationDirectory>>>,
}

/// SHA-256 of a refresh token, hex-encoded, as stored.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The policy names of the first factors in `amr` (RFC 8176 names).
fn sign_in_methods(amr: &[String]) -> Vec<&'static str> {
    amr.iter()
        .filter_map(|method| match method.as_str() {
            "pwd" => Some("password"),
            "hwk" => Some("passkey"),
            "email" => Some("magic_link"),
            "fed" => Some("sso"),
            _ => None,
        })
        .collect()
}

/// A random value of 32 bytes, base64url: refresh tokens, emailed tokens, challenges,
/// invitations, client secrets.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `duration` as a chrono duration, saturating.
pub fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn clean_name(field: &'static str, name: Option<String>) -> Result<Option<String>, DomainError> {
    let Some(name) = name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
    else {
        return Ok(None);
    };
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must be at most 100 printable characters",
        ));
    }
    Ok(Some(name))
}

impl AccountService {
    /// A service over the given adapters.
    pub fn new(
        ports: AccountPorts,
        hasher: Arc<dyn PasswordHasher>,
        settings: AccountSettings,
    ) -> Self {
        Self {
            ports,
            hasher,
            settings,
            session_end: Arc::new(OnceLock::new()),
            organizations: Arc::new(OnceLock::new()),
        }
    }

    /// Registers where organizations are resolved for scoped tokens (once).
    pub fn use_organizations(&self, directory: Arc<dyn OrganizationDirectory>) {
        // A second registration is a wiring mistake with nothing to undo: keep the first.
        let _ = self.organizations.set(directory);
    }

    /// The organization claims of a session's tokens, as of now.
    async fn organization_claims(
        &self,
        session: &Session,
    ) -> Result<Option<OrgClaims>, DomainError> {
        match session.organization_id {
            Some(organization) => {
                self.session_organization_claims(organization, session)
                    .await
            }
            None => Ok(None),
        }
    }

    /// What tokens of `session` scoped to `organization` say about it now: `None` when the
    /// user is no longer a member; refused once the organization's session lifetime has
    /// passed since sign-in.
    pub async fn session_organization_claims(
        &self,
        organization: crate::OrganizationId,
        session: &Session,
    ) -> Result<Option<OrgClaims>, DomainError> {
        let Some(directory) = self.organizations.get() else {
            return Ok(None);
        };
        let Some(claims) = directory.claims(organization, session.user_id).await? else {
            return Ok(None);
        };
        if let Some(hours) = claims.session_lifetime_hours
            && self.now() >= session.created_at + chrono::Duration::hours(i64::from(hours))
        {
            return Err(DomainError::Forbidden(
                "this organization's session lifetime has passed; sign in again",
            ));
        }
        Ok(Some(claims))
    }

    /// The organizations `user` belongs to, for a picker.
    pub async fn organization_choices(&self, user: UserId) -> Result<Vec<OrgChoice>, DomainError> {
        match self.organizations.get() {
            Some(directory) => directory.of_user(user).await,
            None => Ok(Vec::new()),
        }
    }

    /// The organization `reference` (id or slug) names, when `user`, signed in with `amr`,
    /// belongs to it and meets its policy.
    pub async fn organization_for_session(
        &self,
        user: &User,
        amr: &[String],
        reference: &str,
    ) -> Result<crate::OrganizationId, DomainError> {
        self.organization_for(user, Some(amr), reference).await
    }

    /// Scopes the caller's session to an organization (by id or slug; `None` for no
    /// organization) and mints new tokens from it; later refreshes keep the scope and pick up
    /// role changes.
    pub async fn switch_organization(
        &self,
        principal: &Principal,
        organization: Option<&str>,
    ) -> Result<TokenPair, DomainError> {
        let target = match organization {
            Some(reference) => Some(
                self.organization_for(&principal.user, Some(&principal.token.amr), reference)
                    .await?,
            ),
            None => None,
        };
        self.ports
            .sessions
            .set_organization(principal.session_id(), target)
            .await?;
        let (session, user) = self
            .active_session(principal.session_id())
            .await?
            .ok_or(DomainError::InvalidToken)?;
        self.issue_pair(user, &session).await
    }

    /// Registers the listener told about every ended session (once; later calls are ignored).
    pub fn on_session_end(&self, listener: Arc<dyn SessionEndListener>) {
        // A second registration is a wiring mistake with nothing to undo: keep the first.
        let _ = self.session_end.set(listener);
    }

    /// The adapters, for services that share them.
    pub fn ports(&self) -> &AccountPorts {
        &self.ports
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.ports.events.record(event).await
    }

    /// Checks and prepares a new account with `role`, without storing it.
    pub async fn prepare_account(
        &self,
        new: NewAccount,
        role: PlatformRole,
    ) -> Result<User, DomainError> {
        let email = Email::parse(&new.email)?;
        self.settings.password_policy.check(&new.password)?;
        let first_name = clean_name("first_name", new.first_name)?;
        let last_name = clean_name("last_name", new.last_name)?;
        if self.ports.users.by_email(&email).await?.is_some() {
            return Err(DomainError::Conflict("email"));
        }
        let now = self.now();
        Ok(User {
            id: UserId::new(),
            email,
            first_name,
            last_name,
            email_verified: false,
            role,
            password_hash: Some(self.hasher.hash(&new.password).await?),
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates an account with the `user` role.
    pub async fn sign_up(
        &self,
        new: NewAccount,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        self.create_account(new, PlatformRole::User, None, context)
            .await
    }

    /// Creates an account with any role; `actor` is who asked (for the audit log).
    pub async fn create_account(
        &self,
        new: NewAccount,
        role: PlatformRole,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let user = self.prepare_account(new, role).await?;
        self.ports.users.create(&user).await?;
        let mut event = AuditEvent::new(AuditAction::Signup, self.now(), context)
            .on(user.id)
            .note(format!("role={}", role.as_str()));
        if let Some(actor) = actor {
            event = event.by(actor);
        }
        self.record(event).await?;
        Ok(user)
    }

    fn lock_key(email: &str) -> String {
        format!("lock:{email}")
    }

    fn failures_key(email: &str) -> String {
        format!("signin-failures:{email}")
    }

    /// Signs in with email and password. Unknown accounts and wrong passwords answer alike and
    /// take the same time; repeated failures lock the address for a while (also when it has no
    /// account, so the lock reveals nothing either).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<SignInOutcome, DomainError> {
        match self
            .password_factor(email, password, organization, context)
            .await?
        {
            FirstFactor::Done(user, amr) => {
                let pair = self
                    .start_session_in(user, amr, organization, context)
                    .await?;
                Ok(SignInOutcome::Complete(pair))
            }
            FirstFactor::SecondFactor(challenge) => Ok(SignInOutcome::SecondFactor(challenge)),
        }
    }

    /// Checks the password and decides whether a second factor must follow; when it must, opens
    /// the challenge the second step answers (remembering the `organization` asked for, whose
    /// membership is checked now).
    pub async fn password_factor(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<FirstFactor, DomainError> {
        let user = self.check_credentials(email, password, context).await?;
        if self.settings.require_verified_email && !user.email_verified {
            return Err(DomainError::PendingConfirmation);
        }
        if let Some(reference) = organization {
            self.organization_for(&user, None, reference).await?;
        }
        self.first_factor_done(user, vec!["pwd".to_owned()], organization, context)
            .await
    }

    /// The organization `reference` (id or slug) names, when `user` belongs to it and, with
    /// `amr` known, the sign-in meets its policy.
    async fn organization_for(
        &self,
        user: &User,
        amr: Option<&[String]>,
        reference: &str,
    ) -> Result<crate::OrganizationId, DomainError> {
        let directory = self
            .organizations
            .get()
            .ok_or(DomainError::NotConfigured("organizations".to_owned()))?;
        let id = directory
            .resolve(reference)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        let claims = directory
            .claims(id, user.id)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        let strong = |amr: &[String]| amr.iter().any(|m| m == "mfa" || m == "hwk");
        if claims.mfa_required && amr.is_some_and(|amr| !strong(amr)) {
            return Err(DomainError::Forbidden(
                "this organization requires two-step sign-in; sign in with a second factor first",
            ));
        }
        if let Some(amr) = amr
            && !claims.allowed_sign_in_methods.is_empty()
            && !sign_in_methods(amr)
                .iter()
                .any(|method| claims.allowed_sign_in_methods.iter().any(|a| a == method))
        {
            return Err(DomainError::Forbidden(
                "this organization does not allow the way this session signed in",
            ));
        }
        Ok(id)
    }

    /// Opens a session like [`Self::start_session`], scoped to `organization` when one is
    /// named (the user must belong to it and meet its policy).
    pub async fn start_session_in(
        &self,
        user: User,
        amr: Vec<String>,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let Some(reference) = organization else {
            return self.start_session(user, amr, context).await;
        };
        let id = self.organization_for(&user, Some(&amr), reference).await?;
        let mut session = self.open_session(&user, amr, context).await?;
        self.ports
            .sessions
            .set_organization(session.id, Some(id))
            .await?;
        session.organization_id = Some(id);
        self.issue_pair(user, &session).await
    }

    /// A first factor (`amr`) has passed: done, or a second factor must follow and its
    /// challenge is open.
    pub async fn first_factor_done(
        &self,
        user: User,
        amr: Vec<String>,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<FirstFactor, DomainError> {
        let methods = self.ports.factors.second_factors(user.id).await?;
        if methods.is_empty() {
            return Ok(FirstFactor::Done(user, amr));
        }
        let mut pending =
            PendingSignIn::after_first_factor(&user, amr, methods, self.now(), context);
        pending.organization = organization.map(str::to_owned);
        let challenge = self.ports.challenges.open(pending).await?;
        Ok(FirstFactor::SecondFactor(challenge))
    }

    /// What new passwords must meet.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.settings.password_policy
    }

    /// Sets a new password for someone who proved control of the address (a reset link):
    /// every session ends.
    pub async fn reset_password(
        &self,
        mut user: User,
        new: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.settings.password_policy.check(new)?;
        user.password_hash = Some(self.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self.revoke_all_sessions(user.id, None).await?;
        self.record(
            AuditEvent::new(AuditAction::PasswordChanged, self.now(), context)
                .on(user.id)
                .note(format!("reset by email; {ended} sessions ended")),
        )
        .await
    }

    /// Creates an account without a password for an address its owner has just proved (a
    /// magic-link sign-up).
    pub async fn create_passwordless(
        &self,
        email: &str,
        role: PlatformRole,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let email = Email::parse(email)?;
        let now = self.now();
        let user = User {
            id: UserId::new(),
            email,
            first_name: None,
            last_name: None,
            email_verified: true,
            role,
            password_hash: None,
            created_at: now,
            updated_at: now,
        };
        self.ports.users.create(&user).await?;
        self.record(
            AuditEvent::new(AuditAction::Signup, now, context)
                .on(user.id)
                .note(format!("role={}; magic link", role.as_str())),
        )
        .await?;
        Ok(user)
    }

    /// Refuses while the address is locked.
    pub async fn ensure_unlocked(&self, email: &str) -> Result<(), DomainError> {
        match self.ports.kv.time_to_live(&Self::lock_key(email)).await? {
            Some(left) => Err(DomainError::AccountLocked { retry_after: left }),
            None => Ok(()),
        }
    }

    /// Counts a wrong second-factor code against the account's lockout, like a wrong password,
    /// and returns the error to answer with (`InvalidMfaCode`, or the lock).
    pub async fn second_factor_failed(&self, email: &str, context: &RequestContext) -> DomainError {
        match self.register_failure(email, context).await {
            DomainError::InvalidCredentials => match self.ensure_unlocked(email).await {
                Ok(()) => DomainError::InvalidMfaCode,
                Err(error) => error,
            },
            other => other,
        }
    }

    /// Checks an email and password with the lockout rules of [`Self::sign_in`] and returns the
    /// user, without opening a session: the hosted pages open a browser session themselves
    /// once every step of their flow is done.
    pub async fn check_credentials(
        &self,
        email: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let parsed = Email::parse(email).ok();
        // What failures and locks are counted against, and what the audit log names. Input that
        // is not an address may be a password typed into the wrong field: keep only its hash.
        let normalised = parsed.as_ref().map_or_else(
            || format!("sha256:{}", hash_token(email)),
            |email| email.as_str().to_owned(),
        );
        self.ensure_unlocked(&normalised).await?;
        let user = match &parsed {
            Some(email) => self.ports.users.by_email(email).await?,
            None => None,
        };
        let verified = match user.as_ref().and_then(|user| user.password_hash.as_deref()) {
            Some(hash) => self.hasher.verify(password, hash).await?,
            None => {
                self.hasher.verify_decoy(password).await?;
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            return Err(self.register_failure(&normalised, context).await);
        };
        // The failure count is cleared when a session opens, not here: a right password
        // followed by wrong second-factor codes must keep counting.
        Ok(user)
    }

    /// Counts a failed attempt and locks the address at the threshold. Returns the error to
    /// answer with.
    async fn register_failure(&self, email: &str, context: &RequestContext) -> DomainError {
        let result: Result<(), DomainError> = async {
            let window = self.settings.lockout_duration;
            let counter = self
                .ports
                .kv
                .increment(&Self::failures_key(email), 1, window)
                .await?;
            let mut event = AuditEvent::new(AuditAction::SigninFailed, self.now(), context)
                .failed("invalid credentials");
            event.target = Some(email.to_owned());
            self.record(event).await?;
            if counter.value >= i64::from(self.settings.lockout_threshold) {
                self.ports
                    .kv
                    .set(&Self::lock_key(email), b"1", Some(window))
                    .await?;
                self.ports.kv.delete(&Self::failures_key(email)).await?;
                let mut event = AuditEvent::new(AuditAction::Lockout, self.now(), context)
                    .note(format!("{} failed attempts", counter.value));
                event.target = Some(email.to_owned());
                self.record(event).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => DomainError::InvalidCredentials,
            Err(error) => error,
        }
    }

    /// Opens a session for a user who has proven who they are with `amr`, and issues tokens.
    pub async fn start_session(
        &self,
        user: User,
        amr: Vec<String>,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let session = self.open_session(&user, amr, context).await?;
        self.issue_pair(user, &session).await
    }

    /// Opens a session for a user who has proven who they are with `amr`, without tokens (a
    /// browser sign-in session for the hosted pages), and records the sign-in.
    pub async fn open_session(
        &self,
        user: &User,
        amr: Vec<String>,
        context: &RequestContext,
    ) -> Result<Session, DomainError> {
        let now = self.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + chrono_duration(self.settings.session_absolute),
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            amr,
            revoked_at: None,
            organization_id: None,
        };
        self.ports.sessions.create(&session).await?;
        self.ports
            .kv
            .delete(&Self::failures_key(user.email.as_str()))
            .await?;
        if let Some(directory) = self.organizations.get() {
            directory.join_by_domain(user, context).await?;
        }
        self.record(
            AuditEvent::new(AuditAction::SigninSucceeded, now, context)
                .by(user.id)
                .on(session.id)
                .note(format!("amr={}", session.amr.join(","))),
        )
        .await?;
        Ok(session)
    }

    /// Whether a session authenticated with `amr` may only enrol a second factor: the platform
    /// requires one and the sign-in did not use one.
    pub fn needs_enrollment(&self, amr: &[String]) -> bool {
        self.settings.mfa_required && !amr.iter().any(|method| method == "mfa" || method == "hwk")
    }

    /// The session with this id and its user, while the session is active.
    pub async fn active_session(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, DomainError> {
        let Some(session) = self.ports.sessions.get(id).await? else {
            return Ok(None);
        };
        if !session.is_active(self.now()) {
            return Ok(None);
        }
        Ok(self
            .ports
            .users
            .by_id(session.user_id)
            .await?
            .map(|user| (session, user)))
    }

    async fn issue_pair(&self, user: User, session: &Session) -> Result<TokenPair, DomainError> {
        let (refresh_token, record) = self.new_refresh_record(session, None, Uuid::now_v7(), None);
        self.ports.refresh_tokens.insert(&record).await?;
        self.pair(user, session, refresh_token).await
    }

    /// Issues a refresh token to an OAuth client for `scope` within a session; returns the
    /// token and its grant id.
    pub async fn issue_client_refresh(
        &self,
        session: &Session,
        client_id: &str,
        scope: &str,
        organization: Option<crate::OrganizationId>,
    ) -> Result<(String, Uuid), DomainError> {
        let grant_id = Uuid::now_v7();
        let (token, record) = self.new_refresh_record(
            session,
            Some((client_id.to_owned(), scope.to_owned())),
            grant_id,
            organization,
        );
        self.ports.refresh_tokens.insert(&record).await?;
        Ok((token, grant_id))
    }

    /// A fresh refresh token and its record, expiring at the sliding or the absolute end.
    fn new_refresh_record(
        &self,
        session: &Session,
        client: Option<(String, String)>,
        grant_id: Uuid,
        organization: Option<crate::OrganizationId>,
    ) -> (String, RefreshRecord) {
        let now = self.now();
        let refresh_token = random_token();
        let sliding_end = now + chrono_duration(self.settings.refresh_idle);
        let (client_id, scope) = client.unzip();
        let record = RefreshRecord {
            id: Uuid::now_v7(),
            session_id: session.id,
            token_hash: hash_token(&refresh_token),
            created_at: now,
            expires_at: sliding_end.min(session.expires_at),
            used_at: None,
            client_id,
            scope,
            grant_id,
            organization_id: organization,
        };
        (refresh_token, record)
    }

    async fn pair(
        &self,
        user: User,
        session: &Session,
        refresh_token: String,
    ) -> Result<TokenPair, DomainError> {
        let access = self
            .ports
            .tokens
            .issue(&AccessGrant {
                user_id: user.id,
                session_id: session.id,
                role: user.role,
                email: user.email.as_str().to_owned(),
                email_verified: user.email_verified,
                amr: session.amr.clone(),
                organization: self.organization_claims(session).await?,
            })
            .await?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token,
            expires_in: access.expires_in,
            session_id: session.id,
            mfa_enrollment_required: self.needs_enrollment(&session.amr),
            amr: session.amr.clone(),
            user,
        })
    }

    /// Exchanges a refresh token for a new pair. A token already exchanged means it leaked: the
    /// session and all its tokens are revoked.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let exchange = self.exchange_refresh(refresh_token, None, context).await?;
        self.pair(exchange.user, &exchange.session, exchange.token)
            .await
    }

    /// Rotates a refresh token issued to `client` (`None`: Castellan's own API) and returns the
    /// next one with its session and user. A token of another client is refused before it is
    /// touched; a token already exchanged revokes its session.
    pub async fn exchange_refresh(
        &self,
        refresh_token: &str,
        client: Option<&str>,
        context: &RequestContext,
    ) -> Result<RefreshExchange, DomainError> {
        let now = self.now();
        let Some((record, session, user)) = self
            .ports
            .refresh_tokens
            .by_hash_with_owner(&hash_token(refresh_token))
            .await?
        else {
            return Err(DomainError::InvalidToken);
        };
        if record.client_id.as_deref() != client {
            return Err(DomainError::InvalidToken);
        }
        if record.used_at.is_some() {
            return Err(self.reuse_detected(&record, context).await);
        }
        if record.expires_at <= now || !session.is_active(now) {
            return Err(DomainError::InvalidToken);
        }
        let client = record.client_id.clone().zip(record.scope.clone());
        let (token, next) =
            self.new_refresh_record(&session, client, record.grant_id, record.organization_id);
        if !self
            .ports
            .refresh_tokens
            .rotate(record.id, now, &next)
            .await?
        {
            // Another request exchanged it between our read and now: the same leak.
            return Err(self.reuse_detected(&record, context).await);
        }
        Ok(RefreshExchange {
            token,
            record: next,
            session,
            user,
        })
    }

    /// What a refresh token stands for now: its record and session when it is unused, unexpired
    /// and its session active (for introspection; nothing changes).
    pub async fn inspect_refresh(
        &self,
        refresh_token: &str,
    ) -> Result<Option<(RefreshRecord, Session)>, DomainError> {
        let now = self.now();
        let Some(record) = self.find_refresh(refresh_token).await? else {
            return Ok(None);
        };
        if record.used_at.is_some() || record.expires_at <= now {
            return Ok(None);
        }
        Ok(match self.ports.sessions.get(record.session_id).await? {
            Some(session) if session.is_active(now) => Some((record, session)),
            _ => None,
        })
    }

    /// Revokes the grant a refresh token of `client_id` belongs to; false when the token is
    /// unknown or another client's (RFC 7009 answers alike either way).
    pub async fn revoke_refresh_grant(
        &self,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<bool, DomainError> {
        let Some(record) = self.find_refresh(refresh_token).await? else {
            return Ok(false);
        };
        if record.client_id.as_deref() != Some(client_id) {
            return Ok(false);
        }
        Ok(self
            .ports
            .refresh_tokens
            .revoke_grant(record.grant_id)
            .await?
            > 0)
    }

    /// Revokes every refresh token a client holds for a user (consent withdrawn).
    pub async fn revoke_client_tokens(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<u64, DomainError> {
        self.ports
            .refresh_tokens
            .revoke_client_tokens(user, client_id)
            .await
    }

    /// Revokes every refresh token of a grant (a replayed authorization code's, say).
    pub async fn revoke_grant(&self, grant_id: Uuid) -> Result<(), DomainError> {
        self.ports.refresh_tokens.revoke_grant(grant_id).await?;
        Ok(())
    }

    /// True when a session was revoked (the shared deny-list, then the database).
    pub async fn is_session_revoked(&self, session: SessionId) -> Result<bool, DomainError> {
        Ok(self
            .ports
            .kv
            .get(&Self::revoked_key(session))
            .await?
            .is_some())
    }

    /// Ends a session by id (hosted-page logout, RP-initiated logout).
    pub async fn end_session(
        &self,
        session: &Session,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.revoke_sessions(&[session.id]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(session.user_id)
                .on(session.id),
        )
        .await
    }

    async fn reuse_detected(
        &self,
        record: &RefreshRecord,
        context: &RequestContext,
    ) -> DomainError {
        let result: Result<(), DomainError> = async {
            let session = self.ports.sessions.get(record.session_id).await?;
            self.revoke_sessions(&[record.session_id]).await?;
            let mut event = AuditEvent::new(AuditAction::RefreshReuse, self.now(), context)
                .on(record.session_id)
                .failed("a rotated refresh token was presented again; session revoked");
            event.actor = session.map(|session| session.user_id);
            self.record(event).await
        }
        .await;
        match result {
            Ok(()) => DomainError::InvalidToken,
            Err(error) => error,
        }
    }

    /// The stored record of a refresh token, if there is one.
    async fn find_refresh(
        &self,
        refresh_token: &str,
    ) -> Result<Option<RefreshRecord>, DomainError> {
        self.ports
            .refresh_tokens
            .by_hash(&hash_token(refresh_token))
            .await
    }

    /// The stored record of a refresh token; `InvalidToken` when there is none.
    async fn refresh_record(&self, refresh_token: &str) -> Result<RefreshRecord, DomainError> {
        self.find_refresh(refresh_token)
            .await?
            .ok_or(DomainError::InvalidToken)
    }

    fn revoked_key(session: SessionId) -> String {
        format!("revoked-session:{session}")
    }

    /// Revokes sessions in the database and puts them on the deny-list.
    async fn revoke_sessions(&self, sessions: &[SessionId]) -> Result<(), DomainError> {
        let now = self.now();
        for session in sessions {
            self.ports.sessions.revoke(*session, now).await?;
        }
        self.deny_list(sessions).await
    }

    /// Puts sessions on the shared deny-list (already revoked in the database), so their
    /// access tokens stop working on every replica at once, and tells the listener.
    async fn deny_list(&self, sessions: &[SessionId]) -> Result<(), DomainError> {
        // The entry must outlive every access token of the session, clients' longer-lived
        // ones included.
        let longest = Duration::from_secs(crate::client::MAX_ACCESS_TOKEN_LIFETIME_SECS);
        let ttl = self.ports.tokens.access_token_lifetime().max(longest) + Duration::from_secs(60);
        for session in sessions {
            self.ports
                .kv
                .set(&Self::revoked_key(*session), b"1", Some(ttl))
                .await?;
        }
        if let Some(listener) = self.session_end.get()
            && !sessions.is_empty()
        {
            listener.sessions_ended(sessions).await;
        }
        Ok(())
    }

    /// Checks an access token: signature and expiry, then the deny-list, then that the user
    /// still exists.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, DomainError> {
        let token = self.ports.tokens.verify(access_token).await?;
        if self
            .ports
            .kv
            .get(&Self::revoked_key(token.session_id))
            .await?
            .is_some()
        {
            return Err(DomainError::InvalidToken);
        }
        let Some(user) = self.ports.users.by_id(token.user_id).await? else {
            return Err(DomainError::InvalidToken);
        };
        Ok(Principal { user, token })
    }

    /// Ends the caller's session.
    pub async fn logout(
        &self,
        principal: &Principal,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.revoke_sessions(&[principal.session_id()]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(principal.user.id)
                .on(principal.session_id()),
        )
        .await
    }

    /// Ends the session a refresh token belongs to (logout with only the refresh token).
    pub async fn logout_refresh_token(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let record = self.refresh_record(refresh_token).await?;
        let session = self.ports.sessions.get(record.session_id).await?;
        self.revoke_sessions(&[record.session_id]).await?;
        let mut event =
            AuditEvent::new(AuditAction::Logout, self.now(), context).on(record.session_id);
        event.actor = session.map(|session| session.user_id);
        self.record(event).await
    }

    /// The caller's active sessions, newest first.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, DomainError> {
        self.ports
            .sessions
            .active_for_user(principal.user.id, self.now())
            .await
    }

    /// Ends one of the caller's sessions; `NotFound` for anyone else's.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        session: SessionId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        match self.ports.sessions.get(session).await? {
            Some(found) if found.user_id == principal.user.id && found.is_active(self.now()) => {}
            _ => return Err(DomainError::NotFound("session")),
        }
        self.revoke_sessions(&[session]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(principal.user.id)
                .on(session),
        )
        .await
    }

    /// Ends every session of a user except `keep`; returns how many ended.
    pub async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<usize, DomainError> {
        let revoked = self
            .ports
            .sessions
            .revoke_all_for_user(user, keep, self.now())
            .await?;
        self.deny_list(&revoked).await?;
        Ok(revoked.len())
    }

    async fn check_password(
        &self,
        principal: &Principal,
        password: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let matches = match principal.user.password_hash.as_deref() {
            Some(hash) => self.hasher.verify(password, hash).await?,
            None => false,
        };
        if matches {
            Ok(())
        } else {
            Err(self
                .register_failure(principal.user.email.as_str(), context)
                .await)
        }
    }

    /// Changes the caller's password after checking the current one, and signs out every
    /// other session.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.check_password(principal, current, context).await?;
        self.settings.password_policy.check(new)?;
        if current == new {
            return Err(DomainError::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let mut user = principal.user.clone();
        user.password_hash = Some(self.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self
            .revoke_all_sessions(user.id, Some(principal.session_id()))
            .await?;
        self.record(
            AuditEvent::new(AuditAction::PasswordChanged, self.now(), context)
                .by(user.id)
                .on(user.id)
                .note(format!("{ended} other sessions ended")),
        )
        .await
    }

    /// Deletes the caller's account after checking the password; every session ends.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.check_password(principal, password, context).await?;
        self.delete_user(&principal.user, Some(principal.user.id), context)
            .await
    }

    /// Deletes a user and ends their sessions; `actor` is who asked.
    pub async fn delete_user(
        &self,
        user: &User,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.revoke_all_sessions(user.id, None).await?;
        if !self.ports.users.delete(user.id).await? {
            return Err(DomainError::NotFound("user"));
        }
        let mut event = AuditEvent::new(AuditAction::UserDeleted, self.now(), context).on(user.id);
        event.actor = actor;
        self.record(event).await
    }

    /// Changes profile fields of `user`; `actor` is who asked.
    pub async fn update_profile(
        &self,
        user: &User,
        patch: ProfilePatch,
        actor: UserId,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let mut updated = user.clone();
        if patch.first_name.is_some() {
            updated.first_name = clean_name("first_name", patch.first_name)?;
        }
        if patch.last_name.is_some() {
            updated.last_name = clean_name("last_name", patch.last_name)?;
        }
        updated.updated_at = self.now();
        self.ports.users.update(&updated).await?;
        self.record(
            AuditEvent::new(AuditAction::ProfileUpdated, self.now(), context)
                .by(actor)
                .on(user.id),
        )
        .await?;
        Ok(updated)
    }
}
