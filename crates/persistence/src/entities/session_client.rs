//! The `session_clients` table.

use sea_orm::entity::prelude::*;

/// A client that received tokens in a session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_clients")]
pub struct Model {
    /// The session.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    /// The client.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
