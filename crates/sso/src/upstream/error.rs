//! What can go wrong configuring an upstream provider or finishing a login with it. Messages
//! name the rule that failed; they never carry a secret, a token or a code.

use castellan_domain::OutboundError;

/// Why an upstream login (or its provider's settings) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The provider's settings are unusable (the field is named).
    #[error("invalid upstream provider settings: {0}")]
    InvalidSettings(&'static str),
    /// The callback belongs to a login started with another provider.
    #[error("the callback is for another provider's login")]
    ProviderMismatch,
    /// The callback's `state` is not the one stored for this browser.
    #[error("the state does not match the login this browser started")]
    StateMismatch,
    /// The provider sent the browser back with an error instead of a code.
    #[error("the provider refused the authorization: {error}")]
    AuthorizationDenied {
        /// The provider's error code, such as `access_denied`.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The callback has neither a code nor an error.
    #[error("the callback carries no authorization code")]
    MissingCode,
    /// The discovery document or a key set is not usable (the rule is named).
    #[error("the provider's metadata is unusable: {0}")]
    Discovery(&'static str),
    /// The discovery document names another issuer than the one configured.
    #[error("the discovery document names another issuer")]
    DiscoveryIssuerMismatch,
    /// The token endpoint answered with an OAuth 2 error.
    #[error("the token endpoint refused the code: {error}")]
    TokenRefused {
        /// The RFC 6749 error code, such as `invalid_grant`.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// An upstream endpoint answered with an HTTP status that is not success.
    #[error("the provider's {endpoint} endpoint answered HTTP {status}")]
    UpstreamStatus {
        /// Which endpoint (token, userinfo, emails).
        endpoint: &'static str,
        /// The status code.
        status: u16,
    },
    /// An upstream answer is not what the protocol says (the rule is named).
    #[error("the provider's answer is malformed: {0}")]
    Malformed(&'static str),
    /// An OpenID Connect provider's token answer has no ID token.
    #[error("the token answer carries no ID token")]
    MissingIdToken,
    /// The ID token's signature does not verify with the provider's keys.
    #[error("the ID token's signature does not verify with the provider's keys")]
    BadSignature,
    /// The ID token was issued by another issuer.
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    /// The ID token is not meant for this client.
    #[error("the ID token is for another audience")]
    WrongAudience,
    /// The ID token has expired (beyond the allowed clock skew).
    #[error("the ID token has expired")]
    Expired,
    /// The ID token's nonce is not the one stored for this browser.
    #[error("the ID token's nonce does not match the login this browser started")]
    NonceMismatch,
    /// The ID token's `at_hash` does not match the access token it came with.
    #[error("the ID token's at_hash does not match the access token")]
    AccessTokenHashMismatch,
    /// The ID token fails another rule of OpenID Connect Core (the rule is named).
    #[error("the ID token is invalid: {0}")]
    InvalidIdToken(&'static str),
    /// The userinfo answer is about another subject than the ID token.
    #[error("the userinfo answer is about another subject")]
    UserinfoSubjectMismatch,
    /// The identity lacks a claim Castellan needs (the claim is named).
    #[error("the provider's answer has no {0}")]
    MissingClaim(&'static str),
    /// The request to the provider got no usable answer.
    #[error("request to the provider failed: {0}")]
    Transport(#[from] OutboundError),
}

/// Keeps a provider-supplied text short and on one line, since it is shown and logged.
pub(crate) fn provider_text(text: &str) -> String {
    const LIMIT: usize = 200;
    text.chars()
        .filter(|character| !character.is_control())
        .take(LIMIT)
        .collect()
}
