//! Organizations: tenants sharing one user pool. Each has members with roles; a role is a set
//! of `resource:action` permissions; what a member may do is the union of their role's
//! permissions, cached in the key-value store and invalidated on every change. Platform
//! administrators stand above every organization. A use case inside one organization takes an
//! [`Authorized`] proof that only the permission check ([`OrganizationService::authorize`])
//! builds.

use std::sync::Arc;

use crate::audit::{AuditEvent, EventSink};
use crate::user::UserRepository;
use crate::{Clock, DomainError, KeyValueStore, RandomSource};

mod access;
mod domains;
mod groups;
mod invitations;
mod members;
mod model;
mod permissions;
mod ports;
mod roles;
mod service;

pub use access::Authorized;
pub use domains::{OrganizationDomain, TxtLookup, VERIFICATION_LABEL, Verification, check_domain};
pub use model::{
    Added, CustomRole, Decision, Group, Invitation, Member, MemberRef, Membership, Organization,
    OrganizationId, OrganizationPage, OrganizationPatch, OrganizationPolicy, RoleView,
};
pub use permissions::{
    AnyMember, BUILT_IN_ROLES, BuiltInRole, MembersRead, MembersWrite, OrgManage, OrgRead,
    PERMISSIONS, Permission, Requirement, RolesRead, RolesWrite, UnknownName, built_in_permissions,
};
pub use ports::{
    DomainStore, GroupStore, InvitationStore, MembershipStore, OrganizationPorts,
    OrganizationStore, RoleStore,
};
pub(crate) use service::check_label;
pub use service::slug_from;

/// The organization use cases. Each file of this module holds the methods of one purpose and
/// uses only the ports that purpose needs.
#[derive(Debug, Clone)]
pub struct OrganizationService {
    organizations: Arc<dyn OrganizationStore>,
    memberships: Arc<dyn MembershipStore>,
    roles: Arc<dyn RoleStore>,
    groups: Arc<dyn GroupStore>,
    invitations: Arc<dyn InvitationStore>,
    domains: Arc<dyn DomainStore>,
    users: Arc<dyn UserRepository>,
    kv: Arc<dyn KeyValueStore>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    invitation_mail: Option<(crate::email::Outbox, String)>,
    dns: Option<Arc<dyn TxtLookup>>,
}

impl OrganizationService {
    /// A service over these adapters.
    pub fn new(
        ports: OrganizationPorts,
        users: Arc<dyn UserRepository>,
        kv: Arc<dyn KeyValueStore>,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self {
            organizations: ports.organizations,
            memberships: ports.memberships,
            roles: ports.roles,
            groups: ports.groups,
            invitations: ports.invitations,
            domains: ports.domains,
            users,
            kv,
            events,
            clock,
            random,
            invitation_mail: None,
            dns: None,
        }
    }

    /// Mails invitations through `outbox`, with links on `issuer`, to addresses that have no
    /// account yet.
    pub fn with_invitations(mut self, outbox: crate::email::Outbox, issuer: &str) -> Self {
        self.invitation_mail = Some((outbox, issuer.trim_end_matches('/').to_owned()));
        self
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.events.record(event).await
    }
}
