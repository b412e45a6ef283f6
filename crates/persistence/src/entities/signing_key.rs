//! The `signing_keys` table.

use sea_orm::entity::prelude::*;

/// One signing key row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// Key id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    /// Public JWK (JSON).
    pub public_jwk: String,
    /// Encrypted private key.
    pub private_key: Vec<u8>,
    /// Generated.
    pub created_at: DateTimeUtc,
    /// Started signing.
    pub activated_at: Option<DateTimeUtc>,
    /// Stopped signing.
    pub retired_at: Option<DateTimeUtc>,
    /// Leaves JWKS.
    pub retire_after: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
