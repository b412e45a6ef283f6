//! The `passkeys` table.

use sea_orm::entity::prelude::*;

/// A registered WebAuthn credential.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// Credential id, base64url.
    #[sea_orm(unique)]
    pub credential_id: String,
    /// The user's name for it.
    pub name: String,
    /// The serialised credential.
    pub credential: String,
    /// Signature counter.
    pub counter: i64,
    /// May be backed up (synced).
    pub backup_eligible: bool,
    /// Is backed up.
    pub backup_state: bool,
    /// Registered.
    pub created_at: DateTimeUtc,
    /// Last used.
    pub last_used_at: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
