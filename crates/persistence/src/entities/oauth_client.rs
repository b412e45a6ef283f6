//! The `oauth_clients` table.

use sea_orm::entity::prelude::*;

/// One registered client; its RFC 7591 metadata is kept as JSON.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_clients")]
pub struct Model {
    /// `client_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// The metadata document.
    pub metadata: String,
    /// SHA-256 of the secret.
    pub secret_hash: Option<String>,
    /// SHA-256 of the previous secret.
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops working.
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// SHA-256 of the registration access token.
    pub registration_token_hash: Option<String>,
    /// Registered.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
