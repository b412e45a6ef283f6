//! The `consent_records` table.

use sea_orm::entity::prelude::*;

/// One consent decision.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_records")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose.
    pub user_id: Uuid,
    /// What for.
    pub purpose: String,
    /// Which policy version.
    pub policy_version: String,
    /// Given or withdrawn.
    pub granted: bool,
    /// Where.
    pub source: String,
    /// When.
    pub at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
