//! The in-process key-value store: a map behind a mutex, with expiry read from the injected
//! clock. Expired entries are dropped when touched and swept every few thousand writes, so
//! memory stays bounded by the live keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use castellan_domain::kv::validate_ttl;
use castellan_domain::{Clock, Counter, KeyValueStore, KvError};
use chrono::{DateTime, Utc};

const SWEEP_EVERY_WRITES: u64 = 4096;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<DateTime<Utc>>,
}

impl Entry {
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    fn remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.expires_at
            .map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    writes_since_sweep: u64,
}

/// A process-local [`KeyValueStore`]; shared by clones, lost on restart.
#[derive(Debug, Clone)]
pub struct MemoryKeyValueStore {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl MemoryKeyValueStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave an entry half-written, so the map is
        // still consistent and safe to keep using.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expiry(
        &self,
        now: DateTime<Utc>,
        ttl: Option<Duration>,
    ) -> Result<Option<DateTime<Utc>>, KvError> {
        ttl.map(|ttl| {
            let ttl = validate_ttl(ttl)?;
            let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
            Ok(now
                .checked_add_signed(ttl)
                .unwrap_or(DateTime::<Utc>::MAX_UTC))
        })
        .transpose()
    }
}

impl State {
    fn live(&mut self, key: &str, now: DateTime<Utc>) -> Option<&mut Entry> {
        if self
            .entries
            .get(key)
            .is_some_and(|entry| !entry.is_live(now))
        {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn put(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let entry = Entry {
            value: value.to_vec(),
            expires_at,
        };
        self.entries.insert(key.to_owned(), entry);
        self.wrote(now);
    }

    fn wrote(&mut self, now: DateTime<Utc>) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY_WRITES {
            self.writes_since_sweep = 0;
            self.entries.retain(|_, entry| entry.is_live(now));
        }
    }
}

#[async_trait]
impl KeyValueStore for MemoryKeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let now = self.clock.now();
        Ok(self.lock().live(key, now).map(|entry| entry.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let now = self.clock.now();
        let expires_at = self.expiry(now, ttl)?;
        self.lock().put(key, value, expires_at, now);
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let now = self.clock.now();
        let expires_at = self.expiry(now, ttl)?;
        let mut state = self.lock();
        if state.live(key, now).is_some() {
            return Ok(false);
        }
        state.put(key, value, expires_at, now);
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let now = self.clock.now();
        let mut state = self.lock();
        Ok(state
            .entries
            .remove(key)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = self.clock.now();
        let mut state = self.lock();
        Ok(state
            .entries
            .remove(key)
            .is_some_and(|entry| entry.is_live(now)))
    }

    async fn increment(&self, key: &str, delta: i64, window: Duration) -> Result<Counter, KvError> {
        let now = self.clock.now();
        let window_end = self.expiry(now, Some(window))?;
        let mut state = self.lock();
        let counter = match state.live(key, now) {
            Some(entry) => {
                let current = parse_integer(&entry.value)?;
                let value = current.checked_add(delta).ok_or(KvError::NotAnInteger)?;
                entry.value = value.to_string().into_bytes();
                if entry.expires_at.is_none() {
                    entry.expires_at = window_end;
                }
                Counter {
                    value,
                    resets_in: entry.remaining(now).unwrap_or(window),
                }
            }
            None => {
                state.entries.insert(
                    key.to_owned(),
                    Entry {
                        value: delta.to_string().into_bytes(),
                        expires_at: window_end,
                    },
                );
                Counter {
                    value: delta,
                    resets_in: window,
                }
            }
        };
        state.wrote(now);
        Ok(counter)
    }

    async fn time_to_live(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .live(key, now)
            .and_then(|entry| entry.remaining(now)))
    }

    async fn ping(&self) -> Result<(), KvError> {
        Ok(())
    }
}

fn parse_integer(bytes: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(KvError::NotAnInteger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_domain::ManualClock;

    fn store() -> (MemoryKeyValueStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        ));
        (MemoryKeyValueStore::new(clock.clone()), clock)
    }

    #[tokio::test]
    async fn values_expire_when_their_time_is_up() {
        let (kv, clock) = store();
        kv.set("k", b"v", Some(Duration::from_secs(10)))
            .await
            .unwrap();
        clock.advance(Duration::from_millis(9_999));
        assert_eq!(kv.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        clock.advance(Duration::from_millis(1));
        assert_eq!(kv.get("k").await.unwrap(), None);
        assert!(!kv.delete("k").await.unwrap());
    }

    #[tokio::test]
    async fn an_expired_key_can_be_claimed_again() {
        let (kv, clock) = store();
        assert!(
            kv.set_if_absent("lock", b"a", Some(Duration::from_secs(1)))
                .await
                .unwrap()
        );
        assert!(!kv.set_if_absent("lock", b"b", None).await.unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(kv.set_if_absent("lock", b"b", None).await.unwrap());
        assert_eq!(kv.take("lock").await.unwrap().as_deref(), Some(&b"b"[..]));
    }

    #[tokio::test]
    async fn a_counter_window_restarts_after_it_lapses() {
        let (kv, clock) = store();
        let window = Duration::from_secs(60);
        assert_eq!(kv.increment("c", 1, window).await.unwrap().value, 1);
        clock.advance(Duration::from_secs(45));
        let counter = kv.increment("c", 1, window).await.unwrap();
        assert_eq!(counter.value, 2);
        assert_eq!(counter.resets_in, Duration::from_secs(15));
        clock.advance(Duration::from_secs(15));
        let counter = kv.increment("c", 1, window).await.unwrap();
        assert_eq!(
            counter,
            Counter {
                value: 1,
                resets_in: window
            }
        );
    }

    #[tokio::test]
    async fn sweeping_drops_expired_entries() {
        let (kv, clock) = store();
        for i in 0..10 {
            kv.set(&format!("old{i}"), b"x", Some(Duration::from_secs(1)))
                .await
                .unwrap();
        }
        clock.advance(Duration::from_secs(2));
        for i in 0..SWEEP_EVERY_WRITES {
            kv.set(&format!("new{}", i % 3), b"y", None).await.unwrap();
        }
        assert_eq!(kv.lock().entries.len(), 3);
    }
}
