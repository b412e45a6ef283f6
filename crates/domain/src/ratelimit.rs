//! Fixed-window rate limits over the key-value store, so every replica shares one budget.

use std::sync::Arc;
use std::time::Duration;

use crate::{Clock, DomainError, KeyValueStore};

/// The outcome of counting one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// True when the request is within the limit.
    pub allowed: bool,
    /// The limit of the window.
    pub limit: u64,
    /// Requests left in the window after this one.
    pub remaining: u64,
    /// Time until the window resets.
    pub reset_after: Duration,
    /// When the window resets, in whole seconds since the Unix epoch (rounded up).
    pub reset_at: i64,
}

/// One limit: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window.
    pub limit: u64,
    /// The window's length.
    pub window: Duration,
}

/// Counts requests against limits.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn KeyValueStore>,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// A limiter keeping its counters in `store`, telling reset times by `clock`.
    pub fn new(store: Arc<dyn KeyValueStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Counts one request for `subject` under `limit`.
    pub async fn hit(&self, subject: &str, limit: Limit) -> Result<RateDecision, DomainError> {
        let key = format!("rl:{}:{subject}", limit.window.as_secs());
        let counter = self.store.increment(&key, 1, limit.window).await?;
        let used = u64::try_from(counter.value).unwrap_or(0);
        Ok(RateDecision {
            allowed: used <= limit.limit,
            limit: limit.limit,
            remaining: limit.limit.saturating_sub(used),
            reset_after: counter.resets_in,
            reset_at: self.clock.now().timestamp()
                + i64::try_from(counter.resets_in.as_secs()).unwrap_or(i64::MAX / 2)
                + i64::from(counter.resets_in.subsec_nanos() > 0),
        })
    }

    /// Counts one request against every limit; the answer is the tightest of them (the first
    /// refusal, or the one with the fewest requests left).
    pub async fn hit_all(
        &self,
        subject: &str,
        limits: &[Limit],
    ) -> Result<Option<RateDecision>, DomainError> {
        let mut tightest: Option<RateDecision> = None;
        for limit in limits {
            let decision = self.hit(subject, *limit).await?;
            tightest = Some(match tightest {
                Some(current) if !current.allowed => current,
                Some(current) if decision.allowed && current.remaining <= decision.remaining => {
                    current
                }
                _ => decision,
            });
        }
        Ok(tightest)
    }
}
