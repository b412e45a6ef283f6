//! The `leases` table.

use sea_orm::entity::prelude::*;

/// One named lease and who holds it until when.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leases")]
pub struct Model {
    /// The lease's name, for example `signing-key-rotation`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The replica that holds it.
    pub holder: String,
    /// When it lapses, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

/// The table has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
