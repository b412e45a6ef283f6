//! Mail and the flows that send it: email verification, password reset, magic links, email
//! change, and security notices. Messages go into a durable queue that a worker drains, so a
//! request never waits on a mail server and nothing accepted is lost when one is down.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::{ProfileService, RegistrationService};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::secret::{chrono_duration, hash_token};
use crate::sensitive::{OneTimeCode, Password};
use crate::session::RequestContext;
use crate::signin::factor::FirstFactor;
use crate::user::{Email, PlatformRole, User, UserId, UserRepository};
use crate::{Clock, DomainError, NewAccount, RandomSource};

mod notices;
mod requests;

pub use notices::{NoticePorts, NoticeSink};
pub use requests::{LinkKind, LinkRequest, LinkRequestQueue, QueuedLinkRequest};

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    /// Queue id.
    pub id: Uuid,
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// A queued message and how often sending it failed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// The message.
    pub mail: OutgoingMail,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What a message says; the `mail` crate turns it into text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Confirm the address with `link`.
    VerifyEmail {
        /// The confirmation link.
        link: String,
    },
    /// Choose a new password at `link`.
    PasswordReset {
        /// The reset link.
        link: String,
    },
    /// Sign in with `link`.
    MagicLink {
        /// The sign-in link.
        link: String,
    },
    /// Confirm that `new_email` replaces the account's address (sent to the new address).
    ConfirmEmailChange {
        /// The confirmation link.
        link: String,
        /// The address asked for.
        new_email: String,
    },
    /// Someone asked to move the account to `new_email` (sent to the old address).
    EmailChangeRequested {
        /// The address asked for.
        new_email: String,
    },
    /// The password was changed.
    PasswordChanged,
    /// Two-step sign-in was turned on or off, or backup codes replaced.
    MfaChanged {
        /// What changed, in words.
        what: String,
    },
    /// A passkey was added or removed.
    PasskeyChanged {
        /// What changed, in words.
        what: String,
    },
    /// Too many failed sign-ins locked the account for a while.
    AccountLocked,
    /// An invitation to join `organization` at `link`.
    Invitation {
        /// The organization's name.
        organization: String,
        /// Where to accept it.
        link: String,
    },
    /// A sign-in from a device not seen before.
    NewSignIn {
        /// The IP address.
        ip: Option<String>,
        /// The browser or app.
        user_agent: Option<String>,
    },
}

/// Renders notices as messages.
pub trait MailComposer: Send + Sync + std::fmt::Debug {
    /// The message telling `to` about `notice`.
    fn compose(&self, to: &str, notice: &Notice) -> Result<OutgoingMail, DomainError>;
}

/// The durable outbox: a table the worker drains.
#[async_trait::async_trait]
pub trait MailQueue: Send + Sync + std::fmt::Debug {
    /// Stores a message to send as soon as possible.
    async fn enqueue(&self, mail: &OutgoingMail, at: DateTime<Utc>) -> Result<(), DomainError>;
    /// Claims up to `limit` messages due at `now`, hiding them from other workers until
    /// `lease_until` (a crashed worker's claim lapses and another sends them).
    async fn claim(
        &self,
        limit: u64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<QueuedMail>, DomainError>;
    /// Marks a message sent.
    async fn sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError>;
    /// Deletes every message to `recipient`, sent or not (erasure); returns how many.
    async fn forget(&self, recipient: &str) -> Result<u64, DomainError>;
    /// Records a failed attempt; the message is due again at `retry_at`, or never when `None`
    /// (given up after too many attempts; it stays in the table for operators).
    async fn failed(
        &self,
        id: Uuid,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), DomainError>;
}

/// A transport that delivers one message (SMTP, or files for the embedded mode).
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers the message; the error text is for logs and the outbox row.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String>;
}

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenPurpose {
    /// Confirms the account's address.
    VerifyEmail,
    /// Sets a new password.
    PasswordReset,
    /// Signs in.
    MagicLink,
    /// Moves the account to a new address.
    EmailChange,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::MagicLink => "magic_link",
            Self::EmailChange => "email_change",
        }
    }
}

/// An emailed token as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    /// SHA-256 of the token.
    pub hash: String,
    /// What it is for.
    pub purpose: TokenPurpose,
    /// The account, when one exists (a magic link may sign up a new address).
    pub user_id: Option<UserId>,
    /// The address it was sent to.
    pub email: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Dead after this.
    pub expires_at: DateTime<Utc>,
}

/// Storage of emailed tokens.
#[async_trait::async_trait]
pub trait EmailTokenRepository: Send + Sync + std::fmt::Debug {
    /// Stores a token.
    async fn create(&self, token: &EmailToken) -> Result<(), DomainError>;
    /// Uses the live, unused token with this hash and purpose, atomically: of two concurrent
    /// uses exactly one gets it.
    async fn consume(
        &self,
        hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<EmailToken>, DomainError>;
}

/// Who may use magic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MagicLinks {
    /// Nobody.
    Off,
    /// Accounts that exist.
    ExistingUsers,
    /// Also new addresses, which get an account on first use.
    Signup,
}

/// Rules of the email flows.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The public base URL links are built on.
    pub issuer: String,
    /// Sign-in waits for the address to be confirmed.
    pub require_verified_email: bool,
    /// Who may use magic links.
    pub magic_links: MagicLinks,
    /// Lifetime of a verification link.
    pub verify_ttl: Duration,
    /// Lifetime of a password-reset link.
    pub reset_ttl: Duration,
    /// Lifetime of a magic link.
    pub magic_ttl: Duration,
    /// Lifetime of an email-change confirmation.
    pub change_ttl: Duration,
}

impl EmailSettings {
    /// The defaults of the issue: 24 h, 1 h, 15 min, 24 h.
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            require_verified_email: false,
            magic_links: MagicLinks::ExistingUsers,
            verify_ttl: Duration::from_secs(24 * 3600),
            reset_ttl: Duration::from_secs(3600),
            magic_ttl: Duration::from_secs(15 * 60),
            change_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Puts notices in the outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    queue: Arc<dyn MailQueue>,
    composer: Arc<dyn MailComposer>,
}

impl Outbox {
    /// An outbox rendering with `composer` into `queue`.
    pub fn new(queue: Arc<dyn MailQueue>, composer: Arc<dyn MailComposer>) -> Self {
        Self { queue, composer }
    }

    /// Queues `notice` for `to`.
    pub async fn send(
        &self,
        to: &str,
        notice: &Notice,
        at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let mail = self.composer.compose(to, notice)?;
        self.queue.enqueue(&mail, at).await
    }
}

/// The adapters the email service works through.
#[derive(Debug, Clone)]
pub struct EmailPorts {
    /// The emailed tokens.
    pub tokens: Arc<dyn EmailTokenRepository>,
    /// Users, looked up by the address or id a token names.
    pub users: Arc<dyn UserRepository>,
    /// Where mail goes.
    pub outbox: Outbox,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Random tokens and codes.
    pub random: Arc<dyn RandomSource>,
    /// Links asked for by address, fulfilled after the answer.
    pub link_requests: Arc<dyn LinkRequestQueue>,
}

/// The email use cases.
#[derive(Debug, Clone)]
pub struct EmailService {
    registration: RegistrationService,
    profiles: ProfileService,
    tokens: Arc<dyn EmailTokenRepository>,
    users: Arc<dyn UserRepository>,
    outbox: Outbox,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    link_requests: Arc<dyn LinkRequestQueue>,
    link_requested: Arc<tokio::sync::Notify>,
    settings: EmailSettings,
}

impl EmailService {
    /// A service that creates accounts through `registration`, sets passwords through
    /// `profiles`, and sends through the outbox of `ports`.
    pub fn new(
        registration: RegistrationService,
        profiles: ProfileService,
        ports: EmailPorts,
        settings: EmailSettings,
    ) -> Self {
        Self {
            registration,
            profiles,
            tokens: ports.tokens,
            users: ports.users,
            outbox: ports.outbox,
            events: ports.events,
            clock: ports.clock,
            random: ports.random,
            link_requests: ports.link_requests,
            link_requested: Arc::new(tokio::sync::Notify::new()),
            settings,
        }
    }

    /// The rules in force.
    pub fn settings(&self) -> &EmailSettings {
        &self.settings
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.events.record(event).await
    }

    /// Issues a token and returns the link carrying it.
    async fn issue(
        &self,
        purpose: TokenPurpose,
        user_id: Option<UserId>,
        email: &str,
        ttl: Duration,
        path: &str,
    ) -> Result<String, DomainError> {
        let token = self.random.token();
        let now = self.now();
        self.tokens
            .create(&EmailToken {
                hash: hash_token(&token),
                purpose,
                user_id,
                email: email.to_owned(),
                created_at: now,
                expires_at: now + chrono_duration(ttl),
            })
            .await?;
        Ok(format!("{}{path}?token={token}", self.settings.issuer))
    }

    async fn consume(
        &self,
        token: &OneTimeCode,
        purpose: TokenPurpose,
    ) -> Result<EmailToken, DomainError> {
        self.tokens
            .consume(&hash_token(token.expose().trim()), purpose, self.now())
            .await?
            .ok_or(DomainError::InvalidToken)
    }

    async fn user(&self, id: Option<UserId>) -> Result<User, DomainError> {
        let id = id.ok_or(DomainError::InvalidToken)?;
        self.users.by_id(id).await?.ok_or(DomainError::InvalidToken)
    }

    async fn by_email(&self, email: &str) -> Result<Option<User>, DomainError> {
        match Email::parse(email) {
            Ok(email) => self.users.by_email(&email).await,
            Err(_) => Ok(None),
        }
    }

    /// Creates an account and mails it a verification link.
    pub async fn sign_up(
        &self,
        new: NewAccount,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let user = self.registration.sign_up(new, context).await?;
        self.send_verification(&user).await?;
        Ok(user)
    }

    /// Mails `user` a verification link (24 h, single use).
    pub async fn send_verification(&self, user: &User) -> Result<(), DomainError> {
        let link = self
            .issue(
                TokenPurpose::VerifyEmail,
                Some(user.id),
                user.email.as_str(),
                self.settings.verify_ttl,
                "/api/v1/auth/email/verify",
            )
            .await?;
        self.outbox
            .send(
                user.email.as_str(),
                &Notice::VerifyEmail { link },
                self.now(),
            )
            .await
    }

    /// Confirms the address a verification link was sent to.
    pub async fn verify_email(
        &self,
        token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let token = self.consume(token, TokenPurpose::VerifyEmail).await?;
        let mut user = self.user(token.user_id).await?;
        // A link to an address the account has since left confirms nothing.
        if user.email.as_str() != token.email {
            return Err(DomainError::InvalidToken);
        }
        if !user.email_verified {
            user.email_verified = true;
            user.updated_at = self.now();
            self.users.update(&user).await?;
            self.record(
                AuditEvent::new(AuditAction::EmailVerified, self.now(), context)
                    .by(user.id)
                    .on(user.id),
            )
            .await?;
        }
        Ok(user)
    }

    /// Sets a new password with a reset link: every session ends, and the account is told.
    /// A password the policy refuses leaves the link usable.
    pub async fn reset_password(
        &self,
        token: &OneTimeCode,
        new_password: &Password,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.profiles
            .password_policy()
            .check(new_password.expose())?;
        let token = self.consume(token, TokenPurpose::PasswordReset).await?;
        let user = self.user(token.user_id).await?;
        self.profiles
            .reset_password(user, new_password, context)
            .await
    }

    /// Checks a magic link: the proof of a first factor for the sign-in flow. The link proves
    /// the address, so it also confirms it; with sign-up allowed, an address without an
    /// account gets one.
    pub async fn verify_magic_link(
        &self,
        token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<FirstFactor, DomainError> {
        if self.settings.magic_links == MagicLinks::Off {
            return Err(DomainError::Forbidden("magic links are turned off"));
        }
        let token = self.consume(token, TokenPurpose::MagicLink).await?;
        let existing = match token.user_id {
            Some(id) => self.users.by_id(id).await?,
            None => self.by_email(&token.email).await?,
        };
        let mut user = match existing {
            Some(user) => user,
            None if self.settings.magic_links == MagicLinks::Signup => {
                self.registration
                    .create_passwordless(&token.email, PlatformRole::User, context)
                    .await?
            }
            None => return Err(DomainError::InvalidToken),
        };
        if !user.email_verified {
            user.email_verified = true;
            user.updated_at = self.now();
            self.users.update(&user).await?;
        }
        Ok(FirstFactor::MagicLink(user))
    }

    /// Asks to move the account to `new_email`: a confirmation goes to the new address and a
    /// notice to the old one; nothing changes until the link is used.
    pub async fn request_email_change(
        &self,
        user: &User,
        new_email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let new_email = Email::parse(new_email)?;
        if new_email == user.email {
            return Err(DomainError::invalid(
                "email",
                "is already the account's address",
            ));
        }
        if self.users.by_email(&new_email).await?.is_some() {
            return Err(DomainError::Conflict("email"));
        }
        let link = self
            .issue(
                TokenPurpose::EmailChange,
                Some(user.id),
                new_email.as_str(),
                self.settings.change_ttl,
                "/api/v1/auth/email/change/confirm",
            )
            .await?;
        self.record(
            AuditEvent::new(AuditAction::EmailChangeRequested, self.now(), context)
                .by(user.id)
                .on(user.id),
        )
        .await?;
        let now = self.now();
        let new_address = new_email.as_str().to_owned();
        self.outbox
            .send(
                &new_address,
                &Notice::ConfirmEmailChange {
                    link,
                    new_email: new_address.clone(),
                },
                now,
            )
            .await?;
        self.outbox
            .send(
                user.email.as_str(),
                &Notice::EmailChangeRequested {
                    new_email: new_address,
                },
                now,
            )
            .await
    }

    /// Applies an email change with the link sent to the new address.
    pub async fn confirm_email_change(
        &self,
        token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let token = self.consume(token, TokenPurpose::EmailChange).await?;
        let mut user = self.user(token.user_id).await?;
        user.email = Email::parse(&token.email)?;
        user.email_verified = true;
        user.updated_at = self.now();
        self.users.update(&user).await?;
        self.record(
            AuditEvent::new(AuditAction::EmailChanged, self.now(), context)
                .by(user.id)
                .on(user.id),
        )
        .await?;
        Ok(user)
    }
}
