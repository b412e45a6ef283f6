//! From a verified federated identity to an account: the linked account first; else the
//! account with the asserted email, only when the source vouches for that address; else a new
//! account without a password (just-in-time provisioning). Then membership in the source's
//! organization, with the role its groups map to.
//!
//! An address counts as vouched for when the connection's organization verified its domain
//! (the organization owns those addresses), or when the connection trusts its IdP's addresses
//! (`trust_email`, for IdPs that only assert addresses they verified) and the IdP claims it
//! verified this one. Anything else could let one organization's IdP take over an account
//! that belongs to someone else.

use std::sync::Arc;

use uuid::Uuid;

use super::identity::FederatedIdentity;
use super::links::{FederatedIdentityStore, FederatedLink};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::org::{
    BuiltInRole, DomainStore, Membership, MembershipStore, OrganizationAccess, OrganizationId,
};
use crate::session::RequestContext;
use crate::signin::AuthMethod;
use crate::user::{Email, PlatformRole, User, UserRepository};
use crate::{Clock, DomainError};

use super::connection::RoleMapping;

/// Where an identity came from, and what that source is trusted with.
#[derive(Debug, Clone)]
pub struct FederationSource {
    /// The SAML connection or upstream provider.
    pub provider_id: Uuid,
    /// The `amr` value of a sign-in through it (`saml`, `fed`).
    pub method: AuthMethod,
    /// The organization its users join, if any.
    pub organization: Option<OrganizationId>,
    /// Whether every address it claims verified counts as verified.
    pub trust_email: bool,
    /// Groups to roles in `organization`.
    pub roles: RoleMapping,
}

/// How the account was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Through an existing link.
    Linked,
    /// An existing account with the vouched-for address, now linked.
    LinkedByEmail,
    /// A new account, made now and linked.
    Provisioned,
}

/// The account an identity signs in as.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The account.
    pub user: User,
    /// How it was found.
    pub how: Resolution,
}

/// The adapters the federation service works through.
#[derive(Debug, Clone)]
pub struct FederationPorts {
    /// Linked identities.
    pub links: Arc<dyn FederatedIdentityStore>,
    /// Accounts.
    pub users: Arc<dyn UserRepository>,
    /// Verified domains.
    pub domains: Arc<dyn DomainStore>,
    /// Memberships.
    pub memberships: Arc<dyn MembershipStore>,
    /// Role checks and the permission cache.
    pub access: OrganizationAccess,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Turns federated identities into accounts and memberships.
#[derive(Debug, Clone)]
pub struct FederationService {
    ports: FederationPorts,
}

/// What a sign-in does to the membership in the source's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MembershipChange {
    /// Join with this role.
    Join(String),
    /// Change the existing role to this one.
    Change(String),
    /// Leave it as it is.
    Keep,
}

/// The membership change for a user holding `current` whom the groups map to `mapped`: a
/// newcomer joins (with `default_role` when no rule matched); a member's role follows the
/// mapping on every sign-in, except an owner's, which only the organization changes.
fn membership_change(
    current: Option<&str>,
    mapped: Option<&str>,
    default_role: &str,
) -> MembershipChange {
    match (current, mapped) {
        (None, Some(role)) => MembershipChange::Join(role.to_owned()),
        (None, None) => MembershipChange::Join(default_role.to_owned()),
        (Some(current), Some(role))
            if current != role && current != BuiltInRole::Owner.as_str() =>
        {
            MembershipChange::Change(role.to_owned())
        }
        (Some(_), _) => MembershipChange::Keep,
    }
}

/// Whether an address is vouched for (see the module's documentation).
fn vouched(
    source: &FederationSource,
    claimed_verified: bool,
    domain_owner: Option<OrganizationId>,
) -> bool {
    let organization_owns_domain =
        source.organization.is_some() && domain_owner == source.organization;
    organization_owns_domain || (source.trust_email && claimed_verified)
}

impl FederationService {
    /// A service over `ports`.
    pub fn new(ports: FederationPorts) -> Self {
        Self { ports }
    }

    /// The account `identity` from `source` signs in as, linked, provisioned or refused, and
    /// its membership in the source's organization brought up to date.
    pub async fn resolve(
        &self,
        source: &FederationSource,
        identity: &FederatedIdentity,
        context: &RequestContext,
    ) -> Result<Resolved, DomainError> {
        if identity.issuer.trim().is_empty() || identity.subject.trim().is_empty() {
            return Err(DomainError::invalid(
                "subject",
                "the identity provider named no subject",
            ));
        }
        let now = self.ports.clock.now();
        let found = self
            .ports
            .links
            .find(source.provider_id, &identity.issuer, &identity.subject)
            .await?;
        let resolved = match found {
            Some(link) => {
                let user = self
                    .ports
                    .users
                    .by_id(link.user_id)
                    .await?
                    .ok_or(DomainError::NotFound("user"))?;
                self.ports.links.touch(link.id, now).await?;
                Resolved {
                    user,
                    how: Resolution::Linked,
                }
            }
            None => self.first_sign_in(source, identity, context).await?,
        };
        if let Some(organization) = source.organization {
            self.join(
                organization,
                &resolved.user,
                source,
                &identity.groups,
                context,
            )
            .await?;
        }
        Ok(resolved)
    }

    /// Links the identity to the account with its address, or to a new account.
    async fn first_sign_in(
        &self,
        source: &FederationSource,
        identity: &FederatedIdentity,
        context: &RequestContext,
    ) -> Result<Resolved, DomainError> {
        let email = identity.email.as_deref().ok_or_else(|| {
            DomainError::invalid("email", "the identity provider sent no email address")
        })?;
        let email = Email::parse(email)?;
        let domain_owner = match email.as_str().rsplit_once('@') {
            Some((_, domain)) => self
                .ports
                .domains
                .verified_domain_owner(domain)
                .await?
                .map(|organization| organization.id),
            None => None,
        };
        let verified = vouched(source, identity.email_verified, domain_owner);
        let now = self.ports.clock.now();
        let (user, how) = match self.ports.users.by_email(&email).await? {
            Some(mut user) => {
                if !verified {
                    return Err(DomainError::Forbidden(
                        "an account with this email exists; it can be linked only when the identity provider's address is verified",
                    ));
                }
                if !user.email_verified {
                    user.email_verified = true;
                    user.updated_at = now;
                    self.ports.users.update(&user).await?;
                }
                (user, Resolution::LinkedByEmail)
            }
            None => {
                let user = User {
                    id: crate::user::UserId::new(),
                    email,
                    first_name: identity.given_name.clone(),
                    last_name: identity.family_name.clone(),
                    email_verified: verified,
                    role: PlatformRole::User,
                    password_hash: None,
                    created_at: now,
                    updated_at: now,
                };
                self.ports.users.create(&user).await?;
                self.ports
                    .events
                    .record(
                        AuditEvent::new(AuditAction::Signup, now, context)
                            .by(user.id)
                            .on(user.id)
                            .note(format!(
                                "by={} provider={}",
                                source.method.as_str(),
                                source.provider_id
                            )),
                    )
                    .await?;
                (user, Resolution::Provisioned)
            }
        };
        let link = FederatedLink {
            id: Uuid::now_v7(),
            user_id: user.id,
            provider_id: source.provider_id,
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            created_at: now,
            last_used_at: now,
        };
        self.ports.links.link(&link).await?;
        self.ports
            .events
            .record(
                AuditEvent::new(AuditAction::IdentityLinked, now, context)
                    .by(user.id)
                    .on(user.id)
                    .note(format!("provider={} how={how:?}", source.provider_id)),
            )
            .await?;
        Ok(Resolved { user, how })
    }

    /// Adds the user to the organization, or brings their role in line with the mapping.
    async fn join(
        &self,
        organization: OrganizationId,
        user: &User,
        source: &FederationSource,
        groups: &[String],
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let access = &self.ports.access;
        // A rule naming a role the organization no longer has is skipped, not fatal.
        let mapped = match source.roles.mapped_role(groups) {
            Some(role) => access.check_role(organization, role).await.ok(),
            None => None,
        };
        let current = self
            .ports
            .memberships
            .membership(organization, user.id)
            .await?;
        let change = membership_change(
            current.as_ref().map(|m| m.role.as_str()),
            mapped.as_deref(),
            &source.roles.default_role,
        );
        let now = self.ports.clock.now();
        let (action, role) = match change {
            MembershipChange::Keep => return Ok(()),
            MembershipChange::Join(role) => {
                let role = access.check_role(organization, &role).await?;
                let membership = Membership {
                    organization_id: organization,
                    user_id: user.id,
                    role: role.clone(),
                    created_at: now,
                };
                match self.ports.memberships.add_member(&membership).await {
                    // Two sign-ins at once: the other one added it.
                    Err(DomainError::Conflict(_)) => return Ok(()),
                    other => other?,
                }
                (AuditAction::MemberAdded, role)
            }
            MembershipChange::Change(role) => {
                let changed = self
                    .ports
                    .memberships
                    .set_role_keeping_an_owner(organization, user.id, &role)
                    .await?;
                if !changed {
                    return Ok(());
                }
                (AuditAction::MemberRoleChanged, role)
            }
        };
        access.changed(organization).await?;
        self.ports
            .events
            .record(
                AuditEvent::new(action, now, context)
                    .by(user.id)
                    .on(organization)
                    .note(format!(
                        "user={} role={role} by={} provider={}",
                        user.id,
                        source.method.as_str(),
                        source.provider_id
                    )),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(organization: Option<OrganizationId>, trust_email: bool) -> FederationSource {
        FederationSource {
            provider_id: Uuid::nil(),
            method: AuthMethod::Saml,
            organization,
            trust_email,
            roles: RoleMapping::default(),
        }
    }

    #[test]
    fn an_address_is_vouched_for_by_its_verified_domain_or_a_trusted_idp() {
        let ours = OrganizationId::new();
        let theirs = OrganizationId::new();
        assert!(vouched(&source(Some(ours), false), false, Some(ours)));
        assert!(!vouched(&source(Some(ours), false), true, Some(theirs)));
        assert!(!vouched(&source(Some(ours), false), true, None));
        assert!(vouched(&source(Some(ours), true), true, None));
        assert!(!vouched(&source(Some(ours), true), false, None));
        assert!(!vouched(&source(None, false), true, None));
    }

    #[test]
    fn roles_follow_the_mapping_but_owners_stay() {
        use MembershipChange::{Change, Join, Keep};
        assert_eq!(
            membership_change(None, None, "member"),
            Join("member".into())
        );
        assert_eq!(
            membership_change(None, Some("admin"), "member"),
            Join("admin".into())
        );
        assert_eq!(
            membership_change(Some("member"), Some("admin"), "member"),
            Change("admin".into())
        );
        assert_eq!(
            membership_change(Some("admin"), Some("admin"), "member"),
            Keep
        );
        assert_eq!(membership_change(Some("admin"), None, "viewer"), Keep);
        assert_eq!(
            membership_change(Some("owner"), Some("viewer"), "member"),
            Keep
        );
    }
}
