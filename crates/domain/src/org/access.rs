//! The permission check: what a member may do in an organization (their role's permissions
//! and their groups' roles', cached in the key-value store and invalidated on every change);
//! the [`Authorized`] proof that only the check makes and every organization-scoped use case
//! takes; and the rules every use case that hands out roles shares (which role names are
//! valid, who may grant the owner role).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{
    BUILT_IN_ROLES, BuiltInRole, Decision, GroupStore, MembershipStore, OrganizationId,
    OrganizationPorts, OrganizationStore, PERMISSIONS, Permission, Requirement, RoleStore,
    built_in_permissions,
};
use crate::accounts::Principal;
use crate::user::UserId;
use crate::{DomainError, KeyValueStore};

/// How long a member's resolved permissions are reused.
const PERMISSION_CACHE: Duration = Duration::from_secs(300);

/// Proof that the caller was allowed `P` in an organization. Its fields are private and only
/// [`OrganizationAccess::authorize`] builds one, so the API, the pages and the CLI cannot
/// reach an organization-scoped use case without the check.
#[derive(Debug)]
pub struct Authorized<P> {
    principal: Principal,
    organization: OrganizationId,
    requirement: PhantomData<fn() -> P>,
}

impl<P> Authorized<P> {
    /// Who was allowed.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Where.
    pub fn organization(&self) -> OrganizationId {
        self.organization
    }
}

/// The permission check of organizations, with the permission cache it keeps.
#[derive(Debug, Clone)]
pub struct OrganizationAccess {
    organizations: Arc<dyn OrganizationStore>,
    memberships: Arc<dyn MembershipStore>,
    roles: Arc<dyn RoleStore>,
    groups: Arc<dyn GroupStore>,
    kv: Arc<dyn KeyValueStore>,
}

impl OrganizationAccess {
    /// The check over these ports, caching in `kv`.
    pub(super) fn new(ports: &OrganizationPorts, kv: Arc<dyn KeyValueStore>) -> Self {
        Self {
            organizations: ports.organizations.clone(),
            memberships: ports.memberships.clone(),
            roles: ports.roles.clone(),
            groups: ports.groups.clone(),
            kv,
        }
    }

    fn version_key(id: OrganizationId) -> String {
        format!("org-permissions-version:{id}")
    }

    /// Invalidates every cached permission set of the organization, on every replica.
    pub(crate) async fn changed(&self, id: OrganizationId) -> Result<(), DomainError> {
        self.kv
            .increment(
                &Self::version_key(id),
                1,
                Duration::from_secs(7 * 24 * 3600),
            )
            .await?;
        Ok(())
    }

    /// The permissions `user` holds in the organization (`None` when not a member), cached.
    pub(super) async fn permissions(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<Option<(String, Vec<String>)>, DomainError> {
        let version = self
            .kv
            .get(&Self::version_key(id))
            .await?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let key = format!("org-permissions:{id}:{version}:{user}");
        if let Some(cached) = self.kv.get(&key).await?
            && let Ok(resolved) = serde_json::from_slice::<Option<(String, Vec<String>)>>(&cached)
        {
            return Ok(resolved);
        }
        let resolved = match self.memberships.membership(id, user).await? {
            None => None,
            Some(membership) => {
                let (role, mut permissions) = self.role_permissions(&membership.role).await?;
                // Members inherit the roles of their groups.
                for group in self.groups.groups_of(id, user).await? {
                    for inherited in &group.roles {
                        let (_, more) = self.role_permissions(inherited).await?;
                        for permission in more {
                            if !permissions.contains(&permission) {
                                permissions.push(permission);
                            }
                        }
                    }
                }
                Some((role, permissions))
            }
        };
        let encoded = serde_json::to_vec(&resolved)
            .map_err(|error| DomainError::caused("encoding permissions", error))?;
        self.kv.set(&key, &encoded, Some(PERMISSION_CACHE)).await?;
        Ok(resolved)
    }

    /// The name and permissions of a role: built in, or one of the organization's custom roles
    /// by id (an unknown one grants nothing).
    async fn role_permissions(&self, role: &str) -> Result<(String, Vec<String>), DomainError> {
        if let Some(permissions) = built_in_permissions(role) {
            return Ok((
                role.to_owned(),
                permissions.into_iter().map(str::to_owned).collect(),
            ));
        }
        if let Ok(custom) = Uuid::parse_str(role)
            && let Some(found) = self.roles.role(custom).await?
        {
            return Ok((found.name, found.permissions));
        }
        Ok((role.to_owned(), Vec::new()))
    }

    /// A role name valid in the organization: built in, or the id of one of its custom roles.
    pub(crate) async fn check_role(
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

    /// Only an owner (or a platform admin) may hand out or take away the owner role.
    pub(super) async fn grantable(
        &self,
        caller: &Principal,
        id: OrganizationId,
        role: &str,
    ) -> Result<(), DomainError> {
        if role != BuiltInRole::Owner.as_str() || caller.user.role.is_admin() {
            return Ok(());
        }
        let own = self.memberships.membership(id, caller.user.id).await?;
        if own.is_some_and(|membership| membership.role == BuiltInRole::Owner.as_str()) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(
                "only an owner can make or unmake owners",
            ))
        }
    }

    /// Whether `caller` may do `permission` in the organization, and why. Callers who are not
    /// members learn only that the organization is not theirs.
    pub async fn check(
        &self,
        caller: &Principal,
        id: OrganizationId,
        permission: &str,
    ) -> Result<Decision, DomainError> {
        let Ok(permission) = permission.parse::<Permission>() else {
            return Err(DomainError::invalid(
                "permission",
                format!("unknown; one of {}", PERMISSIONS.join(", ")),
            ));
        };
        if caller.user.role.is_admin() {
            return Ok(Decision {
                allowed: true,
                reason: format!(
                    "platform role {} stands above organizations",
                    caller.user.role.as_str()
                ),
            });
        }
        Ok(match self.permissions(id, caller.user.id).await? {
            None => Decision {
                allowed: false,
                reason: "not a member of this organization".to_owned(),
            },
            Some((role, permissions)) if permissions.iter().any(|p| p == permission.as_str()) => {
                Decision {
                    allowed: true,
                    reason: format!("role {role} grants {permission}"),
                }
            }
            Some((role, _)) => Decision {
                allowed: false,
                reason: format!("role {role} does not grant {permission}"),
            },
        })
    }

    /// Checks that `caller` meets `P` in the organization and returns the proof of it. A
    /// non-member gets `NotFound`, so other tenants' organizations stay invisible; a member
    /// without the permission `Forbidden`. Platform administrators stand above every
    /// organization.
    pub async fn authorize<P: Requirement>(
        &self,
        caller: Principal,
        id: OrganizationId,
    ) -> Result<Authorized<P>, DomainError> {
        if caller.user.role.is_admin() {
            // A platform admin holds every permission, but only in an organization that exists.
            if self.organizations.get(id).await?.is_none() {
                return Err(DomainError::NotFound("organization"));
            }
        } else {
            let held = self
                .permissions(id, caller.user.id)
                .await?
                .ok_or(DomainError::NotFound("organization"))?;
            if let Some(permission) = P::PERMISSION
                && !held.1.iter().any(|p| p == permission.as_str())
            {
                return Err(DomainError::Forbidden(permission.as_str()));
            }
        }
        Ok(Authorized {
            principal: caller,
            organization: id,
            requirement: PhantomData,
        })
    }
}
