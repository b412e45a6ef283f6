//! Groups over `org_groups` (roles stored space-separated) and their members over
//! `org_group_members`.

use async_trait::async_trait;
use castellan_domain::{DomainError, Group, GroupStore, OrganizationId, UserId};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::SqlOrganizationRepository;
use crate::entities::{org_group, org_group_member};
use crate::repositories::map_db_error;

impl SqlOrganizationRepository {
    async fn with_members(&self, row: org_group::Model) -> Result<Group, DomainError> {
        let members = org_group_member::Entity::find()
            .filter(org_group_member::Column::GroupId.eq(row.id))
            .all(self.database.connection())
            .await
            .map_err(map_db_error("group member"))?
            .into_iter()
            .map(|member| UserId(member.user_id))
            .collect();
        Ok(group_to_domain(row, members))
    }
}

fn group_to_domain(model: org_group::Model, members: Vec<UserId>) -> Group {
    Group {
        id: model.id,
        organization_id: OrganizationId(model.organization_id),
        name: model.name,
        roles: model.roles.split_whitespace().map(str::to_owned).collect(),
        members,
        created_at: model.created_at,
    }
}

#[async_trait]
impl GroupStore for SqlOrganizationRepository {
    async fn groups(&self, id: OrganizationId) -> Result<Vec<Group>, DomainError> {
        let rows = org_group::Entity::find()
            .filter(org_group::Column::OrganizationId.eq(id.0))
            .order_by_asc(org_group::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("group"))?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            groups.push(self.with_members(row).await?);
        }
        Ok(groups)
    }

    async fn group(&self, id: uuid::Uuid) -> Result<Option<Group>, DomainError> {
        match org_group::Entity::find_by_id(id)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("group"))?
        {
            Some(row) => Ok(Some(self.with_members(row).await?)),
            None => Ok(None),
        }
    }

    async fn put_group(&self, group: &Group) -> Result<(), DomainError> {
        let model = org_group::ActiveModel {
            id: Set(group.id),
            organization_id: Set(group.organization_id.0),
            name: Set(group.name.clone()),
            roles: Set(group.roles.join(" ")),
            created_at: Set(group.created_at),
        };
        org_group::Entity::insert(model)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(org_group::Column::Id)
                    .update_columns([org_group::Column::Name, org_group::Column::Roles])
                    .to_owned(),
            )
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("group"))?;
        Ok(())
    }

    async fn delete_group(&self, id: uuid::Uuid) -> Result<bool, DomainError> {
        let deleted = org_group::Entity::delete_by_id(id)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("group"))?;
        Ok(deleted.rows_affected > 0)
    }

    async fn add_group_member(&self, group: uuid::Uuid, user: UserId) -> Result<(), DomainError> {
        org_group_member::ActiveModel {
            group_id: Set(group),
            user_id: Set(user.0),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("group member"))?;
        Ok(())
    }

    async fn remove_group_member(
        &self,
        group: uuid::Uuid,
        user: UserId,
    ) -> Result<bool, DomainError> {
        let deleted = org_group_member::Entity::delete_by_id((group, user.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("group member"))?;
        Ok(deleted.rows_affected > 0)
    }

    async fn groups_of(&self, id: OrganizationId, user: UserId) -> Result<Vec<Group>, DomainError> {
        let map = map_db_error("group");
        let connection = self.database.connection();
        let ids: Vec<uuid::Uuid> = org_group_member::Entity::find()
            .filter(org_group_member::Column::UserId.eq(user.0))
            .all(connection)
            .await
            .map_err(&map)?
            .into_iter()
            .map(|row| row.group_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(org_group::Entity::find()
            .filter(org_group::Column::OrganizationId.eq(id.0))
            .filter(org_group::Column::Id.is_in(ids))
            .all(connection)
            .await
            .map_err(&map)?
            .into_iter()
            .map(|row| group_to_domain(row, Vec::new()))
            .collect())
    }
}
