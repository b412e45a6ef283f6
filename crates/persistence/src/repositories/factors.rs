//! Second factors over `mfa_totp`, `mfa_backup_codes` and `passkeys`. Using a TOTP step or a
//! backup code is a conditional update, so of two concurrent uses exactly one succeeds, on
//! every replica.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, FactorDirectory, MfaMethod, MfaRepository, PasskeyRecord, PasskeyRepository,
    TotpFactor, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use uuid::Uuid;

use super::map_db_error;
use crate::Database;
use crate::entities::{mfa_backup_code, mfa_totp, passkey};

/// [`MfaRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlMfaRepository {
    database: Database,
}

impl SqlMfaRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn totp_to_domain(model: mfa_totp::Model) -> TotpFactor {
    TotpFactor {
        user_id: UserId(model.user_id),
        sealed_secret: model.sealed_secret,
        confirmed_at: model.confirmed_at,
        last_used_step: model.last_used_step,
        created_at: model.created_at,
    }
}

#[async_trait]
impl MfaRepository for SqlMfaRepository {
    async fn totp(&self, user: UserId) -> Result<Option<TotpFactor>, DomainError> {
        Ok(mfa_totp::Entity::find_by_id(user.0)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("totp factor"))?
            .map(totp_to_domain))
    }

    async fn put_totp(&self, factor: &TotpFactor) -> Result<(), DomainError> {
        let model = mfa_totp::ActiveModel {
            user_id: Set(factor.user_id.0),
            sealed_secret: Set(factor.sealed_secret.clone()),
            confirmed_at: Set(factor.confirmed_at),
            last_used_step: Set(factor.last_used_step),
            created_at: Set(factor.created_at),
        };
        mfa_totp::Entity::insert(model)
            .on_conflict(
                OnConflict::column(mfa_totp::Column::UserId)
                    .update_columns([
                        mfa_totp::Column::SealedSecret,
                        mfa_totp::Column::ConfirmedAt,
                        mfa_totp::Column::LastUsedStep,
                        mfa_totp::Column::CreatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("totp factor"))?;
        Ok(())
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let confirmed = mfa_totp::Entity::update_many()
            .col_expr(mfa_totp::Column::ConfirmedAt, Expr::value(at))
            .col_expr(mfa_totp::Column::LastUsedStep, Expr::value(step))
            .filter(mfa_totp::Column::UserId.eq(user.0))
            .filter(mfa_totp::Column::ConfirmedAt.is_null())
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("totp factor"))?;
        Ok(confirmed.rows_affected == 1)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, DomainError> {
        let used = mfa_totp::Entity::update_many()
            .col_expr(mfa_totp::Column::LastUsedStep, Expr::value(step))
            .filter(mfa_totp::Column::UserId.eq(user.0))
            .filter(mfa_totp::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(mfa_totp::Column::LastUsedStep.is_null())
                    .add(mfa_totp::Column::LastUsedStep.lt(step)),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("totp factor"))?;
        Ok(used.rows_affected == 1)
    }

    async fn delete_factors(&self, user: UserId) -> Result<bool, DomainError> {
        let map = map_db_error("totp factor");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        mfa_backup_code::Entity::delete_many()
            .filter(mfa_backup_code::Column::UserId.eq(user.0))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        let deleted = mfa_totp::Entity::delete_by_id(user.0)
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let map = map_db_error("backup code");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        mfa_backup_code::Entity::delete_many()
            .filter(mfa_backup_code::Column::UserId.eq(user.0))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        let rows = hashes.iter().map(|hash| mfa_backup_code::ActiveModel {
            user_id: Set(user.0),
            code_hash: Set(hash.clone()),
            created_at: Set(at),
            used_at: Set(None),
        });
        mfa_backup_code::Entity::insert_many(rows)
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)
    }

    async fn use_backup_code(
        &self,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let used = mfa_backup_code::Entity::update_many()
            .col_expr(mfa_backup_code::Column::UsedAt, Expr::value(at))
            .filter(mfa_backup_code::Column::UserId.eq(user.0))
            .filter(mfa_backup_code::Column::CodeHash.eq(hash))
            .filter(mfa_backup_code::Column::UsedAt.is_null())
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("backup code"))?;
        Ok(used.rows_affected == 1)
    }

    async fn backup_codes_left(&self, user: UserId) -> Result<u32, DomainError> {
        let left = mfa_backup_code::Entity::find()
            .filter(mfa_backup_code::Column::UserId.eq(user.0))
            .filter(mfa_backup_code::Column::UsedAt.is_null())
            .count(self.database.connection())
            .await
            .map_err(map_db_error("backup code"))?;
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }
}

/// [`PasskeyRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlPasskeyRepository {
    database: Database,
}

impl SqlPasskeyRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn passkey_to_domain(model: passkey::Model) -> PasskeyRecord {
    PasskeyRecord {
        id: model.id,
        user_id: UserId(model.user_id),
        credential_id: model.credential_id,
        name: model.name,
        credential: model.credential,
        counter: u32::try_from(model.counter).unwrap_or(u32::MAX),
        backup_eligible: model.backup_eligible,
        backup_state: model.backup_state,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    }
}

#[async_trait]
impl PasskeyRepository for SqlPasskeyRepository {
    async fn list(&self, user: UserId) -> Result<Vec<PasskeyRecord>, DomainError> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user.0))
            .order_by_asc(passkey::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("passkey"))?
            .into_iter()
            .map(passkey_to_domain)
            .collect())
    }

    async fn by_credential_id(&self, id: &str) -> Result<Option<PasskeyRecord>, DomainError> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::CredentialId.eq(id))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("passkey"))?
            .map(passkey_to_domain))
    }

    async fn create(&self, record: &PasskeyRecord) -> Result<(), DomainError> {
        passkey::ActiveModel {
            id: Set(record.id),
            user_id: Set(record.user_id.0),
            credential_id: Set(record.credential_id.clone()),
            name: Set(record.name.clone()),
            credential: Set(record.credential.clone()),
            counter: Set(i64::from(record.counter)),
            backup_eligible: Set(record.backup_eligible),
            backup_state: Set(record.backup_state),
            created_at: Set(record.created_at),
            last_used_at: Set(record.last_used_at),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("passkey"))?;
        Ok(())
    }

    async fn record_use(&self, record: &PasskeyRecord) -> Result<(), DomainError> {
        passkey::Entity::update_many()
            .col_expr(
                passkey::Column::Credential,
                Expr::value(record.credential.clone()),
            )
            .col_expr(
                passkey::Column::Counter,
                Expr::value(i64::from(record.counter)),
            )
            .col_expr(
                passkey::Column::BackupEligible,
                Expr::value(record.backup_eligible),
            )
            .col_expr(
                passkey::Column::BackupState,
                Expr::value(record.backup_state),
            )
            .col_expr(
                passkey::Column::LastUsedAt,
                Expr::value(record.last_used_at),
            )
            .filter(passkey::Column::Id.eq(record.id))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("passkey"))?;
        Ok(())
    }

    async fn rename(&self, user: UserId, id: Uuid, name: &str) -> Result<bool, DomainError> {
        let renamed = passkey::Entity::update_many()
            .col_expr(passkey::Column::Name, Expr::value(name))
            .filter(passkey::Column::Id.eq(id))
            .filter(passkey::Column::UserId.eq(user.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("passkey"))?;
        Ok(renamed.rows_affected == 1)
    }

    async fn delete(&self, user: UserId, id: Uuid) -> Result<bool, DomainError> {
        let deleted = passkey::Entity::delete_many()
            .filter(passkey::Column::Id.eq(id))
            .filter(passkey::Column::UserId.eq(user.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("passkey"))?;
        Ok(deleted.rows_affected == 1)
    }
}

/// [`FactorDirectory`] on the database: a confirmed TOTP factor turns the second step on; the
/// user's backup codes and passkeys are then accepted as well.
#[derive(Debug, Clone)]
pub struct SqlFactorDirectory {
    database: Database,
}

impl SqlFactorDirectory {
    /// A directory on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl FactorDirectory for SqlFactorDirectory {
    async fn second_factors(&self, user: UserId) -> Result<Vec<MfaMethod>, DomainError> {
        let connection = self.database.connection();
        let map = map_db_error("second factor");
        let confirmed = mfa_totp::Entity::find_by_id(user.0)
            .filter(mfa_totp::Column::ConfirmedAt.is_not_null())
            .count(connection)
            .await
            .map_err(&map)?;
        if confirmed == 0 {
            return Ok(Vec::new());
        }
        let mut methods = vec![MfaMethod::Totp];
        let codes = mfa_backup_code::Entity::find()
            .filter(mfa_backup_code::Column::UserId.eq(user.0))
            .filter(mfa_backup_code::Column::UsedAt.is_null())
            .count(connection)
            .await
            .map_err(&map)?;
        if codes > 0 {
            methods.push(MfaMethod::BackupCode);
        }
        let passkeys = passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user.0))
            .count(connection)
            .await
            .map_err(&map)?;
        if passkeys > 0 {
            methods.push(MfaMethod::Webauthn);
        }
        Ok(methods)
    }
}
