//! Memberships over `memberships`. Changes that could leave an organization without an owner
//! run in a transaction holding the organization's row (PostgreSQL; SQLite serialises writers
//! anyway), so two concurrent demotions cannot both pass.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, Membership, MembershipStore, Organization, OrganizationId, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::SqlOrganizationRepository;
use super::organizations::to_domain;
use crate::Backend;
use crate::entities::{membership, org_group, org_group_member, organization};
use crate::repositories::map_db_error;

impl SqlOrganizationRepository {
    /// Opens a transaction holding the organization's row until it ends.
    async fn locked(&self, id: OrganizationId) -> Result<DatabaseTransaction, DomainError> {
        let map = map_db_error("organization");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        if self.database.backend() == Backend::Postgres {
            organization::Entity::find_by_id(id.0)
                .lock_exclusive()
                .one(&transaction)
                .await
                .map_err(&map)?;
        }
        Ok(transaction)
    }

    /// Opens the organization's locked transaction for a change to `user`'s membership, unless
    /// that change would leave no owner: `drops_owner` says whether it takes the owner role
    /// from a member who has it. `None` means refused (the transaction is rolled back).
    async fn change_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
        drops_owner: bool,
    ) -> Result<Option<DatabaseTransaction>, DomainError> {
        let map = map_db_error("membership");
        let transaction = self.locked(id).await?;
        let current = membership::Entity::find_by_id((id.0, user.0))
            .one(&transaction)
            .await
            .map_err(&map)?
            .ok_or(DomainError::NotFound("member"))?;
        if current.role == "owner" && drops_owner && Self::owners(&transaction, id).await? <= 1 {
            transaction.rollback().await.map_err(&map)?;
            return Ok(None);
        }
        Ok(Some(transaction))
    }

    async fn owners(
        transaction: &DatabaseTransaction,
        id: OrganizationId,
    ) -> Result<u64, DomainError> {
        membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(id.0))
            .filter(membership::Column::Role.eq("owner"))
            .count(transaction)
            .await
            .map_err(map_db_error("membership"))
    }
}

fn membership_to_domain(model: membership::Model) -> Membership {
    Membership {
        organization_id: OrganizationId(model.organization_id),
        user_id: UserId(model.user_id),
        role: model.role,
        created_at: model.created_at,
    }
}

pub(super) fn membership_to_active(membership: &Membership) -> membership::ActiveModel {
    membership::ActiveModel {
        organization_id: Set(membership.organization_id.0),
        user_id: Set(membership.user_id.0),
        role: Set(membership.role.clone()),
        created_at: Set(membership.created_at),
    }
}

#[async_trait]
impl MembershipStore for SqlOrganizationRepository {
    async fn membership(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, DomainError> {
        Ok(membership::Entity::find_by_id((id.0, user.0))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("membership"))?
            .map(membership_to_domain))
    }

    async fn memberships(&self, id: OrganizationId) -> Result<Vec<Membership>, DomainError> {
        Ok(membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(id.0))
            .order_by_asc(membership::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("membership"))?
            .into_iter()
            .map(membership_to_domain)
            .collect())
    }

    async fn memberships_of(
        &self,
        user: UserId,
    ) -> Result<Vec<(Organization, Membership)>, DomainError> {
        let map = map_db_error("membership");
        let connection = self.database.connection();
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.0))
            .order_by_asc(membership::Column::CreatedAt)
            .all(connection)
            .await
            .map_err(&map)?;
        let mut organizations: std::collections::HashMap<uuid::Uuid, organization::Model> =
            organization::Entity::find()
                .filter(
                    organization::Column::Id.is_in(
                        memberships
                            .iter()
                            .map(|membership| membership.organization_id),
                    ),
                )
                .all(connection)
                .await
                .map_err(&map)?
                .into_iter()
                .map(|model| (model.id, model))
                .collect();
        let mut found = Vec::new();
        for membership in memberships {
            if let Some(organization) = organizations.remove(&membership.organization_id) {
                found.push((to_domain(organization)?, membership_to_domain(membership)));
            }
        }
        Ok(found)
    }

    async fn add_member(&self, membership: &Membership) -> Result<(), DomainError> {
        membership_to_active(membership)
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("membership"))?;
        Ok(())
    }

    async fn set_role_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
        role: &str,
    ) -> Result<bool, DomainError> {
        let map = map_db_error("membership");
        let Some(transaction) = self
            .change_keeping_an_owner(id, user, role != "owner")
            .await?
        else {
            return Ok(false);
        };
        membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(role))
            .filter(membership::Column::OrganizationId.eq(id.0))
            .filter(membership::Column::UserId.eq(user.0))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(true)
    }

    async fn remove_member_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<bool, DomainError> {
        let map = map_db_error("membership");
        let Some(transaction) = self.change_keeping_an_owner(id, user, true).await? else {
            return Ok(false);
        };
        membership::Entity::delete_by_id((id.0, user.0))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        // Leaving the organization is leaving its groups, in the same transaction.
        let groups_here = sea_orm::sea_query::Query::select()
            .column(org_group::Column::Id)
            .from(org_group::Entity)
            .and_where(org_group::Column::OrganizationId.eq(id.0))
            .to_owned();
        org_group_member::Entity::delete_many()
            .filter(org_group_member::Column::UserId.eq(user.0))
            .filter(org_group_member::Column::GroupId.in_subquery(groups_here))
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(true)
    }
}
