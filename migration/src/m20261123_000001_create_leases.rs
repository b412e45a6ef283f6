//! Leases: named rows through which replicas claim work that must run once (see
//! `castellan_domain::lease`). Expiry is stored as milliseconds since the epoch so that SQLite
//! and PostgreSQL compare it alike.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .col(string_len(Leases::Name, 128).primary_key())
                    .col(string_len(Leases::Holder, 128))
                    .col(big_integer(Leases::ExpiresAtMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Leases::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    ExpiresAtMs,
}
