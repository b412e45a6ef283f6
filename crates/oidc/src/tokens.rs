//! Access tokens: JWTs with the registered claims (`iss sub aud exp iat nbf jti`) and
//! Castellan's own, signed once per token with the active key (its `kid` in the header) and
//! verified against every published key.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan_domain::{
    AccessGrant, Clock, DomainError, IssuedToken, PlatformRole, SessionId, TokenIssuer, UserId,
    VerifiedToken,
};
use chrono::DateTime;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::KeyManager;
use crate::keys::{DEFAULT_ALGORITHM, Signer};

/// How long past `exp` (or before `nbf`) a token is still accepted unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The client id of tokens Castellan issues to its own REST API clients.
pub const FIRST_PARTY_CLIENT: &str = "castellan";

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    client_id: String,
    scope: String,
    sid: String,
    email: String,
    email_verified: bool,
    role: String,
    amr: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    org_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    permissions: Option<Vec<String>>,
}

/// The validity window of any token Castellan signed.
#[derive(Deserialize)]
struct Window {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
}

/// Serialises and signs a JWS (RFC 7515 compact form). jsonwebtoken verifies; signing is done
/// here with a key pair parsed once, because jsonwebtoken's aws-lc backend parses the private
/// key again for every signature, which triples the cost of an RSA token.
fn sign_compact<T: Serialize>(
    header: &Header,
    claims: &T,
    signer: &Signer,
) -> Result<String, DomainError> {
    let failed = |what: &str| DomainError::internal(format!("signing a token: {what}"));
    let header = serde_json::to_vec(header).map_err(|error| failed(&error.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|error| failed(&error.to_string()))?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Issues and verifies access tokens with the platform's keys.
#[derive(Debug, Clone)]
pub struct JwtTokenIssuer {
    keys: Arc<KeyManager>,
    clock: Arc<dyn Clock>,
    issuer: String,
    lifetime: Duration,
    /// How long past `exp` (and before `nbf`) a token is still accepted.
    leeway: Duration,
    /// Signature, issuer and audience; the validity window is checked against the injected
    /// clock instead (jsonwebtoken would read the system clock).
    validation: Validation,
    /// Signature, issuer and expiry, any audience: tokens Castellan issued to OAuth clients.
    any_audience: Validation,
}

impl JwtTokenIssuer {
    /// Tokens from `issuer` (also their audience), living `lifetime`.
    pub fn new(
        keys: Arc<KeyManager>,
        clock: Arc<dyn Clock>,
        issuer: &str,
        lifetime: Duration,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let mut any_audience = validation.clone();
        any_audience.validate_aud = false;
        any_audience.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Self {
            keys,
            clock,
            issuer: issuer.to_owned(),
            lifetime,
            leeway: DEFAULT_LEEWAY,
            validation,
            any_audience,
        }
    }

    /// Accepts a token for `leeway` past its `exp` (and before its `nbf`), for clocks that
    /// drift apart between the replicas and the clients that hold the token.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses a token past `exp` (unless `allow_expired`) or before `nbf` by more than the
    /// leeway, on the injected clock.
    fn check_window(
        &self,
        exp: i64,
        nbf: Option<i64>,
        allow_expired: bool,
    ) -> Result<(), DomainError> {
        let now = self.clock.now().timestamp();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let expired = exp.saturating_add(leeway) < now;
        let early = nbf.is_some_and(|nbf| nbf.saturating_sub(leeway) > now);
        if (expired && !allow_expired) || early {
            return Err(DomainError::InvalidToken);
        }
        Ok(())
    }

    /// The issuer (`iss`) of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs any claims as an RS256 JWS with the active key and `typ` in the header.
    pub async fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, DomainError> {
        self.sign_with(claims, typ, DEFAULT_ALGORITHM).await
    }

    /// Signs any claims with the active key of `algorithm` (`RS256`, `ES256` or `EdDSA`).
    pub async fn sign_with<T: Serialize>(
        &self,
        claims: &T,
        typ: &str,
        algorithm: &str,
    ) -> Result<String, DomainError> {
        let keys = self.keys.current().await?;
        let active = keys.signer(algorithm)?;
        let mut header = Header::new(active.signer.algorithm());
        header.kid = Some(active.kid.clone());
        header.typ = Some(typ.to_owned());
        sign_compact(&header, claims, &active.signer)
    }

    /// Verifies a token Castellan signed (signature, issuer, and expiry unless `allow_expired`)
    /// whatever its audience, and returns its claims.
    pub async fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        allow_expired: bool,
    ) -> Result<T, DomainError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        let kid = header.kid.ok_or(DomainError::InvalidToken)?;
        let (algorithm, key) = self.decoding_key(&kid).await?;
        if header.alg != algorithm {
            return Err(DomainError::InvalidToken);
        }
        let mut validation = self.any_audience.clone();
        validation.algorithms = vec![algorithm];
        let claims = jsonwebtoken::decode::<T>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|_| DomainError::InvalidToken)?;
        // The signature holds, so the payload is the one just decoded; read its window again.
        let window = token
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|payload| serde_json::from_slice::<Window>(&payload).ok())
            .ok_or(DomainError::InvalidToken)?;
        self.check_window(window.exp, window.nbf, allow_expired)?;
        Ok(claims)
    }

    async fn decoding_key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), DomainError> {
        let mut keys = self.keys.current().await?;
        if !keys.decoding.contains_key(kid) {
            // Perhaps another replica rotated since we loaded; look once more.
            self.keys.reload().await?;
            keys = self.keys.current().await?;
        }
        keys.decoding
            .get(kid)
            .cloned()
            .ok_or(DomainError::InvalidToken)
    }
}

#[async_trait]
impl TokenIssuer for JwtTokenIssuer {
    async fn issue(&self, grant: &AccessGrant) -> Result<IssuedToken, DomainError> {
        let now = self.clock.now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.user_id.to_string(),
            aud: self.issuer.clone(),
            exp: now.saturating_add(lifetime),
            iat: now,
            nbf: now,
            jti: uuid::Uuid::now_v7().to_string(),
            client_id: FIRST_PARTY_CLIENT.to_owned(),
            scope: "openid profile email".to_owned(),
            sid: grant.session_id.to_string(),
            email: grant.email.clone(),
            email_verified: grant.email_verified,
            role: grant.role.as_str().to_owned(),
            amr: grant.amr.clone(),
            org_id: grant.organization.as_ref().map(|org| org.id.clone()),
            org_slug: grant.organization.as_ref().map(|org| org.slug.clone()),
            roles: grant.organization.as_ref().map(|org| org.roles.clone()),
            permissions: grant
                .organization
                .as_ref()
                .map(|org| org.permissions.clone()),
        };
        let token = self.sign(&claims, "at+jwt").await?;
        Ok(IssuedToken {
            token,
            expires_in: self.lifetime.as_secs(),
        })
    }

    async fn verify(&self, token: &str) -> Result<VerifiedToken, DomainError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        let kid = header.kid.ok_or(DomainError::InvalidToken)?;
        let (algorithm, key) = self.decoding_key(&kid).await?;
        if algorithm != Algorithm::RS256 {
            return Err(DomainError::InvalidToken);
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|_| DomainError::InvalidToken)?
            .claims;
        self.check_window(claims.exp, Some(claims.nbf), false)?;
        let parse_uuid =
            |text: &str| uuid::Uuid::parse_str(text).map_err(|_| DomainError::InvalidToken);
        Ok(VerifiedToken {
            user_id: UserId(parse_uuid(&claims.sub)?),
            session_id: SessionId(parse_uuid(&claims.sid)?),
            token_id: claims.jti,
            role: PlatformRole::parse(&claims.role).map_err(|_| DomainError::InvalidToken)?,
            issued_at: DateTime::from_timestamp(claims.iat, 0).ok_or(DomainError::InvalidToken)?,
            expires_at: DateTime::from_timestamp(claims.exp, 0).ok_or(DomainError::InvalidToken)?,
            amr: claims.amr,
            organization: claims
                .org_id
                .as_deref()
                .map(parse_uuid)
                .transpose()?
                .map(castellan_domain::OrganizationId),
        })
    }

    fn access_token_lifetime(&self) -> Duration {
        self.lifetime
    }
}
