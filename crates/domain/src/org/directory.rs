//! What sessions and tokens learn of a user's organizations: resolving a reference, the claims
//! a token scoped to one carries, the organizations to choose from, and joining by a verified
//! domain at sign-in.

use std::sync::Arc;

use uuid::Uuid;

use super::{
    DomainService, MembershipStore, OrganizationAccess, OrganizationId, OrganizationPorts,
    OrganizationStore,
};
use crate::session::RequestContext;
use crate::user::UserId;
use crate::{DomainError, OrgChoice, OrgClaims, OrganizationDirectory, User};

/// The [`OrganizationDirectory`] the session and sign-in services scope sessions through.
#[derive(Debug, Clone)]
pub struct MembershipDirectory {
    organizations: Arc<dyn OrganizationStore>,
    memberships: Arc<dyn MembershipStore>,
    access: OrganizationAccess,
    domains: DomainService,
}

impl MembershipDirectory {
    pub(super) fn new(
        ports: &OrganizationPorts,
        access: OrganizationAccess,
        domains: DomainService,
    ) -> Self {
        Self {
            organizations: ports.organizations.clone(),
            memberships: ports.memberships.clone(),
            access,
            domains,
        }
    }
}

#[async_trait::async_trait]
impl OrganizationDirectory for MembershipDirectory {
    async fn resolve(&self, reference: &str) -> Result<Option<OrganizationId>, DomainError> {
        let found = match Uuid::parse_str(reference) {
            Ok(id) => self.organizations.get(OrganizationId(id)).await?,
            Err(_) => {
                self.organizations
                    .by_slug(&reference.to_ascii_lowercase())
                    .await?
            }
        };
        Ok(found.map(|organization| organization.id))
    }

    async fn claims(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<OrgClaims>, DomainError> {
        let Some((role, permissions)) = self.access.permissions(organization, user).await? else {
            return Ok(None);
        };
        let Some(found) = self.organizations.get(organization).await? else {
            return Ok(None);
        };
        Ok(Some(OrgClaims {
            id: found.id.to_string(),
            slug: found.slug,
            roles: vec![role],
            permissions,
            mfa_required: found.policy.mfa_required,
            allowed_sign_in_methods: found.policy.allowed_sign_in_methods,
            session_lifetime_hours: found.policy.session_lifetime_hours,
        }))
    }

    async fn join_by_domain(
        &self,
        user: &User,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.domains.join_by_domain(user, context).await
    }

    async fn of_user(&self, user: UserId) -> Result<Vec<OrgChoice>, DomainError> {
        let mut choices: Vec<OrgChoice> = self
            .memberships
            .memberships_of(user)
            .await?
            .into_iter()
            .map(|(organization, _)| OrgChoice {
                id: organization.id,
                slug: organization.slug,
                name: organization.name,
            })
            .collect();
        choices.sort_by_key(|choice| choice.name.to_lowercase());
        Ok(choices)
    }
}
