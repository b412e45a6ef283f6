//! Key-value stores: [`MemoryKeyValueStore`] for the embedded mode and
//! [`RedisKeyValueStore`] for production. Both honour `castellan_domain::KeyValueStore`
//! identically; `tests/kv_contract.rs` runs one suite against each.

mod memory;
mod redis_store;

pub use memory::MemoryKeyValueStore;
pub use redis_store::{RedisKeyValueStore, RedisOptions, check_url as check_redis_url};
