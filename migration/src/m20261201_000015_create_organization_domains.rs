//! DNS domains organizations claim. `claimed` holds the domain once it is verified and is
//! unique, so two organizations can both ask for a domain but only one can verify it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrganizationDomains::Table)
                    .col(uuid(OrganizationDomains::Id).primary_key())
                    .col(uuid(OrganizationDomains::OrganizationId))
                    .col(string_len(OrganizationDomains::Domain, 253))
                    .col(string_len(OrganizationDomains::Token, 64))
                    .col(string_len_null(OrganizationDomains::Claimed, 253).unique_key())
                    .col(timestamp_with_time_zone_null(
                        OrganizationDomains::VerifiedAt,
                    ))
                    .col(string_len_null(OrganizationDomains::VerifiedBy, 16))
                    .col(timestamp_with_time_zone(OrganizationDomains::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                OrganizationDomains::Table,
                                OrganizationDomains::OrganizationId,
                            )
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("organization_domains_organization_domain")
                    .table(OrganizationDomains::Table)
                    .col(OrganizationDomains::OrganizationId)
                    .col(OrganizationDomains::Domain)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrganizationDomains::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OrganizationDomains {
    Table,
    Id,
    OrganizationId,
    Domain,
    Token,
    Claimed,
    VerifiedAt,
    VerifiedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}
