//! Data-protection duties: export everything held about a person, erase a person (audit
//! entries kept but pseudonymised), and a ledger of consents per purpose and policy version.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::DomainError;
use crate::accounts::{Principal, ProfileService};
use crate::admin::DirectoryPorts;
use crate::audit::{AuditAction, AuditEvent, AuditLog, AuditQuery};
use crate::client::ConsentRepository;
use crate::mfa::{MfaRepository, PasskeyRepository};
use crate::org::MembershipStore;
use crate::random::RandomSource;
use crate::session::RequestContext;
use crate::user::{User, UserId};

/// One recorded consent decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Id.
    pub id: Uuid,
    /// Whose.
    pub user_id: UserId,
    /// What for (`terms_of_service`, `marketing_email`, ...).
    pub purpose: String,
    /// Which version of the policy was shown.
    pub policy_version: String,
    /// Given (true) or withdrawn (false).
    pub granted: bool,
    /// Where it was given (`signup`, `api`, `settings page`, ...).
    pub source: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Storage of consent decisions (append-only).
#[async_trait::async_trait]
pub trait ConsentLedger: Send + Sync + std::fmt::Debug {
    /// Appends a decision.
    async fn record(&self, record: &ConsentRecord) -> Result<(), DomainError>;
    /// A user's decisions, oldest first.
    async fn for_user(&self, user: UserId) -> Result<Vec<ConsentRecord>, DomainError>;
}

/// The adapters compliance reads across.
#[derive(Debug, Clone)]
pub struct CompliancePorts {
    /// Random aliases for erased accounts.
    pub random: Arc<dyn RandomSource>,
    /// Memberships.
    pub organizations: Arc<dyn MembershipStore>,
    /// TOTP and backup codes.
    pub factors: Arc<dyn MfaRepository>,
    /// Passkeys.
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// OAuth consents.
    pub oauth_consents: Arc<dyn ConsentRepository>,
    /// Consent decisions.
    pub ledger: Arc<dyn ConsentLedger>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The mail outbox (messages to an erased address go with it).
    pub mail: Arc<dyn crate::MailQueue>,
    /// Links asked for by address (requests for an erased address go with it).
    pub link_requests: Arc<dyn crate::LinkRequestQueue>,
}

/// The compliance use cases.
#[derive(Debug, Clone)]
pub struct ComplianceService {
    profiles: ProfileService,
    directory: DirectoryPorts,
    ports: CompliancePorts,
}

fn event_json(event: &AuditEvent) -> Value {
    json!({
        "at": event.at,
        "action": event.action,
        "actor": event.actor.map(|actor| actor.to_string()),
        "target": event.target,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "success": event.success,
        "detail": event.detail,
    })
}

impl ComplianceService {
    /// A service that deletes accounts through `profiles`, over these adapters.
    pub fn new(
        profiles: ProfileService,
        directory: DirectoryPorts,
        ports: CompliancePorts,
    ) -> Self {
        Self {
            profiles,
            directory,
            ports,
        }
    }

    /// The person an action is about: the caller, or (for platform admins) anyone.
    async fn subject(&self, actor: &Principal, user: Option<UserId>) -> Result<User, DomainError> {
        match user {
            None => Ok(actor.user.clone()),
            Some(id) if id == actor.user.id => Ok(actor.user.clone()),
            Some(id) => {
                crate::admin::require_admin(actor)?;
                self.directory
                    .users
                    .by_id(id)
                    .await?
                    .ok_or(DomainError::NotFound("user"))
            }
        }
    }

    /// Every audit event by or about `user`, newest first.
    async fn audit_trail(&self, user: UserId) -> Result<Vec<AuditEvent>, DomainError> {
        let mut events: Vec<AuditEvent> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (actor, target) in [(Some(user), None), (None, Some(user.to_string()))] {
            let mut page = 1;
            loop {
                let query = AuditQuery {
                    page,
                    per_page: 100,
                    actor,
                    target: target.clone(),
                    ..AuditQuery::default()
                };
                let (batch, total) = self.ports.audit.query(&query).await?;
                let done = batch.is_empty() || page * 100 >= total;
                for event in batch {
                    if seen.insert(event.id) {
                        events.push(event);
                    }
                }
                if done {
                    break;
                }
                page += 1;
            }
        }
        events.sort_by_key(|event| std::cmp::Reverse(event.at));
        Ok(events)
    }

    /// Everything held about the caller (or, for an admin, about `user`), as one document:
    /// profile, memberships, sessions, second factors (metadata only), consents and the audit
    /// entries by or about them.
    pub async fn export(
        &self,
        actor: &Principal,
        user: Option<UserId>,
        context: &RequestContext,
    ) -> Result<Value, DomainError> {
        let user = self.subject(actor, user).await?;
        let ports = &self.ports;
        let now = self.directory.clock.now();
        let mut memberships = Vec::new();
        for (organization, membership) in ports.organizations.memberships_of(user.id).await? {
            memberships.push(json!({
                "organization_id": organization.id.to_string(),
                "organization": organization.name,
                "slug": organization.slug,
                "role": membership.role,
                "joined_at": membership.created_at,
            }));
        }
        let sessions: Vec<Value> = self
            .directory
            .sessions
            .active_for_user(user.id, now)
            .await?
            .iter()
            .map(|session| {
                json!({
                    "id": session.id.to_string(),
                    "created_at": session.created_at,
                    "last_seen_at": session.last_seen_at,
                    "expires_at": session.expires_at,
                    "ip": session.ip,
                    "user_agent": session.user_agent,
                    "amr": session.amr,
                })
            })
            .collect();
        let totp = ports.factors.totp(user.id).await?;
        let passkeys: Vec<Value> = ports
            .passkeys
            .list(user.id)
            .await?
            .iter()
            .map(|passkey| {
                json!({
                    "id": passkey.id.to_string(),
                    "name": passkey.name,
                    "created_at": passkey.created_at,
                    "last_used_at": passkey.last_used_at,
                    "backup_eligible": passkey.backup_eligible,
                })
            })
            .collect();
        let oauth_consents: Vec<Value> = ports
            .oauth_consents
            .for_user(user.id)
            .await?
            .iter()
            .map(|consent| {
                json!({
                    "client_id": consent.client_id,
                    "scopes": consent.scopes,
                    "granted_at": consent.granted_at,
                })
            })
            .collect();
        let consent_records: Vec<Value> = ports
            .ledger
            .for_user(user.id)
            .await?
            .iter()
            .map(|record| {
                json!({
                    "purpose": record.purpose,
                    "policy_version": record.policy_version,
                    "granted": record.granted,
                    "source": record.source,
                    "at": record.at,
                })
            })
            .collect();
        let audit: Vec<Value> = self
            .audit_trail(user.id)
            .await?
            .iter()
            .map(event_json)
            .collect();
        self.directory
            .events
            .record(
                AuditEvent::new(AuditAction::DataExported, now, context)
                    .by(actor.user.id)
                    .on(user.id),
            )
            .await?;
        Ok(json!({
            "exported_at": now,
            "profile": {
                "id": user.id.to_string(),
                "email": user.email.as_str(),
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email_verified": user.email_verified,
                "role": user.role.as_str(),
                "has_password": user.password_hash.is_some(),
                "created_at": user.created_at,
                "updated_at": user.updated_at,
            },
            "memberships": memberships,
            "sessions": sessions,
            "second_factors": {
                "totp_enabled": totp.as_ref().is_some_and(|factor| factor.confirmed_at.is_some()),
                "totp_confirmed_at": totp.and_then(|factor| factor.confirmed_at),
                "backup_codes_remaining": ports.factors.backup_codes_left(user.id).await?,
                "passkeys": passkeys,
            },
            "oauth_consents": oauth_consents,
            "consent_records": consent_records,
            "audit_events": audit,
        }))
    }

    /// Erases the caller (or, for an admin, `user`): every session and token ends, the account,
    /// the personal data hanging off it and the mail to its address are deleted, and audit
    /// entries keep only an alias.
    /// The sole owner of an organization must hand it over first; erasing another admin needs a
    /// super admin, and the last super admin stays, as with `DELETE /users/{id}`.
    pub async fn erase(
        &self,
        actor: &Principal,
        user: Option<UserId>,
        context: &RequestContext,
    ) -> Result<String, DomainError> {
        let user = self.subject(actor, user).await?;
        if user.id != actor.user.id && user.role.is_admin() {
            crate::admin::require_super_admin(actor)?;
        }
        crate::admin::keep_a_super_admin(self.directory.users.as_ref(), &user).await?;
        for (organization, membership) in self.ports.organizations.memberships_of(user.id).await? {
            if membership.role != "owner" {
                continue;
            }
            let owners = self
                .ports
                .organizations
                .memberships(organization.id)
                .await?
                .iter()
                .filter(|member| member.role == "owner")
                .count();
            if owners <= 1 {
                return Err(DomainError::invalid(
                    "user_id",
                    format!(
                        "is the only owner of organization {}; make someone else owner first",
                        organization.slug
                    ),
                ));
            }
        }
        // Random, not derived from the id: relying parties hold the id as `sub`.
        let alias_bytes: [u8; 8] = self.ports.random.bytes();
        let alias = format!("erased:{}", crate::secret::hex(&alias_bytes));
        self.profiles
            .delete_user(&user, Some(actor.user.id), context)
            .await?;
        self.ports.audit.pseudonymise(user.id, &alias).await?;
        self.ports.mail.forget(user.email.as_str()).await?;
        self.ports.link_requests.forget(user.email.as_str()).await?;
        // A self-erasure's own request details are the erased person's: keep none of them.
        let erasing_self = actor.user.id == user.id;
        let where_from = if erasing_self {
            RequestContext::default()
        } else {
            context.clone()
        };
        let mut event = AuditEvent::new(
            AuditAction::DataErased,
            self.directory.clock.now(),
            &where_from,
        )
        .on(&alias);
        if !erasing_self {
            event = event.by(actor.user.id);
        }
        self.directory.events.record(event).await?;
        Ok(alias)
    }

    /// Signs up through `email` and records the acceptance of the terms of service version
    /// `terms_version` when one is given; a bad version is refused before the account exists.
    pub async fn sign_up(
        &self,
        email: &crate::email::EmailService,
        new: crate::NewAccount,
        terms_version: Option<&str>,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let terms_version = terms_version
            .map(|version| crate::org::check_label("terms_version", version))
            .transpose()?;
        let user = email.sign_up(new, context).await?;
        if let Some(version) = terms_version {
            self.record_consent(&user, "terms_of_service", &version, true, "signup")
                .await?;
        }
        Ok(user)
    }

    /// Records a consent decision of the caller.
    pub async fn record_consent(
        &self,
        user: &User,
        purpose: &str,
        policy_version: &str,
        granted: bool,
        source: &str,
    ) -> Result<ConsentRecord, DomainError> {
        let record = ConsentRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            purpose: crate::org::check_label("purpose", purpose)?,
            policy_version: crate::org::check_label("policy_version", policy_version)?,
            granted,
            source: crate::org::check_label("source", source)?,
            at: self.directory.clock.now(),
        };
        self.ports.ledger.record(&record).await?;
        Ok(record)
    }

    /// The caller's consent decisions, oldest first.
    pub async fn consents(&self, user: UserId) -> Result<Vec<ConsentRecord>, DomainError> {
        self.ports.ledger.for_user(user).await
    }
}
