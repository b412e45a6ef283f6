//! OAuth 2 errors (RFC 6749 section 5.2 and the extensions' codes): what the token, device,
//! introspection, revocation and userinfo endpoints answer, and what an authorization redirect
//! carries.

use castellan_domain::DomainError;

/// An OAuth error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// The request is malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (code, refresh token, device code) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// The grant type is unknown.
    UnsupportedGrantType,
    /// A scope is unknown or beyond what the client may ask for.
    InvalidScope,
    /// The user or the server refused.
    AccessDenied,
    /// Only `code` is supported.
    UnsupportedResponseType,
    /// Something failed on our side.
    ServerError,
    /// `prompt=none` but nobody is signed in.
    LoginRequired,
    /// `prompt=none` but consent is needed.
    ConsentRequired,
    /// `prompt=none` but the user must act.
    InteractionRequired,
    /// Device flow: the user has not decided yet.
    AuthorizationPending,
    /// Device flow: poll less often.
    SlowDown,
    /// Device flow: the code expired.
    ExpiredToken,
    /// A bearer token is invalid (userinfo).
    InvalidToken,
    /// A bearer token lacks a needed scope (userinfo).
    InsufficientScope,
    /// `request_uri` is unknown or used (PAR).
    InvalidRequestUri,
    /// Request objects are not supported.
    RequestNotSupported,
    /// Dynamic registration: bad redirect URI.
    InvalidRedirectUri,
    /// Dynamic registration: bad metadata.
    InvalidClientMetadata,
}

impl OAuthErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    /// The HTTP status an endpoint answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            _ => 400,
        }
    }
}

/// An OAuth error with a description safe to show the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// A human-readable explanation (never secrets).
    pub description: String,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`.
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, description)
    }
}

impl From<DomainError> for OAuthError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::InvalidToken => Self::invalid_grant("the grant is invalid or expired"),
            DomainError::Validation { field, message } => {
                Self::invalid_request(format!("{field}: {message}"))
            }
            DomainError::Invalid(violations) => Self::invalid_request(violations.to_string()),
            DomainError::NotFound(what) => Self::invalid_request(format!("{what} not found")),
            DomainError::Forbidden(why) => Self::new(OAuthErrorCode::AccessDenied, why),
            other => {
                tracing::error!(error = %other, "OAuth request failed");
                Self::new(
                    OAuthErrorCode::ServerError,
                    "the server could not complete the request",
                )
            }
        }
    }
}

impl From<castellan_domain::KvError> for OAuthError {
    fn from(error: castellan_domain::KvError) -> Self {
        DomainError::from(error).into()
    }
}
