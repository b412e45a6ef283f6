//! Link requests over `link_requests`. Claiming is a conditional update, so on any number of
//! replicas each request has one worker at a time; a fulfilled request is deleted.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, LinkKind, LinkRequest, LinkRequestQueue, QueuedLinkRequest, RequestContext,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use uuid::Uuid;

use super::map_db_error;
use crate::Database;
use crate::entities::link_request::{self, Column, Entity};

const PENDING: &str = "pending";
const FAILED: &str = "failed";

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

/// Pending, due, and not held by a live claim.
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Column::Status.eq(PENDING))
        .add(Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(Column::LockedUntil.is_null())
                .add(Column::LockedUntil.lt(now)),
        )
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
        .map_err(map_db_error("link request"))?;
        Ok(())
    }

    async fn claim(
        &self,
        limit: u64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<QueuedLinkRequest>, DomainError> {
        let map = map_db_error("link request");
        let connection = self.database.connection();
        let candidates = Entity::find()
            .filter(claimable(now))
            .order_by_asc(Column::NextAttemptAt)
            .limit(limit)
            .all(connection)
            .await
            .map_err(&map)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            // Another worker may have taken the row since the read: only a row still
            // claimable is ours.
            let taken = Entity::update_many()
                .col_expr(Column::LockedUntil, Expr::value(lease_until))
                .filter(Column::Id.eq(row.id))
                .filter(claimable(now))
                .exec(connection)
                .await
                .map_err(&map)?;
            if taken.rows_affected == 1 {
                claimed.extend(request_of(row));
            }
        }
        Ok(claimed)
    }

    async fn done(&self, id: Uuid) -> Result<(), DomainError> {
        Entity::delete_by_id(id)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("link request"))?;
        Ok(())
    }

    async fn failed(
        &self,
        id: Uuid,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), DomainError> {
        let update = Entity::update_many()
            .col_expr(
                Column::Attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(Column::LastError, Expr::value(error))
            .col_expr(
                Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        let update = match retry_at {
            Some(at) => update.col_expr(Column::NextAttemptAt, Expr::value(at)),
            None => update.col_expr(Column::Status, Expr::value(FAILED)),
        };
        update
            .filter(Column::Id.eq(id))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("link request"))?;
        Ok(())
    }

    async fn forget(&self, email: &str) -> Result<u64, DomainError> {
        let deleted = Entity::delete_many()
            .filter(Column::Email.eq(email))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("link request"))?;
        Ok(deleted.rows_affected)
    }
}
