//! The `email_tokens` table.

use sea_orm::entity::prelude::*;

/// A token an emailed link carries, hashed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_tokens")]
pub struct Model {
    /// SHA-256 of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// What it is for.
    pub purpose: String,
    /// The account, when one exists.
    pub user_id: Option<Uuid>,
    /// The address it went to.
    pub email: String,
    /// Issued.
    pub created_at: DateTimeUtc,
    /// Dead after this.
    pub expires_at: DateTimeUtc,
    /// Used.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
