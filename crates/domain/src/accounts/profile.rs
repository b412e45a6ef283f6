//! Self-service changes to an account: profile fields, the password (changed by its owner or
//! reset through a mailed link), and deletion, by its owner or by an administrator.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Principal, SessionService, clean_name};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::sensitive::Password;
use crate::session::RequestContext;
use crate::signin::credentials::PasswordCheck;
use crate::user::{ProfilePatch, User, UserId, UserRepository};

/// The adapters and services profile changes work through.
#[derive(Debug, Clone)]
pub struct ProfilePorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Confirms the current password before a change (and counts failures toward the lockout).
    pub credentials: PasswordCheck,
    /// Ends sessions when a password changes or an account goes.
    pub sessions: SessionService,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Changing and deleting accounts: profile fields, the password (by its owner, or through a
/// reset link), and deletion by the owner or an administrator.
#[derive(Debug, Clone)]
pub struct ProfileService {
    ports: ProfilePorts,
    policy: PasswordPolicy,
}

impl ProfileService {
    /// A service over `ports` that holds new passwords to `policy`.
    pub fn new(ports: ProfilePorts, policy: PasswordPolicy) -> Self {
        Self { ports, policy }
    }

    /// What new passwords must meet.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.ports.events.record(event).await
    }

    /// Changes the caller's password after checking the current one, and signs out every
    /// other session.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &Password,
        new: &Password,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.ports
            .credentials
            .confirm(&principal.user, current, context)
            .await?;
        self.policy.check(new.expose())?;
        if current.matches(new.expose()) {
            return Err(DomainError::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let mut user = principal.user.clone();
        user.password_hash = Some(self.ports.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self
            .ports
            .sessions
            .revoke_all_sessions(user.id, Some(principal.session_id()))
            .await?;
        self.record(
            AuditEvent::new(AuditAction::PasswordChanged, self.now(), context)
                .by(user.id)
                .on(user.id)
                .note(format!("{ended} other sessions ended")),
        )
        .await
    }

    /// Sets a new password for someone who proved control of the address (a reset link):
    /// every session ends.
    pub async fn reset_password(
        &self,
        mut user: User,
        new: &Password,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.policy.check(new.expose())?;
        user.password_hash = Some(self.ports.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self
            .ports
            .sessions
            .revoke_all_sessions(user.id, None)
            .await?;
        self.record(
            AuditEvent::new(AuditAction::PasswordChanged, self.now(), context)
                .on(user.id)
                .note(format!("reset by email; {ended} sessions ended")),
        )
        .await
    }

    /// Deletes the caller's account after checking the password; every session ends.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.ports
            .credentials
            .confirm(&principal.user, password, context)
            .await?;
        self.delete_user(&principal.user, Some(principal.user.id), context)
            .await
    }

    /// Deletes a user and ends their sessions; `actor` is who asked.
    pub async fn delete_user(
        &self,
        user: &User,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.ports
            .sessions
            .revoke_all_sessions(user.id, None)
            .await?;
        if !self.ports.users.delete(user.id).await? {
            return Err(DomainError::NotFound("user"));
        }
        let mut event = AuditEvent::new(AuditAction::UserDeleted, self.now(), context).on(user.id);
        event.actor = actor;
        self.record(event).await
    }

    /// Changes profile fields of `user`; `actor` is who asked.
    pub async fn update_profile(
        &self,
        user: &User,
        patch: ProfilePatch,
        actor: UserId,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let mut updated = user.clone();
        if patch.first_name.is_some() {
            updated.first_name = clean_name("first_name", patch.first_name)?;
        }
        if patch.last_name.is_some() {
            updated.last_name = clean_name("last_name", patch.last_name)?;
        }
        updated.updated_at = self.now();
        self.ports.users.update(&updated).await?;
        self.record(
            AuditEvent::new(AuditAction::ProfileUpdated, self.now(), context)
                .by(actor)
                .on(user.id),
        )
        .await?;
        Ok(updated)
    }
}
