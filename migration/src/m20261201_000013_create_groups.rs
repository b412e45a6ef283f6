//! Groups inside an organization: their members inherit the group's roles.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrgGroups::Table)
                    .col(uuid(OrgGroups::Id).primary_key())
                    .col(uuid(OrgGroups::OrganizationId))
                    .col(string_len(OrgGroups::Name, 100))
                    .col(text(OrgGroups::Roles))
                    .col(timestamp_with_time_zone(OrgGroups::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrgGroups::Table, OrgGroups::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrgGroupMembers::Table)
                    .col(uuid(OrgGroupMembers::GroupId))
                    .col(uuid(OrgGroupMembers::UserId))
                    .primary_key(
                        Index::create()
                            .col(OrgGroupMembers::GroupId)
                            .col(OrgGroupMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrgGroupMembers::Table, OrgGroupMembers::GroupId)
                            .to(OrgGroups::Table, OrgGroups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OrgGroupMembers::Table, OrgGroupMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrgGroupMembers::Table.into_iden(),
            OrgGroups::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OrgGroups {
    Table,
    Id,
    OrganizationId,
    Name,
    Roles,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrgGroupMembers {
    Table,
    GroupId,
    UserId,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
