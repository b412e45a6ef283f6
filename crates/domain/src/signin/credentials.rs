//! The password check: an email and password against the stored hash, under the lockout rule.
//! Unknown accounts and wrong passwords answer alike and take the same time.

use std::sync::Arc;

use super::lockout::Lockout;
use crate::error::DomainError;
use crate::password::PasswordHasher;
use crate::secret::hash_token;
use crate::sensitive::Password;
use crate::session::RequestContext;
use crate::user::{Email, User, UserRepository};

/// Checks passwords; every failure counts toward the address's lockout.
#[derive(Debug, Clone)]
pub struct PasswordCheck {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    lockout: Lockout,
}

impl PasswordCheck {
    /// Checks against `users` with `hasher`, counting failures in `lockout`.
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        lockout: Lockout,
    ) -> Self {
        Self {
            users,
            hasher,
            lockout,
        }
    }

    /// The lockout the failures count toward.
    pub fn lockout(&self) -> &Lockout {
        &self.lockout
    }

    /// The user whose email and password these are. Repeated failures lock the address for a
    /// while (also when it has no account).
    pub async fn check(
        &self,
        email: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let parsed = Email::parse(email).ok();
        // What failures and locks are counted against, and what the audit log names. Input that
        // is not an address may be a password typed into the wrong field: keep only its hash.
        let normalised = parsed.as_ref().map_or_else(
            || format!("sha256:{}", hash_token(email)),
            |email| email.as_str().to_owned(),
        );
        self.lockout.ensure_unlocked(&normalised, context).await?;
        let user = match &parsed {
            Some(email) => self.users.by_email(email).await?,
            None => None,
        };
        let verified = match user.as_ref().and_then(|user| user.password_hash.as_deref()) {
            Some(hash) => self.hasher.verify(password, hash).await?,
            None => {
                self.hasher.verify_decoy(password).await?;
                false
            }
        };
        let Some(user) = user.filter(|_| verified) else {
            return Err(self.lockout.register_failure(&normalised, context).await);
        };
        // The failure count is cleared when a session opens, not here: a right password
        // followed by wrong second-factor codes must keep counting.
        Ok(user)
    }

    /// Checks the password of a signed-in user before a sensitive change; a wrong one counts
    /// toward the lockout like a failed sign-in.
    pub async fn confirm(
        &self,
        user: &User,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let matches = match user.password_hash.as_deref() {
            Some(hash) => self.hasher.verify(password, hash).await?,
            None => false,
        };
        if matches {
            Ok(())
        } else {
            Err(self
                .lockout
                .register_failure(user.email.as_str(), context)
                .await)
        }
    }
}
