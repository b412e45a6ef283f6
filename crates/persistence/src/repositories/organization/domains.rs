//! Claimed email domains over `organization_domains`; the unique `claimed` column holds the
//! domain once verified, so a domain belongs to one organization only.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, DomainStore, Organization, OrganizationDomain, OrganizationId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::SqlOrganizationRepository;
use super::organizations::to_domain;
use crate::entities::{organization, organization_domain};
use crate::repositories::map_db_error;

#[async_trait]
impl DomainStore for SqlOrganizationRepository {
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
