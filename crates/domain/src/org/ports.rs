//! The storage ports of organizations, one per capability (organizations, memberships, roles,
//! groups, invitations, domains), so each part of the service names only what it touches.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CustomRole, Group, Invitation, Membership, Organization, OrganizationDomain, OrganizationId,
    OrganizationPage,
};
use crate::DomainError;
use crate::user::UserId;

/// Storage of organizations themselves.
#[async_trait::async_trait]
pub trait OrganizationStore: Send + Sync + std::fmt::Debug {
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
}

/// Storage of memberships: who belongs to which organization, in which role.
#[async_trait::async_trait]
pub trait MembershipStore: Send + Sync + std::fmt::Debug {
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
    /// Removes a member, and from the organization's groups, unless that leaves no owner;
    /// false when it would.
    async fn remove_member_keeping_an_owner(
        &self,
        id: OrganizationId,
        user: UserId,
    ) -> Result<bool, DomainError>;
}

/// Storage of the custom roles organizations define.
#[async_trait::async_trait]
pub trait RoleStore: Send + Sync + std::fmt::Debug {
    /// The organization's custom roles, oldest first.
    async fn roles(&self, id: OrganizationId) -> Result<Vec<CustomRole>, DomainError>;
    /// A custom role by id, in any organization.
    async fn role(&self, role: Uuid) -> Result<Option<CustomRole>, DomainError>;
    /// Stores a new or changed custom role (a taken name is a conflict).
    async fn put_role(&self, role: &CustomRole) -> Result<(), DomainError>;
    /// Deletes a custom role no member holds; false when a member holds it.
    async fn delete_role_if_unused(&self, role: Uuid) -> Result<bool, DomainError>;
}

/// Storage of groups and their members.
#[async_trait::async_trait]
pub trait GroupStore: Send + Sync + std::fmt::Debug {
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
}

/// Storage of invitations, by the hash of their token.
#[async_trait::async_trait]
pub trait InvitationStore: Send + Sync + std::fmt::Debug {
    /// Stores an invitation.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), DomainError>;
    /// Uses the live, unaccepted invitation with this hash sent to `email`, atomically.
    async fn accept_invitation(
        &self,
        hash: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, DomainError>;
}

/// Storage of the email domains organizations claim.
#[async_trait::async_trait]
pub trait DomainStore: Send + Sync + std::fmt::Debug {
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

/// The storage the [`OrganizationServices`](super::OrganizationServices) work on, one port per
/// capability.
#[derive(Debug, Clone)]
pub struct OrganizationPorts {
    /// Organizations themselves.
    pub organizations: Arc<dyn OrganizationStore>,
    /// Memberships.
    pub memberships: Arc<dyn MembershipStore>,
    /// Custom roles.
    pub roles: Arc<dyn RoleStore>,
    /// Groups.
    pub groups: Arc<dyn GroupStore>,
    /// Invitations.
    pub invitations: Arc<dyn InvitationStore>,
    /// Claimed domains.
    pub domains: Arc<dyn DomainStore>,
}

impl OrganizationPorts {
    /// Every port on one adapter that implements them all.
    pub fn on<S>(store: Arc<S>) -> Self
    where
        S: OrganizationStore
            + MembershipStore
            + RoleStore
            + GroupStore
            + InvitationStore
            + DomainStore
            + 'static,
    {
        Self {
            organizations: store.clone(),
            memberships: store.clone(),
            roles: store.clone(),
            groups: store.clone(),
            invitations: store.clone(),
            domains: store,
        }
    }
}
