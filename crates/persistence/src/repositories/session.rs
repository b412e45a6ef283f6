//! Sessions and refresh tokens over the `sessions` and `refresh_tokens` tables.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, RefreshRecord, RefreshTokenRepository, Session, SessionId, SessionRepository,
    User, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::map_db_error;
use crate::entities::{refresh_token, session, user};
use crate::{Backend, Database};

/// [`SessionRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlSessionRepository {
    database: Database,
}

impl SqlSessionRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn session_to_domain(model: session::Model) -> Session {
    Session {
        id: SessionId(model.id),
        user_id: UserId(model.user_id),
        created_at: model.created_at,
        last_seen_at: model.last_seen_at,
        expires_at: model.expires_at,
        ip: model.ip,
        user_agent: model.user_agent,
        amr: model
            .amr
            .split_whitespace()
            .map(ToOwned::to_owned)
            .collect(),
        revoked_at: model.revoked_at,
        organization_id: model.organization_id.map(castellan_domain::OrganizationId),
    }
}

fn active_filter(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(session::Column::RevokedAt.is_null())
        .add(session::Column::ExpiresAt.gt(now))
}

#[async_trait]
impl SessionRepository for SqlSessionRepository {
    async fn set_organization(
        &self,
        id: SessionId,
        organization: Option<castellan_domain::OrganizationId>,
    ) -> Result<(), DomainError> {
        session::Entity::update_many()
            .col_expr(
                session::Column::OrganizationId,
                Expr::value(organization.map(|id| id.0)),
            )
            .filter(session::Column::Id.eq(id.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("session"))?;
        Ok(())
    }

    async fn create(&self, value: &Session) -> Result<(), DomainError> {
        session::ActiveModel {
            id: Set(value.id.0),
            user_id: Set(value.user_id.0),
            created_at: Set(value.created_at),
            last_seen_at: Set(value.last_seen_at),
            expires_at: Set(value.expires_at),
            ip: Set(value.ip.clone()),
            user_agent: Set(value
                .user_agent
                .as_ref()
                .map(|agent| agent.chars().take(512).collect())),
            amr: Set(value.amr.join(" ")),
            revoked_at: Set(value.revoked_at),
            organization_id: Set(value.organization_id.map(|id| id.0)),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("session"))?;
        Ok(())
    }

    async fn get(&self, id: SessionId) -> Result<Option<Session>, DomainError> {
        Ok(session::Entity::find_by_id(id.0)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("session"))?
            .map(session_to_domain))
    }

    async fn revoke(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, DomainError> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .filter(session::Column::Id.eq(id.0))
            .filter(session::Column::RevokedAt.is_null())
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("session"))?;
        Ok(result.rows_affected > 0)
    }

    async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, DomainError> {
        let mut select = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::UserId.eq(user.0))
            .filter(active_filter(at));
        if let Some(keep) = keep {
            select = select.filter(session::Column::Id.ne(keep.0));
        }
        let ids: Vec<Uuid> = select
            .into_tuple()
            .all(self.database.connection())
            .await
            .map_err(map_db_error("session"))?;
        if !ids.is_empty() {
            session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(at))
                .filter(session::Column::Id.is_in(ids.clone()))
                .filter(session::Column::RevokedAt.is_null())
                .exec(self.database.connection())
                .await
                .map_err(map_db_error("session"))?;
        }
        Ok(ids.into_iter().map(SessionId).collect())
    }

    async fn active_for_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, DomainError> {
        Ok(session::Entity::find()
            .filter(session::Column::UserId.eq(user.0))
            .filter(active_filter(now))
            .order_by_desc(session::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("session"))?
            .into_iter()
            .map(session_to_domain)
            .collect())
    }

    async fn count_active(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        session::Entity::find()
            .filter(active_filter(now))
            .count(self.database.connection())
            .await
            .map_err(map_db_error("session"))
    }
}

/// [`RefreshTokenRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlRefreshTokenRepository {
    database: Database,
}

impl SqlRefreshTokenRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl RefreshTokenRepository for SqlRefreshTokenRepository {
    async fn insert(&self, record: &RefreshRecord) -> Result<(), DomainError> {
        to_active_refresh(record)
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("refresh token"))?;
        Ok(())
    }

    async fn by_hash(&self, token_hash: &str) -> Result<Option<RefreshRecord>, DomainError> {
        Ok(refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("refresh token"))?
            .map(refresh_to_domain))
    }

    async fn by_hash_with_owner(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshRecord, Session, User)>, DomainError> {
        let found = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(token_hash))
            .find_also_related(session::Entity)
            .and_also_related(user::Entity)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("refresh token"))?;
        let Some((record, Some(session), Some(user))) = found else {
            return Ok(None);
        };
        Ok(Some((
            refresh_to_domain(record),
            session_to_domain(session),
            super::user::to_domain(user)?,
        )))
    }

    async fn rotate(
        &self,
        used: Uuid,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<bool, DomainError> {
        let map = map_db_error("refresh token");
        if self.database.backend() == Backend::Postgres {
            // Every refresh runs this: one statement instead of five round trips.
            let statement = Statement::from_sql_and_values(
                DbBackend::Postgres,
                ROTATE_ON_POSTGRES,
                [
                    at.into(),
                    used.into(),
                    next.id.into(),
                    next.session_id.0.into(),
                    next.token_hash.clone().into(),
                    next.created_at.into(),
                    next.expires_at.into(),
                    next.client_id.clone().into(),
                    next.scope.clone().into(),
                    next.grant_id.into(),
                    next.organization_id.map(|id| id.0).into(),
                ],
            );
            let inserted = self
                .database
                .connection()
                .execute_raw(statement)
                .await
                .map_err(&map)?;
            return Ok(inserted.rows_affected() == 1);
        }
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        // `used_at IS NULL` makes this a compare-and-set: of two concurrent exchanges exactly
        // one updates the row.
        let marked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(at))
            .filter(refresh_token::Column::Id.eq(used))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(&map)?;
        if marked.rows_affected != 1 {
            transaction.rollback().await.map_err(&map)?;
            return Ok(false);
        }
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(at))
            .filter(session::Column::Id.eq(next.session_id.0))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        to_active_refresh(next)
            .insert(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(true)
    }

    async fn revoke_grant(&self, grant_id: Uuid) -> Result<u64, DomainError> {
        let deleted = refresh_token::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(refresh_token::Column::GrantId.eq(grant_id))
                    .add(refresh_token::Column::Id.eq(grant_id)),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("refresh token"))?;
        Ok(deleted.rows_affected)
    }

    async fn revoke_client_tokens(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<u64, DomainError> {
        let sessions_of_user = sea_orm::sea_query::Query::select()
            .column(session::Column::Id)
            .from(session::Entity)
            .and_where(session::Column::UserId.eq(user.0))
            .to_owned();
        let deleted = refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ClientId.eq(client_id))
            .filter(refresh_token::Column::SessionId.in_subquery(sessions_of_user))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("refresh token"))?;
        Ok(deleted.rows_affected)
    }
}

/// [`RefreshTokenRepository::rotate`] as one PostgreSQL statement, atomic as any statement is:
/// the old token is marked used only if it was unused (a concurrent exchange re-checks
/// `used_at` after the row lock and finds it set), and the session is touched and the next
/// token inserted only when it was.
const ROTATE_ON_POSTGRES: &str = "\
WITH used AS (
    UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL
    RETURNING session_id
), seen AS (
    UPDATE sessions SET last_seen_at = $1 WHERE id IN (SELECT session_id FROM used)
)
INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at, used_at,
    client_id, scope, grant_id, organization_id)
SELECT $3, $4, $5, $6, $7, NULL, $8, $9, $10, $11 FROM used";

fn refresh_to_domain(model: refresh_token::Model) -> RefreshRecord {
    RefreshRecord {
        id: model.id,
        session_id: SessionId(model.session_id),
        token_hash: model.token_hash,
        created_at: model.created_at,
        expires_at: model.expires_at,
        used_at: model.used_at,
        grant_id: model.grant_id.unwrap_or(model.id),
        client_id: model.client_id,
        scope: model.scope,
        organization_id: model.organization_id.map(castellan_domain::OrganizationId),
    }
}

fn to_active_refresh(record: &RefreshRecord) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        id: Set(record.id),
        session_id: Set(record.session_id.0),
        token_hash: Set(record.token_hash.clone()),
        created_at: Set(record.created_at),
        expires_at: Set(record.expires_at),
        used_at: Set(record.used_at),
        client_id: Set(record.client_id.clone()),
        scope: Set(record.scope.clone()),
        grant_id: Set(Some(record.grant_id)),
        organization_id: Set(record.organization_id.map(|id| id.0)),
    }
}
