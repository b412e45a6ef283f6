//! Creating accounts: sign-up with a password, accounts an administrator creates with any role,
//! and passwordless accounts for an address its owner has just proved.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{NewAccount, clean_name};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::session::RequestContext;
use crate::user::{Email, PlatformRole, User, UserId, UserRepository};

/// The adapters registration works through.
#[derive(Debug, Clone)]
pub struct RegistrationPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Creating accounts: by sign-up, by an administrator, or passwordless for a proved address.
#[derive(Debug, Clone)]
pub struct RegistrationService {
    ports: RegistrationPorts,
    policy: PasswordPolicy,
}

impl RegistrationService {
    /// A service over `ports` that holds new passwords to `policy`.
    pub fn new(ports: RegistrationPorts, policy: PasswordPolicy) -> Self {
        Self { ports, policy }
    }

    /// What new passwords must meet.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// Checks and prepares a new account with `role`, without storing it.
    pub async fn prepare_account(
        &self,
        new: NewAccount,
        role: PlatformRole,
    ) -> Result<User, DomainError> {
        let email = Email::parse(&new.email);
        let password = self.policy.check(new.password.expose());
        let first_name = clean_name("first_name", new.first_name);
        let last_name = clean_name("last_name", new.last_name);
        DomainError::every_field(&[
            email.as_ref().err(),
            password.as_ref().err(),
            first_name.as_ref().err(),
            last_name.as_ref().err(),
        ])?;
        let (email, (), first_name, last_name) = (email?, password?, first_name?, last_name?);
        if self.ports.users.by_email(&email).await?.is_some() {
            return Err(DomainError::Conflict("email"));
        }
        let now = self.now();
        Ok(User {
            id: UserId::new(),
            email,
            first_name,
            last_name,
            email_verified: false,
            role,
            password_hash: Some(self.ports.hasher.hash(&new.password).await?),
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates an account with the `user` role.
    pub async fn sign_up(
        &self,
        new: NewAccount,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        self.create_account(new, PlatformRole::User, None, context)
            .await
    }

    /// Creates an account with any role; `actor` is who asked (for the audit log).
    pub async fn create_account(
        &self,
        new: NewAccount,
        role: PlatformRole,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let user = self.prepare_account(new, role).await?;
        self.ports.users.create(&user).await?;
        let mut event = AuditEvent::new(AuditAction::Signup, self.now(), context)
            .on(user.id)
            .note(format!("role={}", role.as_str()));
        if let Some(actor) = actor {
            event = event.by(actor);
        }
        self.ports.events.record(event).await?;
        Ok(user)
    }

    /// Creates an account without a password for an address its owner has just proved (a
    /// magic-link sign-up).
    pub async fn create_passwordless(
        &self,
        email: &str,
        role: PlatformRole,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let email = Email::parse(email)?;
        let now = self.now();
        let user = User {
            id: UserId::new(),
            email,
            first_name: None,
            last_name: None,
            email_verified: true,
            role,
            password_hash: None,
            created_at: now,
            updated_at: now,
        };
        self.ports.users.create(&user).await?;
        self.ports
            .events
            .record(
                AuditEvent::new(AuditAction::Signup, now, context)
                    .on(user.id)
                    .note(format!("role={}; magic link", role.as_str())),
            )
            .await?;
        Ok(user)
    }
}
