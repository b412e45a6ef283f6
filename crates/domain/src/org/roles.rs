//! Roles: the built-in ones and the custom roles an organization defines.

use uuid::Uuid;

use super::permissions::check_permissions;
use super::service::check_name;
use super::{
    BUILT_IN_ROLES, CustomRole, OrganizationId, OrganizationService, RoleView, built_in_permissions,
};
use crate::DomainError;

impl OrganizationService {
    /// A role name valid in the organization: built in, or the id of one of its custom roles.
    pub(super) async fn check_role(
        &self,
        id: OrganizationId,
        role: &str,
    ) -> Result<String, DomainError> {
        if built_in_permissions(role).is_some() {
            return Ok(role.to_owned());
        }
        if let Ok(custom) = Uuid::parse_str(role)
            && self
                .roles
                .role(custom)
                .await?
                .is_some_and(|found| found.organization_id == id)
        {
            return Ok(custom.to_string());
        }
        Err(DomainError::invalid(
            "role",
            format!(
                "must be one of {} or the id of one of the organization's roles",
                BUILT_IN_ROLES.join(", ")
            ),
        ))
    }

    /// The organization's roles: the built-in ones, then its custom roles. Like every method
    /// taking an organization id, it trusts that the caller's permission (`roles:read`) was
    /// checked where the request came in (the api's `OrgAccess`).
    pub async fn roles(&self, id: OrganizationId) -> Result<Vec<RoleView>, DomainError> {
        let built_in = BUILT_IN_ROLES.iter().map(|name| RoleView {
            id: None,
            name: (*name).to_owned(),
            built_in: true,
            permissions: built_in_permissions(name)
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        });
        let custom = self.roles.roles(id).await?;
        Ok(built_in.chain(custom.iter().map(RoleView::from)).collect())
    }

    /// Defines a custom role (`roles:write`).
    pub async fn create_role(
        &self,
        id: OrganizationId,
        name: &str,
        permissions: &[String],
    ) -> Result<CustomRole, DomainError> {
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

    /// The organization a custom role belongs to.
    pub async fn role_organization(
        &self,
        role: Uuid,
    ) -> Result<Option<OrganizationId>, DomainError> {
        Ok(self
            .roles
            .role(role)
            .await?
            .map(|found| found.organization_id))
    }

    async fn custom_role(&self, role: Uuid) -> Result<CustomRole, DomainError> {
        self.roles
            .role(role)
            .await?
            .ok_or(DomainError::NotFound("role"))
    }

    /// Renames a custom role or replaces its permissions; members holding it are affected
    /// at once.
    pub async fn update_role(
        &self,
        role: Uuid,
        name: Option<&str>,
        permissions: Option<&[String]>,
    ) -> Result<CustomRole, DomainError> {
        let mut found = self.custom_role(role).await?;
        if let Some(name) = name {
            found.name = check_name(name)?;
        }
        if let Some(permissions) = permissions {
            found.permissions = check_permissions(permissions)?;
        }
        found.updated_at = self.clock.now();
        self.roles.put_role(&found).await?;
        self.changed(found.organization_id).await?;
        Ok(found)
    }

    /// Deletes a custom role no member holds.
    pub async fn delete_role(&self, role: Uuid) -> Result<(), DomainError> {
        let found = self.custom_role(role).await?;
        if !self.roles.delete_role_if_unused(role).await? {
            return Err(DomainError::Conflict("member holding this role"));
        }
        self.changed(found.organization_id).await
    }
}
