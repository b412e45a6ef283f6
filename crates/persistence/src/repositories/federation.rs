//! SAML connections over `saml_connections` and linked identities over
//! `federated_identities`. Lists and mappings are JSON text; deleting a connection deletes the
//! identities linked through it in the same transaction.

use async_trait::async_trait;
use castellan_domain::federation::{
    FederatedIdentityStore, FederatedLink, SamlConnectionRecord, SamlConnectionStore,
};
use castellan_domain::{DomainError, OrganizationId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::map_db_error;
use crate::Database;
use crate::entities::{federated_identity, saml_connection};

/// [`SamlConnectionStore`] and [`FederatedIdentityStore`] on the database.
#[derive(Debug, Clone)]
pub struct SqlFederationRepository {
    database: Database,
}

impl SqlFederationRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn to_json(value: &impl Serialize) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(|e| DomainError::caused("encoding a SAML connection", e))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::caused("decoding a SAML connection", e))
}

fn active(record: &SamlConnectionRecord) -> Result<saml_connection::ActiveModel, DomainError> {
    Ok(saml_connection::ActiveModel {
        id: Set(record.id),
        organization_id: Set(record.organization_id.0),
        provider: Set(record.provider.clone()),
        sp_entity_id: Set(record.sp_entity_id.clone()),
        idp_entity_id: Set(record.idp_entity_id.clone()),
        idp_sso_url: Set(record.idp_sso_url.clone()),
        idp_slo_url: Set(record.idp_slo_url.clone()),
        idp_certificates: Set(to_json(&record.idp_certificates)?),
        idp_metadata_url: Set(record.idp_metadata_url.clone()),
        metadata_refreshed_at: Set(record.metadata_refreshed_at),
        signed_parts: Set(record.signed_parts.clone()),
        allow_unsolicited: Set(record.allow_unsolicited),
        name_id_format: Set(record.name_id_format.clone()),
        attribute_mapping: Set(to_json(&record.attributes)?),
        role_mapping: Set(to_json(&record.roles)?),
        trust_email: Set(record.trust_email),
        enabled: Set(record.enabled),
        sealed_sp_key: Set(record.sealed_sp_key.clone()),
        sp_certificate: Set(record.sp_certificate.clone()),
        created_at: Set(record.created_at),
        updated_at: Set(record.updated_at),
    })
}

fn connection_from_model(
    model: saml_connection::Model,
) -> Result<SamlConnectionRecord, DomainError> {
    Ok(SamlConnectionRecord {
        id: model.id,
        organization_id: OrganizationId(model.organization_id),
        provider: model.provider,
        sp_entity_id: model.sp_entity_id,
        idp_entity_id: model.idp_entity_id,
        idp_sso_url: model.idp_sso_url,
        idp_slo_url: model.idp_slo_url,
        idp_certificates: from_json(&model.idp_certificates)?,
        idp_metadata_url: model.idp_metadata_url,
        metadata_refreshed_at: model.metadata_refreshed_at,
        signed_parts: model.signed_parts,
        allow_unsolicited: model.allow_unsolicited,
        name_id_format: model.name_id_format,
        attributes: from_json(&model.attribute_mapping)?,
        roles: from_json(&model.role_mapping)?,
        trust_email: model.trust_email,
        enabled: model.enabled,
        sealed_sp_key: model.sealed_sp_key,
        sp_certificate: model.sp_certificate,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn link_from_model(model: federated_identity::Model) -> FederatedLink {
    FederatedLink {
        id: model.id,
        user_id: UserId(model.user_id),
        provider_id: model.provider_id,
        issuer: model.issuer,
        subject: model.subject,
        email: model.email,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    }
}

impl SqlFederationRepository {
    /// The connections `query` selects, oldest first.
    async fn oldest_first(
        &self,
        query: sea_orm::Select<saml_connection::Entity>,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError> {
        query
            .order_by_asc(saml_connection::Column::CreatedAt)
            .order_by_asc(saml_connection::Column::Id)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("SAML connection"))?
            .into_iter()
            .map(connection_from_model)
            .collect()
    }
}

#[async_trait]
impl SamlConnectionStore for SqlFederationRepository {
    async fn create_connection(
        &self,
        connection: &SamlConnectionRecord,
    ) -> Result<(), DomainError> {
        active(connection)?
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("SAML connection"))?;
        Ok(())
    }

    async fn connection(&self, id: Uuid) -> Result<Option<SamlConnectionRecord>, DomainError> {
        saml_connection::Entity::find_by_id(id)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("SAML connection"))?
            .map(connection_from_model)
            .transpose()
    }

    async fn connections(
        &self,
        organization: Option<OrganizationId>,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError> {
        let mut query = saml_connection::Entity::find();
        if let Some(organization) = organization {
            query = query.filter(saml_connection::Column::OrganizationId.eq(organization.0));
        }
        self.oldest_first(query).await
    }

    async fn connections_of_idp(
        &self,
        idp_entity_id: &str,
    ) -> Result<Vec<SamlConnectionRecord>, DomainError> {
        let query = saml_connection::Entity::find()
            .filter(saml_connection::Column::IdpEntityId.eq(idp_entity_id));
        self.oldest_first(query).await
    }

    async fn update_connection(
        &self,
        connection: &SamlConnectionRecord,
    ) -> Result<(), DomainError> {
        let result = saml_connection::Entity::update_many()
            .set(active(connection)?)
            .filter(saml_connection::Column::Id.eq(connection.id))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("SAML connection"))?;
        if result.rows_affected == 0 {
            return Err(DomainError::NotFound("SAML connection"));
        }
        Ok(())
    }

    async fn delete_connection(&self, id: Uuid) -> Result<bool, DomainError> {
        let map = map_db_error("SAML connection");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        federated_identity::Entity::delete_many()
            .filter(federated_identity::Column::ProviderId.eq(id))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        let deleted = saml_connection::Entity::delete_by_id(id)
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(deleted.rows_affected > 0)
    }
}

#[async_trait]
impl FederatedIdentityStore for SqlFederationRepository {
    async fn find(
        &self,
        provider_id: Uuid,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<FederatedLink>, DomainError> {
        Ok(federated_identity::Entity::find()
            .filter(federated_identity::Column::ProviderId.eq(provider_id))
            .filter(federated_identity::Column::Issuer.eq(issuer))
            .filter(federated_identity::Column::Subject.eq(subject))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("federated identity"))?
            .map(link_from_model))
    }

    async fn link(&self, link: &FederatedLink) -> Result<(), DomainError> {
        federated_identity::ActiveModel {
            id: Set(link.id),
            user_id: Set(link.user_id.0),
            provider_id: Set(link.provider_id),
            issuer: Set(link.issuer.clone()),
            subject: Set(link.subject.clone()),
            email: Set(link.email.clone()),
            created_at: Set(link.created_at),
            last_used_at: Set(link.last_used_at),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("federated identity"))?;
        Ok(())
    }

    async fn touch(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError> {
        federated_identity::Entity::update_many()
            .col_expr(federated_identity::Column::LastUsedAt, Expr::value(at))
            .filter(federated_identity::Column::Id.eq(id))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("federated identity"))?;
        Ok(())
    }

    async fn links_of(&self, user: UserId) -> Result<Vec<FederatedLink>, DomainError> {
        Ok(federated_identity::Entity::find()
            .filter(federated_identity::Column::UserId.eq(user.0))
            .order_by_asc(federated_identity::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("federated identity"))?
            .into_iter()
            .map(link_from_model)
            .collect())
    }

    async fn unlink(&self, id: Uuid) -> Result<bool, DomainError> {
        let deleted = federated_identity::Entity::delete_by_id(id)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("federated identity"))?;
        Ok(deleted.rows_affected > 0)
    }
}
