//! Security events: what happened, who did it, to whom, from where, and how it ended. Every
//! account operation records one; the audit log stores them and webhooks will subscribe.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DomainError, RequestContext, UserId};

/// The kinds of security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// An account was created.
    Signup,
    /// A sign-in succeeded.
    SigninSucceeded,
    /// A sign-in failed.
    SigninFailed,
    /// An account was locked after repeated failures.
    Lockout,
    /// A used refresh token came back: the session was revoked.
    RefreshReuse,
    /// A session ended by logout or revocation.
    Logout,
    /// A password was changed.
    PasswordChanged,
    /// A profile was changed.
    ProfileUpdated,
    /// A platform role was changed.
    RoleChanged,
    /// An account was deleted.
    UserDeleted,
    /// A signing key was rotated.
    KeyRotated,
    /// An OAuth client was registered.
    ClientCreated,
    /// An OAuth client's metadata changed.
    ClientUpdated,
    /// An OAuth client's secret was rotated.
    ClientSecretRotated,
    /// An OAuth client was deleted.
    ClientDeleted,
    /// A user granted a client scopes.
    ConsentGranted,
    /// A user withdrew a client's consent.
    ConsentRevoked,
    /// A token was revoked through the revocation endpoint.
    TokenRevoked,
    /// An authorization code came back after use: what it issued was revoked.
    CodeReplay,
    /// A TOTP factor was confirmed (MFA on).
    MfaEnabled,
    /// The second factors were removed (MFA off).
    MfaDisabled,
    /// A second-factor code was refused.
    MfaFailed,
    /// A backup code was used.
    BackupCodeUsed,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
    /// A passkey was registered.
    PasskeyRegistered,
    /// A passkey was renamed.
    PasskeyRenamed,
    /// A passkey was deleted.
    PasskeyDeleted,
    /// A passkey's signature counter went backwards: the authenticator may have been cloned.
    PasskeyCloneSuspected,
    /// An address was confirmed through its verification link.
    EmailVerified,
    /// A password-reset link was mailed.
    PasswordResetRequested,
    /// A move to a new address was asked for.
    EmailChangeRequested,
    /// The account's address changed.
    EmailChanged,
    /// An organization was created.
    OrganizationCreated,
    /// An organization's name, slug or policy changed.
    OrganizationUpdated,
    /// An organization was deleted.
    OrganizationDeleted,
    /// An organization claimed a DNS domain.
    DomainAdded,
    /// A claimed domain was verified (by DNS or by an operator).
    DomainVerified,
    /// A claimed domain was dropped.
    DomainRemoved,
    /// A user joined an organization.
    MemberAdded,
    /// An address was invited to an organization.
    MemberInvited,
    /// A member's role changed.
    MemberRoleChanged,
    /// A member left or was removed.
    MemberRemoved,
    /// Maintenance mode was turned on or off.
    MaintenanceChanged,
    /// Everything held about a user was exported.
    DataExported,
    /// A user was erased.
    DataErased,
    /// An external identity was linked to an account.
    IdentityLinked,
    /// A SAML connection was created.
    SsoConnectionCreated,
    /// A SAML connection was changed.
    SsoConnectionUpdated,
    /// A SAML connection was deleted.
    SsoConnectionDeleted,
    /// A SAML Response was refused (the rule that failed is the note).
    SsoResponseRefused,
}

impl AuditAction {
    /// The event's stable name, as stored and as webhooks will deliver it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "user.signup",
            Self::SigninSucceeded => "auth.signin.succeeded",
            Self::SigninFailed => "auth.signin.failed",
            Self::Lockout => "auth.lockout",
            Self::RefreshReuse => "auth.token.reuse_detected",
            Self::Logout => "auth.logout",
            Self::PasswordChanged => "user.password.changed",
            Self::ProfileUpdated => "user.updated",
            Self::RoleChanged => "user.role.changed",
            Self::UserDeleted => "user.deleted",
            Self::KeyRotated => "keys.rotated",
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientSecretRotated => "client.secret.rotated",
            Self::ClientDeleted => "client.deleted",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentRevoked => "consent.revoked",
            Self::TokenRevoked => "oauth.token.revoked",
            Self::CodeReplay => "oauth.code.replay_detected",
            Self::MfaEnabled => "mfa.enabled",
            Self::MfaDisabled => "mfa.disabled",
            Self::MfaFailed => "mfa.failed",
            Self::BackupCodeUsed => "mfa.backup_code.used",
            Self::BackupCodesRegenerated => "mfa.backup_codes.regenerated",
            Self::PasskeyRegistered => "passkey.registered",
            Self::PasskeyRenamed => "passkey.renamed",
            Self::PasskeyDeleted => "passkey.deleted",
            Self::PasskeyCloneSuspected => "passkey.clone_suspected",
            Self::EmailVerified => "user.email.verified",
            Self::PasswordResetRequested => "user.password.reset_requested",
            Self::EmailChangeRequested => "user.email.change_requested",
            Self::EmailChanged => "user.email.changed",
            Self::OrganizationCreated => "organization.created",
            Self::OrganizationUpdated => "organization.updated",
            Self::OrganizationDeleted => "organization.deleted",
            Self::DomainAdded => "organization.domain.added",
            Self::DomainVerified => "organization.domain.verified",
            Self::DomainRemoved => "organization.domain.removed",
            Self::MemberAdded => "organization.member.added",
            Self::MemberInvited => "organization.member.invited",
            Self::MemberRoleChanged => "organization.member.role_changed",
            Self::MemberRemoved => "organization.member.removed",
            Self::MaintenanceChanged => "platform.maintenance.changed",
            Self::DataExported => "compliance.data.exported",
            Self::DataErased => "compliance.data.erased",
            Self::IdentityLinked => "user.identity.linked",
            Self::SsoConnectionCreated => "sso.connection.created",
            Self::SsoConnectionUpdated => "sso.connection.updated",
            Self::SsoConnectionDeleted => "sso.connection.deleted",
            Self::SsoResponseRefused => "sso.response.refused",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Row id.
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened (`AuditAction::as_str`).
    pub action: String,
    /// Who did it, when known.
    pub actor: Option<UserId>,
    /// What it was done to (a user id, a session id, a key id).
    pub target: Option<String>,
    /// From which IP.
    pub ip: Option<String>,
    /// With which user agent.
    pub user_agent: Option<String>,
    /// True when it succeeded.
    pub success: bool,
    /// A short, secret-free note.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A new event at `at`.
    pub fn new(action: AuditAction, at: DateTime<Utc>, context: &RequestContext) -> Self {
        Self {
            id: Uuid::now_v7(),
            at,
            action: action.as_str().to_owned(),
            actor: None,
            target: None,
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            success: true,
            detail: None,
        }
    }

    /// Sets who acted.
    pub fn by(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets what was acted on.
    pub fn on(mut self, target: impl ToString) -> Self {
        self.target = Some(target.to_string());
        self
    }

    /// Marks the event as a failure with a reason.
    pub fn failed(mut self, why: &str) -> Self {
        self.success = false;
        self.detail = Some(why.to_owned());
        self
    }

    /// Adds a note.
    pub fn note(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A filter over the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// 1-based page.
    pub page: u64,
    /// Page size, 1 to 100.
    pub per_page: u64,
    /// Only this action.
    pub action: Option<String>,
    /// Only events by this actor.
    pub actor: Option<UserId>,
    /// Only events on this target.
    pub target: Option<String>,
    /// Only successes (true) or failures (false).
    pub success: Option<bool>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Where security events go.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Records an event durably.
    async fn record(&self, event: AuditEvent) -> Result<(), DomainError>;
}

/// Reading the audit log.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    /// A page of events, newest first, and the total that matched.
    async fn query(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, u64), DomainError>;
    /// How many events of `action` happened since `since`.
    async fn count_since(
        &self,
        action: AuditAction,
        since: DateTime<Utc>,
    ) -> Result<u64, DomainError>;
    /// Replaces every mention of an erased user (as actor or target) with `alias`, and drops
    /// the network details of their events; returns how many events changed.
    async fn pseudonymise(&self, user: UserId, alias: &str) -> Result<u64, DomainError>;
}
