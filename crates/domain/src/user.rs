//! Users of the platform: identity, email, profile and platform role.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// A user's stable identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for UserId {
    type Err = DomainError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| DomainError::NotFound("user"))
    }
}

/// An email address, normalised (trimmed, lower-cased) so that comparisons ignore case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address; the error names the `email` field.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let email = text.trim().to_lowercase();
        let invalid = |why: &str| DomainError::invalid("email", why.to_owned());
        if email.len() > 254 {
            return Err(invalid("is longer than 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid("is not an email address"));
        };
        let bad_char = |c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '@')
        };
        if local.is_empty() || local.len() > 64 || local.chars().any(bad_char) {
            return Err(invalid("is not an email address"));
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !domain.contains('.') || !labels_ok {
            return Err(invalid("is not an email address"));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Platform-wide roles, above every organization. Ordered from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    /// Everything, including creating other admins.
    SuperAdmin,
    /// Manages users and reads the audit log.
    Admin,
    /// A regular account.
    User,
    /// A restricted account (read-only in later features).
    Guest,
}

impl PlatformRole {
    /// The role's name as stored and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::Admin => "admin",
            Self::User => "user",
            Self::Guest => "guest",
        }
    }

    /// Parses a stored or requested role name.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        match text {
            "super_admin" => Ok(Self::SuperAdmin),
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            "guest" => Ok(Self::Guest),
            _ => Err(DomainError::invalid(
                "role",
                "must be one of super_admin, admin, user, guest",
            )),
        }
    }

    /// True for roles that may administer users.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::SuperAdmin | Self::Admin)
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Normalised email, unique.
    pub email: Email,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the address has been confirmed.
    pub email_verified: bool,
    /// Platform role.
    pub role: PlatformRole,
    /// PHC string of the password hash; `None` for accounts without a password.
    pub password_hash: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
}

/// A page request over users.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// 1-based page number.
    pub page: u64,
    /// Page size, 1 to 100.
    pub per_page: u64,
    /// Substring of the email or names, case-insensitive.
    pub search: Option<String>,
    /// Only users with this role.
    pub role: Option<PlatformRole>,
    /// Only users whose email is (or is not) verified.
    pub email_verified: Option<bool>,
}

/// One page of users and the total that matched.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users on this page, oldest first.
    pub users: Vec<User>,
    /// How many users matched in all.
    pub total: u64,
}

/// Storage of users.
#[async_trait::async_trait]
pub trait UserRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new user; `Conflict("email")` when the address is taken.
    async fn create(&self, user: &User) -> Result<(), DomainError>;
    /// The user with this id.
    async fn by_id(&self, id: UserId) -> Result<Option<User>, DomainError>;
    /// The user with this (normalised) email.
    async fn by_email(&self, email: &Email) -> Result<Option<User>, DomainError>;
    /// Saves every field of an existing user; `NotFound` when it is gone.
    async fn update(&self, user: &User) -> Result<(), DomainError>;
    /// Deletes a user; false when there was none.
    async fn delete(&self, id: UserId) -> Result<bool, DomainError>;
    /// A page of users matching the query.
    async fn list(&self, query: &UserQuery) -> Result<UserPage, DomainError>;
    /// How many users have this role.
    async fn count_with_role(&self, role: PlatformRole) -> Result<u64, DomainError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Jane.Doe@Example.COM ").unwrap().as_str(),
            "jane.doe@example.com"
        );
        for bad in [
            "",
            "jane",
            "@example.com",
            "jane@",
            "jane@example",
            "ja ne@example.com",
            "jane@exa_mple.com",
            "a@b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_round_trip() {
        for role in [
            PlatformRole::SuperAdmin,
            PlatformRole::Admin,
            PlatformRole::User,
            PlatformRole::Guest,
        ] {
            assert_eq!(PlatformRole::parse(role.as_str()).unwrap(), role);
        }
        assert!(PlatformRole::parse("root").is_err());
    }
}
