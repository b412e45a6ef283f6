//! The `mfa_totp` table.

use sea_orm::entity::prelude::*;

/// A user's TOTP factor.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_totp")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The secret, sealed under the master key.
    pub sealed_secret: Vec<u8>,
    /// Confirmed with a first code.
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last accepted time step.
    pub last_used_step: Option<i64>,
    /// Enrolment began.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
