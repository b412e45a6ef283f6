//! Custom roles over `roles` (permissions stored space-separated).

use async_trait::async_trait;
use castellan_domain::{CustomRole, DomainError, OrganizationId, RoleStore};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::SqlOrganizationRepository;
use crate::entities::{membership, role};
use crate::repositories::map_db_error;

fn role_to_domain(model: role::Model) -> CustomRole {
    CustomRole {
        id: model.id,
        organization_id: OrganizationId(model.organization_id),
        name: model.name,
        permissions: model
            .permissions
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
}

#[async_trait]
impl RoleStore for SqlOrganizationRepository {
    async fn roles(&self, id: OrganizationId) -> Result<Vec<CustomRole>, DomainError> {
        Ok(role::Entity::find()
            .filter(role::Column::OrganizationId.eq(id.0))
            .order_by_asc(role::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("role"))?
            .into_iter()
            .map(role_to_domain)
            .collect())
    }

    async fn role(&self, id: uuid::Uuid) -> Result<Option<CustomRole>, DomainError> {
        Ok(role::Entity::find_by_id(id)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("role"))?
            .map(role_to_domain))
    }

    async fn put_role(&self, value: &CustomRole) -> Result<(), DomainError> {
        let model = role::ActiveModel {
            id: Set(value.id),
            organization_id: Set(value.organization_id.0),
            name: Set(value.name.clone()),
            permissions: Set(value.permissions.join(" ")),
            created_at: Set(value.created_at),
            updated_at: Set(value.updated_at),
        };
        role::Entity::insert(model)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(role::Column::Id)
                    .update_columns([
                        role::Column::Name,
                        role::Column::Permissions,
                        role::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("role name"))?;
        Ok(())
    }

    async fn delete_role_if_unused(&self, id: uuid::Uuid) -> Result<bool, DomainError> {
        let map = map_db_error("role");
        let transaction = self.database.connection().begin().await.map_err(&map)?;
        let holders = membership::Entity::find()
            .filter(membership::Column::Role.eq(id.to_string()))
            .count(&transaction)
            .await
            .map_err(&map)?;
        if holders > 0 {
            transaction.rollback().await.map_err(&map)?;
            return Ok(false);
        }
        role::Entity::delete_by_id(id)
            .exec(&transaction)
            .await
            .map_err(&map)?;
        transaction.commit().await.map_err(&map)?;
        Ok(true)
    }
}
