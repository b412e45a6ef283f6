//! The permission catalog: every `resource:action` permission a role can hold, and the
//! built-in roles with their permissions.

use crate::DomainError;

/// Every permission an organization role can hold.
pub const PERMISSIONS: &[&str] = &[
    "org:read",
    "org:manage",
    "members:read",
    "members:write",
    "roles:read",
    "roles:write",
    "users:read",
    "users:write",
    "clients:write",
    "sso:write",
    "scim:write",
    "webhooks:write",
    "audit:read",
];

/// The built-in roles, from most to least powerful.
pub const BUILT_IN_ROLES: &[&str] = &["owner", "admin", "member", "viewer"];

/// The permissions of a built-in role; `None` for a name that is not built in.
pub fn built_in_permissions(role: &str) -> Option<Vec<&'static str>> {
    let all = PERMISSIONS.to_vec();
    Some(match role {
        "owner" => all,
        // Everything but deleting or re-policing the organization itself.
        "admin" => all
            .into_iter()
            .filter(|permission| *permission != "org:manage")
            .collect(),
        "member" => vec!["org:read", "members:read", "roles:read", "users:read"],
        "viewer" => vec!["org:read", "members:read"],
        _ => return None,
    })
}

pub(super) fn check_permissions(permissions: &[String]) -> Result<Vec<String>, DomainError> {
    let mut checked: Vec<String> = Vec::new();
    for permission in permissions {
        if !PERMISSIONS.contains(&permission.as_str()) {
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
