//! Email domains an organization claims. A claim is verified by a DNS TXT record the
//! organization publishes (when the platform allows DNS checks) or by a platform operator; a
//! verified domain belongs to one organization only. With the organization's
//! `auto_join_verified_domains` policy, users whose verified address is at such a domain join
//! it as members when they sign in.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Authorized, BuiltInRole, DomainStore, Membership, MembershipStore, OrgManage, OrgRead,
    OrganizationAccess, OrganizationId, OrganizationPorts,
};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::session::RequestContext;
use crate::{Clock, DomainError, RandomSource, User};

/// The label under the domain where the verification record is published.
pub const VERIFICATION_LABEL: &str = "_castellan-verification";

/// A DNS domain an organization claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationDomain {
    /// Id.
    pub id: Uuid,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// The value the TXT record must carry after `castellan-verification=`.
    pub token: String,
    /// When it was verified.
    pub verified_at: Option<DateTime<Utc>>,
    /// How: `dns` or `operator`.
    pub verified_by: Option<String>,
    /// When it was claimed.
    pub created_at: DateTime<Utc>,
}

impl OrganizationDomain {
    /// The DNS name of the TXT record that proves the claim.
    pub fn record_name(&self) -> String {
        format!("{VERIFICATION_LABEL}.{}", self.domain)
    }

    /// The TXT record's expected content.
    pub fn record_value(&self) -> String {
        format!("castellan-verification={}", self.token)
    }
}

/// Reads DNS TXT records.
#[async_trait::async_trait]
pub trait TxtLookup: Send + Sync + std::fmt::Debug {
    /// The TXT strings published at `name` (each record's character strings joined); empty
    /// when there are none. `Err` only when DNS could not be asked.
    async fn txt(&self, name: &str) -> Result<Vec<String>, DomainError>;
}

/// How a claim is to be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Look up the TXT record.
    Dns,
    /// A platform operator vouches for it.
    Operator,
}

impl Verification {
    /// `dns` or `operator`, as stored and as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Operator => "operator",
        }
    }

    /// The method an API request names; `None` names DNS.
    pub fn parse(method: Option<&str>) -> Result<Self, DomainError> {
        match method {
            None | Some("dns") => Ok(Self::Dns),
            Some("operator") => Ok(Self::Operator),
            Some(_) => Err(DomainError::invalid("method", "method is dns or operator")),
        }
    }
}

/// A domain name as claimed: lower case, without a trailing dot, at least two labels of
/// letters, digits and inner hyphens, not an IP address.
pub fn check_domain(domain: &str) -> Result<String, DomainError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| label_ok(label))
        && labels
            .last()
            .is_some_and(|top| top.bytes().any(|byte| byte.is_ascii_alphabetic()));
    if !valid {
        return Err(DomainError::invalid(
            "domain",
            "a domain name such as example.com (letters, digits and hyphens; no IP address)",
        ));
    }
    Ok(domain)
}

/// The email domains organizations claim, and joining by them.
#[derive(Debug, Clone)]
pub struct DomainService {
    domains: Arc<dyn DomainStore>,
    memberships: Arc<dyn MembershipStore>,
    access: OrganizationAccess,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    dns: Option<Arc<dyn TxtLookup>>,
}

impl DomainService {
    pub(super) fn new(
        ports: &OrganizationPorts,
        access: OrganizationAccess,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        dns: Option<Arc<dyn TxtLookup>>,
    ) -> Self {
        Self {
            domains: ports.domains.clone(),
            memberships: ports.memberships.clone(),
            access,
            events,
            clock,
            random,
            dns,
        }
    }

    /// The organization's claimed domains, verified or not.
    pub async fn list(
        &self,
        scope: &Authorized<OrgRead>,
    ) -> Result<Vec<OrganizationDomain>, DomainError> {
        let id = scope.organization();
        self.domains.domains(id).await
    }

    /// Claims a domain; it counts once verified.
    pub async fn add(
        &self,
        scope: &Authorized<OrgManage>,
        domain: &str,
        context: &RequestContext,
    ) -> Result<OrganizationDomain, DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let domain = check_domain(domain)?;
        let token: [u8; 20] = self.random.bytes();
        let claim = OrganizationDomain {
            id: Uuid::now_v7(),
            organization_id: id,
            domain,
            token: crate::secret::hex(&token),
            verified_at: None,
            verified_by: None,
            created_at: self.clock.now(),
        };
        self.domains.add_domain(&claim).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::DomainAdded, claim.created_at, context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("domain={}", claim.domain)),
            )
            .await?;
        Ok(claim)
    }

    async fn claim(
        &self,
        id: OrganizationId,
        domain: &str,
    ) -> Result<OrganizationDomain, DomainError> {
        let domain = check_domain(domain).map_err(|_| DomainError::NotFound("domain"))?;
        self.domains
            .domains(id)
            .await?
            .into_iter()
            .find(|claim| claim.domain == domain)
            .ok_or(DomainError::NotFound("domain"))
    }

    /// Verifies a claim by its DNS record, or, for a platform operator asking for
    /// [`Verification::Operator`], on their word. A domain another organization verified
    /// first is a conflict.
    pub async fn verify(
        &self,
        scope: &Authorized<OrgManage>,
        domain: &str,
        how: Verification,
        context: &RequestContext,
    ) -> Result<OrganizationDomain, DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let mut claim = self.claim(id, domain).await?;
        if claim.verified_at.is_some() {
            return Ok(claim);
        }
        match how {
            Verification::Operator => crate::admin::require_admin(caller)?,
            Verification::Dns => {
                let lookup = self.dns.as_ref().ok_or_else(|| {
                    DomainError::NotConfigured(
                        "DNS verification is off (organizations.dns_verification); a platform \
                         operator can verify the domain"
                            .to_owned(),
                    )
                })?;
                let expected = claim.record_value();
                let published = lookup.txt(&claim.record_name()).await?;
                if !published.iter().any(|value| value.trim() == expected) {
                    return Err(DomainError::invalid(
                        "domain",
                        format!(
                            "no TXT record {expected:?} at {} yet; DNS changes can take a while \
                             to appear",
                            claim.record_name()
                        ),
                    ));
                }
            }
        }
        let method = how.as_str();
        let now = self.clock.now();
        self.domains
            .verify_domain(claim.id, &claim.domain, now, method)
            .await
            .map_err(|error| match error {
                DomainError::Conflict(_) => {
                    DomainError::Conflict("domain verified by another organization")
                }
                other => other,
            })?;
        claim.verified_at = Some(now);
        claim.verified_by = Some(method.to_owned());
        self.events
            .record(
                AuditEvent::new(AuditAction::DomainVerified, now, context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("domain={} by={method}", claim.domain)),
            )
            .await?;
        Ok(claim)
    }

    /// Drops a claim.
    pub async fn remove(
        &self,
        scope: &Authorized<OrgManage>,
        domain: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let (caller, id) = (scope.principal(), scope.organization());
        let claim = self.claim(id, domain).await?;
        self.domains.delete_domain(claim.id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::DomainRemoved, self.clock.now(), context)
                    .by(caller.user.id)
                    .on(id)
                    .note(format!("domain={}", claim.domain)),
            )
            .await
    }

    /// Makes `user` a member of the organization that verified their address's domain, when
    /// its policy asks for that and they are not a member yet.
    pub(super) async fn join_by_domain(
        &self,
        user: &User,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if !user.email_verified {
            return Ok(());
        }
        let Some((_, domain)) = user.email.as_str().rsplit_once('@') else {
            return Ok(());
        };
        let Some(organization) = self.domains.verified_domain_owner(domain).await? else {
            return Ok(());
        };
        if !organization.policy.auto_join_verified_domains
            || self
                .memberships
                .membership(organization.id, user.id)
                .await?
                .is_some()
        {
            return Ok(());
        }
        let membership = Membership {
            organization_id: organization.id,
            user_id: user.id,
            role: BuiltInRole::Member.as_str().to_owned(),
            created_at: self.clock.now(),
        };
        match self.memberships.add_member(&membership).await {
            // Two sign-ins at once: the other one added it, and told everyone.
            Err(DomainError::Conflict(_)) => return Ok(()),
            other => other?,
        }
        self.access.changed(organization.id).await?;
        self.events
            .record(
                AuditEvent::new(AuditAction::MemberAdded, membership.created_at, context)
                    .by(user.id)
                    .on(organization.id)
                    .note(format!("user={} role=member by=verified-domain", user.id)),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(check_domain(" Acme.Example. ").unwrap(), "acme.example");
        assert_eq!(
            check_domain("mail-1.acme.co.uk").unwrap(),
            "mail-1.acme.co.uk"
        );
        for bad in [
            "localhost",
            "127.0.0.1",
            "-acme.com",
            "acme-.com",
            "a..com",
            "acme_corp.com",
            "",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }
}
