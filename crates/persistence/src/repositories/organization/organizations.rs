//! Organizations themselves, over `organizations` (the policy is stored as JSON).

use async_trait::async_trait;
use castellan_domain::{
    DomainError, Membership, Organization, OrganizationId, OrganizationPage, OrganizationPolicy,
    OrganizationStore, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::SqlOrganizationRepository;
use super::memberships::membership_to_active;
use crate::entities::{membership, organization};
use crate::repositories::{like_pattern, map_db_error, page_bounds};

pub(super) fn to_domain(model: organization::Model) -> Result<Organization, DomainError> {
    let policy: OrganizationPolicy = serde_json::from_str(&model.policy).map_err(|error| {
        DomainError::caused(format!("stored policy of {} is invalid", model.id), error)
    })?;
    Ok(Organization {
        id: OrganizationId(model.id),
        slug: model.slug,
        name: model.name,
        policy,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn to_active(organization: &Organization) -> Result<organization::ActiveModel, DomainError> {
    let policy = serde_json::to_string(&organization.policy)
        .map_err(|error| DomainError::caused("encoding a policy", error))?;
    Ok(organization::ActiveModel {
        id: Set(organization.id.0),
        slug: Set(organization.slug.clone()),
        name: Set(organization.name.clone()),
        policy: Set(policy),
        created_at: Set(organization.created_at),
        updated_at: Set(organization.updated_at),
    })
}

#[async_trait]
impl OrganizationStore for SqlOrganizationRepository {
    async fn create(
        &self,
        organization: &Organization,
        owner: &Membership,
    ) -> Result<(), DomainError> {
        let map = map_db_error("slug");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        to_active(organization)?
            .insert(&transaction)
            .await
            .map_err(&map)?;
        membership_to_active(owner)
            .insert(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)
    }

    async fn get(&self, id: OrganizationId) -> Result<Option<Organization>, DomainError> {
        organization::Entity::find_by_id(id.0)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("organization"))?
            .map(to_domain)
            .transpose()
    }

    async fn by_slug(&self, slug: &str) -> Result<Option<Organization>, DomainError> {
        organization::Entity::find()
            .filter(organization::Column::Slug.eq(slug))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("organization"))?
            .map(to_domain)
            .transpose()
    }

    async fn list(
        &self,
        member: Option<UserId>,
        search: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<OrganizationPage, DomainError> {
        let map = map_db_error("organization");
        let connection = self.database.connection();
        let mut select = organization::Entity::find();
        if let Some(user) = member {
            let ids: Vec<_> = membership::Entity::find()
                .filter(membership::Column::UserId.eq(user.0))
                .all(connection)
                .await
                .map_err(&map)?
                .into_iter()
                .map(|membership| membership.organization_id)
                .collect();
            select = select.filter(organization::Column::Id.is_in(ids));
        }
        if let Some(pattern) = search.and_then(like_pattern) {
            select = select.filter(
                Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(organization::Column::Name)))
                            .like(pattern.clone()),
                    )
                    .add(Expr::col(organization::Column::Slug).like(pattern)),
            );
        }
        let total = select.clone().count(connection).await.map_err(&map)?;
        let (offset, limit) = page_bounds(page, per_page);
        let items = select
            .order_by_asc(organization::Column::CreatedAt)
            .order_by_asc(organization::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(connection)
            .await
            .map_err(&map)?
            .into_iter()
            .map(to_domain)
            .collect::<Result<_, _>>()?;
        Ok(OrganizationPage { items, total })
    }

    async fn update(&self, organization: &Organization) -> Result<(), DomainError> {
        let mut active = to_active(organization)?;
        active.created_at = sea_orm::ActiveValue::NotSet;
        let updated = organization::Entity::update_many()
            .set(active)
            .filter(organization::Column::Id.eq(organization.id.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("slug"))?;
        if updated.rows_affected == 0 {
            return Err(DomainError::NotFound("organization"));
        }
        Ok(())
    }

    async fn delete(&self, id: OrganizationId) -> Result<bool, DomainError> {
        // Memberships, groups, roles, invitations and domains go with it (ON DELETE CASCADE).
        let deleted = organization::Entity::delete_by_id(id.0)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("organization"))?;
        Ok(deleted.rows_affected > 0)
    }
}
