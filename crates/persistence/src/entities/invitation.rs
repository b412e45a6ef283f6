//! The `invitations` table.

use sea_orm::entity::prelude::*;

/// An invitation to an organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    /// SHA-256 of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// The organization.
    pub organization_id: Uuid,
    /// The invited address.
    pub email: String,
    /// The role on acceptance.
    pub role: String,
    /// Who invited.
    pub invited_by: Uuid,
    /// Sent.
    pub created_at: DateTimeUtc,
    /// Dead after this.
    pub expires_at: DateTimeUtc,
    /// Accepted.
    pub accepted_at: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
