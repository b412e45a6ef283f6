//! Invitations: an address without an account is invited by mail and joins on acceptance.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Added, Invitation, InvitationStore, Membership, MembershipStore, Organization,
    OrganizationAccess, OrganizationId, OrganizationPorts, OrganizationService,
};
use crate::accounts::Principal;
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::email::Outbox;
use crate::sensitive::OneTimeCode;
use crate::session::RequestContext;
use crate::user::Email;
use crate::{Clock, DomainError, RandomSource, User};

/// How long an invitation can be accepted.
const INVITATION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Invitations to join organizations.
#[derive(Debug, Clone)]
pub struct InvitationService {
    invitations: Arc<dyn InvitationStore>,
    memberships: Arc<dyn MembershipStore>,
    organizations: OrganizationService,
    access: OrganizationAccess,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    mail: Option<(Outbox, String)>,
}

impl InvitationService {
    pub(super) fn new(
        ports: &OrganizationPorts,
        organizations: OrganizationService,
        access: OrganizationAccess,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        mail: Option<(Outbox, String)>,
    ) -> Self {
        Self {
            invitations: ports.invitations.clone(),
            memberships: ports.memberships.clone(),
            organizations,
            access,
            events,
            clock,
            random,
            mail: mail.map(|(outbox, issuer)| (outbox, issuer.trim_end_matches('/').to_owned())),
        }
    }

    /// Mails an invitation to an address without an account.
    pub(super) async fn invite(
        &self,
        caller: &Principal,
        id: OrganizationId,
        email: Email,
        role: String,
        context: &RequestContext,
    ) -> Result<Added, DomainError> {
        let (outbox, issuer) = self.mail.as_ref().ok_or(DomainError::NotFound("user"))?;
        let organization = self.organizations.organization(id).await?;
        let token = self.random.token();
        let now = self.clock.now();
        let expires_at = now + crate::secret::chrono_duration(INVITATION_LIFETIME);
        self.invitations
            .create_invitation(&Invitation {
                hash: crate::secret::hash_token(&token),
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
        self.events
            .record(
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
    pub async fn accept(
        &self,
        user: &User,
        token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<Organization, DomainError> {
        // Sent to another address, the invitation stays usable by its addressee.
        let invitation = self
            .invitations
            .accept_invitation(
                &crate::secret::hash_token(token.expose().trim()),
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
        self.memberships.add_member(&membership).await?;
        self.access.changed(invitation.organization_id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::MemberAdded, self.clock.now(), context)
                    .by(user.id)
                    .on(invitation.organization_id)
                    .note(format!("invitation accepted; role={}", membership.role)),
            )
            .await?;
        self.organizations
            .organization(invitation.organization_id)
            .await
    }
}
