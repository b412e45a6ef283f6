//! The Redis key-value store, over a `ConnectionManager` that reconnects by itself after Redis
//! restarts or the network drops, so the server recovers without a restart of its own.
//!
//! Supported URLs: `redis://` and `rediss://` (a single server or a proxy in front of a
//! cluster). Sentinel and Cluster topologies are refused at start with a clear message rather
//! than half-supported.

use std::time::Duration;

use async_trait::async_trait;
use castellan_domain::kv::validate_ttl;
use castellan_domain::{Counter, KeyValueStore, KvError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script, SetExpiry, SetOptions};

/// Increments a counter and starts its window when it is new or has no expiry, in one atomic
/// step. Returns the new value and the milliseconds left in the window.
const INCREMENT_SCRIPT: &str = r"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {value, ttl}
";

/// Connection settings for [`RedisKeyValueStore`].
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prepended to every key, so several deployments (or test runs) can share one Redis.
    pub key_prefix: String,
    /// How long to wait for a connection to be established.
    pub connect_timeout: Duration,
    /// How long to wait for any one command.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            key_prefix: "castellan:".to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }
}

/// A [`KeyValueStore`] in Redis, shared by every replica.
#[derive(Clone)]
pub struct RedisKeyValueStore {
    connection: ConnectionManager,
    prefix: String,
    increment: Script,
}

impl std::fmt::Debug for RedisKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyValueStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisKeyValueStore {
    /// Connects to the Redis server the URL names and checks that it answers.
    pub async fn connect(url: &str, options: &RedisOptions) -> Result<Self, KvError> {
        check_url(url)?;
        let client = redis::Client::open(url).map_err(|error| {
            KvError::Backend(format!(
                "cache.url is not a valid Redis URL ({:?})",
                error.kind()
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(map_error)?;
        Ok(Self {
            connection,
            prefix: options.key_prefix.clone(),
            increment: Script::new(INCREMENT_SCRIPT),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        // Clones share one multiplexed connection; this is how the manager is meant to be used.
        self.connection.clone()
    }
}

/// Refuses URL schemes for topologies this store does not speak, naming the alternative.
pub fn check_url(url: &str) -> Result<(), KvError> {
    let scheme = url.split("://").next().unwrap_or_default();
    match scheme {
        "redis" | "rediss" => Ok(()),
        "redis+sentinel" | "rediss+sentinel" | "sentinel" => Err(KvError::Backend(
            "Redis Sentinel URLs are not supported yet; point cache.url at the current primary \
             through a Sentinel-aware proxy (for example HAProxy) as redis://host:port"
                .to_owned(),
        )),
        "redis+cluster" | "rediss+cluster" | "cluster" => Err(KvError::Backend(
            "Redis Cluster URLs are not supported yet; use a single Redis (or Valkey) primary \
             with replicas, or a cluster proxy reachable as redis://host:port"
                .to_owned(),
        )),
        "redis+unix" | "unix" => Ok(()),
        other => Err(KvError::Backend(format!(
            "cache.url must start with redis:// or rediss:// (got scheme {other:?})"
        ))),
    }
}

fn map_error(error: RedisError) -> KvError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        KvError::Unavailable(error.to_string())
    } else if error.to_string().contains("not an integer") {
        KvError::NotAnInteger
    } else {
        KvError::Backend(error.to_string())
    }
}

fn millis(ttl: Duration) -> Result<u64, KvError> {
    let ttl = validate_ttl(ttl)?;
    Ok(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

fn set_options(ttl: Option<Duration>) -> Result<SetOptions, KvError> {
    let mut options = SetOptions::default();
    if let Some(ttl) = ttl {
        options = options.with_expiration(SetExpiry::PX(millis(ttl)?));
    }
    Ok(options)
}

#[async_trait]
impl KeyValueStore for RedisKeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.conn().get(self.key(key)).await.map_err(map_error)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let options = set_options(ttl)?;
        self.conn()
            .set_options::<_, _, ()>(self.key(key), value, options)
            .await
            .map_err(map_error)
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        let options = set_options(ttl)?.conditional_set(redis::ExistenceCheck::NX);
        let written: Option<String> = self
            .conn()
            .set_options(self.key(key), value, options)
            .await
            .map_err(map_error)?;
        Ok(written.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.conn().get_del(self.key(key)).await.map_err(map_error)
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let removed: i64 = self.conn().del(self.key(key)).await.map_err(map_error)?;
        Ok(removed > 0)
    }

    async fn increment(&self, key: &str, delta: i64, window: Duration) -> Result<Counter, KvError> {
        let window_ms = millis(window)?;
        let (value, ttl_ms): (i64, i64) = self
            .increment
            .key(self.key(key))
            .arg(delta)
            .arg(window_ms)
            .invoke_async(&mut self.conn())
            .await
            .map_err(map_error)?;
        Ok(Counter {
            value,
            resets_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(window_ms)),
        })
    }

    async fn time_to_live(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut self.conn())
            .await
            .map_err(map_error)?;
        // -2: no such key; -1: no expiry.
        Ok(u64::try_from(ttl_ms).ok().map(Duration::from_millis))
    }

    async fn ping(&self) -> Result<(), KvError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn())
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_topologies_are_named() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_url("rediss://cache.example:6380").is_ok());
        let sentinel = check_url("redis+sentinel://h:26379/mymaster").unwrap_err();
        assert!(sentinel.to_string().contains("Sentinel"));
        let cluster = check_url("redis+cluster://h:7000").unwrap_err();
        assert!(cluster.to_string().contains("Cluster"));
        assert!(
            check_url("memcached://h")
                .unwrap_err()
                .to_string()
                .contains("memcached")
        );
    }
}
