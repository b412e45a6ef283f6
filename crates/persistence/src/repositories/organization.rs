//! Organizations and memberships over `organizations` and `memberships`. Changes that could
//! leave an organization without an owner run in a transaction holding the organization's row
//! (PostgreSQL; SQLite serialises writers anyway), so two concurrent demotions cannot both pass.

use async_trait::async_trait;
use castellan_domain::{
    CustomRole, DomainError, Group, Invitation, Membership, Organization, OrganizationDomain,
    OrganizationId, OrganizationPage, OrganizationPolicy, OrganizationRepository, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::{like_pattern, map_db_error, page_bounds};
use crate::entities::{
    invitation, membership, org_group, org_group_member, organization, organization_domain, role,
};
use crate::{Backend, Database};

/// [`OrganizationRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlOrganizationRepository {
    database: Database,
}

impl SqlOrganizationRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }

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

fn to_domain(model: organization::Model) -> Result<Organization, DomainError> {
    let policy: OrganizationPolicy = serde_json::from_str(&model.policy).map_err(|error| {
        DomainError::Storage(format!("stored policy of {} is invalid: {error}", model.id))
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
        .map_err(|error| DomainError::Storage(format!("encoding a policy: {error}")))?;
    Ok(organization::ActiveModel {
        id: Set(organization.id.0),
        slug: Set(organization.slug.clone()),
        name: Set(organization.name.clone()),
        policy: Set(policy),
        created_at: Set(organization.created_at),
        updated_at: Set(organization.updated_at),
    })
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

fn membership_to_domain(model: membership::Model) -> Membership {
    Membership {
        organization_id: OrganizationId(model.organization_id),
        user_id: UserId(model.user_id),
        role: model.role,
        created_at: model.created_at,
    }
}

fn membership_to_active(membership: &Membership) -> membership::ActiveModel {
    membership::ActiveModel {
        organization_id: Set(membership.organization_id.0),
        user_id: Set(membership.user_id.0),
        role: Set(membership.role.clone()),
        created_at: Set(membership.created_at),
    }
}

#[async_trait]
impl OrganizationRepository for SqlOrganizationRepository {
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
        let transaction = self.locked(id).await?;
        let current = membership::Entity::find_by_id((id.0, user.0))
            .one(&transaction)
            .await
            .map_err(&map)?
            .ok_or(DomainError::NotFound("member"))?;
        if current.role == "owner" && role != "owner" && Self::owners(&transaction, id).await? <= 1
        {
            transaction.rollback().await.map_err(&map)?;
            return Ok(false);
        }
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
        let transaction = self.locked(id).await?;
        let current = membership::Entity::find_by_id((id.0, user.0))
            .one(&transaction)
            .await
            .map_err(&map)?
            .ok_or(DomainError::NotFound("member"))?;
        if current.role == "owner" && Self::owners(&transaction, id).await? <= 1 {
            transaction.rollback().await.map_err(&map)?;
            return Ok(false);
        }
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
    async fn domains(&self, id: OrganizationId) -> Result<Vec<OrganizationDomain>, DomainError> {
        Ok(organization_domain::Entity::find()
            .filter(organization_domain::Column::OrganizationId.eq(id.0))
            .order_by_asc(organization_domain::Column::CreatedAt)
            .all(self.database.connection())
            .await
            .map_err(map_db_error("domain"))?
            .into_iter()
            .map(claim_from_model)
            .collect())
    }

    async fn add_domain(&self, claim: &OrganizationDomain) -> Result<(), DomainError> {
        organization_domain::ActiveModel {
            id: Set(claim.id),
            organization_id: Set(claim.organization_id.0),
            domain: Set(claim.domain.clone()),
            token: Set(claim.token.clone()),
            claimed: Set(None),
            verified_at: Set(None),
            verified_by: Set(None),
            created_at: Set(claim.created_at),
        }
        .insert(self.database.connection())
        .await
        .map_err(map_db_error("domain"))?;
        Ok(())
    }

    async fn verify_domain(
        &self,
        claim: uuid::Uuid,
        domain: &str,
        at: chrono::DateTime<chrono::Utc>,
        method: &str,
    ) -> Result<(), DomainError> {
        // `claimed` is unique: a domain another organization verified first fails here.
        organization_domain::Entity::update_many()
            .col_expr(organization_domain::Column::Claimed, Expr::value(domain))
            .col_expr(organization_domain::Column::VerifiedAt, Expr::value(at))
            .col_expr(organization_domain::Column::VerifiedBy, Expr::value(method))
            .filter(organization_domain::Column::Id.eq(claim))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("verified domain"))?;
        Ok(())
    }

    async fn delete_domain(&self, claim: uuid::Uuid) -> Result<bool, DomainError> {
        let deleted = organization_domain::Entity::delete_by_id(claim)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("domain"))?;
        Ok(deleted.rows_affected > 0)
    }

    async fn verified_domain_owner(
        &self,
        domain: &str,
    ) -> Result<Option<Organization>, DomainError> {
        let holder = sea_orm::sea_query::Query::select()
            .column(organization_domain::Column::OrganizationId)
            .from(organization_domain::Entity)
            .and_where(organization_domain::Column::Claimed.eq(domain.to_ascii_lowercase()))
            .to_owned();
        organization::Entity::find()
            .filter(organization::Column::Id.in_subquery(holder))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("domain"))?
            .map(to_domain)
            .transpose()
    }
}

fn claim_from_model(model: organization_domain::Model) -> OrganizationDomain {
    OrganizationDomain {
        id: model.id,
        organization_id: OrganizationId(model.organization_id),
        domain: model.domain,
        token: model.token,
        verified_at: model.verified_at,
        verified_by: model.verified_by,
        created_at: model.created_at,
    }
}
