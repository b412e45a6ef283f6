//! SAML connections of organizations, and the external identities linked to accounts.
//!
//! A connection keeps the SP's private key sealed (AES-256-GCM under the master key, bound to
//! the connection id), the IdP's certificates as a JSON list (several during a rollover), and
//! its attribute and group-to-role mappings as JSON. `federated_identities` names the
//! connection or upstream provider it came through without a foreign key, since both kinds
//! share it; deleting a connection deletes its links in the same transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SamlConnections::Table)
                    .col(uuid(SamlConnections::Id).primary_key())
                    .col(uuid(SamlConnections::OrganizationId))
                    .col(string_len(SamlConnections::Provider, 16))
                    .col(text(SamlConnections::SpEntityId))
                    .col(text(SamlConnections::IdpEntityId))
                    .col(text(SamlConnections::IdpSsoUrl))
                    .col(text_null(SamlConnections::IdpSloUrl))
                    .col(text(SamlConnections::IdpCertificates))
                    .col(text_null(SamlConnections::IdpMetadataUrl))
                    .col(timestamp_with_time_zone_null(
                        SamlConnections::MetadataRefreshedAt,
                    ))
                    .col(string_len(SamlConnections::SignedParts, 16))
                    .col(boolean(SamlConnections::AllowUnsolicited))
                    .col(string_len(SamlConnections::NameIdFormat, 32))
                    .col(text(SamlConnections::AttributeMapping))
                    .col(text(SamlConnections::RoleMapping))
                    .col(boolean(SamlConnections::TrustEmail))
                    .col(boolean(SamlConnections::Enabled))
                    .col(blob(SamlConnections::SealedSpKey))
                    .col(text(SamlConnections::SpCertificate))
                    .col(timestamp_with_time_zone(SamlConnections::CreatedAt))
                    .col(timestamp_with_time_zone(SamlConnections::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SamlConnections::Table, SamlConnections::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saml_connections_organization")
                    .table(SamlConnections::Table)
                    .col(SamlConnections::OrganizationId)
                    .to_owned(),
            )
            .await?;
        // Unsolicited Responses find their connection by the IdP's entity id.
        manager
            .create_index(
                Index::create()
                    .name("saml_connections_idp")
                    .table(SamlConnections::Table)
                    .col(SamlConnections::IdpEntityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FederatedIdentities::Table)
                    .col(uuid(FederatedIdentities::Id).primary_key())
                    .col(uuid(FederatedIdentities::UserId))
                    .col(uuid(FederatedIdentities::ProviderId))
                    .col(text(FederatedIdentities::Issuer))
                    .col(text(FederatedIdentities::Subject))
                    .col(text_null(FederatedIdentities::Email))
                    .col(timestamp_with_time_zone(FederatedIdentities::CreatedAt))
                    .col(timestamp_with_time_zone(FederatedIdentities::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FederatedIdentities::Table, FederatedIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("federated_identities_subject")
                    .table(FederatedIdentities::Table)
                    .col(FederatedIdentities::ProviderId)
                    .col(FederatedIdentities::Issuer)
                    .col(FederatedIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("federated_identities_user")
                    .table(FederatedIdentities::Table)
                    .col(FederatedIdentities::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FederatedIdentities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SamlConnections::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SamlConnections {
    Table,
    Id,
    OrganizationId,
    Provider,
    SpEntityId,
    IdpEntityId,
    IdpSsoUrl,
    IdpSloUrl,
    IdpCertificates,
    IdpMetadataUrl,
    MetadataRefreshedAt,
    SignedParts,
    AllowUnsolicited,
    NameIdFormat,
    AttributeMapping,
    RoleMapping,
    TrustEmail,
    Enabled,
    SealedSpKey,
    SpCertificate,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FederatedIdentities {
    Table,
    Id,
    UserId,
    ProviderId,
    Issuer,
    Subject,
    Email,
    CreatedAt,
    LastUsedAt,
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
