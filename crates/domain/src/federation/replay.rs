//! The replay cache: an assertion id is accepted once, across every replica, until the
//! assertion would be refused as expired anyway.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::secret::hash_token;
use crate::{Clock, DomainError, KeyValueStore};

/// Remembers the ids of used assertions in the key-value store.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    kv: Arc<dyn KeyValueStore>,
    clock: Arc<dyn Clock>,
}

/// How long an entry lives at least, so an assertion at the edge of its window is still caught.
const MIN_TTL: Duration = Duration::from_secs(1);

impl ReplayCache {
    /// A cache in `kv`.
    pub fn new(kv: Arc<dyn KeyValueStore>, clock: Arc<dyn Clock>) -> Self {
        Self { kv, clock }
    }

    /// Records `id` of `issuer` as used until `until`; false when it was used before.
    pub async fn first_use(
        &self,
        issuer: &str,
        id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let ttl = (until - self.clock.now())
            .to_std()
            .unwrap_or(MIN_TTL)
            .max(MIN_TTL);
        self.kv
            .set_if_absent(&key(issuer, id), b"1", Some(ttl))
            .await
            .map_err(|e| DomainError::caused("recording an assertion id", e))
    }
}

/// The key of an assertion id: hashed, since both parts come from outside; the issuer's length
/// keeps `("a", "bc")` and `("ab", "c")` apart.
fn key(issuer: &str, id: &str) -> String {
    let joined = format!("{}:{issuer}{id}", issuer.len());
    format!("federation:replay:{}", hash_token(&joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_issuers_and_ids() {
        assert_ne!(key("a", "b\nc"), key("a\nb", "c"));
        assert_eq!(key("idp", "_1"), key("idp", "_1"));
        assert!(key("idp", "_1").starts_with("federation:replay:"));
    }
}
