//! Links asked for by address: a password reset, a magic link, a new verification link. The
//! answer must not tell whether the address has an account, neither in what it says nor in how
//! long it takes, so asking does the same work for every address (it stores the request) and a
//! worker decides after the answer whether there is anything to send.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EmailService, MagicLinks, Notice, TokenPurpose};
use crate::DomainError;
use crate::audit::{AuditAction, AuditEvent};
use crate::secret::chrono_duration;
use crate::session::RequestContext;
use crate::user::Email;

/// How long a worker holds a claimed request before another replica may take it.
const LEASE: Duration = Duration::from_secs(60);

/// Attempts before a request is given up (it stays stored, marked failed, for operators).
const MAX_ATTEMPTS: u32 = 5;

/// What an address asked to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A new link confirming the address of an unverified account.
    Verification,
    /// A link that sets a new password.
    PasswordReset,
    /// A link that signs in.
    MagicLink,
}

impl LinkKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::PasswordReset => "password_reset",
            Self::MagicLink => "magic_link",
        }
    }

    /// The kind a stored name means.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Verification, Self::PasswordReset, Self::MagicLink]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// A link asked for, waiting for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// Id.
    pub id: Uuid,
    /// What was asked for.
    pub kind: LinkKind,
    /// The address, normalised.
    pub email: String,
    /// Where the request came from, for the audit log.
    pub context: RequestContext,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
}

/// A claimed request and how often it failed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedLinkRequest {
    /// The request.
    pub request: LinkRequest,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// The durable queue of link requests.
#[async_trait::async_trait]
pub trait LinkRequestQueue: Send + Sync + std::fmt::Debug {
    /// Stores a request, due at once.
    async fn enqueue(&self, request: &LinkRequest) -> Result<(), DomainError>;
    /// Claims up to `limit` requests due at `now`, hiding them from other workers until
    /// `lease_until` (a crashed worker's claim lapses and another takes them).
    async fn claim(
        &self,
        limit: u64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<QueuedLinkRequest>, DomainError>;
    /// Deletes a fulfilled request.
    async fn done(&self, id: Uuid) -> Result<(), DomainError>;
    /// Records a failed attempt; due again at `retry_at`, or never when `None`.
    async fn failed(
        &self,
        id: Uuid,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), DomainError>;
    /// Deletes every request for `email` (erasure); returns how many.
    async fn forget(&self, email: &str) -> Result<u64, DomainError>;
}

/// The delay before attempt `attempts + 1`: 5 s, doubling.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5 * 2u64.pow(attempts.saturating_sub(1).min(6)))
}

impl EmailService {
    /// Stores a request for `email` and wakes the worker. An address that cannot be one has
    /// no account either: nothing is stored and the answer is the same.
    async fn ask(
        &self,
        kind: LinkKind,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        self.link_requests
            .enqueue(&LinkRequest {
                id: Uuid::now_v7(),
                kind,
                email: email.as_str().to_owned(),
                context: RequestContext {
                    ip: context.ip.clone(),
                    user_agent: context.user_agent.clone(),
                    device: None,
                },
                requested_at: self.now(),
            })
            .await?;
        self.link_requested.notify_one();
        Ok(())
    }

    /// Asks for a new verification link; answers the same whether or not the address has an
    /// unverified account.
    pub async fn resend_verification(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.ask(LinkKind::Verification, email, context).await
    }

    /// Asks for a password-reset link (1 h); answers the same whether or not the address has
    /// an account.
    pub async fn request_password_reset(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.ask(LinkKind::PasswordReset, email, context).await
    }

    /// Asks for a magic link (15 min) as the configuration allows; answers the same whether
    /// or not the address has an account.
    pub async fn request_magic_link(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        match self.settings.magic_links {
            MagicLinks::Off => return Err(DomainError::Forbidden("magic links are turned off")),
            // Any address may sign up this way, so a malformed one is the caller's mistake.
            MagicLinks::Signup => {
                Email::parse(email)?;
            }
            MagicLinks::ExistingUsers => {}
        }
        self.ask(LinkKind::MagicLink, email, context).await
    }

    /// Resolves when a link was asked for since the last call (the worker's wake-up).
    pub async fn link_requested(&self) {
        self.link_requested.notified().await;
    }

    /// Fulfils up to `limit` due link requests: mails the link where the address has what it
    /// needs, and drops the request either way; a failure is retried with a growing delay.
    /// Returns how many were claimed.
    pub async fn fulfil_link_requests(&self, limit: u64) -> Result<usize, DomainError> {
        let now = self.now();
        let claimed = self
            .link_requests
            .claim(limit, now, now + chrono_duration(LEASE))
            .await?;
        for queued in &claimed {
            let request = &queued.request;
            match self.fulfil(request).await {
                Ok(()) => self.link_requests.done(request.id).await?,
                Err(error) => {
                    let attempts = queued.attempts + 1;
                    let retry_at = (attempts < MAX_ATTEMPTS)
                        .then(|| self.now() + chrono_duration(backoff(attempts)));
                    self.link_requests
                        .failed(request.id, attempts, retry_at, &error.to_string())
                        .await?;
                }
            }
        }
        Ok(claimed.len())
    }

    async fn fulfil(&self, request: &LinkRequest) -> Result<(), DomainError> {
        match request.kind {
            LinkKind::Verification => match self.by_email(&request.email).await? {
                Some(user) if !user.email_verified => self.send_verification(&user).await,
                _ => Ok(()),
            },
            LinkKind::PasswordReset => self.send_password_reset(request).await,
            LinkKind::MagicLink => self.send_magic_link(&request.email).await,
        }
    }

    async fn send_password_reset(&self, request: &LinkRequest) -> Result<(), DomainError> {
        let Some(user) = self.by_email(&request.email).await? else {
            return Ok(());
        };
        let link = self
            .issue(
                TokenPurpose::PasswordReset,
                Some(user.id),
                user.email.as_str(),
                self.settings.reset_ttl,
                "/reset-password",
            )
            .await?;
        self.record(
            AuditEvent::new(
                AuditAction::PasswordResetRequested,
                self.now(),
                &request.context,
            )
            .on(user.id),
        )
        .await?;
        self.outbox
            .send(
                user.email.as_str(),
                &Notice::PasswordReset { link },
                self.now(),
            )
            .await
    }

    async fn send_magic_link(&self, email: &str) -> Result<(), DomainError> {
        let user = match self.settings.magic_links {
            // Turned off since it was asked for.
            MagicLinks::Off => return Ok(()),
            MagicLinks::ExistingUsers => match self.by_email(email).await? {
                Some(user) => Some(user),
                None => return Ok(()),
            },
            MagicLinks::Signup => self.by_email(email).await?,
        };
        let address = match &user {
            Some(user) => user.email.clone(),
            None => Email::parse(email)?,
        };
        let link = self
            .issue(
                TokenPurpose::MagicLink,
                user.map(|user| user.id),
                address.as_str(),
                self.settings.magic_ttl,
                "/login/magic",
            )
            .await?;
        self.outbox
            .send(address.as_str(), &Notice::MagicLink { link }, self.now())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_backoff_grows() {
        for kind in [
            LinkKind::Verification,
            LinkKind::PasswordReset,
            LinkKind::MagicLink,
        ] {
            assert_eq!(LinkKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(LinkKind::parse("email_change"), None);
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert!(backoff(40) <= Duration::from_secs(320));
    }
}
