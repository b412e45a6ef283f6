//! The `mfa_backup_codes` table.

use sea_orm::entity::prelude::*;

/// One single-use backup code, hashed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_backup_codes")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// SHA-256 of the user id and the code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// Generated.
    pub created_at: DateTimeUtc,
    /// Used; `None` while still usable.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
