//! Platform administration: user management by admins, platform roles, and the first super
//! admin (through a one-time setup token or the CLI). Authorization is decided here, so the
//! REST API and the CLI apply the same rules.

use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::DomainError;
use crate::accounts::{NewAccount, Principal, ProfileService, RegistrationService};
use crate::audit::{AuditAction, AuditEvent, AuditLog, AuditQuery, EventSink};
use crate::clock::Clock;
use crate::kv::KeyValueStore;
use crate::random::RandomSource;
use crate::secret::hash_token;
use crate::sensitive::OneTimeCode;
use crate::session::{RequestContext, SessionRepository};
use crate::user::{PlatformRole, ProfilePatch, User, UserId, UserPage, UserQuery, UserRepository};

const SETUP_TOKEN_KEY: &str = "setup-token";
const SETUP_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Changes an admin may make to a user.
#[derive(Debug, Clone, Default)]
pub struct AdminUserPatch {
    /// Profile fields.
    pub profile: ProfilePatch,
    /// Mark the email verified or not.
    pub email_verified: Option<bool>,
}

/// The adapters that administration, platform figures and compliance read directly (the
/// account use cases they share go through the registration and profile services).
#[derive(Debug, Clone)]
pub struct DirectoryPorts {
    /// Users.
    pub users: Arc<dyn UserRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Setup tokens, maintenance mode.
    pub kv: Arc<dyn KeyValueStore>,
    /// Security events.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// The administration use cases.
#[derive(Debug, Clone)]
pub struct AdminService {
    registration: RegistrationService,
    profiles: ProfileService,
    directory: DirectoryPorts,
    audit: Arc<dyn AuditLog>,
    random: Arc<dyn RandomSource>,
}

/// `Forbidden` unless the actor is an admin or super admin.
pub fn require_admin(actor: &Principal) -> Result<(), DomainError> {
    if actor.user.role.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "this needs the admin or super_admin role",
        ))
    }
}

/// `Forbidden` when `leaving` is the last super admin.
pub(crate) async fn keep_a_super_admin(
    users: &dyn UserRepository,
    leaving: &User,
) -> Result<(), DomainError> {
    if leaving.role == PlatformRole::SuperAdmin
        && users.count_with_role(PlatformRole::SuperAdmin).await? <= 1
    {
        return Err(DomainError::Forbidden("the last super admin must stay"));
    }
    Ok(())
}

/// Pages start at 1 and hold 1 to 100 items.
fn check_page(page: u64, per_page: u64) -> Result<(), DomainError> {
    if page == 0 || !(1..=100).contains(&per_page) {
        return Err(DomainError::invalid(
            "per_page",
            "page starts at 1 and per_page is 1 to 100",
        ));
    }
    Ok(())
}

/// `Forbidden` unless the actor is a super admin.
pub(crate) fn require_super_admin(actor: &Principal) -> Result<(), DomainError> {
    if actor.user.role == PlatformRole::SuperAdmin {
        Ok(())
    } else {
        Err(DomainError::Forbidden("this needs the super_admin role"))
    }
}

impl AdminService {
    /// A service that creates accounts through `registration`, changes and deletes them
    /// through `profiles`, and reads the directory and the audit log.
    pub fn new(
        registration: RegistrationService,
        profiles: ProfileService,
        directory: DirectoryPorts,
        audit: Arc<dyn AuditLog>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        Self {
            registration,
            profiles,
            directory,
            audit,
            random,
        }
    }

    /// A page of the audit log, newest first (admins only).
    pub async fn audit(
        &self,
        actor: &Principal,
        query: &AuditQuery,
    ) -> Result<(Vec<AuditEvent>, u64), DomainError> {
        require_admin(actor)?;
        check_page(query.page, query.per_page)?;
        self.audit.query(query).await
    }

    async fn user(&self, id: UserId) -> Result<User, DomainError> {
        self.directory
            .users
            .by_id(id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// A page of users (admins only).
    pub async fn list_users(
        &self,
        actor: &Principal,
        query: &UserQuery,
    ) -> Result<UserPage, DomainError> {
        require_admin(actor)?;
        check_page(query.page, query.per_page)?;
        self.directory.users.list(query).await
    }

    /// One user (admins only).
    pub async fn get_user(&self, actor: &Principal, id: UserId) -> Result<User, DomainError> {
        require_admin(actor)?;
        self.user(id).await
    }

    /// Changes a user's profile or verification flag (admins only).
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: UserId,
        patch: AdminUserPatch,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        require_admin(actor)?;
        let mut user = self.user(id).await?;
        if user.role == PlatformRole::SuperAdmin && actor.user.id != id {
            require_super_admin(actor)?;
        }
        if let Some(verified) = patch.email_verified {
            user.email_verified = verified;
        }
        self.profiles
            .update_profile(&user, patch.profile, actor.user.id, context)
            .await
    }

    /// Deletes a user (admins only; super admins only for admins and super admins). The last
    /// super admin cannot be deleted.
    pub async fn delete_user(
        &self,
        actor: &Principal,
        id: UserId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        require_admin(actor)?;
        let user = self.user(id).await?;
        if user.role.is_admin() {
            require_super_admin(actor)?;
        }
        self.keep_a_super_admin(&user).await?;
        self.profiles
            .delete_user(&user, Some(actor.user.id), context)
            .await
    }

    async fn keep_a_super_admin(&self, leaving: &User) -> Result<(), DomainError> {
        keep_a_super_admin(self.directory.users.as_ref(), leaving).await
    }

    /// Sets a user's platform role. Admins move users between `user` and `guest`; granting or
    /// taking away `admin` or `super_admin` needs a super admin.
    pub async fn set_role(
        &self,
        actor: &Principal,
        id: UserId,
        role: PlatformRole,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        require_admin(actor)?;
        let mut user = self.user(id).await?;
        if user.role.is_admin() || role.is_admin() {
            require_super_admin(actor)?;
        }
        if role != PlatformRole::SuperAdmin {
            self.keep_a_super_admin(&user).await?;
        }
        let previous = user.role;
        user.role = role;
        user.updated_at = self.directory.clock.now();
        self.directory.users.update(&user).await?;
        self.directory
            .events
            .record(
                AuditEvent::new(AuditAction::RoleChanged, user.updated_at, context)
                    .by(actor.user.id)
                    .on(user.id)
                    .note(format!("{} -> {}", previous.as_str(), role.as_str())),
            )
            .await?;
        Ok(user)
    }

    /// Creates an admin or super admin account (super admins only).
    pub async fn create_admin(
        &self,
        actor: &Principal,
        new: NewAccount,
        role: PlatformRole,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        require_super_admin(actor)?;
        if !role.is_admin() {
            return Err(DomainError::invalid("role", "must be admin or super_admin"));
        }
        self.registration
            .create_account(new, role, Some(actor.user.id), context)
            .await
    }

    /// True once a super admin exists.
    pub async fn has_super_admin(&self) -> Result<bool, DomainError> {
        Ok(self
            .directory
            .users
            .count_with_role(PlatformRole::SuperAdmin)
            .await?
            > 0)
    }

    /// While no super admin exists, creates a one-time setup token (24 h) and returns it for
    /// the operator. `None` when a super admin exists or a token is already outstanding (one
    /// replica prints it; the others say so).
    pub async fn issue_setup_token(&self) -> Result<Option<String>, DomainError> {
        if self.has_super_admin().await? {
            return Ok(None);
        }
        let bytes: [u8; 24] = self.random.bytes();
        let token =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        let stored = hash_token(&token);
        let kv = &self.directory.kv;
        if kv
            .set_if_absent(
                SETUP_TOKEN_KEY,
                stored.as_bytes(),
                Some(SETUP_TOKEN_LIFETIME),
            )
            .await?
        {
            Ok(Some(token))
        } else {
            Ok(None)
        }
    }

    /// Creates the first super admin with the setup token; the token works once.
    pub async fn bootstrap(
        &self,
        token: &OneTimeCode,
        new: NewAccount,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let kv = &self.directory.kv;
        let Some(stored) = kv.get(SETUP_TOKEN_KEY).await? else {
            return Err(DomainError::InvalidToken);
        };
        let presented = hash_token(token.expose());
        if !bool::from(presented.as_bytes().ct_eq(&stored)) {
            return Err(DomainError::InvalidToken);
        }
        if self.has_super_admin().await? {
            return Err(DomainError::Conflict("super admin"));
        }
        // Validate before consuming the token, so a typo in the password does not burn it.
        let user = self
            .registration
            .prepare_account(new, PlatformRole::SuperAdmin)
            .await?;
        match kv.take(SETUP_TOKEN_KEY).await? {
            Some(taken) if taken == stored => {}
            _ => return Err(DomainError::InvalidToken),
        }
        self.directory.users.create(&user).await?;
        self.directory
            .events
            .record(
                AuditEvent::new(AuditAction::Signup, user.created_at, context)
                    .on(user.id)
                    .note("role=super_admin (bootstrap)"),
            )
            .await?;
        Ok(user)
    }
}
