//! What the durable work queues (the mail outbox, link requests) share: a row is claimable
//! while pending, due and not held by a live lease; claiming is a conditional update, so on
//! any number of replicas each row has one worker at a time; a failure is counted and the row
//! is due again later, or marked failed for operators.

use castellan_domain::DomainError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::map_db_error;

/// Waiting for a worker.
pub(super) const PENDING: &str = "pending";
/// Given up after too many attempts.
pub(super) const FAILED: &str = "failed";

/// The columns of a queue table.
pub(super) struct QueueColumns<C> {
    /// The row's id.
    pub id: C,
    /// `pending`, `failed`, or a table's own final states.
    pub status: C,
    /// When the row is due.
    pub next_attempt_at: C,
    /// Held by a worker until then.
    pub locked_until: C,
    /// Failed attempts.
    pub attempts: C,
    /// The last failure.
    pub last_error: C,
}

impl<C: ColumnTrait> QueueColumns<C> {
    fn claimable(&self, now: DateTime<Utc>) -> Condition {
        Condition::all()
            .add(self.status.eq(PENDING))
            .add(self.next_attempt_at.lte(now))
            .add(
                Condition::any()
                    .add(self.locked_until.is_null())
                    .add(self.locked_until.lt(now)),
            )
    }

    /// Claims up to `limit` rows due at `now` until `lease_until`, oldest due first; `id_of`
    /// names a row.
    pub(super) async fn claim<E>(
        &self,
        connection: &DatabaseConnection,
        what: &'static str,
        (limit, now, lease_until): (u64, DateTime<Utc>, DateTime<Utc>),
        id_of: impl Fn(&E::Model) -> Uuid,
    ) -> Result<Vec<E::Model>, DomainError>
    where
        E: EntityTrait<Column = C>,
    {
        let map = map_db_error(what);
        let candidates = E::find()
            .filter(self.claimable(now))
            .order_by_asc(self.next_attempt_at)
            .limit(limit)
            .all(connection)
            .await
            .map_err(&map)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            // Another worker may have taken the row since the read: only a row still
            // claimable is ours.
            let taken = E::update_many()
                .col_expr(self.locked_until, Expr::value(lease_until))
                .filter(self.id.eq(id_of(&row)))
                .filter(self.claimable(now))
                .exec(connection)
                .await
                .map_err(&map)?;
            if taken.rows_affected == 1 {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    /// Records a failed attempt of row `id`: due again at `retry_at`, or failed for good.
    pub(super) async fn failed<E>(
        &self,
        connection: &DatabaseConnection,
        what: &'static str,
        id: Uuid,
        (attempts, retry_at, error): (u32, Option<DateTime<Utc>>, &str),
    ) -> Result<(), DomainError>
    where
        E: EntityTrait<Column = C>,
    {
        let update = E::update_many()
            .col_expr(
                self.attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(self.last_error, Expr::value(error))
            .col_expr(
                self.locked_until,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        let update = match retry_at {
            Some(at) => update.col_expr(self.next_attempt_at, Expr::value(at)),
            None => update.col_expr(self.status, Expr::value(FAILED)),
        };
        update
            .filter(self.id.eq(id))
            .exec(connection)
            .await
            .map_err(map_db_error(what))?;
        Ok(())
    }
}
