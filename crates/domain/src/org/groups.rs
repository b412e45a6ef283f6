//! Groups inside an organization: their members inherit the group's roles.

use std::sync::Arc;

use uuid::Uuid;

use super::service::check_name;
use super::{
    Authorized, Group, GroupStore, MembersRead, MembersWrite, MembershipStore, OrganizationAccess,
    OrganizationId,
};
use crate::user::UserId;
use crate::{Clock, DomainError};

/// Groups of organization members.
#[derive(Debug, Clone)]
pub struct GroupService {
    groups: Arc<dyn GroupStore>,
    memberships: Arc<dyn MembershipStore>,
    access: OrganizationAccess,
    clock: Arc<dyn Clock>,
}

impl GroupService {
    pub(super) fn new(
        groups: Arc<dyn GroupStore>,
        memberships: Arc<dyn MembershipStore>,
        access: OrganizationAccess,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            groups,
            memberships,
            access,
            clock,
        }
    }

    /// The organization's groups (`members:read`).
    pub async fn list(&self, scope: &Authorized<MembersRead>) -> Result<Vec<Group>, DomainError> {
        let id = scope.organization();
        self.groups.groups(id).await
    }

    /// Creates a group whose members inherit `roles` (`members:write`; only owners hand out
    /// the owner role).
    pub async fn create(
        &self,
        scope: &Authorized<MembersWrite>,
        name: &str,
        roles: &[String],
    ) -> Result<Group, DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let mut checked = Vec::new();
        for role in roles {
            let role = self.access.check_role(id, role).await?;
            self.access.grantable(caller, id, &role).await?;
            checked.push(role);
        }
        let group = Group {
            id: Uuid::now_v7(),
            organization_id: id,
            name: check_name(name)?,
            roles: checked,
            members: Vec::new(),
            created_at: self.clock.now(),
        };
        self.groups.put_group(&group).await?;
        Ok(group)
    }

    /// A group of the organization, or `NotFound`.
    async fn group_in(&self, id: OrganizationId, group: Uuid) -> Result<Group, DomainError> {
        self.groups
            .group(group)
            .await?
            .filter(|found| found.organization_id == id)
            .ok_or(DomainError::NotFound("group"))
    }

    /// Deletes a group; its members lose what it gave them at once (`members:write`).
    pub async fn delete(
        &self,
        scope: &Authorized<MembersWrite>,
        group: Uuid,
    ) -> Result<(), DomainError> {
        let id = scope.organization();
        self.group_in(id, group).await?;
        self.groups.delete_group(group).await?;
        self.access.changed(id).await
    }

    /// Puts a member of the organization into a group (`members:write`).
    pub async fn add_member(
        &self,
        scope: &Authorized<MembersWrite>,
        group: Uuid,
        user: UserId,
    ) -> Result<(), DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let found = self.group_in(id, group).await?;
        if self.memberships.membership(id, user).await?.is_none() {
            return Err(DomainError::NotFound("member"));
        }
        for role in &found.roles {
            self.access.grantable(caller, id, role).await?;
        }
        self.groups.add_group_member(group, user).await?;
        self.access.changed(id).await
    }

    /// Takes a user out of a group (`members:write`).
    pub async fn remove_member(
        &self,
        scope: &Authorized<MembersWrite>,
        group: Uuid,
        user: UserId,
    ) -> Result<(), DomainError> {
        let id = scope.organization();
        self.group_in(id, group).await?;
        if !self.groups.remove_group_member(group, user).await? {
            return Err(DomainError::NotFound("group member"));
        }
        self.access.changed(id).await
    }
}
