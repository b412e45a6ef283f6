//! The `mail_outbox` table.

use sea_orm::entity::prelude::*;

/// A queued, sent or abandoned message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The recipient's address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
    /// HTML body.
    pub html_body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Failed attempts.
    pub attempts: i32,
    /// When it is due.
    pub next_attempt_at: DateTimeUtc,
    /// Claimed by a worker until then.
    pub locked_until: Option<DateTimeUtc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: DateTimeUtc,
    /// Delivered.
    pub sent_at: Option<DateTimeUtc>,
}

/// No relations are navigated from here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
