//! The `link_requests` table.

use sea_orm::entity::prelude::*;

/// A link asked for by address, waiting for the worker, or given up.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link_requests")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `verification`, `password_reset` or `magic_link`.
    pub kind: String,
    /// The address.
    pub email: String,
    /// The asking client's IP address.
    pub ip: Option<String>,
    /// The asking client's `User-Agent`.
    pub user_agent: Option<String>,
    /// `pending` or `failed`.
    pub status: String,
    /// Failed attempts.
    pub attempts: i32,
    /// When it is due.
    pub next_attempt_at: DateTimeUtc,
    /// Claimed by a worker until then.
    pub locked_until: Option<DateTimeUtc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Asked for.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
