//! The `refresh_tokens` table.

use sea_orm::entity::prelude::*;

/// One refresh-token row (hash only).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Session it extends.
    pub session_id: Uuid,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Issued.
    pub created_at: DateTimeUtc,
    /// Expires.
    pub expires_at: DateTimeUtc,
    /// Exchanged.
    pub used_at: Option<DateTimeUtc>,
    /// OAuth client it was issued to.
    pub client_id: Option<String>,
    /// Its scopes.
    pub scope: Option<String>,
    /// The grant its rotations share.
    pub grant_id: Option<Uuid>,
    /// The organization an OAuth client's grant is scoped to.
    pub organization_id: Option<Uuid>,
}

/// A refresh token belongs to a session.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The session it extends.
    #[sea_orm(
        belongs_to = "super::session::Entity",
        from = "Column::SessionId",
        to = "super::session::Column::Id"
    )]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
