//! The token endpoint: the request is parsed once into one typed [`TokenGrant`] per grant
//! type, and each grant lives in its own file behind the [`Grant`] trait. Adding a grant is a
//! file here, a [`GrantType`] and a [`TokenGrant`] variant; the matches below are exhaustive,
//! so the compiler names every place that must learn it.

mod authorization_code;
mod client_credentials;
mod device_code;
mod issue;
mod refresh_token;

use std::fmt;
use std::str::FromStr;

use castellan_domain::client::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
};
use castellan_domain::{OAuthClient, OneTimeCode, RefreshToken, RequestContext};
use serde::Deserialize;

use super::OidcProvider;
use super::error::{OAuthError, OAuthErrorCode};
use authorization_code::AuthorizationCodeGrant;
use client_credentials::ClientCredentialsGrant;
use device_code::DeviceCodeGrant;
use refresh_token::RefreshTokenGrant;

pub use issue::TokenResponse;
use issue::UserGrant;

/// A token request's body as sent (without the client authentication fields); the token
/// endpoint parses it into a [`TokenGrant`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// The grant.
    pub grant_type: Option<String>,
    /// `authorization_code`: the code.
    pub code: Option<OneTimeCode>,
    /// `authorization_code`: the redirect URI of the authorization request.
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier, the secret the code's challenge was made of.
    pub code_verifier: Option<OneTimeCode>,
    /// `refresh_token`: the token.
    pub refresh_token: Option<RefreshToken>,
    /// Requested (narrower) scope.
    pub scope: Option<String>,
    /// Device grant: the device code.
    pub device_code: Option<OneTimeCode>,
}

/// A grant type the token endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code`.
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials`.
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    DeviceCode,
}

impl GrantType {
    /// The grant type as it is written in requests and client metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => GRANT_AUTHORIZATION_CODE,
            Self::RefreshToken => GRANT_REFRESH_TOKEN,
            Self::ClientCredentials => GRANT_CLIENT_CREDENTIALS,
            Self::DeviceCode => GRANT_DEVICE_CODE,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = OAuthError;

    /// An unknown grant type is `unsupported_grant_type`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        [
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::ClientCredentials,
            Self::DeviceCode,
        ]
        .into_iter()
        .find(|grant| grant.as_str() == value)
        .ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant_type {value:?} is not supported"),
            )
        })
    }
}

/// One grant of the token endpoint: its parameters, read from the request, and how it
/// answers.
pub(super) trait Grant: Sized {
    /// Reads this grant's parameters; a missing one is `invalid_request`.
    fn parse(request: TokenRequest) -> Result<Self, OAuthError>;

    /// Issues the tokens for an authenticated `client` allowed to use this grant.
    async fn issue(
        self,
        provider: &OidcProvider,
        client: &OAuthClient,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError>;
}

/// A token request parsed for its grant.
pub(super) enum TokenGrant {
    /// Exchanging an authorization code.
    AuthorizationCode(AuthorizationCodeGrant),
    /// Rotating a refresh token.
    RefreshToken(RefreshTokenGrant),
    /// A client acting for itself.
    ClientCredentials(ClientCredentialsGrant),
    /// A device polling for the user's decision.
    DeviceCode(DeviceCodeGrant),
}

impl TokenGrant {
    /// Reads the parameters of `grant_type` from `request`.
    fn parse(grant_type: GrantType, request: TokenRequest) -> Result<Self, OAuthError> {
        Ok(match grant_type {
            GrantType::AuthorizationCode => {
                Self::AuthorizationCode(AuthorizationCodeGrant::parse(request)?)
            }
            GrantType::RefreshToken => Self::RefreshToken(RefreshTokenGrant::parse(request)?),
            GrantType::ClientCredentials => {
                Self::ClientCredentials(ClientCredentialsGrant::parse(request)?)
            }
            GrantType::DeviceCode => Self::DeviceCode(DeviceCodeGrant::parse(request)?),
        })
    }
}

/// A parameter the grant cannot do without.
fn required<T>(value: Option<T>, name: &str) -> Result<T, OAuthError> {
    value.ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
}

impl OidcProvider {
    /// Handles a token request from an authenticated client: the grant type is checked
    /// (known, then allowed for the client) before the grant's own parameters are read.
    pub async fn token(
        &self,
        client: &OAuthClient,
        mut request: TokenRequest,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type: GrantType = required(request.grant_type.take(), "grant_type")?.parse()?;
        if !client.metadata.allows(grant_type.as_str()) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("this client may not use the {grant_type} grant"),
            ));
        }
        match TokenGrant::parse(grant_type, request)? {
            TokenGrant::AuthorizationCode(grant) => grant.issue(self, client, context).await,
            TokenGrant::RefreshToken(grant) => grant.issue(self, client, context).await,
            TokenGrant::ClientCredentials(grant) => grant.issue(self, client, context).await,
            TokenGrant::DeviceCode(grant) => grant.issue(self, client, context).await,
        }
    }
}
