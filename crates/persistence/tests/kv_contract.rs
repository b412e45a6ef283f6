//! One contract for every `KeyValueStore`: the in-process store always, Redis when `REDIS_URL`
//! is set. A behaviour the rest of Castellan relies on belongs here, not in one adapter's tests.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{KeyValueStore, KvError, SystemClock};
use castellan_persistence::testing::redis_with_fresh_prefix;
use castellan_persistence::{MemoryKeyValueStore, RedisKeyValueStore, RedisOptions};

async fn stores() -> Vec<(&'static str, Arc<dyn KeyValueStore>)> {
    let mut stores: Vec<(&'static str, Arc<dyn KeyValueStore>)> = vec![(
        "memory",
        Arc::new(MemoryKeyValueStore::new(Arc::new(SystemClock))),
    )];
    if let Some((url, key_prefix)) = redis_with_fresh_prefix() {
        let options = RedisOptions {
            key_prefix,
            ..RedisOptions::default()
        };
        let redis = RedisKeyValueStore::connect(&url, &options)
            .await
            .expect("connect to REDIS_URL");
        stores.push(("redis", Arc::new(redis)));
    }
    stores
}

#[tokio::test]
async fn set_get_and_delete_round_trip() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn time_to_live_is_reported_and_bounded() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn zero_ttl_is_refused_and_writes_nothing() {
    for (name, kv) in stores().await {
        let error = kv.set("z", b"v", Some(Duration::ZERO)).await.unwrap_err();
        assert!(matches!(error, KvError::InvalidTtl), "{name}: {error}");
        let error = kv.increment("z", 1, Duration::ZERO).await.unwrap_err();
        assert!(matches!(error, KvError::InvalidTtl), "{name}: {error}");
        assert_eq!(kv.get("z").await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn set_if_absent_has_exactly_one_winner() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn take_hands_a_value_to_exactly_one_caller() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn increments_are_atomic_and_keep_their_window() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn incrementing_text_is_refused_and_changes_nothing() {
    for (name, kv) in stores().await {
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
}

#[tokio::test]
async fn ping_answers() {
    for (name, kv) in stores().await {
        kv.ping()
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}

#[tokio::test]
async fn redis_keys_stay_inside_their_prefix() {
    let Some((url, prefix_a)) = redis_with_fresh_prefix() else {
        return;
    };
    let (_, prefix_b) = redis_with_fresh_prefix().unwrap();
    let a = RedisKeyValueStore::connect(
        &url,
        &RedisOptions {
            key_prefix: prefix_a,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let b = RedisKeyValueStore::connect(
        &url,
        &RedisOptions {
            key_prefix: prefix_b,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    a.set("shared-name", b"a", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(b.get("shared-name").await.unwrap(), None);
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
