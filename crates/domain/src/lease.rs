//! The lease port: how work that must happen once across all replicas (key rotation, cleanup,
//! outbox draining) is claimed. A lease is a named row in the database held by one replica
//! until it expires or is released, so a crashed holder never blocks the work for longer than
//! the lease's time-to-live.

use std::time::Duration;

use async_trait::async_trait;

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// The database could not be reached or refused the statement.
    #[error("lease storage failed: {0}")]
    Storage(String),
    /// The lease name or holder is empty or too long.
    #[error("invalid lease {0}: must be 1 to 128 characters")]
    Invalid(&'static str),
}

/// Named, expiring, database-backed leases.
#[async_trait]
pub trait LeaseRepository: Send + Sync + std::fmt::Debug {
    /// Claims `name` for `holder` for `ttl` when it is free, expired, or already held by
    /// `holder` (which renews it). True when `holder` holds the lease after the call.
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, LeaseError>;

    /// Gives up `name` when `holder` holds it; another holder's lease is left alone.
    async fn release(&self, name: &str, holder: &str) -> Result<(), LeaseError>;
}

/// Checks a lease name or holder id: 1 to 128 characters.
pub fn validate_lease_part(value: &str, what: &'static str) -> Result<(), LeaseError> {
    if value.is_empty() || value.chars().count() > 128 {
        Err(LeaseError::Invalid(what))
    } else {
        Ok(())
    }
}
