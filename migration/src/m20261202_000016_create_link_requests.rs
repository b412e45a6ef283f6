//! Links asked for by address (password reset, magic link, new verification link), stored
//! when asked and fulfilled by a worker after the answer, so the answer takes as long for an
//! address without an account as for one with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LinkRequests::Table)
                    .col(uuid(LinkRequests::Id).primary_key())
                    .col(string_len(LinkRequests::Kind, 32))
                    .col(string_len(LinkRequests::Email, 320))
                    .col(text_null(LinkRequests::Ip))
                    .col(text_null(LinkRequests::UserAgent))
                    .col(string_len(LinkRequests::Status, 16))
                    .col(integer(LinkRequests::Attempts))
                    .col(timestamp_with_time_zone(LinkRequests::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(LinkRequests::LockedUntil))
                    .col(text_null(LinkRequests::LastError))
                    .col(timestamp_with_time_zone(LinkRequests::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_link_requests_due")
                    .table(LinkRequests::Table)
                    .col(LinkRequests::Status)
                    .col(LinkRequests::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LinkRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum LinkRequests {
    Table,
    Id,
    Kind,
    Email,
    Ip,
    UserAgent,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    CreatedAt,
}
