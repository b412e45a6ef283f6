//! Roles: the built-in ones and the custom roles an organization defines.

use uuid::Uuid;

use super::permissions::check_permissions;
use super::service::check_name;
use super::{
    Authorized, BUILT_IN_ROLES, BuiltInRole, CustomRole, OrganizationId, OrganizationService,
    Permission, RoleView, RolesRead, RolesWrite,
};
use crate::DomainError;

impl OrganizationService {
    /// A role name valid in the organization: built in, or the id of one of its custom roles.
    pub(super) async fn check_role(
        &self,
        id: OrganizationId,
        role: &str,
    ) -> Result<String, DomainError> {
        if role.parse::<BuiltInRole>().is_ok() {
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

    /// The organization's roles: the built-in ones, then its custom roles.
    pub async fn roles(&self, scope: &Authorized<RolesRead>) -> Result<Vec<RoleView>, DomainError> {
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
    pub async fn create_role(
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
    pub async fn update_role(
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
        self.changed(found.organization_id).await?;
        Ok(found)
    }

    /// Deletes a custom role no member holds.
    pub async fn delete_role(
        &self,
        scope: &Authorized<RolesWrite>,
        role: Uuid,
    ) -> Result<(), DomainError> {
        let found = self.custom_role(scope.organization(), role).await?;
        if !self.roles.delete_role_if_unused(role).await? {
            return Err(DomainError::Conflict("member holding this role"));
        }
        self.changed(found.organization_id).await
    }
}
