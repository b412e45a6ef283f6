//! The consent ledger: decisions per purpose and policy version, with time and source.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsentRecords::Table)
                    .col(uuid(ConsentRecords::Id).primary_key())
                    .col(uuid(ConsentRecords::UserId))
                    .col(string_len(ConsentRecords::Purpose, 100))
                    .col(string_len(ConsentRecords::PolicyVersion, 100))
                    .col(boolean(ConsentRecords::Granted))
                    .col(string_len(ConsentRecords::Source, 100))
                    .col(timestamp_with_time_zone(ConsentRecords::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsentRecords::Table, ConsentRecords::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_consent_records_user")
                    .table(ConsentRecords::Table)
                    .col(ConsentRecords::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsentRecords::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsentRecords {
    Table,
    Id,
    UserId,
    Purpose,
    PolicyVersion,
    Granted,
    Source,
    At,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
