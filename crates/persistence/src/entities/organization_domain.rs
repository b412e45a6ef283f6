//! The `organization_domains` table.

use sea_orm::entity::prelude::*;

/// A DNS domain an organization claims.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization_domains")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The domain, lower case.
    pub domain: String,
    /// The value the TXT record must carry.
    pub token: String,
    /// The domain once verified (unique: one organization holds a verified domain).
    pub claimed: Option<String>,
    /// Verified.
    pub verified_at: Option<DateTimeUtc>,
    /// `dns` or `operator`.
    pub verified_by: Option<String>,
    /// Claimed.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
