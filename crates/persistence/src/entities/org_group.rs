//! The `org_groups` table.

use sea_orm::entity::prelude::*;

/// A group inside an organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_groups")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// Name.
    pub name: String,
    /// Space-separated roles its members inherit.
    pub roles: String,
    /// Created.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
