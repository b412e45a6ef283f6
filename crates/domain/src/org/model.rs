//! What organizations are made of: ids, organizations and their policy, memberships, custom
//! roles, groups, invitations, and the views and commands the service hands out and takes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::User;
use crate::user::UserId;

/// An organization's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrganizationId(pub Uuid);

impl OrganizationId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for OrganizationId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What an organization asks of its members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationPolicy {
    /// Members must sign in with a second factor.
    #[serde(default)]
    pub mfa_required: bool,
    /// Sign-in methods members may use (`password`, `passkey`, `magic_link`, `sso`); empty
    /// allows all.
    #[serde(default)]
    pub allowed_sign_in_methods: Vec<String>,
    /// Sessions of members end after this many hours; `None` keeps the platform's lifetime.
    #[serde(default)]
    pub session_lifetime_hours: Option<u32>,
    /// Users whose verified address is at one of the organization's verified domains join it
    /// as members when they sign in.
    #[serde(default)]
    pub auto_join_verified_domains: bool,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Unique, URL-safe name (`acme-corp`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What it asks of its members.
    pub policy: OrganizationPolicy,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A user's place in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The member.
    pub user_id: UserId,
    /// A built-in role name.
    pub role: String,
    /// Joined.
    pub created_at: DateTime<Utc>,
}

/// A role an organization defined: a name and a set of permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    /// Id (what memberships holding it store as their role).
    pub id: Uuid,
    /// The organization.
    pub organization_id: OrganizationId,
    /// Unique within the organization.
    pub name: String,
    /// Permissions from [`PERMISSIONS`].
    pub permissions: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An invitation to join an organization, sent to an address without an account (stored by
/// the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// SHA-256 of the token.
    pub hash: String,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The invited address.
    pub email: String,
    /// The role on acceptance.
    pub role: String,
    /// Who invited.
    pub invited_by: UserId,
    /// Sent.
    pub created_at: DateTime<Utc>,
    /// Dead after this.
    pub expires_at: DateTime<Utc>,
}

/// A role as listed: built in (no id) or custom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    /// The custom role's id; `None` for a built-in role.
    pub id: Option<Uuid>,
    /// Its name.
    pub name: String,
    /// Whether Castellan defines it.
    pub built_in: bool,
    /// Its permissions.
    pub permissions: Vec<String>,
}

impl From<&CustomRole> for RoleView {
    fn from(role: &CustomRole) -> Self {
        Self {
            id: Some(role.id),
            name: role.name.clone(),
            built_in: false,
            permissions: role.permissions.clone(),
        }
    }
}

/// What adding a member did.
#[derive(Debug, Clone)]
pub enum Added {
    /// The account is a member now.
    Member(Member),
    /// No account has the address: an invitation was mailed.
    Invited {
        /// The address.
        email: String,
        /// Until when it can be accepted.
        expires_at: DateTime<Utc>,
    },
}

/// A group inside an organization; its members inherit its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: Uuid,
    /// The organization.
    pub organization_id: OrganizationId,
    /// Name.
    pub name: String,
    /// Roles (built-in names or custom role ids) its members inherit.
    pub roles: Vec<String>,
    /// The members' account ids.
    pub members: Vec<UserId>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A member with their account.
#[derive(Debug, Clone)]
pub struct Member {
    /// The membership.
    pub membership: Membership,
    /// The account.
    pub user: User,
}

/// A page of organizations.
#[derive(Debug, Clone)]
pub struct OrganizationPage {
    /// This page.
    pub items: Vec<Organization>,
    /// How many matched.
    pub total: u64,
}

/// An answer of the permission check, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
}

/// Changes to an organization.
#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new slug.
    pub slug: Option<String>,
    /// A new policy.
    pub policy: Option<OrganizationPolicy>,
}

/// Who to add: an account id or an email address.
#[derive(Debug, Clone)]
pub enum MemberRef {
    /// By id.
    Id(UserId),
    /// By email.
    Email(String),
}
