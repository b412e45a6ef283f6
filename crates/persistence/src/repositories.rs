//! Repositories: the domain's storage ports over sea-orm, one file per aggregate. Database
//! errors are mapped to domain errors once, here.

mod audit;
mod client;
mod consent_ledger;
mod factors;
mod federation;
mod link_requests;
mod mail;
mod organization;
mod session;
mod signing_key;
mod user;
mod work_queue;

pub use audit::SqlAuditLog;
pub use client::{SqlClientRepository, SqlConsentRepository, SqlSessionParticipants};
pub use consent_ledger::SqlConsentLedger;
pub use factors::{SqlFactorDirectory, SqlMfaRepository, SqlPasskeyRepository};
pub use federation::SqlFederationRepository;
pub use link_requests::SqlLinkRequestQueue;
pub use mail::{SqlEmailTokenRepository, SqlMailQueue};
pub use organization::SqlOrganizationRepository;
pub use session::{SqlRefreshTokenRepository, SqlSessionRepository};
pub use signing_key::SqlSigningKeyRepository;
pub use user::SqlUserRepository;

use castellan_domain::DomainError;
use sea_orm::sea_query::LikeExpr;
use sea_orm::{DbErr, SqlErr};

/// Maps a database error: unique violations become `Conflict(what)`; a foreign-key violation
/// means a row it refers to is gone (deleted by a concurrent request), so `NotFound`; anything
/// else a storage error whose text goes to logs only.
pub(crate) fn map_db_error(what: &'static str) -> impl Fn(DbErr) -> DomainError {
    move |error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::Conflict(what),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            DomainError::NotFound("referenced record")
        }
        _ => DomainError::caused("the database", error),
    }
}

/// A case-insensitive `LIKE` pattern containing `search`, with its wildcards escaped by a
/// backslash that the `ESCAPE` clause names (SQLite has no default escape character); `None`
/// for an empty search.
pub(crate) fn like_pattern(search: &str) -> Option<LikeExpr> {
    let search = search.trim();
    if search.is_empty() {
        return None;
    }
    let escaped = search
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Some(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// Offset and limit of a 1-based page.
pub(crate) fn page_bounds(page: u64, per_page: u64) -> (u64, u64) {
    let per_page = per_page.clamp(1, 100);
    (page.saturating_sub(1).saturating_mul(per_page), per_page)
}
