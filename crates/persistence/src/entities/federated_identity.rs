//! The `federated_identities` table.

use sea_orm::entity::prelude::*;

/// An external identity linked to an account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "federated_identities")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub user_id: Uuid,
    /// The SAML connection or upstream provider.
    pub provider_id: Uuid,
    /// The IdP's identifier.
    pub issuer: String,
    /// The IdP's identifier of the user.
    pub subject: String,
    /// The address asserted when linked.
    pub email: Option<String>,
    /// Linked.
    pub created_at: DateTimeUtc,
    /// Last used.
    pub last_used_at: DateTimeUtc,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
