//! The `sessions` table.

use sea_orm::entity::prelude::*;

/// One session row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Id (`sid`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Began.
    pub created_at: DateTimeUtc,
    /// Last used.
    pub last_seen_at: DateTimeUtc,
    /// Absolute end.
    pub expires_at: DateTimeUtc,
    /// IP at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Space-separated `amr` values.
    pub amr: String,
    /// Revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// The organization its tokens are scoped to.
    pub organization_id: Option<Uuid>,
}

/// No relations are navigated from here.
/// A session belongs to a user.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The session's user.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
