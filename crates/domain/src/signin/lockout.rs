//! The lockout rule: failed sign-in attempts are counted per address, and at the threshold the
//! address refuses sign-in for a while. Wrong passwords and wrong second-factor codes count
//! alike; an address without an account is counted and locked too, so the lock reveals nothing.
//!
//! A lock that anyone could aim at an account would lock its owner out with it, so the count is
//! kept per device (OWASP's device cookies): a browser that signed in to the account before is
//! judged on its own failures only, and the failures of every unknown device share one count
//! and one lock. Guessing from new devices locks new devices; the owner's browser goes on.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::kv::KeyValueStore;
use crate::session::RequestContext;

/// How long a device stays known after its last sign-in to an account.
const TRUSTED_DEVICE_TTL: Duration = Duration::from_secs(180 * 24 * 3600);

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

    fn trusted_key(email: &str, device: &str) -> String {
        format!("trusted-device:{email}:{device}")
    }

    /// Whose failures an attempt counts with: the device's own when it signed in to `email`
    /// before, else every unknown device's together.
    async fn pool(&self, email: &str, context: &RequestContext) -> Result<String, DomainError> {
        if let Some(device) = &context.device
            && self
                .kv
                .get(&Self::trusted_key(email, device))
                .await?
                .is_some()
        {
            return Ok(format!("{email}:device:{device}"));
        }
        Ok(email.to_owned())
    }

    fn lock_key(pool: &str) -> String {
        format!("lock:{pool}")
    }

    fn failures_key(pool: &str) -> String {
        format!("signin-failures:{pool}")
    }

    /// Refuses while the address is locked for the device the request comes from.
    pub async fn ensure_unlocked(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let pool = self.pool(email, context).await?;
        match self.kv.time_to_live(&Self::lock_key(&pool)).await? {
            Some(left) => Err(DomainError::AccountLocked { retry_after: left }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt and locks the address, for the device's pool, at the threshold.
    /// Returns the error to answer with (`InvalidCredentials`, or what went wrong while
    /// counting).
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
        let pool = self.pool(email, context).await?;
        let counter = self
            .kv
            .increment(&Self::failures_key(&pool), 1, self.duration)
            .await?;
        let mut event = AuditEvent::new(AuditAction::SigninFailed, self.clock.now(), context)
            .failed("invalid credentials");
        event.target = Some(email.to_owned());
        self.events.record(event).await?;
        if counter.value >= i64::from(self.threshold) {
            self.kv
                .set(&Self::lock_key(&pool), b"1", Some(self.duration))
                .await?;
            self.kv.delete(&Self::failures_key(&pool)).await?;
            let devices = if pool == email {
                "unknown devices"
            } else {
                "one known device"
            };
            let mut event = AuditEvent::new(AuditAction::Lockout, self.clock.now(), context).note(
                format!("{} failed attempts; locked for {devices}", counter.value),
            );
            event.target = Some(email.to_owned());
            self.events.record(event).await?;
        }
        Ok(())
    }

    /// Counts a wrong second-factor code like a wrong password, and returns the error to answer
    /// with (`InvalidMfaCode`, or the lock).
    pub async fn second_factor_failed(&self, email: &str, context: &RequestContext) -> DomainError {
        match self.register_failure(email, context).await {
            DomainError::InvalidCredentials => match self.ensure_unlocked(email, context).await {
                Ok(()) => DomainError::InvalidMfaCode,
                Err(error) => error,
            },
            other => other,
        }
    }

    /// Forgets the failures of the device whose user has just signed in to `email`, and knows
    /// the device from now on: its failures are its own.
    pub async fn signed_in(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let pool = self.pool(email, context).await?;
        self.kv.delete(&Self::failures_key(&pool)).await?;
        if let Some(device) = &context.device {
            self.kv
                .set(
                    &Self::trusted_key(email, device),
                    b"1",
                    Some(TRUSTED_DEVICE_TTL),
                )
                .await?;
        }
        Ok(())
    }
}
