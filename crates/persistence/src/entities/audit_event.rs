//! The `audit_events` table.

use sea_orm::entity::prelude::*;

/// One audit event row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// When.
    pub at: DateTimeUtc,
    /// What.
    pub action: String,
    /// Who.
    pub actor: Option<Uuid>,
    /// On what.
    pub target: Option<String>,
    /// From where.
    pub ip: Option<String>,
    /// With which client.
    pub user_agent: Option<String>,
    /// Outcome.
    pub success: bool,
    /// Note.
    pub detail: Option<String>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
