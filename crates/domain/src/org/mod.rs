//! Organizations: tenants sharing one user pool. Each has members with roles; a role is a set
//! of `resource:action` permissions; what a member may do is the union of their role's
//! permissions, cached in the key-value store and invalidated on every change. Platform
//! administrators stand above every organization. A use case inside one organization takes an
//! [`Authorized`] proof that only the permission check ([`OrganizationAccess::authorize`])
//! builds.

use std::sync::Arc;

use crate::audit::EventSink;
use crate::email::Outbox;
use crate::user::UserRepository;
use crate::{Clock, KeyValueStore, RandomSource};

mod access;
mod directory;
mod domains;
mod groups;
mod invitations;
mod members;
mod model;
mod permissions;
mod ports;
mod roles;
mod service;

pub use access::{Authorized, OrganizationAccess};
pub use directory::MembershipDirectory;
pub use domains::{
    DomainService, OrganizationDomain, TxtLookup, VERIFICATION_LABEL, Verification, check_domain,
};
pub use groups::GroupService;
pub use invitations::InvitationService;
pub use members::MemberService;
pub use model::{
    Added, CustomRole, Decision, Group, Invitation, Member, MemberRef, Membership, Organization,
    OrganizationId, OrganizationPage, OrganizationPatch, OrganizationPolicy, RoleView,
};
pub use permissions::{
    AnyMember, BUILT_IN_ROLES, BuiltInRole, MembersRead, MembersWrite, OrgManage, OrgRead,
    PERMISSIONS, Permission, Requirement, RolesRead, RolesWrite, SsoManage, UnknownName,
    built_in_permissions,
};
pub use ports::{
    DomainStore, GroupStore, InvitationStore, MembershipStore, OrganizationPorts,
    OrganizationStore, RoleStore,
};
pub use roles::RoleService;
pub(crate) use service::check_label;
pub use service::{OrganizationService, slug_from};

/// What the organization services are built on.
#[derive(Debug, Clone)]
pub struct OrganizationWiring {
    /// Storage, one port per capability.
    pub ports: OrganizationPorts,
    /// Accounts, for adding members by id or address.
    pub users: Arc<dyn UserRepository>,
    /// Where resolved permissions are cached, shared by replicas.
    pub kv: Arc<dyn KeyValueStore>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Invitation tokens and domain-verification values.
    pub random: Arc<dyn RandomSource>,
    /// Mails invitations, with links on the issuer, to addresses that have no account yet;
    /// without it such an address is an unknown user.
    pub invitation_mail: Option<(Outbox, String)>,
    /// Verifies domain claims by DNS; without it only platform operators verify.
    pub dns: Option<Arc<dyn TxtLookup>>,
}

/// The organization use cases, one service per purpose, each holding only the ports it uses
/// and built in dependency order: the permission check first, then what uses it.
#[derive(Debug, Clone)]
pub struct OrganizationServices {
    /// The permission check that makes [`Authorized`] proofs.
    pub access: OrganizationAccess,
    /// Organizations themselves.
    pub organizations: OrganizationService,
    /// Memberships.
    pub members: MemberService,
    /// Built-in and custom roles.
    pub roles: RoleService,
    /// Groups.
    pub groups: GroupService,
    /// Invitations by mail.
    pub invitations: InvitationService,
    /// Claimed email domains.
    pub domains: DomainService,
    /// What sessions and tokens learn of a user's organizations.
    pub directory: Arc<MembershipDirectory>,
}

impl OrganizationServices {
    /// Every organization service over `wiring`.
    pub fn new(wiring: OrganizationWiring) -> Self {
        let OrganizationWiring {
            ports,
            users,
            kv,
            events,
            clock,
            random,
            invitation_mail,
            dns,
        } = wiring;
        let access = OrganizationAccess::new(&ports, kv);
        let organizations = OrganizationService::new(
            ports.organizations.clone(),
            access.clone(),
            events.clone(),
            clock.clone(),
        );
        let invitations = InvitationService::new(
            &ports,
            organizations.clone(),
            access.clone(),
            events.clone(),
            clock.clone(),
            random.clone(),
            invitation_mail,
        );
        let members = MemberService::new(
            ports.memberships.clone(),
            users,
            access.clone(),
            invitations.clone(),
            events.clone(),
            clock.clone(),
        );
        let roles = RoleService::new(ports.roles.clone(), access.clone(), clock.clone());
        let groups = GroupService::new(
            ports.groups.clone(),
            ports.memberships.clone(),
            access.clone(),
            clock.clone(),
        );
        let domains = DomainService::new(&ports, access.clone(), events, clock, random, dns);
        let directory = Arc::new(MembershipDirectory::new(
            &ports,
            access.clone(),
            domains.clone(),
        ));
        Self {
            access,
            organizations,
            members,
            roles,
            groups,
            invitations,
            domains,
            directory,
        }
    }
}
