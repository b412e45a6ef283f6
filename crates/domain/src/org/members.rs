//! Memberships: who belongs to an organization and in which role, with the rule that only
//! owners hand out or take away the owner role and that an organization keeps an owner.

use std::sync::Arc;

use super::{
    Added, AnyMember, Authorized, InvitationService, Member, MemberRef, MembersRead, MembersWrite,
    Membership, MembershipStore, OrganizationAccess, OrganizationId,
};
use crate::accounts::Principal;
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::session::RequestContext;
use crate::user::{Email, UserId, UserRepository};
use crate::{Clock, DomainError};

/// Memberships of organizations.
#[derive(Debug, Clone)]
pub struct MemberService {
    memberships: Arc<dyn MembershipStore>,
    users: Arc<dyn UserRepository>,
    access: OrganizationAccess,
    invitations: InvitationService,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl MemberService {
    pub(super) fn new(
        memberships: Arc<dyn MembershipStore>,
        users: Arc<dyn UserRepository>,
        access: OrganizationAccess,
        invitations: InvitationService,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            memberships,
            users,
            access,
            invitations,
            events,
            clock,
        }
    }

    /// The members with their accounts.
    pub async fn list(&self, scope: &Authorized<MembersRead>) -> Result<Vec<Member>, DomainError> {
        let id = scope.organization();
        let mut members = Vec::new();
        for membership in self.memberships.memberships(id).await? {
            if let Some(user) = self.users.by_id(membership.user_id).await? {
                members.push(Member { membership, user });
            }
        }
        Ok(members)
    }

    /// Adds an account (by id or email) with a role; an address without an account gets an
    /// invitation by mail instead.
    pub async fn add(
        &self,
        scope: &Authorized<MembersWrite>,
        user: MemberRef,
        role: &str,
        context: &RequestContext,
    ) -> Result<Added, DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let role = self.access.check_role(id, role).await?;
        self.access.grantable(caller, id, &role).await?;
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
                    None => {
                        return self
                            .invitations
                            .invite(caller, id, email, role, context)
                            .await;
                    }
                }
            }
        };
        let membership = Membership {
            organization_id: id,
            user_id: user.id,
            role,
            created_at: self.clock.now(),
        };
        self.memberships.add_member(&membership).await?;
        self.access.changed(id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::MemberAdded, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("user={} role={}", user.id, membership.role)),
            )
            .await?;
        Ok(Added::Member(Member { membership, user }))
    }

    /// Changes a member's role; the organization always keeps an owner.
    pub async fn set_role(
        &self,
        scope: &Authorized<MembersWrite>,
        user: UserId,
        role: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let role = self.access.check_role(id, role).await?;
        let current = self
            .memberships
            .membership(id, user)
            .await?
            .ok_or(DomainError::NotFound("member"))?;
        self.access.grantable(caller, id, &role).await?;
        self.access.grantable(caller, id, &current.role).await?;
        if !self
            .memberships
            .set_role_keeping_an_owner(id, user, &role)
            .await?
        {
            return Err(DomainError::invalid(
                "role",
                "the organization must keep at least one owner",
            ));
        }
        self.access.changed(id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::MemberRoleChanged, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("user={user} role={role}")),
            )
            .await
    }

    /// Removes a member; the organization always keeps an owner.
    pub async fn remove(
        &self,
        scope: &Authorized<MembersWrite>,
        user: UserId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.remove_by(scope.principal(), scope.organization(), user, context)
            .await
    }

    /// The caller leaves the organization; the last owner cannot.
    pub async fn leave(
        &self,
        scope: &Authorized<AnyMember>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let caller = scope.principal();
        self.remove_by(caller, scope.organization(), caller.user.id, context)
            .await
    }

    /// Removes a membership (a member leaving is removing themselves, which needs no right to
    /// their role); the organization always keeps an owner.
    async fn remove_by(
        &self,
        caller: &Principal,
        id: OrganizationId,
        user: UserId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let current = self
            .memberships
            .membership(id, user)
            .await?
            .ok_or(DomainError::NotFound("member"))?;
        if user != caller.user.id {
            self.access.grantable(caller, id, &current.role).await?;
        }
        if !self
            .memberships
            .remove_member_keeping_an_owner(id, user)
            .await?
        {
            return Err(DomainError::invalid(
                "user_id",
                "the organization must keep at least one owner",
            ));
        }
        self.access.changed(id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::MemberRemoved, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("user={user}")),
            )
            .await
    }
}
