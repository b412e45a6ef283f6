//! Bodies shared by several routes.

use castellan_domain::{AccessToken, RefreshToken, Session, TokenPair, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserBody {
    /// Id.
    #[schema(example = "01935c3e-8f6b-7cc0-a4f1-3e2b8f1e6d4a")]
    pub id: String,
    /// Normalised email.
    #[schema(example = "jane@example.com")]
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the email is confirmed.
    pub email_verified: bool,
    /// `super_admin`, `admin`, `user` or `guest`.
    #[schema(example = "user")]
    pub role: &'static str,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email_verified: user.email_verified,
            role: user.role.as_str(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Tokens after sign-in or refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// RS256 JWT; verify it with `/.well-known/jwks.json`.
    #[schema(value_type = String)]
    pub access_token: AccessToken,
    /// Opaque; exchange it at `/api/v1/auth/token/refresh` (each use returns a new one).
    #[schema(value_type = String)]
    pub refresh_token: RefreshToken,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// The signed-in user.
    pub user: UserBody,
    /// True when the sign-in used a second factor (the name form clients read).
    #[serde(rename = "twoFactor")]
    pub two_factor: bool,
    /// The platform requires a second factor and the account has none: this session may only
    /// enrol one (`/api/v1/mfa/totp/enable`, `/api/v1/passkeys/register/begin`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrollment_required: bool,
}

impl From<&TokenPair> for TokenResponse {
    fn from(pair: &TokenPair) -> Self {
        Self {
            access_token: pair.access_token.clone(),
            refresh_token: pair.refresh_token.clone(),
            token_type: "bearer",
            expires_in: pair.expires_in,
            user: UserBody::from(&pair.user),
            two_factor: pair.amr.iter().any(|method| method == "mfa"),
            mfa_enrollment_required: pair.mfa_enrollment_required,
        }
    }
}

/// The answer to a correct password when a second factor must follow (with
/// `twoFactor` for form clients).
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always true.
    pub mfa_required: bool,
    /// Answer it at `/api/v1/mfa/verify` (or `/api/v1/auth/two-factor` as `token`), or start a
    /// passkey ceremony with it. Single-use; expires after `expires_in` seconds.
    #[schema(value_type = String)]
    pub mfa_token: castellan_domain::OneTimeCode,
    /// What the account can answer with: `totp`, `backup_code`, `webauthn`.
    #[schema(example = json!(["totp", "backup_code"]))]
    pub mfa_methods: Vec<&'static str>,
    /// Seconds the token stays valid.
    pub expires_in: u64,
    /// Always true (the name form clients read).
    #[serde(rename = "twoFactor")]
    pub two_factor: bool,
}

impl MfaRequiredResponse {
    /// The body for `challenge`, which lives `ttl_secs`.
    pub fn new(challenge: &castellan_domain::MfaChallenge, ttl_secs: u64) -> Self {
        Self {
            mfa_required: true,
            mfa_token: challenge.token.clone(),
            mfa_methods: challenge
                .pending
                .methods
                .iter()
                .map(|method| method.as_str())
                .collect(),
            expires_in: ttl_secs,
            two_factor: true,
        }
    }
}

/// A plain confirmation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    /// What happened.
    #[schema(example = "Logout successful")]
    pub message: &'static str,
}

/// One sign-in session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    /// Session id (`sid`).
    pub id: String,
    /// Began.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// IP at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// How the user authenticated.
    pub amr: Vec<String>,
    /// True for the session of the token making this request.
    pub current: bool,
}

impl SessionBody {
    /// The body of `session`, marking it when it is the caller's.
    pub fn new(session: &Session, current: castellan_domain::SessionId) -> Self {
        Self {
            id: session.id.to_string(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            amr: session.amr.clone(),
            current: session.id == current,
        }
    }
}

/// Which page of a list the query asks for; a list route reads it beside its own filters.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page (default 1).
    page: Option<u32>,
    /// Page size, 1 to 100 (default 20; 50 for the audit log).
    per_page: Option<u32>,
}

impl PageQuery {
    /// The page number and size, the size defaulting to `default_size`.
    pub fn resolve(self, default_size: u64) -> (u64, u64) {
        (
            self.page.map_or(1, u64::from),
            self.per_page.map_or(default_size, u64::from),
        )
    }
}

/// Where a page sits in its list, sent beside the page's items.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PageInfo {
    /// Matches in all.
    pub total: u64,
    /// This page's number.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}
