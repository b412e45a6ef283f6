//! Link requests over `link_requests`, a work queue like the mail outbox; a fulfilled request
//! is deleted.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, LinkKind, LinkRequest, LinkRequestQueue, QueuedLinkRequest, RequestContext,
};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::map_db_error;
use super::work_queue::{PENDING, QueueColumns};
use crate::Database;
use crate::entities::link_request::{self, Column, Entity};

const WHAT: &str = "link request";

const COLUMNS: QueueColumns<Column> = QueueColumns {
    id: Column::Id,
    status: Column::Status,
    next_attempt_at: Column::NextAttemptAt,
    locked_until: Column::LockedUntil,
    attempts: Column::Attempts,
    last_error: Column::LastError,
};

/// [`LinkRequestQueue`] on the database.
#[derive(Debug, Clone)]
pub struct SqlLinkRequestQueue {
    database: Database,
}

impl SqlLinkRequestQueue {
    /// A queue on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn request_of(row: link_request::Model) -> Option<QueuedLinkRequest> {
    Some(QueuedLinkRequest {
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        request: LinkRequest {
            id: row.id,
            kind: LinkKind::parse(&row.kind)?,
            email: row.email,
            context: RequestContext {
                ip: row.ip,
                user_agent: row.user_agent,
                device: None,
            },
            requested_at: row.created_at,
        },
    })
}

#[async_trait]
impl LinkRequestQueue for SqlLinkRequestQueue {
    async fn enqueue(&self, request: &LinkRequest) -> Result<(), DomainError> {
        link_request::ActiveModel {
            id: Set(request.id),
            kind: Set(request.kind.as_str().to_owned()),
            email: Set(request.email.clone()),
            ip: Set(request.context.ip.clone()),
            user_agent: Set(request.context.user_agent.clone()),
            status: Set(PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(request.requested_at),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(request.requested_at),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error(WHAT))?;
        Ok(())
    }

    async fn claim(
        &self,
        limit: u64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<QueuedLinkRequest>, DomainError> {
        let rows = COLUMNS
            .claim::<Entity>(
                self.database.connection(),
                WHAT,
                (limit, now, lease_until),
                |row| row.id,
            )
            .await?;
        Ok(rows.into_iter().filter_map(request_of).collect())
    }

    async fn done(&self, id: Uuid) -> Result<(), DomainError> {
        Entity::delete_by_id(id)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error(WHAT))?;
        Ok(())
    }

    async fn failed(
        &self,
        id: Uuid,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), DomainError> {
        COLUMNS
            .failed::<Entity>(
                self.database.connection(),
                WHAT,
                id,
                (attempts, retry_at, error),
            )
            .await
    }

    async fn forget(&self, email: &str) -> Result<u64, DomainError> {
        let deleted = Entity::delete_many()
            .filter(Column::Email.eq(email))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error(WHAT))?;
        Ok(deleted.rows_affected)
    }
}
