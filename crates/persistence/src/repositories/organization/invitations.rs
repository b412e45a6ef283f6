//! Invitations over `invitations`, by the hash of their token.

use async_trait::async_trait;
use castellan_domain::{DomainError, Invitation, InvitationStore, OrganizationId, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::SqlOrganizationRepository;
use crate::entities::invitation;
use crate::repositories::map_db_error;

#[async_trait]
impl InvitationStore for SqlOrganizationRepository {
    async fn create_invitation(&self, value: &Invitation) -> Result<(), DomainError> {
        invitation::ActiveModel {
            hash: Set(value.hash.clone()),
            organization_id: Set(value.organization_id.0),
            email: Set(value.email.clone()),
            role: Set(value.role.clone()),
            invited_by: Set(value.invited_by.0),
            created_at: Set(value.created_at),
            expires_at: Set(value.expires_at),
            accepted_at: Set(None),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("invitation"))?;
        Ok(())
    }

    async fn accept_invitation(
        &self,
        hash: &str,
        email: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Invitation>, DomainError> {
        let map = map_db_error("invitation");
        let connection = self.database.connection();
        // A compare-and-set: of two concurrent acceptances exactly one updates the row.
        let accepted = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
            .filter(invitation::Column::Hash.eq(hash))
            .filter(invitation::Column::Email.eq(email))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(now))
            .exec(connection)
            .await
            .map_err(&map)?;
        if accepted.rows_affected != 1 {
            return Ok(None);
        }
        Ok(invitation::Entity::find_by_id(hash.to_owned())
            .one(connection)
            .await
            .map_err(&map)?
            .map(|model| Invitation {
                hash: model.hash,
                organization_id: OrganizationId(model.organization_id),
                email: model.email,
                role: model.role,
                invited_by: UserId(model.invited_by),
                created_at: model.created_at,
                expires_at: model.expires_at,
            }))
    }
}
