//! The permission catalog: every `resource:action` permission a role can hold, the built-in
//! roles with their permissions, and the requirements organization-scoped use cases name
//! (`MembersWrite`, `AnyMember`, ...) so that the check they need is part of their type.

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// A name outside a closed list (a permission or a built-in role).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a known name")]
pub struct UnknownName(pub String);

/// A `resource:action` permission an organization role can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `org:read`.
    OrgRead,
    /// `org:manage`: delete or re-police the organization itself.
    OrgManage,
    /// `members:read`.
    MembersRead,
    /// `members:write`.
    MembersWrite,
    /// `roles:read`.
    RolesRead,
    /// `roles:write`.
    RolesWrite,
    /// `users:read`.
    UsersRead,
    /// `users:write`.
    UsersWrite,
    /// `clients:write`.
    ClientsWrite,
    /// `sso:write`.
    SsoWrite,
    /// `scim:write`.
    ScimWrite,
    /// `webhooks:write`.
    WebhooksWrite,
    /// `audit:read`.
    AuditRead,
}

impl Permission {
    /// Every permission, in catalog order.
    pub const ALL: [Self; 13] = [
        Self::OrgRead,
        Self::OrgManage,
        Self::MembersRead,
        Self::MembersWrite,
        Self::RolesRead,
        Self::RolesWrite,
        Self::UsersRead,
        Self::UsersWrite,
        Self::ClientsWrite,
        Self::SsoWrite,
        Self::ScimWrite,
        Self::WebhooksWrite,
        Self::AuditRead,
    ];

    /// Its `resource:action` name, as tokens and the API carry it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrgRead => "org:read",
            Self::OrgManage => "org:manage",
            Self::MembersRead => "members:read",
            Self::MembersWrite => "members:write",
            Self::RolesRead => "roles:read",
            Self::RolesWrite => "roles:write",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::ClientsWrite => "clients:write",
            Self::SsoWrite => "sso:write",
            Self::ScimWrite => "scim:write",
            Self::WebhooksWrite => "webhooks:write",
            Self::AuditRead => "audit:read",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|permission| permission.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// Every permission's name, in catalog order.
pub const PERMISSIONS: &[&str] = &{
    let mut names = [""; Permission::ALL.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = Permission::ALL[index].as_str();
        index += 1;
    }
    names
};

/// A role Castellan defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltInRole {
    /// Everything, including handing out the owner role.
    Owner,
    /// Everything but deleting or re-policing the organization itself.
    Admin,
    /// Reads the organization, its members, roles and users.
    Member,
    /// Reads the organization and its members.
    Viewer,
}

impl BuiltInRole {
    /// Every built-in role, from most to least powerful.
    pub const ALL: [Self; 4] = [Self::Owner, Self::Admin, Self::Member, Self::Viewer];

    /// Its name, as memberships store it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// The permissions it grants, in catalog order.
    pub fn permissions(self) -> Vec<Permission> {
        use Permission::{MembersRead, OrgManage, OrgRead, RolesRead, UsersRead};
        match self {
            Self::Owner => Permission::ALL.to_vec(),
            Self::Admin => Permission::ALL
                .into_iter()
                .filter(|permission| *permission != OrgManage)
                .collect(),
            Self::Member => vec![OrgRead, MembersRead, RolesRead, UsersRead],
            Self::Viewer => vec![OrgRead, MembersRead],
        }
    }
}

impl fmt::Display for BuiltInRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BuiltInRole {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// The built-in roles' names, from most to least powerful.
pub const BUILT_IN_ROLES: &[&str] = &{
    let mut names = [""; BuiltInRole::ALL.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = BuiltInRole::ALL[index].as_str();
        index += 1;
    }
    names
};

/// The permission names of a built-in role; `None` for a name that is not built in.
pub fn built_in_permissions(role: &str) -> Option<Vec<&'static str>> {
    let role: BuiltInRole = role.parse().ok()?;
    Some(
        role.permissions()
            .into_iter()
            .map(Permission::as_str)
            .collect(),
    )
}

/// Permission names from a request, each from the catalog, without repeats.
pub(super) fn check_permissions(permissions: &[String]) -> Result<Vec<String>, DomainError> {
    let mut checked: Vec<String> = Vec::new();
    for permission in permissions {
        if permission.parse::<Permission>().is_err() {
            return Err(DomainError::invalid(
                "permissions",
                format!("{permission} is not one of {}", PERMISSIONS.join(", ")),
            ));
        }
        if !checked.contains(permission) {
            checked.push(permission.clone());
        }
    }
    Ok(checked)
}

/// What an organization-scoped use case requires of its caller: a permission, or membership
/// in any role. The service's methods name it in the [`Authorized`](super::Authorized) proof
/// they take.
pub trait Requirement: Send + Sync + 'static {
    /// The permission; `None`: membership in any role.
    const PERMISSION: Option<Permission>;
}

/// Membership in any role (leaving needs no more).
#[derive(Debug)]
pub struct AnyMember;

impl Requirement for AnyMember {
    const PERMISSION: Option<Permission> = None;
}

macro_rules! requirements {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;

            impl Requirement for $name {
                const PERMISSION: Option<Permission> = Some(Permission::$name);
            }
        )*
    };
}

requirements! {
    /// `org:read`.
    OrgRead;
    /// `org:manage`.
    OrgManage;
    /// `members:read`.
    MembersRead;
    /// `members:write`.
    MembersWrite;
    /// `roles:read`.
    RolesRead;
    /// `roles:write`.
    RolesWrite;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_nest() {
        let owner = built_in_permissions("owner").unwrap();
        let admin = built_in_permissions("admin").unwrap();
        let member = built_in_permissions("member").unwrap();
        let viewer = built_in_permissions("viewer").unwrap();
        assert_eq!(owner.len(), PERMISSIONS.len());
        assert!(!admin.contains(&"org:manage"));
        assert!(admin.iter().all(|p| owner.contains(p)));
        assert!(member.iter().all(|p| admin.contains(p)));
        assert!(viewer.iter().all(|p| member.contains(p)));
        assert!(built_in_permissions("root").is_none());
    }
}
