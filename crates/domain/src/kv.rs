//! The key-value port: short-lived shared state (sessions, rate-limit counters, deny-lists,
//! one-time codes, replay caches) that every replica must see alike.
//!
//! Implementations: in-process for the embedded mode, Redis for production (both in
//! `castellan-persistence`, checked by one contract suite).

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

/// Why a key-value operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The store could not be reached or did not answer in time.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    /// An increment was asked of a value that is not an integer.
    #[error("the value at this key is not an integer")]
    NotAnInteger,
    /// A time-to-live of zero (or one that rounds to zero milliseconds) was given.
    #[error("a time-to-live must be at least one millisecond")]
    InvalidTtl,
    /// The store answered with an error of its own.
    #[error("key-value store error: {0}")]
    Backend(String),
}

/// A counter after an [`KeyValueStore::increment`]: its value and the time until it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The value after the increment.
    pub value: i64,
    /// How long until the counter expires (the end of its window).
    pub resets_in: Duration,
}

/// Shared, expiring key-value storage. Every operation is atomic on its key.
#[async_trait]
pub trait KeyValueStore: Send + Sync + Debug {
    /// Reads the value at `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Writes `value` at `key`, replacing any value, expiring after `ttl` when given.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError>;

    /// Writes `value` only when `key` holds nothing; true when this call wrote it.
    /// The building block of replay caches and locks.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, KvError>;

    /// Reads and deletes the value at `key` in one step, so of two concurrent takers exactly
    /// one receives it. The building block of one-time codes.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Deletes `key`; true when something was there.
    async fn delete(&self, key: &str) -> Result<bool, KvError>;

    /// Adds `delta` to the integer at `key` (absent counts as zero). A counter created by this
    /// call, or one that has no expiry, expires after `window`; an existing window is kept.
    /// The building block of fixed-window rate limits and failure counters.
    async fn increment(&self, key: &str, delta: i64, window: Duration) -> Result<Counter, KvError>;

    /// The time left before `key` expires; `None` when the key is absent or never expires.
    async fn time_to_live(&self, key: &str) -> Result<Option<Duration>, KvError>;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), KvError>;
}

/// Rejects a time-to-live that would round to zero milliseconds.
pub fn validate_ttl(ttl: Duration) -> Result<Duration, KvError> {
    if ttl.as_millis() == 0 {
        Err(KvError::InvalidTtl)
    } else {
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_must_be_a_millisecond_or_more() {
        assert!(matches!(
            validate_ttl(Duration::from_micros(999)),
            Err(KvError::InvalidTtl)
        ));
        assert_eq!(
            validate_ttl(Duration::from_millis(1)).unwrap(),
            Duration::from_millis(1)
        );
    }
}
