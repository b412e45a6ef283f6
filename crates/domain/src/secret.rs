//! The small helpers every service that hands out or stores a secret shares: a token's stored
//! hash, hex, and durations in chrono terms (random tokens come from the `RandomSource` port).
//! They live apart from the services so that none of them has to import another service's
//! module to hash a token.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// SHA-256 of a token, hex-encoded, as stored.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `duration` as a chrono duration, saturating.
pub fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
