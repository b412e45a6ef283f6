//! Proof Key for Code Exchange (RFC 7636, S256 only): the authorization request's challenge
//! and the code exchange's verifier, shared by the authorization endpoint and the
//! `authorization_code` grant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::authorize::Refusal;
use super::error::{OAuthError, OAuthErrorCode};

/// True for a PKCE code challenge or verifier alphabet and length (RFC 7636 section 4.1).
fn valid_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
}

/// The authorization request's S256 challenge, when it sent one; `required` refuses a
/// request without one.
pub(super) fn code_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    required: bool,
) -> Result<Option<String>, Refusal> {
    let challenge = match (challenge, method) {
        (Some(challenge), Some("S256") | None) if valid_pkce_value(challenge) => {
            Some(challenge.to_owned())
        }
        (Some(_), Some("S256") | None) => {
            return Err(Refusal::new(
                OAuthErrorCode::InvalidRequest,
                "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Refusal::new(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        (None, _) => None,
    };
    if challenge.is_none() && required {
        return Err(Refusal::new(
            OAuthErrorCode::InvalidRequest,
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    }
    Ok(challenge)
}

/// True when `verifier` hashes (S256) to `challenge`.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_pkce_value(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(subtle::ConstantTimeEq::ct_eq(
        computed.as_bytes(),
        challenge.as_bytes(),
    ))
}

/// Checks the code exchange's `verifier` against the `challenge` of the authorization
/// request: both or neither, and matching.
pub(super) fn verify_code_verifier(
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => Ok(()),
        (None, None) => Ok(()),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier given but the authorization request had no code_challenge",
        )),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier does not match")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_example() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
