//! OAuth clients, consents and session participants over their tables.

use async_trait::async_trait;
use castellan_domain::{
    ClientMetadata, ClientRepository, Consent, ConsentRepository, DomainError, OAuthClient,
    SessionId, SessionParticipants, UserId,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::map_db_error;
use crate::Database;
use crate::entities::{oauth_client, oauth_consent, session_client};

/// [`ClientRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlClientRepository {
    database: Database,
}

impl SqlClientRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn client_to_domain(model: oauth_client::Model) -> Result<OAuthClient, DomainError> {
    let metadata: ClientMetadata = serde_json::from_str(&model.metadata).map_err(|error| {
        DomainError::internal(format!(
            "stored metadata of client {} is invalid: {error}",
            model.client_id
        ))
    })?;
    Ok(OAuthClient {
        client_id: model.client_id,
        metadata,
        secret_hash: model.secret_hash,
        previous_secret_hash: model.previous_secret_hash,
        previous_secret_expires_at: model.previous_secret_expires_at,
        registration_token_hash: model.registration_token_hash,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn client_to_active(client: &OAuthClient) -> Result<oauth_client::ActiveModel, DomainError> {
    let metadata = serde_json::to_string(&client.metadata)
        .map_err(|error| DomainError::caused("encoding client metadata", error))?;
    Ok(oauth_client::ActiveModel {
        client_id: Set(client.client_id.clone()),
        metadata: Set(metadata),
        secret_hash: Set(client.secret_hash.clone()),
        previous_secret_hash: Set(client.previous_secret_hash.clone()),
        previous_secret_expires_at: Set(client.previous_secret_expires_at),
        registration_token_hash: Set(client.registration_token_hash.clone()),
        created_at: Set(client.created_at),
        updated_at: Set(client.updated_at),
    })
}

#[async_trait]
impl ClientRepository for SqlClientRepository {
    async fn create(&self, client: &OAuthClient) -> Result<(), DomainError> {
        client_to_active(client)?
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("client"))?;
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<OAuthClient>, DomainError> {
        oauth_client::Entity::find_by_id(client_id.to_owned())
            .one(self.database.connection())
            .await
            .map_err(map_db_error("client"))?
            .map(client_to_domain)
            .transpose()
    }

    async fn list(&self) -> Result<Vec<OAuthClient>, DomainError> {
        oauth_client::Entity::find()
            .order_by_asc(oauth_client::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("client"))?
            .into_iter()
            .map(client_to_domain)
            .collect()
    }

    async fn update(&self, client: &OAuthClient) -> Result<(), DomainError> {
        let mut active = client_to_active(client)?;
        active.created_at = sea_orm::ActiveValue::NotSet;
        let updated = oauth_client::Entity::update_many()
            .set(active)
            .filter(oauth_client::Column::ClientId.eq(client.client_id.as_str()))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("client"))?;
        if updated.rows_affected == 0 {
            return Err(DomainError::NotFound("client"));
        }
        Ok(())
    }

    async fn delete(&self, client_id: &str) -> Result<bool, DomainError> {
        let deleted = oauth_client::Entity::delete_by_id(client_id.to_owned())
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("client"))?;
        Ok(deleted.rows_affected > 0)
    }
}

/// [`ConsentRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlConsentRepository {
    database: Database,
}

impl SqlConsentRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn consent_to_domain(model: oauth_consent::Model) -> Consent {
    Consent {
        user_id: UserId(model.user_id),
        client_id: model.client_id,
        scopes: model.scopes.split_whitespace().map(str::to_owned).collect(),
        granted_at: model.granted_at,
    }
}

#[async_trait]
impl ConsentRepository for SqlConsentRepository {
    async fn get(&self, user: UserId, client_id: &str) -> Result<Option<Consent>, DomainError> {
        Ok(
            oauth_consent::Entity::find_by_id((user.0, client_id.to_owned()))
                .one(self.database.connection())
                .await
                .map_err(map_db_error("consent"))?
                .map(consent_to_domain),
        )
    }

    async fn put(&self, consent: &Consent) -> Result<(), DomainError> {
        let active = oauth_consent::ActiveModel {
            user_id: Set(consent.user_id.0),
            client_id: Set(consent.client_id.clone()),
            scopes: Set(consent.scopes.join(" ")),
            granted_at: Set(consent.granted_at),
        };
        oauth_consent::Entity::insert(active)
            .on_conflict(
                OnConflict::columns([
                    oauth_consent::Column::UserId,
                    oauth_consent::Column::ClientId,
                ])
                .update_columns([
                    oauth_consent::Column::Scopes,
                    oauth_consent::Column::GrantedAt,
                ])
                .to_owned(),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("consent"))?;
        Ok(())
    }

    async fn for_user(&self, user: UserId) -> Result<Vec<Consent>, DomainError> {
        Ok(oauth_consent::Entity::find()
            .filter(oauth_consent::Column::UserId.eq(user.0))
            .order_by_asc(oauth_consent::Column::GrantedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("consent"))?
            .into_iter()
            .map(consent_to_domain)
            .collect())
    }

    async fn delete(&self, user: UserId, client_id: &str) -> Result<bool, DomainError> {
        let deleted = oauth_consent::Entity::delete_by_id((user.0, client_id.to_owned()))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("consent"))?;
        Ok(deleted.rows_affected > 0)
    }
}

/// [`SessionParticipants`] on the database.
#[derive(Debug, Clone)]
pub struct SqlSessionParticipants {
    database: Database,
}

impl SqlSessionParticipants {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl SessionParticipants for SqlSessionParticipants {
    async fn add(&self, session: SessionId, client_id: &str) -> Result<(), DomainError> {
        let active = session_client::ActiveModel {
            session_id: Set(session.0),
            client_id: Set(client_id.to_owned()),
        };
        session_client::Entity::insert(active)
            .on_conflict_do_nothing_on([
                session_client::Column::SessionId,
                session_client::Column::ClientId,
            ])
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("session client"))?;
        Ok(())
    }

    async fn of(&self, session: SessionId) -> Result<Vec<String>, DomainError> {
        Ok(session_client::Entity::find()
            .filter(session_client::Column::SessionId.eq(session.0))
            .all(self.database.connection())
            .await
            .map_err(map_db_error("session client"))?
            .into_iter()
            .map(|model| model.client_id)
            .collect())
    }
}
