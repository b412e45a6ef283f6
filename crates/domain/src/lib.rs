//! Castellan's pure core: what the identity platform's things are, the rules over them, and the
//! ports (traits) that storage, cache, mail and protocol adapters implement.
//!
//! This crate depends on no web framework, database driver or cache client; CI checks that.

pub mod clock;
pub mod kv;
pub mod lease;

pub use clock::{Clock, ManualClock, SystemClock};
pub use kv::{Counter, KeyValueStore, KvError};
pub use lease::{LeaseError, LeaseRepository};
