//! Castellan's storage adapters: the relational database through sea-orm (SQLite for the
//! embedded mode, PostgreSQL for production) and the key-value store (in-process or Redis).
//!
//! sea-orm model types stay inside this crate; the rest of the workspace sees domain ports.

pub mod database;
pub mod entities;
pub mod kv;
pub mod lease;
pub mod repositories;

pub use database::{Backend, Database, DatabaseError, DatabaseOptions};
pub use kv::{MemoryKeyValueStore, RedisKeyValueStore, RedisOptions};
pub use lease::SqlLeaseRepository;
pub use repositories::{
    SqlAuditLog, SqlClientRepository, SqlConsentLedger, SqlConsentRepository,
    SqlEmailTokenRepository, SqlFactorDirectory, SqlFederationRepository, SqlLinkRequestQueue,
    SqlMailQueue, SqlMfaRepository, SqlOrganizationRepository, SqlPasskeyRepository,
    SqlRefreshTokenRepository, SqlSessionParticipants, SqlSessionRepository,
    SqlSigningKeyRepository, SqlUserRepository,
};

#[cfg(feature = "testing")]
pub mod testing;
