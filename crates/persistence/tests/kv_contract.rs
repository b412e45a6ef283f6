//! One contract for every `KeyValueStore`: each test runs on the in-process store, and on Redis
//! (ignored unless asked for; `make ci` runs it). A behaviour the rest of Castellan relies on
//! belongs here, not in one adapter's tests.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{KeyValueStore, KvError, SystemClock};
use castellan_persistence::on_both_backends;
use castellan_persistence::testing::{Variant, redis_with_fresh_prefix, require_backend};
use castellan_persistence::{MemoryKeyValueStore, RedisKeyValueStore, RedisOptions};

/// The in-process store, or Redis under a fresh key prefix.
async fn store(variant: Variant) -> (&'static str, Arc<dyn KeyValueStore>) {
    match variant {
        Variant::Embedded => (
            "memory",
            Arc::new(MemoryKeyValueStore::new(Arc::new(SystemClock))),
        ),
        Variant::Production => ("redis", Arc::new(redis(&fresh_prefix()).await)),
    }
}

/// The URL of the Redis server under test and a key prefix no other test uses.
fn fresh_prefix() -> (String, String) {
    redis_with_fresh_prefix().expect("REDIS_URL is set")
}

async fn redis((url, key_prefix): &(String, String)) -> RedisKeyValueStore {
    let options = RedisOptions {
        key_prefix: key_prefix.clone(),
        ..RedisOptions::default()
    };
    RedisKeyValueStore::connect(url, &options)
        .await
        .expect("connect to REDIS_URL")
}

on_both_backends!(store =>
    set_get_and_delete_round_trip,
    time_to_live_is_reported_and_bounded,
    zero_ttl_is_refused_and_writes_nothing,
    set_if_absent_has_exactly_one_winner,
    take_hands_a_value_to_exactly_one_caller,
    increments_are_atomic_and_keep_their_window,
    incrementing_text_is_refused_and_changes_nothing,
    ping_answers,
);

async fn set_get_and_delete_round_trip((name, kv): (&'static str, Arc<dyn KeyValueStore>)) {
    assert_eq!(kv.get("absent").await.unwrap(), None, "{name}");
    kv.set("k", b"\x00binary\xff", None).await.unwrap();
    assert_eq!(
        kv.get("k").await.unwrap().as_deref(),
        Some(&b"\x00binary\xff"[..]),
        "{name}"
    );
    kv.set("k", b"replaced", None).await.unwrap();
    assert_eq!(
        kv.get("k").await.unwrap().as_deref(),
        Some(&b"replaced"[..]),
        "{name}"
    );
    assert!(kv.delete("k").await.unwrap(), "{name}");
    assert!(!kv.delete("k").await.unwrap(), "{name}");
    assert_eq!(kv.get("k").await.unwrap(), None, "{name}");
}

async fn time_to_live_is_reported_and_bounded((name, kv): (&'static str, Arc<dyn KeyValueStore>)) {
    kv.set("ttl", b"v", Some(Duration::from_secs(30)))
        .await
        .unwrap();
    let left = kv.time_to_live("ttl").await.unwrap().expect("has a ttl");
    assert!(
        left <= Duration::from_secs(30) && left > Duration::from_secs(25),
        "{name}: {left:?}"
    );
    kv.set("forever", b"v", None).await.unwrap();
    assert_eq!(kv.time_to_live("forever").await.unwrap(), None, "{name}");
    assert_eq!(kv.time_to_live("absent").await.unwrap(), None, "{name}");
    // Overwriting without a ttl makes the key permanent, as Redis SET does.
    kv.set("ttl", b"w", None).await.unwrap();
    assert_eq!(kv.time_to_live("ttl").await.unwrap(), None, "{name}");
}

async fn zero_ttl_is_refused_and_writes_nothing(
    (name, kv): (&'static str, Arc<dyn KeyValueStore>),
) {
    let error = kv.set("z", b"v", Some(Duration::ZERO)).await.unwrap_err();
    assert!(matches!(error, KvError::InvalidTtl), "{name}: {error}");
    let error = kv.increment("z", 1, Duration::ZERO).await.unwrap_err();
    assert!(matches!(error, KvError::InvalidTtl), "{name}: {error}");
    assert_eq!(kv.get("z").await.unwrap(), None, "{name}");
}

async fn set_if_absent_has_exactly_one_winner((name, kv): (&'static str, Arc<dyn KeyValueStore>)) {
    let attempts = (0..16).map(|i| {
        let kv = kv.clone();
        tokio::spawn(async move {
            kv.set_if_absent(
                "once",
                format!("{i}").as_bytes(),
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap()
        })
    });
    let wins = futures_count(attempts).await;
    assert_eq!(wins, 1, "{name}");
    assert!(kv.time_to_live("once").await.unwrap().is_some(), "{name}");
}

async fn take_hands_a_value_to_exactly_one_caller(
    (name, kv): (&'static str, Arc<dyn KeyValueStore>),
) {
    kv.set("code", b"123456", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let takers = (0..16).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.take("code").await.unwrap().is_some() })
    });
    assert_eq!(futures_count(takers).await, 1, "{name}");
    assert_eq!(kv.get("code").await.unwrap(), None, "{name}");
    assert_eq!(kv.take("code").await.unwrap(), None, "{name}");
}

async fn increments_are_atomic_and_keep_their_window(
    (name, kv): (&'static str, Arc<dyn KeyValueStore>),
) {
    let window = Duration::from_secs(60);
    let bumps = (0..50).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.increment("hits", 1, window).await.unwrap().value > 0 })
    });
    assert_eq!(futures_count(bumps).await, 50, "{name}");
    let counter = kv.increment("hits", 5, window).await.unwrap();
    assert_eq!(counter.value, 55, "{name}");
    assert!(
        counter.resets_in <= window && counter.resets_in > Duration::from_secs(50),
        "{name}"
    );
    let counter = kv.increment("hits", -55, window).await.unwrap();
    assert_eq!(counter.value, 0, "{name}");
    // A value set without expiry gains the window on its first increment.
    kv.set("plain", b"7", None).await.unwrap();
    let counter = kv.increment("plain", 1, window).await.unwrap();
    assert_eq!(counter.value, 8, "{name}");
    assert!(kv.time_to_live("plain").await.unwrap().is_some(), "{name}");
}

async fn incrementing_text_is_refused_and_changes_nothing(
    (name, kv): (&'static str, Arc<dyn KeyValueStore>),
) {
    kv.set("text", b"hello", None).await.unwrap();
    let error = kv
        .increment("text", 1, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(error, KvError::NotAnInteger), "{name}: {error}");
    assert_eq!(
        kv.get("text").await.unwrap().as_deref(),
        Some(&b"hello"[..]),
        "{name}"
    );
}

async fn ping_answers((name, kv): (&'static str, Arc<dyn KeyValueStore>)) {
    kv.ping()
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
}

#[tokio::test]
#[ignore = "needs REDIS_URL (make ci)"]
async fn redis_keys_stay_inside_their_prefix_production() {
    require_backend("REDIS_URL");
    let a = redis(&fresh_prefix()).await;
    let b = redis(&fresh_prefix()).await;
    a.set("shared-name", b"a", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(b.get("shared-name").await.unwrap(), None);
    // The write happened: the store with the prefix reads its own key back.
    assert_eq!(
        a.get("shared-name").await.unwrap().as_deref(),
        Some(&b"a"[..])
    );
    b.set("shared-name", b"b", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        a.get("shared-name").await.unwrap().as_deref(),
        Some(&b"a"[..]),
        "b's write does not overwrite a's key"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_as_unavailable() {
    // Port 1 on loopback is never a Redis server; the connection is refused at once.
    let error = RedisKeyValueStore::connect("redis://127.0.0.1:1", &RedisOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, KvError::Unavailable(_)), "{error}");
}

async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut count = 0;
    for task in tasks.collect::<Vec<_>>() {
        if task.await.unwrap() {
            count += 1;
        }
    }
    count
}
