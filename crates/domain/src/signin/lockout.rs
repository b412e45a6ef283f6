//! The lockout rule: failed sign-in attempts are counted per address, and at the threshold the
//! address refuses sign-in for a while. Wrong passwords and wrong second-factor codes count
//! alike; an address without an account is counted and locked too, so the lock reveals nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::kv::KeyValueStore;
use crate::session::RequestContext;

/// Failure counters and locks in the key-value store, shared by every replica.
#[derive(Debug, Clone)]
pub struct Lockout {
    kv: Arc<dyn KeyValueStore>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    threshold: u32,
    duration: Duration,
}

impl Lockout {
    /// Locks an address for `duration` after `threshold` failures within `duration`.
    pub fn new(
        kv: Arc<dyn KeyValueStore>,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        threshold: u32,
        duration: Duration,
    ) -> Self {
        Self {
            kv,
            events,
            clock,
            threshold,
            duration,
        }
    }

    fn lock_key(email: &str) -> String {
        format!("lock:{email}")
    }

    fn failures_key(email: &str) -> String {
        format!("signin-failures:{email}")
    }

    /// Refuses while the address is locked.
    pub async fn ensure_unlocked(&self, email: &str) -> Result<(), DomainError> {
        match self.kv.time_to_live(&Self::lock_key(email)).await? {
            Some(left) => Err(DomainError::AccountLocked { retry_after: left }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt and locks the address at the threshold. Returns the error to
    /// answer with (`InvalidCredentials`, or what went wrong while counting).
    pub async fn register_failure(&self, email: &str, context: &RequestContext) -> DomainError {
        match self.count_failure(email, context).await {
            Ok(()) => DomainError::InvalidCredentials,
            Err(error) => error,
        }
    }

    async fn count_failure(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let counter = self
            .kv
            .increment(&Self::failures_key(email), 1, self.duration)
            .await?;
        let mut event = AuditEvent::new(AuditAction::SigninFailed, self.clock.now(), context)
            .failed("invalid credentials");
        event.target = Some(email.to_owned());
        self.events.record(event).await?;
        if counter.value >= i64::from(self.threshold) {
            self.kv
                .set(&Self::lock_key(email), b"1", Some(self.duration))
                .await?;
            self.kv.delete(&Self::failures_key(email)).await?;
            let mut event = AuditEvent::new(AuditAction::Lockout, self.clock.now(), context)
                .note(format!("{} failed attempts", counter.value));
            event.target = Some(email.to_owned());
            self.events.record(event).await?;
        }
        Ok(())
    }

    /// Counts a wrong second-factor code like a wrong password, and returns the error to answer
    /// with (`InvalidMfaCode`, or the lock).
    pub async fn second_factor_failed(&self, email: &str, context: &RequestContext) -> DomainError {
        match self.register_failure(email, context).await {
            DomainError::InvalidCredentials => match self.ensure_unlocked(email).await {
                Ok(()) => DomainError::InvalidMfaCode,
                Err(error) => error,
            },
            other => other,
        }
    }

    /// Forgets the failures of an address whose owner has just signed in.
    pub async fn clear(&self, email: &str) -> Result<(), DomainError> {
        self.kv.delete(&Self::failures_key(email)).await?;
        Ok(())
    }
}
