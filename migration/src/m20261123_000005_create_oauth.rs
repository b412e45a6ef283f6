//! The OpenID Connect provider: registered clients, remembered consents, which clients took
//! part in a session (for back-channel logout), and refresh tokens that belong to a client grant.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .col(string_len(OauthClients::ClientId, 64).primary_key())
                    .col(text(OauthClients::Metadata))
                    .col(string_len_null(OauthClients::SecretHash, 64))
                    .col(string_len_null(OauthClients::PreviousSecretHash, 64))
                    .col(timestamp_with_time_zone_null(
                        OauthClients::PreviousSecretExpiresAt,
                    ))
                    .col(string_len_null(OauthClients::RegistrationTokenHash, 64))
                    .col(timestamp_with_time_zone(OauthClients::CreatedAt))
                    .col(timestamp_with_time_zone(OauthClients::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthConsents::Table)
                    .col(uuid(OauthConsents::UserId))
                    .col(string_len(OauthConsents::ClientId, 64))
                    .col(text(OauthConsents::Scopes))
                    .col(timestamp_with_time_zone(OauthConsents::GrantedAt))
                    .primary_key(
                        Index::create()
                            .col(OauthConsents::UserId)
                            .col(OauthConsents::ClientId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthConsents::Table, OauthConsents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthConsents::Table, OauthConsents::ClientId)
                            .to(OauthClients::Table, OauthClients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionClients::Table)
                    .col(uuid(SessionClients::SessionId))
                    .col(string_len(SessionClients::ClientId, 64))
                    .primary_key(
                        Index::create()
                            .col(SessionClients::SessionId)
                            .col(SessionClients::ClientId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionClients::Table, SessionClients::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionClients::Table, SessionClients::ClientId)
                            .to(OauthClients::Table, OauthClients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(RefreshTokens::ClientId)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::Scope)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::GrantId)
                .uuid()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_grant")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::GrantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_refresh_tokens_grant")
                    .table(RefreshTokens::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            RefreshTokens::GrantId,
            RefreshTokens::Scope,
            RefreshTokens::ClientId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            SessionClients::Table.into_iden(),
            OauthConsents::Table.into_iden(),
            OauthClients::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    ClientId,
    Metadata,
    SecretHash,
    PreviousSecretHash,
    PreviousSecretExpiresAt,
    RegistrationTokenHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OauthConsents {
    Table,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden)]
enum SessionClients {
    Table,
    SessionId,
    ClientId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    ClientId,
    Scope,
    GrantId,
}
