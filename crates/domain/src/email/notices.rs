//! Security notices: the audit sink that tells account holders about changes to their
//! account and sign-ins from new devices.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Notice, Outbox};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::secret::hash_token;
use crate::user::{Email, UserId};
use crate::{DomainError, KeyValueStore, User};

/// The audit sink that also mails security notices: it records every event through `inner`,
/// then tells the account holder about password changes, second-factor and passkey changes,
/// a lockout, and a sign-in from a device not seen before.
#[derive(Debug, Clone)]
pub struct NoticeSink {
    inner: Arc<dyn EventSink>,
    notices: NoticePorts,
}

/// Where the notice sink finds accounts and sends their notices.
#[derive(Debug, Clone)]
pub struct NoticePorts {
    /// Where accounts are looked up.
    pub users: Arc<dyn crate::UserRepository>,
    /// Where notices go.
    pub outbox: Outbox,
    /// Remembers devices.
    pub kv: Arc<dyn KeyValueStore>,
    /// Mail on sign-ins from new devices.
    pub notify_new_sign_in: bool,
}

/// How long a device stays known after the first sign-in from it.
const DEVICE_MEMORY: Duration = Duration::from_secs(180 * 24 * 3600);

impl NoticeSink {
    /// A sink recording into `inner` and mailing notices through `notices`.
    pub fn new(inner: Arc<dyn EventSink>, notices: NoticePorts) -> Self {
        Self { inner, notices }
    }

    fn notice_for(event: &AuditEvent) -> Option<Notice> {
        let is = |action: AuditAction| event.action == action.as_str();
        let changed = |what: &str| what.to_owned();
        Some(if is(AuditAction::PasswordChanged) {
            Notice::PasswordChanged
        } else if is(AuditAction::MfaEnabled) {
            Notice::MfaChanged {
                what: changed("Two-step sign-in was turned on."),
            }
        } else if is(AuditAction::MfaDisabled) {
            Notice::MfaChanged {
                what: changed("Two-step sign-in was turned off."),
            }
        } else if is(AuditAction::BackupCodesRegenerated) {
            Notice::MfaChanged {
                what: changed("New backup codes replaced the old ones."),
            }
        } else if is(AuditAction::PasskeyRegistered) {
            Notice::PasskeyChanged {
                what: changed("A passkey was added to your account."),
            }
        } else if is(AuditAction::PasskeyDeleted) {
            Notice::PasskeyChanged {
                what: changed("A passkey was removed from your account."),
            }
        } else if is(AuditAction::Lockout) {
            Notice::AccountLocked
        } else if is(AuditAction::SigninSucceeded) {
            Notice::NewSignIn {
                ip: event.ip.clone(),
                user_agent: event.user_agent.clone(),
            }
        } else {
            return None;
        })
    }

    async fn recipient(
        notices: &NoticePorts,
        event: &AuditEvent,
    ) -> Result<Option<User>, DomainError> {
        if event.action == AuditAction::Lockout.as_str() {
            // A lock names the address, which may have no account.
            return match event.target.as_deref().map(Email::parse) {
                Some(Ok(email)) => notices.users.by_email(&email).await,
                _ => Ok(None),
            };
        }
        let id = event.actor.or_else(|| {
            event
                .target
                .as_deref()
                .and_then(|target| Uuid::parse_str(target).ok())
                .map(UserId)
        });
        match id {
            Some(id) => notices.users.by_id(id).await,
            None => Ok(None),
        }
    }

    /// Whether a sign-in comes from a device this account has not used before. The first
    /// sign-in of an account sets the baseline and tells nobody.
    async fn unseen_device(
        notices: &NoticePorts,
        user: UserId,
        event: &AuditEvent,
    ) -> Result<bool, DomainError> {
        let device = hash_token(&format!(
            "{}|{}",
            user,
            event.user_agent.as_deref().unwrap_or_default()
        ));
        let first_ever = notices
            .kv
            .set_if_absent(&format!("devices-seen:{user}"), b"1", Some(DEVICE_MEMORY))
            .await?;
        let new_device = notices
            .kv
            .set_if_absent(&format!("device:{device}"), b"1", Some(DEVICE_MEMORY))
            .await?;
        Ok(new_device && !first_ever)
    }

    async fn notify(&self, event: &AuditEvent, notice: Notice) -> Result<(), DomainError> {
        let notices = &self.notices;
        if !event.success {
            return Ok(());
        }
        let new_sign_in = matches!(notice, Notice::NewSignIn { .. });
        // Every sign-in passes here: with new-device notices off it costs nothing.
        if new_sign_in && !notices.notify_new_sign_in {
            return Ok(());
        }
        // A known device (most sign-ins) is settled from the key-value store, before the
        // account is read.
        if new_sign_in
            && let Some(actor) = event.actor
            && !Self::unseen_device(notices, actor, event).await?
        {
            return Ok(());
        }
        let Some(user) = Self::recipient(notices, event).await? else {
            return Ok(());
        };
        notices
            .outbox
            .send(user.email.as_str(), &notice, event.at)
            .await
    }
}

#[async_trait::async_trait]
impl EventSink for NoticeSink {
    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        let Some(notice) = Self::notice_for(&event) else {
            return self.inner.record(event).await;
        };
        self.inner.record(event.clone()).await?;
        self.notify(&event, notice).await
    }
}
