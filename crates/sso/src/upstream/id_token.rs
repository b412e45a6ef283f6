//! ID token validation per OpenID Connect Core 3.1.3.7: the signature with the provider's
//! current keys, the issuer (exact, or a multi-tenant template filled with the token's `tid`),
//! the audience, expiry within a small skew of the injected clock's time, the nonce stored for
//! this browser (compared in constant time) and `at_hash` when present.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IssuerUrl, Nonce,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::UpstreamError;
use super::discovery::tenant_of;
use super::provider::{IssuerRule, TENANT_PLACEHOLDER};

/// How far the provider's clock may run ahead of Castellan's when judging expiry.
pub const ID_TOKEN_CLOCK_SKEW: Duration = Duration::seconds(60);

/// What an ID token is checked against.
pub(crate) struct Expectations<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) issuer: &'a str,
    pub(crate) issuer_rule: &'a IssuerRule,
    pub(crate) keys: CoreJsonWebKeySet,
    /// The algorithms the provider says it signs ID tokens with.
    pub(crate) algorithms: &'a [CoreJwsSigningAlgorithm],
    pub(crate) nonce: Option<&'a SecretString>,
    pub(crate) now: DateTime<Utc>,
}

/// Verifies `id_token` and answers its claims as JSON, with the verified issuer.
pub(crate) fn verify(
    id_token: &CoreIdToken,
    access_token: &AccessToken,
    expect: Expectations<'_>,
) -> Result<(String, Map<String, Value>), UpstreamError> {
    let issuer = IssuerUrl::new(expect.issuer.to_owned())
        .map_err(|_| UpstreamError::InvalidSettings("issuer"))?;
    let exact = *expect.issuer_rule == IssuerRule::Exact;
    let now = expect.now;
    // Asymmetric algorithms only: an HMAC-signed token would be keyed by the client secret,
    // which Castellan does not hand to the verifier.
    let mut algorithms: Vec<CoreJwsSigningAlgorithm> = expect
        .algorithms
        .iter()
        .filter(|alg| {
            !matches!(
                alg,
                CoreJwsSigningAlgorithm::None
                    | CoreJwsSigningAlgorithm::HmacSha256
                    | CoreJwsSigningAlgorithm::HmacSha384
                    | CoreJwsSigningAlgorithm::HmacSha512
            )
        })
        .cloned()
        .collect();
    if algorithms.is_empty() {
        algorithms.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_owned()),
        issuer,
        expect.keys,
    )
    .require_issuer_match(exact)
    .set_allowed_algs(algorithms)
    .set_time_fn(move || now - ID_TOKEN_CLOCK_SKEW);
    let expected_nonce = expect.nonce.map(|nonce| nonce.expose_secret().to_owned());
    let nonce_check = move |sent: Option<&Nonce>| match (expected_nonce.as_deref(), sent) {
        (Some(expected), Some(sent))
            if bool::from(expected.as_bytes().ct_eq(sent.secret().as_bytes())) =>
        {
            Ok(())
        }
        (None, _) => Ok(()),
        _ => Err("nonce".to_owned()),
    };
    let claims = id_token
        .claims(&verifier, nonce_check)
        .map_err(claims_error)?;
    let raw = payload(id_token)?;
    let token_issuer = claims.issuer().as_str().to_owned();
    if let IssuerRule::Tenant { template } = expect.issuer_rule {
        let tenant = raw
            .get("tid")
            .and_then(Value::as_str)
            .ok_or(UpstreamError::WrongIssuer)?;
        let expected = template.replace(TENANT_PLACEHOLDER, tenant);
        if token_issuer != expected || tenant_of(template, &token_issuer).is_none() {
            return Err(UpstreamError::WrongIssuer);
        }
    }
    if let Some(sent) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|_| UpstreamError::BadSignature)?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|_| UpstreamError::BadSignature)?;
        let computed = AccessTokenHash::from_token(access_token, alg, key)
            .map_err(|_| UpstreamError::InvalidIdToken("at_hash algorithm"))?;
        if !bool::from(computed.as_bytes().ct_eq(sent.as_bytes())) {
            return Err(UpstreamError::AccessTokenHashMismatch);
        }
    }
    Ok((token_issuer, raw))
}

/// The rule a failed verification broke.
fn claims_error(error: ClaimsVerificationError) -> UpstreamError {
    match error {
        ClaimsVerificationError::Expired(_) => UpstreamError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => UpstreamError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => UpstreamError::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => UpstreamError::NonceMismatch,
        ClaimsVerificationError::SignatureVerification(_) => UpstreamError::BadSignature,
        ClaimsVerificationError::InvalidSubject(_) => UpstreamError::InvalidIdToken("subject"),
        ClaimsVerificationError::Unsupported(_) => {
            UpstreamError::InvalidIdToken("unsupported token form or algorithm")
        }
        _ => UpstreamError::InvalidIdToken("claims"),
    }
}

/// The (already verified) token's claims as JSON.
fn payload(id_token: &CoreIdToken) -> Result<Map<String, Value>, UpstreamError> {
    let compact = id_token.to_string();
    let encoded = compact
        .split('.')
        .nth(1)
        .ok_or(UpstreamError::InvalidIdToken("not a compact JWS"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| UpstreamError::InvalidIdToken("payload encoding"))?;
    serde_json::from_slice(&bytes).map_err(|_| UpstreamError::InvalidIdToken("payload JSON"))
}
