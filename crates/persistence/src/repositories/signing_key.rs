//! Signing keys over the `signing_keys` table; rotation is one transaction guarded by the
//! expected state of the next key, so concurrent rotations cannot both apply.

use async_trait::async_trait;
use castellan_domain::{DomainError, KeyState, SigningKeyRecord, SigningKeyRepository};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::map_db_error;
use crate::Database;
use crate::entities::signing_key::{ActiveModel, Column, Entity, Model};

/// [`SigningKeyRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlSigningKeyRepository {
    database: Database,
}

impl SqlSigningKeyRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn to_domain(model: Model) -> Result<SigningKeyRecord, DomainError> {
    Ok(SigningKeyRecord {
        kid: model.kid,
        algorithm: model.algorithm,
        state: KeyState::parse(&model.state)?,
        public_jwk: model.public_jwk,
        private_key: model.private_key,
        created_at: model.created_at,
        activated_at: model.activated_at,
        retired_at: model.retired_at,
        retire_after: model.retire_after,
    })
}

fn to_active(key: &SigningKeyRecord) -> ActiveModel {
    ActiveModel {
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.clone()),
        state: Set(key.state.as_str().to_owned()),
        public_jwk: Set(key.public_jwk.clone()),
        private_key: Set(key.private_key.clone()),
        created_at: Set(key.created_at),
        activated_at: Set(key.activated_at),
        retired_at: Set(key.retired_at),
        retire_after: Set(key.retire_after),
    }
}

#[async_trait]
impl SigningKeyRepository for SqlSigningKeyRepository {
    async fn published(&self, now: DateTime<Utc>) -> Result<Vec<SigningKeyRecord>, DomainError> {
        Entity::find()
            .filter(
                Condition::any()
                    .add(Column::RetireAfter.is_null())
                    .add(Column::RetireAfter.gt(now)),
            )
            .order_by_desc(Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("signing key"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn insert(&self, key: &SigningKeyRecord) -> Result<(), DomainError> {
        to_active(key)
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("signing key"))?;
        Ok(())
    }

    async fn rotate(
        &self,
        expected_next: &str,
        new_next: &SigningKeyRecord,
        at: DateTime<Utc>,
        retire_after: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let map = map_db_error("signing key");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        // Claim the next key first: only one rotation can move it from `next` to `active`.
        let promoted = Entity::update_many()
            .col_expr(Column::State, Expr::value(KeyState::Active.as_str()))
            .col_expr(Column::ActivatedAt, Expr::value(at))
            .filter(Column::Kid.eq(expected_next))
            .filter(Column::State.eq(KeyState::Next.as_str()))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        if promoted.rows_affected != 1 {
            transaction.rollback().await.map_err(&map)?;
            return Ok(false);
        }
        Entity::update_many()
            .col_expr(Column::State, Expr::value(KeyState::Retired.as_str()))
            .col_expr(Column::RetiredAt, Expr::value(at))
            .col_expr(Column::RetireAfter, Expr::value(retire_after))
            .filter(Column::State.eq(KeyState::Active.as_str()))
            .filter(Column::Algorithm.eq(new_next.algorithm.as_str()))
            .filter(Column::Kid.ne(expected_next))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        to_active(new_next)
            .insert(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(true)
    }
}
