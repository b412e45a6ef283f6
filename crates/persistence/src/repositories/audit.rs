//! The audit log over the `audit_events` table: the event sink and its queries.

use async_trait::async_trait;
use castellan_domain::{
    AuditAction, AuditEvent, AuditLog, AuditQuery, DomainError, EventSink, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};

use super::{map_db_error, page_bounds};
use crate::Database;
use crate::entities::audit_event::{ActiveModel, Column, Entity, Model};

/// [`EventSink`] and [`AuditLog`] on the database.
#[derive(Debug, Clone)]
pub struct SqlAuditLog {
    database: Database,
}

impl SqlAuditLog {
    /// An audit log on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

fn truncate(value: Option<String>, max: usize) -> Option<String> {
    value.map(|text| text.chars().take(max).collect())
}

#[async_trait]
impl EventSink for SqlAuditLog {
    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        tracing::info!(
            target: "audit",
            action = %event.action,
            actor = ?event.actor.map(|id| id.to_string()),
            target_id = ?event.target,
            success = event.success,
            "security event"
        );
        ActiveModel {
            id: Set(event.id),
            at: Set(event.at),
            action: Set(event.action),
            actor: Set(event.actor.map(|id| id.0)),
            target: Set(truncate(event.target, 254)),
            ip: Set(truncate(event.ip, 64)),
            user_agent: Set(truncate(event.user_agent, 512)),
            success: Set(event.success),
            detail: Set(event.detail),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("audit event"))?;
        Ok(())
    }
}

fn filtered(query: &AuditQuery) -> Select<Entity> {
    let mut select = Entity::find();
    if let Some(action) = &query.action {
        select = select.filter(Column::Action.eq(action.as_str()));
    }
    if let Some(actor) = query.actor {
        select = select.filter(Column::Actor.eq(actor.0));
    }
    if let Some(target) = &query.target {
        select = select.filter(Column::Target.eq(target.as_str()));
    }
    if let Some(success) = query.success {
        select = select.filter(Column::Success.eq(success));
    }
    if let Some(since) = query.since {
        select = select.filter(Column::At.gte(since));
    }
    select
}

fn to_domain(model: Model) -> AuditEvent {
    AuditEvent {
        id: model.id,
        at: model.at,
        action: model.action,
        actor: model.actor.map(UserId),
        target: model.target,
        ip: model.ip,
        user_agent: model.user_agent,
        success: model.success,
        detail: model.detail,
    }
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    async fn query(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, u64), DomainError> {
        let connection = self.database.connection();
        let total = filtered(query)
            .count(connection)
            .await
            .map_err(map_db_error("audit event"))?;
        let (offset, limit) = page_bounds(query.page, query.per_page);
        let events = filtered(query)
            .order_by_desc(Column::At)
            .order_by_desc(Column::Id)
            .offset(offset)
            .limit(limit)
            .all(connection)
            .await
            .map_err(map_db_error("audit event"))?
            .into_iter()
            .map(to_domain)
            .collect();
        Ok((events, total))
    }

    async fn count_since(
        &self,
        action: AuditAction,
        since: DateTime<Utc>,
    ) -> Result<u64, DomainError> {
        Entity::find()
            .filter(Column::Action.eq(action.as_str()))
            .filter(Column::At.gte(since))
            .count(self.database.connection())
            .await
            .map_err(map_db_error("audit event"))
    }

    async fn pseudonymise(&self, user: UserId, alias: &str) -> Result<u64, DomainError> {
        let map = map_db_error("audit event");
        let connection = self.database.connection();
        let null_text = Option::<String>::None;
        let as_target = Entity::update_many()
            .col_expr(Column::Target, Expr::value(alias))
            .col_expr(Column::Ip, Expr::value(null_text.clone()))
            .col_expr(Column::UserAgent, Expr::value(null_text.clone()))
            .filter(Column::Target.eq(user.to_string()))
            .exec(connection)
            .await
            .map_err(&map)?;
        let as_actor = Entity::update_many()
            .col_expr(Column::Actor, Expr::value(Option::<uuid::Uuid>::None))
            .col_expr(Column::Target, Expr::value(alias))
            .col_expr(Column::Ip, Expr::value(null_text.clone()))
            .col_expr(Column::UserAgent, Expr::value(null_text))
            .filter(Column::Actor.eq(user.0))
            .exec(connection)
            .await
            .map_err(&map)?;
        Ok(as_target.rows_affected + as_actor.rows_affected)
    }
}
