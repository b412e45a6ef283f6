//! Organizations themselves: create, list, read, update and delete, with the checks on names
//! and slugs.

use std::sync::Arc;

use super::{
    Authorized, BuiltInRole, Membership, OrgManage, OrgRead, Organization, OrganizationAccess,
    OrganizationId, OrganizationPage, OrganizationPatch, OrganizationPolicy, OrganizationStore,
};
use crate::accounts::Principal;
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::session::RequestContext;
use crate::{Clock, DomainError};

fn check_slug(slug: &str) -> Result<String, DomainError> {
    let slug = slug.trim().to_ascii_lowercase();
    let valid = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !valid {
        return Err(DomainError::invalid(
            "slug",
            "2 to 63 lowercase letters, digits and inner dashes",
        ));
    }
    Ok(slug)
}

pub(super) fn check_name(name: &str) -> Result<String, DomainError> {
    check_label("name", name)
}

/// A short label (a name, a policy version): trimmed, 1 to 100 printable characters.
pub(crate) fn check_label(field: &'static str, value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(value.to_owned())
}

/// A slug made from a name: lowercase, dashes for everything else.
pub fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(63).collect()
}

/// Organizations themselves.
#[derive(Debug, Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationStore>,
    access: OrganizationAccess,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl OrganizationService {
    pub(super) fn new(
        organizations: Arc<dyn OrganizationStore>,
        access: OrganizationAccess,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            organizations,
            access,
            events,
            clock,
        }
    }

    /// Creates an organization; its creator is its first owner.
    pub async fn create(
        &self,
        creator: &Principal,
        name: &str,
        slug: Option<&str>,
        context: &RequestContext,
    ) -> Result<Organization, DomainError> {
        let name = check_name(name)?;
        let slug = check_slug(&slug.map_or_else(|| slug_from(&name), str::to_owned))?;
        let now = self.clock.now();
        let organization = Organization {
            id: OrganizationId::new(),
            slug,
            name,
            policy: OrganizationPolicy::default(),
            created_at: now,
            updated_at: now,
        };
        let owner = Membership {
            organization_id: organization.id,
            user_id: creator.user.id,
            role: BuiltInRole::Owner.as_str().to_owned(),
            created_at: now,
        };
        self.organizations.create(&organization, &owner).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::OrganizationCreated, now, context)
                    .by(creator.user.id)
                    .on(organization.id),
            )
            .await?;
        Ok(organization)
    }

    /// The organizations the caller belongs to, or, for platform admins asking for `all`,
    /// every organization.
    pub async fn list(
        &self,
        caller: &Principal,
        all: bool,
        search: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<OrganizationPage, DomainError> {
        if page == 0 || !(1..=100).contains(&per_page) {
            return Err(DomainError::invalid(
                "per_page",
                "page starts at 1 and per_page is 1 to 100",
            ));
        }
        let member = if all {
            crate::admin::require_admin(caller)?;
            None
        } else {
            Some(caller.user.id)
        };
        self.organizations
            .list(member, search, page, per_page)
            .await
    }

    /// The organization, for someone allowed `org:read` in it.
    pub async fn get(&self, scope: &Authorized<OrgRead>) -> Result<Organization, DomainError> {
        self.organization(scope.organization()).await
    }

    /// The organization by id, or `NotFound`.
    pub(super) async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Organization, DomainError> {
        self.organizations
            .get(id)
            .await?
            .ok_or(DomainError::NotFound("organization"))
    }

    /// Renames it, changes its slug or policy.
    pub async fn update(
        &self,
        scope: &Authorized<OrgManage>,
        patch: OrganizationPatch,
        context: &RequestContext,
    ) -> Result<Organization, DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let mut organization = self.organization(id).await?;
        if let Some(name) = patch.name {
            organization.name = check_name(&name)?;
        }
        if let Some(slug) = patch.slug {
            organization.slug = check_slug(&slug)?;
        }
        if let Some(policy) = patch.policy {
            organization.policy = policy;
        }
        organization.updated_at = self.clock.now();
        self.organizations.update(&organization).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::OrganizationUpdated, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id),
            )
            .await?;
        Ok(organization)
    }

    /// Deletes it with every membership.
    pub async fn delete(
        &self,
        scope: &Authorized<OrgManage>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        if !self.organizations.delete(id).await? {
            return Err(DomainError::NotFound("organization"));
        }
        self.access.changed(id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::OrganizationDeleted, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug_from("Acme Corp, Inc."), "acme-corp-inc");
        assert!(check_slug("acme-corp").is_ok());
        assert!(check_slug("-acme").is_err());
        assert!(check_slug("a").is_err());
        assert!(check_slug("acme_corp").is_err());
    }
}
