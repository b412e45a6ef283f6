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

/// A closed list of names as an enum: its variants, `ALL`, `as_str`, `Display`, `FromStr`
/// (failing with [`UnknownName`]) and a constant slice of the names, from one table.
macro_rules! closed_names {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $($(#[$variant_doc:meta])* $variant:ident = $text:literal,)*
        }
        $(#[$names_doc:meta])*
        names $names:ident;
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_doc])* $variant,)*
        }

        impl $name {
            /// Every one, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// Its name, as stored and as the API and tokens carry it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|known| known.as_str() == name)
                    .ok_or_else(|| UnknownName(name.to_owned()))
            }
        }

        $(#[$names_doc])*
        pub const $names: &[&str] = &[$($text),*];
    };
}

closed_names! {
    /// A `resource:action` permission an organization role can hold.
    pub enum Permission {
        /// Read the organization.
        OrgRead = "org:read",
        /// Delete or re-police the organization itself.
        OrgManage = "org:manage",
        /// Read its members and groups.
        MembersRead = "members:read",
        /// Add, change and remove members and groups.
        MembersWrite = "members:write",
        /// Read its roles.
        RolesRead = "roles:read",
        /// Define, change and delete custom roles.
        RolesWrite = "roles:write",
        /// Read its users.
        UsersRead = "users:read",
        /// Change its users.
        UsersWrite = "users:write",
        /// Manage its OAuth clients.
        ClientsWrite = "clients:write",
        /// Manage its single sign-on (SAML connections).
        SsoManage = "sso:manage",
        /// Manage its SCIM provisioning.
        ScimWrite = "scim:write",
        /// Manage its webhooks.
        WebhooksWrite = "webhooks:write",
        /// Read its audit log.
        AuditRead = "audit:read",
    }
    /// Every permission's name, in catalog order.
    names PERMISSIONS;
}

closed_names! {
    /// A role Castellan defines.
    pub enum BuiltInRole {
        /// Everything, including handing out the owner role.
        Owner = "owner",
        /// Everything but deleting or re-policing the organization itself.
        Admin = "admin",
        /// Reads the organization, its members, roles and users.
        Member = "member",
        /// Reads the organization and its members.
        Viewer = "viewer",
    }
    /// The built-in roles' names, from most to least powerful.
    names BUILT_IN_ROLES;
}

impl BuiltInRole {
    /// The permissions it grants, in catalog order.
    pub fn permissions(self) -> Vec<Permission> {
        use Permission::{MembersRead, OrgManage, OrgRead, RolesRead, UsersRead};
        match self {
            Self::Owner => Permission::ALL.to_vec(),
            Self::Admin => Permission::ALL
                .iter()
                .copied()
                .filter(|permission| *permission != OrgManage)
                .collect(),
            Self::Member => vec![OrgRead, MembersRead, RolesRead, UsersRead],
            Self::Viewer => vec![OrgRead, MembersRead],
        }
    }
}

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
    /// `sso:manage`.
    SsoManage;
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
        assert!(owner.contains(&"sso:manage") && admin.contains(&"sso:manage"));
        assert!(!member.contains(&"sso:manage"));
        assert!(admin.iter().all(|p| owner.contains(p)));
        assert!(member.iter().all(|p| admin.contains(p)));
        assert!(viewer.iter().all(|p| member.contains(p)));
        assert!(built_in_permissions("root").is_none());
    }
}
