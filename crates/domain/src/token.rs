//! The token port: the domain asks for access tokens and has them checked; the `oidc` crate
//! signs and verifies them with the platform's keys.

use chrono::{DateTime, Utc};

use crate::{DomainError, PlatformRole, SessionId, UserId};

/// What an access token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The user (`sub`).
    pub user_id: UserId,
    /// The session (`sid`).
    pub session_id: SessionId,
    /// The user's platform role.
    pub role: PlatformRole,
    /// The user's email.
    pub email: String,
    /// Whether that email is verified.
    pub email_verified: bool,
    /// How the user authenticated (`amr`).
    pub amr: Vec<String>,
    /// The organization the tokens are scoped to, with the caller's roles and permissions.
    pub organization: Option<OrgClaims>,
}

/// What an organization-scoped token says about the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgClaims {
    /// `org_id`.
    pub id: String,
    /// `org_slug`.
    pub slug: String,
    /// `roles`.
    pub roles: Vec<String>,
    /// `permissions`.
    pub permissions: Vec<String>,
    /// The organization's policy asks for a second factor (not a claim; checked when a
    /// session is scoped).
    pub mfa_required: bool,
    /// The sign-in methods the organization's policy allows (`password`, `passkey`,
    /// `magic_link`, `sso`); empty allows all (not a claim; checked when a session is scoped).
    pub allowed_sign_in_methods: Vec<String>,
    /// Sessions scoped to the organization end this many hours after sign-in (not a claim;
    /// checked whenever its tokens are minted).
    pub session_lifetime_hours: Option<u32>,
}

/// An organization a user may pick on the hosted organization picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgChoice {
    /// Its id.
    pub id: crate::OrganizationId,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
}

/// Resolves organizations for tokens: which one a reference names, and what a member holds
/// in it now (so a role change shows in the next refresh).
#[async_trait::async_trait]
pub trait OrganizationDirectory: Send + Sync + std::fmt::Debug {
    /// The organization an id or slug names.
    async fn resolve(&self, reference: &str) -> Result<Option<crate::OrganizationId>, DomainError>;
    /// The claims of `user` in the organization; `None` when not a member.
    async fn claims(
        &self,
        organization: crate::OrganizationId,
        user: UserId,
    ) -> Result<Option<OrgClaims>, DomainError>;
    /// The organizations `user` belongs to, by name.
    async fn of_user(&self, user: UserId) -> Result<Vec<OrgChoice>, DomainError>;
    /// Adds `user`, signing in, to the organization that verified their address's domain
    /// when its policy asks for that.
    async fn join_by_domain(
        &self,
        user: &crate::User,
        context: &crate::RequestContext,
    ) -> Result<(), DomainError>;
}

/// A signed access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// The verified content of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub`.
    pub user_id: UserId,
    /// `sid`.
    pub session_id: SessionId,
    /// `jti`.
    pub token_id: String,
    /// The role claimed when it was issued.
    pub role: PlatformRole,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `amr`: how the user authenticated.
    pub amr: Vec<String>,
    /// `org_id`: the organization the token is scoped to.
    pub organization: Option<crate::OrganizationId>,
}

/// Signs and verifies access tokens.
#[async_trait::async_trait]
pub trait TokenIssuer: Send + Sync + std::fmt::Debug {
    /// Signs an access token for the grant.
    async fn issue(&self, grant: &AccessGrant) -> Result<IssuedToken, DomainError>;
    /// Checks signature, issuer, audience and expiry; `InvalidToken` otherwise.
    async fn verify(&self, token: &str) -> Result<VerifiedToken, DomainError>;
    /// How long access tokens live.
    fn access_token_lifetime(&self) -> std::time::Duration;
}
