//! Roles: the built-in ones and the custom roles an organization defines.

use std::sync::Arc;

use uuid::Uuid;

use super::permissions::check_permissions;
use super::service::check_name;
use super::{
    Authorized, BUILT_IN_ROLES, BuiltInRole, CustomRole, OrganizationAccess, OrganizationId,
    Permission, RoleStore, RoleView, RolesRead, RolesWrite,
};
use crate::{Clock, DomainError};

/// The roles of organizations.
#[derive(Debug, Clone)]
pub struct RoleService {
    roles: Arc<dyn RoleStore>,
    access: OrganizationAccess,
    clock: Arc<dyn Clock>,
}

impl RoleService {
    pub(super) fn new(
        roles: Arc<dyn RoleStore>,
        access: OrganizationAccess,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            roles,
            access,
            clock,
        }
    }

    /// The organization's roles: the built-in ones, then its custom roles.
    pub async fn list(&self, scope: &Authorized<RolesRead>) -> Result<Vec<RoleView>, DomainError> {
        let id = scope.organization();
        let built_in = BuiltInRole::ALL.iter().map(|role| RoleView {
            id: None,
            name: role.as_str().to_owned(),
            built_in: true,
            permissions: role
                .permissions()
                .into_iter()
                .map(|permission| Permission::as_str(permission).to_owned())
                .collect(),
        });
        let custom = self.roles.roles(id).await?;
        Ok(built_in.chain(custom.iter().map(RoleView::from)).collect())
    }

    /// Defines a custom role (`roles:write`).
    pub async fn create(
        &self,
        scope: &Authorized<RolesWrite>,
        name: &str,
        permissions: &[String],
    ) -> Result<CustomRole, DomainError> {
        let id = scope.organization();
        let name = check_name(name)?;
        if BUILT_IN_ROLES.contains(&name.as_str()) {
            return Err(DomainError::invalid("name", "is a built-in role"));
        }
        let now = self.clock.now();
        let role = CustomRole {
            id: Uuid::now_v7(),
            organization_id: id,
            name,
            permissions: check_permissions(permissions)?,
            created_at: now,
            updated_at: now,
        };
        self.roles.put_role(&role).await?;
        Ok(role)
    }

    /// The organization a custom role belongs to (where the permission check for the role's
    /// routes happens).
    pub async fn organization_of(&self, role: Uuid) -> Result<Option<OrganizationId>, DomainError> {
        Ok(self
            .roles
            .role(role)
            .await?
            .map(|found| found.organization_id))
    }

    /// A custom role of the organization, or `NotFound`.
    async fn custom_role(&self, id: OrganizationId, role: Uuid) -> Result<CustomRole, DomainError> {
        self.roles
            .role(role)
            .await?
            .filter(|found| found.organization_id == id)
            .ok_or(DomainError::NotFound("role"))
    }

    /// Renames a custom role or replaces its permissions; members holding it are affected
    /// at once.
    pub async fn update(
        &self,
        scope: &Authorized<RolesWrite>,
        role: Uuid,
        name: Option<&str>,
        permissions: Option<&[String]>,
    ) -> Result<CustomRole, DomainError> {
        let mut found = self.custom_role(scope.organization(), role).await?;
        if let Some(name) = name {
            found.name = check_name(name)?;
        }
        if let Some(permissions) = permissions {
            found.permissions = check_permissions(permissions)?;
        }
        found.updated_at = self.clock.now();
        self.roles.put_role(&found).await?;
        self.access.changed(found.organization_id).await?;
        Ok(found)
    }

    /// Deletes a custom role no member holds.
    pub async fn delete(
        &self,
        scope: &Authorized<RolesWrite>,
        role: Uuid,
    ) -> Result<(), DomainError> {
        let found = self.custom_role(scope.organization(), role).await?;
        if !self.roles.delete_role_if_unused(role).await? {
            return Err(DomainError::Conflict("member holding this role"));
        }
        self.access.changed(found.organization_id).await
    }
}
