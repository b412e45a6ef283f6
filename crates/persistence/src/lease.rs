//! Leases in the database: one conditional upsert decides who holds a lease, so two replicas
//! racing for the same work cannot both win.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use castellan_domain::lease::validate_lease_part;
use castellan_domain::{Clock, LeaseError, LeaseRepository};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Database;
use crate::entities::lease::{ActiveModel, Column, Entity};

/// [`LeaseRepository`] over the `leases` table.
#[derive(Debug, Clone)]
pub struct SqlLeaseRepository {
    database: Database,
    clock: Arc<dyn Clock>,
}

impl SqlLeaseRepository {
    /// A repository on `database`, reading time from `clock`.
    pub fn new(database: Database, clock: Arc<dyn Clock>) -> Self {
        Self { database, clock }
    }
}

fn storage(error: sea_orm::DbErr) -> LeaseError {
    LeaseError::Storage(error.to_string())
}

#[async_trait]
impl LeaseRepository for SqlLeaseRepository {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, LeaseError> {
        validate_lease_part(name, "name")?;
        validate_lease_part(holder, "holder")?;
        let now_ms = self.clock.now().timestamp_millis();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let lease = ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            expires_at_ms: Set(expires_at_ms),
        };
        // Take the row over only when it has lapsed or is ours already; otherwise the
        // statement changes nothing and reports zero rows.
        let on_conflict = OnConflict::column(Column::Name)
            .update_columns([Column::Holder, Column::ExpiresAtMs])
            .action_and_where(
                Expr::col((Entity, Column::ExpiresAtMs))
                    .lte(now_ms)
                    .or(Expr::col((Entity, Column::Holder)).eq(holder)),
            )
            .to_owned();
        let result = Entity::insert(lease)
            .on_conflict(on_conflict)
            .exec_without_returning(self.database.connection())
            .await
            .map_err(storage)?;
        Ok(result > 0)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), LeaseError> {
        Entity::delete_many()
            .filter(Column::Name.eq(name))
            .filter(Column::Holder.eq(holder))
            .exec(self.database.connection())
            .await
            .map_err(storage)?;
        Ok(())
    }
}
