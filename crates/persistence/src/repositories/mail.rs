//! The mail outbox and emailed tokens over `mail_outbox` and `email_tokens`. Claiming a
//! message and using a token are conditional updates, so on any number of replicas each
//! message has one sender at a time and each token one user.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, EmailToken, EmailTokenRepository, MailQueue, OutgoingMail, QueuedMail,
    TokenPurpose, UserId,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::map_db_error;
use super::work_queue::{PENDING, QueueColumns};
use crate::Database;
use crate::entities::{email_token, mail_outbox};

const SENT: &str = "sent";

const COLUMNS: QueueColumns<mail_outbox::Column> = QueueColumns {
    id: mail_outbox::Column::Id,
    status: mail_outbox::Column::Status,
    next_attempt_at: mail_outbox::Column::NextAttemptAt,
    locked_until: mail_outbox::Column::LockedUntil,
    attempts: mail_outbox::Column::Attempts,
    last_error: mail_outbox::Column::LastError,
};

/// [`MailQueue`] on the database.
#[derive(Debug, Clone)]
pub struct SqlMailQueue {
    database: Database,
}

impl SqlMailQueue {
    /// A queue on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl MailQueue for SqlMailQueue {
    async fn enqueue(&self, mail: &OutgoingMail, at: DateTime<Utc>) -> Result<(), DomainError> {
        mail_outbox::ActiveModel {
            id: Set(mail.id),
            recipient: Set(mail.to.clone()),
            subject: Set(mail.subject.clone()),
            text_body: Set(mail.text.clone()),
            html_body: Set(mail.html.clone()),
            status: Set(PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(at),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(at),
            sent_at: Set(None),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("mail"))?;
        Ok(())
    }

    async fn claim(
        &self,
        limit: u64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<QueuedMail>, DomainError> {
        let rows = COLUMNS
            .claim::<mail_outbox::Entity>(
                self.database.connection(),
                "mail",
                (limit, now, lease_until),
                |row| row.id,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| QueuedMail {
                attempts: u32::try_from(row.attempts).unwrap_or(0),
                mail: OutgoingMail {
                    id: row.id,
                    to: row.recipient,
                    subject: row.subject,
                    text: row.text_body,
                    html: row.html_body,
                },
            })
            .collect())
    }

    async fn forget(&self, recipient: &str) -> Result<u64, DomainError> {
        let deleted = mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::Recipient.eq(recipient))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("mail"))?;
        Ok(deleted.rows_affected)
    }

    async fn sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), DomainError> {
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::Status, Expr::value(SENT))
            .col_expr(mail_outbox::Column::SentAt, Expr::value(at))
            .col_expr(
                mail_outbox::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(mail_outbox::Column::Id.eq(id))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("mail"))?;
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
            .failed::<mail_outbox::Entity>(
                self.database.connection(),
                "mail",
                id,
                (attempts, retry_at, error),
            )
            .await
    }
}

/// [`EmailTokenRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlEmailTokenRepository {
    database: Database,
}

impl SqlEmailTokenRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

#[async_trait]
impl EmailTokenRepository for SqlEmailTokenRepository {
    async fn create(&self, token: &EmailToken) -> Result<(), DomainError> {
        email_token::ActiveModel {
            hash: Set(token.hash.clone()),
            purpose: Set(token.purpose.as_str().to_owned()),
            user_id: Set(token.user_id.map(|id| id.0)),
            email: Set(token.email.clone()),
            created_at: Set(token.created_at),
            expires_at: Set(token.expires_at),
            used_at: Set(None),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("email token"))?;
        Ok(())
    }

    async fn consume(
        &self,
        hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<EmailToken>, DomainError> {
        let map = map_db_error("email token");
        let connection = self.database.connection();
        // `used_at IS NULL` makes this a compare-and-set: of two concurrent uses exactly one
        // updates the row.
        let used = email_token::Entity::update_many()
            .col_expr(email_token::Column::UsedAt, Expr::value(now))
            .filter(email_token::Column::Hash.eq(hash))
            .filter(email_token::Column::Purpose.eq(purpose.as_str()))
            .filter(email_token::Column::UsedAt.is_null())
            .filter(email_token::Column::ExpiresAt.gt(now))
            .exec(connection)
            .await
            .map_err(&map)?;
        if used.rows_affected != 1 {
            return Ok(None);
        }
        let Some(row) = email_token::Entity::find_by_id(hash.to_owned())
            .one(connection)
            .await
            .map_err(&map)?
        else {
            return Ok(None);
        };
        // The update matched the purpose, so the row has it.
        Ok(Some(EmailToken {
            hash: row.hash,
            purpose,
            user_id: row.user_id.map(UserId),
            email: row.email,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }
}
