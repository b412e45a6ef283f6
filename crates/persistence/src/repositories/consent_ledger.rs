//! The consent ledger over `consent_records` (append-only).

use async_trait::async_trait;
use castellan_domain::{ConsentLedger, ConsentRecord, DomainError, UserId};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::map_db_error;
use crate::Database;
use crate::entities::consent_record;

/// [`ConsentLedger`] on the database.
#[derive(Debug, Clone)]
pub struct SqlConsentLedger {
    database: Database,
}

impl SqlConsentLedger {
    /// A ledger on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl ConsentLedger for SqlConsentLedger {
    async fn record(&self, record: &ConsentRecord) -> Result<(), DomainError> {
        consent_record::ActiveModel {
            id: Set(record.id),
            user_id: Set(record.user_id.0),
            purpose: Set(record.purpose.clone()),
            policy_version: Set(record.policy_version.clone()),
            granted: Set(record.granted),
            source: Set(record.source.clone()),
            at: Set(record.at),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("consent record"))?;
        Ok(())
    }

    async fn for_user(&self, user: UserId) -> Result<Vec<ConsentRecord>, DomainError> {
        Ok(consent_record::Entity::find()
            .filter(consent_record::Column::UserId.eq(user.0))
            .order_by_asc(consent_record::Column::At)
            .order_by_asc(consent_record::Column::Id)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("consent record"))?
            .into_iter()
            .map(|model| ConsentRecord {
                id: model.id,
                user_id: UserId(model.user_id),
                purpose: model.purpose,
                policy_version: model.policy_version,
                granted: model.granted,
                source: model.source,
                at: model.at,
            })
            .collect())
    }
}
