//! Organizations: tenants sharing one user pool. Each has members with roles; a role is a set
//! of `resource:action` permissions; what a member may do is the union of their role's
//! permissions, cached in the key-value store and invalidated on every change. Platform
//! administrators stand above every organization.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::Principal;
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::session::RequestContext;
use crate::user::{Email, UserId, UserRepository};
use crate::{Clock, DomainError, KeyValueStore, User};

mod domains;

pub use domains::{OrganizationDomain, TxtLookup, VERIFICATION_LABEL, Verification, check_domain};

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

/// Storage of organizations and memberships.
#[async_trait::async_trait]
pub trait OrganizationRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new organization with its first member, together (a taken slug is a conflict).
    async fn create(
        &self,
        organization: &Organization,
        owner: &Membership,
    ) -> Result<(), DomainError>;
    /// By id.
    async fn get(&self, id: OrganizationId) -> Result<Option<Organization>, DomainError>;
    /// By slug.
    async fn by_slug(&self, slug: &str) -> Result<Option<Organization>, DomainError>;
    /// Organizations matching `search` (name or slug), all or only `member`'s, a page of them.
    async fn list(
        &self,
        member: Option<UserId>,
        search: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<OrganizationPage, DomainError>;
    /// Stores changed name, slug or policy.
    async fn update(&self, organization: &Organization) -> Result<(), DomainError>;
    /// Deletes it and its memberships.
    async fn delete(&self, id: OrganizationId) -> Result<bool, DomainError>;
    /// One membership.
    async fn membership(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, DomainError>;
    /// Every membership of the organization, oldest first.
    async fn memberships(&self, id: OrganizationId) -> Result<Vec<Membership>, DomainError>;
    /// Every organization `user` belongs to, with the membership.
    async fn memberships_of(
        &self,
        user: UserId,
    ) -> Result<Vec<(Organization, Membership)>, DomainError>;
    /// Adds a member (already a member: conflict).
    async fn add_member(&self, membership: &Membership) -> Result<(), DomainError>;
    /// Changes a member's role unless that leaves no owner; false when it would.
    async fn set_role_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
        role: &str,
    ) -> Result<bool, DomainError>;
    /// Stores an invitation.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), DomainError>;
    /// Uses the live, unaccepted invitation with this hash sent to `email`, atomically.
    async fn accept_invitation(
        &self,
        hash: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, DomainError>;
    /// The organization's groups with their members, oldest first.
    async fn groups(&self, id: OrganizationId) -> Result<Vec<Group>, DomainError>;
    /// A group by id, with its members.
    async fn group(&self, group: Uuid) -> Result<Option<Group>, DomainError>;
    /// Stores a new or changed group (name and roles; members are kept).
    async fn put_group(&self, group: &Group) -> Result<(), DomainError>;
    /// Deletes a group.
    async fn delete_group(&self, group: Uuid) -> Result<bool, DomainError>;
    /// Adds a user to a group (already in it: conflict).
    async fn add_group_member(&self, group: Uuid, user: UserId) -> Result<(), DomainError>;
    /// Removes a user from a group.
    async fn remove_group_member(&self, group: Uuid, user: UserId) -> Result<bool, DomainError>;
    /// The groups of the organization `user` is in.
    async fn groups_of(&self, id: OrganizationId, user: UserId) -> Result<Vec<Group>, DomainError>;
    /// The organization's custom roles, oldest first.
    async fn roles(&self, id: OrganizationId) -> Result<Vec<CustomRole>, DomainError>;
    /// A custom role by id, in any organization.
    async fn role(&self, role: Uuid) -> Result<Option<CustomRole>, DomainError>;
    /// Stores a new or changed custom role (a taken name is a conflict).
    async fn put_role(&self, role: &CustomRole) -> Result<(), DomainError>;
    /// Deletes a custom role no member holds; false when a member holds it.
    async fn delete_role_if_unused(&self, role: Uuid) -> Result<bool, DomainError>;
    /// Removes a member, and from the organization's groups, unless that leaves no owner;
    /// false when it would.
    async fn remove_member_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<bool, DomainError>;
    /// The organization's claimed domains, oldest first.
    async fn domains(&self, id: OrganizationId) -> Result<Vec<OrganizationDomain>, DomainError>;
    /// Stores a claim (the organization claiming it twice: conflict).
    async fn add_domain(&self, claim: &OrganizationDomain) -> Result<(), DomainError>;
    /// Marks a claim verified; a conflict when another organization verified the domain.
    async fn verify_domain(
        &self,
        claim: Uuid,
        domain: &str,
        at: DateTime<Utc>,
        method: &str,
    ) -> Result<(), DomainError>;
    /// Deletes a claim.
    async fn delete_domain(&self, claim: Uuid) -> Result<bool, DomainError>;
    /// The organization that verified `domain`, if one did.
    async fn verified_domain_owner(
        &self,
        domain: &str,
    ) -> Result<Option<Organization>, DomainError>;
}

/// An answer of the permission check, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
}

/// The organization use cases.
#[derive(Debug, Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationRepository>,
    users: Arc<dyn UserRepository>,
    kv: Arc<dyn KeyValueStore>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    invitations: Option<(crate::email::Outbox, String)>,
    dns: Option<Arc<dyn TxtLookup>>,
}

/// How long an invitation can be accepted.
const INVITATION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a member's resolved permissions are reused.
const PERMISSION_CACHE: Duration = Duration::from_secs(300);

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

fn check_name(name: &str) -> Result<String, DomainError> {
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

fn check_permissions(permissions: &[String]) -> Result<Vec<String>, DomainError> {
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

impl OrganizationService {
    /// A service over these adapters.
    pub fn new(
        organizations: Arc<dyn OrganizationRepository>,
        users: Arc<dyn UserRepository>,
        kv: Arc<dyn KeyValueStore>,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            organizations,
            users,
            kv,
            events,
            clock,
            invitations: None,
            dns: None,
        }
    }

    /// Mails invitations through `outbox`, with links on `issuer`, to addresses that have no
    /// account yet.
    pub fn with_invitations(mut self, outbox: crate::email::Outbox, issuer: &str) -> Self {
        self.invitations = Some((outbox, issuer.trim_end_matches('/').to_owned()));
        self
    }

    /// Mails an invitation to an address without an account.
    async fn invite(
        &self,
        caller: &Principal,
        id: OrganizationId,
        email: Email,
        role: String,
        context: &RequestContext,
    ) -> Result<Added, DomainError> {
        let (outbox, issuer) = self
            .invitations
            .as_ref()
            .ok_or(DomainError::NotFound("user"))?;
        let organization = self.get(id).await?;
        let token = crate::accounts::random_token();
        let now = self.clock.now();
        let expires_at = now + crate::accounts::chrono_duration(INVITATION_LIFETIME);
        self.organizations
            .create_invitation(&Invitation {
                hash: crate::accounts::hash_token(&token),
                organization_id: id,
                email: email.as_str().to_owned(),
                role,
                invited_by: caller.user.id,
                created_at: now,
                expires_at,
            })
            .await?;
        outbox
            .send(
                email.as_str(),
                &crate::email::Notice::Invitation {
                    organization: organization.name,
                    link: format!("{issuer}/invitations/accept?token={token}"),
                },
                now,
            )
            .await?;
        self.record(
            AuditEvent::new(AuditAction::MemberInvited, now, context)
                .by(caller.user.id)
                .on(id),
        )
        .await?;
        Ok(Added::Invited {
            email: email.as_str().to_owned(),
            expires_at,
        })
    }

    /// Accepts an invitation for the signed-in account it was sent to; for anyone else it is
    /// unknown.
    pub async fn accept_invitation(
        &self,
        user: &User,
        token: &str,
        context: &RequestContext,
    ) -> Result<Organization, DomainError> {
        // Sent to another address, the invitation stays usable by its addressee.
        let invitation = self
            .organizations
            .accept_invitation(
                &crate::accounts::hash_token(token.trim()),
                user.email.as_str(),
                self.clock.now(),
            )
            .await?
            .ok_or(DomainError::InvalidToken)?;
        let membership = Membership {
            organization_id: invitation.organization_id,
            user_id: user.id,
            role: invitation.role,
            created_at: self.clock.now(),
        };
        self.organizations.add_member(&membership).await?;
        self.changed(invitation.organization_id).await?;
        self.record(
            AuditEvent::new(AuditAction::MemberAdded, self.clock.now(), context)
                .by(user.id)
                .on(invitation.organization_id)
                .note(format!("invitation accepted; role={}", membership.role)),
        )
        .await?;
        self.get(invitation.organization_id).await
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.events.record(event).await
    }

    /// A role name valid in the organization: built in, or the id of one of its custom roles.
    async fn check_role(&self, id: OrganizationId, role: &str) -> Result<String, DomainError> {
        if built_in_permissions(role).is_some() {
            return Ok(role.to_owned());
        }
        if let Ok(custom) = Uuid::parse_str(role)
            && self
                .organizations
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
        let custom = self.organizations.roles(id).await?;
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
        self.organizations.put_role(&role).await?;
        Ok(role)
    }

    /// The organization a custom role belongs to.
    pub async fn role_organization(
        &self,
        role: Uuid,
    ) -> Result<Option<OrganizationId>, DomainError> {
        Ok(self
            .organizations
            .role(role)
            .await?
            .map(|found| found.organization_id))
    }

    async fn custom_role(&self, role: Uuid) -> Result<CustomRole, DomainError> {
        self.organizations
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
        self.organizations.put_role(&found).await?;
        self.changed(found.organization_id).await?;
        Ok(found)
    }

    /// Deletes a custom role no member holds.
    pub async fn delete_role(&self, role: Uuid) -> Result<(), DomainError> {
        let found = self.custom_role(role).await?;
        if !self.organizations.delete_role_if_unused(role).await? {
            return Err(DomainError::Conflict("member holding this role"));
        }
        self.changed(found.organization_id).await
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
            role: "owner".to_owned(),
            created_at: now,
        };
        self.organizations.create(&organization, &owner).await?;
        self.record(
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
    pub async fn get(&self, id: OrganizationId) -> Result<Organization, DomainError> {
        self.organizations
            .get(id)
            .await?
            .ok_or(DomainError::NotFound("organization"))
    }

    /// Renames it, changes its slug or policy.
    pub async fn update(
        &self,
        caller: &Principal,
        id: OrganizationId,
        patch: OrganizationPatch,
        context: &RequestContext,
    ) -> Result<Organization, DomainError> {
        let mut organization = self.get(id).await?;
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
        self.record(
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
        caller: &Principal,
        id: OrganizationId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if !self.organizations.delete(id).await? {
            return Err(DomainError::NotFound("organization"));
        }
        self.changed(id).await?;
        self.record(
            AuditEvent::new(AuditAction::OrganizationDeleted, self.clock.now(), context)
                .by(caller.user.id)
                .on(id),
        )
        .await
    }

    /// The members with their accounts.
    pub async fn members(&self, id: OrganizationId) -> Result<Vec<Member>, DomainError> {
        let mut members = Vec::new();
        for membership in self.organizations.memberships(id).await? {
            if let Some(user) = self.users.by_id(membership.user_id).await? {
                members.push(Member { membership, user });
            }
        }
        Ok(members)
    }

    /// Adds an account (by id or email) with a role; an address without an account gets an
    /// invitation by mail instead.
    pub async fn add_member(
        &self,
        caller: &Principal,
        id: OrganizationId,
        user: MemberRef,
        role: &str,
        context: &RequestContext,
    ) -> Result<Added, DomainError> {
        let role = self.check_role(id, role).await?;
        self.grantable(caller, id, &role).await?;
        let user = match user {
            MemberRef::Id(user_id) => self
                .users
                .by_id(user_id)
                .await?
                .ok_or(DomainError::NotFound("user"))?,
            MemberRef::Email(email) => {
                let email = Email::parse(&email)?;
                match self.users.by_email(&email).await? {
                    Some(user) => user,
                    None => return self.invite(caller, id, email, role, context).await,
                }
            }
        };
        let membership = Membership {
            organization_id: id,
            user_id: user.id,
            role,
            created_at: self.clock.now(),
        };
        self.organizations.add_member(&membership).await?;
        self.changed(id).await?;
        self.record(
            AuditEvent::new(AuditAction::MemberAdded, self.clock.now(), context)
                .by(caller.user.id)
                .on(id)
                .note(format!("user={} role={}", user.id, membership.role)),
        )
        .await?;
        Ok(Added::Member(Member { membership, user }))
    }

    /// Only an owner (or a platform admin) may hand out or take away the owner role.
    async fn grantable(
        &self,
        caller: &Principal,
        id: OrganizationId,
        role: &str,
    ) -> Result<(), DomainError> {
        if role != "owner" || caller.user.role.is_admin() {
            return Ok(());
        }
        let own = self.organizations.membership(id, caller.user.id).await?;
        if own.is_some_and(|membership| membership.role == "owner") {
            Ok(())
        } else {
            Err(DomainError::Forbidden(
                "only an owner can make or unmake owners",
            ))
        }
    }

    /// Changes a member's role; the organization always keeps an owner.
    pub async fn set_role(
        &self,
        caller: &Principal,
        id: OrganizationId,
        user: UserId,
        role: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let role = self.check_role(id, role).await?;
        let current = self
            .organizations
            .membership(id, user)
            .await?
            .ok_or(DomainError::NotFound("member"))?;
        self.grantable(caller, id, &role).await?;
        self.grantable(caller, id, &current.role).await?;
        if !self
            .organizations
            .set_role_keeping_an_owner(id, user, &role)
            .await?
        {
            return Err(DomainError::invalid(
                "role",
                "the organization must keep at least one owner",
            ));
        }
        self.changed(id).await?;
        self.record(
            AuditEvent::new(AuditAction::MemberRoleChanged, self.clock.now(), context)
                .by(caller.user.id)
                .on(id)
                .note(format!("user={user} role={role}")),
        )
        .await
    }

    /// Removes a member (a member leaving is removing themselves); the organization always
    /// keeps an owner.
    pub async fn remove_member(
        &self,
        caller: &Principal,
        id: OrganizationId,
        user: UserId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let current = self
            .organizations
            .membership(id, user)
            .await?
            .ok_or(DomainError::NotFound("member"))?;
        if user != caller.user.id {
            self.grantable(caller, id, &current.role).await?;
        }
        if !self
            .organizations
            .remove_member_keeping_an_owner(id, user)
            .await?
        {
            return Err(DomainError::invalid(
                "user_id",
                "the organization must keep at least one owner",
            ));
        }
        self.changed(id).await?;
        self.record(
            AuditEvent::new(AuditAction::MemberRemoved, self.clock.now(), context)
                .by(caller.user.id)
                .on(id)
                .note(format!("user={user}")),
        )
        .await
    }

    fn version_key(id: OrganizationId) -> String {
        format!("org-permissions-version:{id}")
    }

    /// Invalidates every cached permission set of the organization, on every replica.
    async fn changed(&self, id: OrganizationId) -> Result<(), DomainError> {
        self.kv
            .increment(
                &Self::version_key(id),
                1,
                Duration::from_secs(7 * 24 * 3600),
            )
            .await?;
        Ok(())
    }

    /// The permissions `user` holds in the organization (empty when not a member), cached.
    pub async fn permissions(
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
        let resolved = match self.organizations.membership(id, user).await? {
            None => None,
            Some(membership) => {
                let (role, mut permissions) = self.role_permissions(&membership.role).await?;
                // Members inherit the roles of their groups.
                for group in self.organizations.groups_of(id, user).await? {
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
            .map_err(|error| DomainError::Storage(format!("encoding permissions: {error}")))?;
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
            && let Some(found) = self.organizations.role(custom).await?
        {
            return Ok((found.name, found.permissions));
        }
        Ok((role.to_owned(), Vec::new()))
    }

    /// The organization's groups (`members:read`).
    pub async fn groups(&self, id: OrganizationId) -> Result<Vec<Group>, DomainError> {
        self.organizations.groups(id).await
    }

    /// Creates a group whose members inherit `roles` (`members:write`; only owners hand out
    /// the owner role).
    pub async fn create_group(
        &self,
        caller: &Principal,
        id: OrganizationId,
        name: &str,
        roles: &[String],
    ) -> Result<Group, DomainError> {
        let mut checked = Vec::new();
        for role in roles {
            let role = self.check_role(id, role).await?;
            self.grantable(caller, id, &role).await?;
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
        self.organizations.put_group(&group).await?;
        Ok(group)
    }

    /// A group of the organization, or `NotFound`.
    async fn group_in(&self, id: OrganizationId, group: Uuid) -> Result<Group, DomainError> {
        self.organizations
            .group(group)
            .await?
            .filter(|found| found.organization_id == id)
            .ok_or(DomainError::NotFound("group"))
    }

    /// Deletes a group; its members lose what it gave them at once (`members:write`).
    pub async fn delete_group(&self, id: OrganizationId, group: Uuid) -> Result<(), DomainError> {
        self.group_in(id, group).await?;
        self.organizations.delete_group(group).await?;
        self.changed(id).await
    }

    /// Puts a member of the organization into a group (`members:write`).
    pub async fn add_to_group(
        &self,
        caller: &Principal,
        id: OrganizationId,
        group: Uuid,
        user: UserId,
    ) -> Result<(), DomainError> {
        let found = self.group_in(id, group).await?;
        if self.organizations.membership(id, user).await?.is_none() {
            return Err(DomainError::NotFound("member"));
        }
        for role in &found.roles {
            self.grantable(caller, id, role).await?;
        }
        self.organizations.add_group_member(group, user).await?;
        self.changed(id).await
    }

    /// Takes a user out of a group (`members:write`).
    pub async fn remove_from_group(
        &self,
        id: OrganizationId,
        group: Uuid,
        user: UserId,
    ) -> Result<(), DomainError> {
        self.group_in(id, group).await?;
        if !self.organizations.remove_group_member(group, user).await? {
            return Err(DomainError::NotFound("group member"));
        }
        self.changed(id).await
    }

    /// Whether `caller` may do `permission` in the organization, and why. Callers who are not
    /// members learn only that the organization is not theirs.
    pub async fn check(
        &self,
        caller: &Principal,
        id: OrganizationId,
        permission: &str,
    ) -> Result<Decision, DomainError> {
        if !PERMISSIONS.contains(&permission) {
            return Err(DomainError::invalid(
                "permission",
                format!("unknown; one of {}", PERMISSIONS.join(", ")),
            ));
        }
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
            Some((role, permissions)) if permissions.iter().any(|p| p == permission) => Decision {
                allowed: true,
                reason: format!("role {role} grants {permission}"),
            },
            Some((role, _)) => Decision {
                allowed: false,
                reason: format!("role {role} does not grant {permission}"),
            },
        })
    }

    /// Requires membership (any role); a non-member gets `NotFound`.
    pub async fn require_member(
        &self,
        caller: &Principal,
        id: OrganizationId,
    ) -> Result<(), DomainError> {
        if caller.user.role.is_admin() || self.permissions(id, caller.user.id).await?.is_some() {
            return Ok(());
        }
        Err(DomainError::NotFound("organization"))
    }

    /// Requires `permission`; a non-member gets `NotFound`, so other tenants' organizations
    /// stay invisible, a member without it `Forbidden`.
    pub async fn require(
        &self,
        caller: &Principal,
        id: OrganizationId,
        permission: &'static str,
    ) -> Result<(), DomainError> {
        if caller.user.role.is_admin() {
            return Ok(());
        }
        match self.permissions(id, caller.user.id).await? {
            None => Err(DomainError::NotFound("organization")),
            Some((_, held)) if held.iter().any(|p| p == permission) => Ok(()),
            Some(_) => Err(DomainError::Forbidden(permission)),
        }
    }
}

#[async_trait::async_trait]
impl crate::OrganizationDirectory for OrganizationService {
    async fn resolve(&self, reference: &str) -> Result<Option<OrganizationId>, DomainError> {
        let found = match Uuid::parse_str(reference) {
            Ok(id) => self.organizations.get(OrganizationId(id)).await?,
            Err(_) => {
                self.organizations
                    .by_slug(&reference.to_ascii_lowercase())
                    .await?
            }
        };
        Ok(found.map(|organization| organization.id))
    }

    async fn claims(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<crate::OrgClaims>, DomainError> {
        let Some((role, permissions)) = self.permissions(organization, user).await? else {
            return Ok(None);
        };
        let Some(found) = self.organizations.get(organization).await? else {
            return Ok(None);
        };
        Ok(Some(crate::OrgClaims {
            id: found.id.to_string(),
            slug: found.slug,
            roles: vec![role],
            permissions,
            mfa_required: found.policy.mfa_required,
            allowed_sign_in_methods: found.policy.allowed_sign_in_methods,
            session_lifetime_hours: found.policy.session_lifetime_hours,
        }))
    }

    async fn join_by_domain(
        &self,
        user: &User,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        OrganizationService::join_by_domain(self, user, context).await
    }

    async fn of_user(&self, user: UserId) -> Result<Vec<crate::OrgChoice>, DomainError> {
        let mut choices: Vec<crate::OrgChoice> = self
            .organizations
            .memberships_of(user)
            .await?
            .into_iter()
            .map(|(organization, _)| crate::OrgChoice {
                id: organization.id,
                slug: organization.slug,
                name: organization.name,
            })
            .collect();
        choices.sort_by_key(|choice| choice.name.to_lowercase());
        Ok(choices)
    }
}

/// Who to add: an account id or an email address.
#[derive(Debug, Clone)]
pub enum MemberRef {
    /// By id.
    Id(UserId),
    /// By email.
    Email(String),
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

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug_from("Acme Corp, Inc."), "acme-corp-inc");
        assert!(check_slug("acme-corp").is_ok());
        assert!(check_slug("-acme").is_err());
        assert!(check_slug("a").is_err());
        assert!(check_slug("acme_corp").is_err());
    }
}
