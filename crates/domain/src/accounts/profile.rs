//! Self-service changes to an account: profile fields, the password (changed by its owner or
//! reset through a mailed link), and deletion, by its owner or by an administrator.

use super::{AccountService, Principal, clean_name};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::DomainError;
use crate::password::PasswordPolicy;
use crate::sensitive::Password;
use crate::session::RequestContext;
use crate::user::{ProfilePatch, User, UserId};

impl AccountService {
    /// What new passwords must meet.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.settings.password_policy
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
        self.credentials
            .confirm(&principal.user, current, context)
            .await?;
        self.settings.password_policy.check(new.expose())?;
        if current.matches(new.expose()) {
            return Err(DomainError::invalid(
                "new_password",
                "must differ from the current password",
            ));
        }
        let mut user = principal.user.clone();
        user.password_hash = Some(self.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self
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
        self.settings.password_policy.check(new.expose())?;
        user.password_hash = Some(self.hasher.hash(new).await?);
        user.updated_at = self.now();
        self.ports.users.update(&user).await?;
        let ended = self.revoke_all_sessions(user.id, None).await?;
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
        self.credentials
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
        self.revoke_all_sessions(user.id, None).await?;
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
