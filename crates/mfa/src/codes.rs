//! The codes themselves: TOTP secrets, provisioning URIs and QR codes, checking a code with
//! clock skew, and backup codes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::{DomainError, RandomSource, UserId, secret::hash_token};
use qrcode::QrCode;
use qrcode::render::svg;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

/// Seconds per TOTP step (RFC 6238's default, what every authenticator app assumes).
pub const STEP_SECONDS: i64 = 30;
/// Digits per TOTP code.
pub const DIGITS: usize = 6;
/// Steps of clock skew accepted either side of now.
pub const SKEW_STEPS: i64 = 1;
/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Backup codes per set.
pub const BACKUP_CODE_COUNT: usize = 10;

/// Letters and digits that cannot be mistaken for one another when read off paper.
const BACKUP_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Characters per backup code: 10 from a 31-letter alphabet is about 49 bits.
const BACKUP_CODE_LEN: usize = 10;

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, DomainError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        u64::try_from(STEP_SECONDS).unwrap_or(30),
        secret.to_vec(),
        Some(issuer.replace(':', " ")),
        account.to_owned(),
    )
    .map_err(|error| DomainError::caused("building a TOTP", error))
}

/// A fresh random TOTP secret.
pub fn new_secret(random: &dyn RandomSource) -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    random.fill(secret.as_mut_slice());
    secret
}

/// What an authenticator app needs to enrol: the secret in base32, the `otpauth://` URI and
/// the URI as a QR code (an SVG data URI).
#[derive(Clone)]
pub struct Provisioning {
    /// Base32 secret, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...`.
    pub uri: String,
    /// `data:image/svg+xml;base64,...`.
    pub qr_code: String,
}

impl std::fmt::Debug for Provisioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is in all three fields.
        f.debug_struct("Provisioning").finish_non_exhaustive()
    }
}

/// The provisioning data of `secret` for `account` at `issuer`.
pub fn provisioning(
    secret: &[u8],
    issuer: &str,
    account: &str,
) -> Result<Provisioning, DomainError> {
    let totp = totp(secret, issuer, account)?;
    let uri = totp.get_url();
    let code = QrCode::new(uri.as_bytes())
        .map_err(|error| DomainError::caused("drawing a QR code", error))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(Provisioning {
        secret: totp.get_secret_base32(),
        uri,
        qr_code: format!("data:image/svg+xml;base64,{}", STANDARD.encode(image)),
    })
}

/// Whether `code` looks like a TOTP code (six digits) rather than a backup code.
pub fn is_totp_code(code: &str) -> bool {
    let code = code.trim();
    code.len() == DIGITS && code.bytes().all(|byte| byte.is_ascii_digit())
}

/// The time step `code` is valid for at `unix_seconds`, within [`SKEW_STEPS`] either side;
/// `None` when it matches none.
pub fn matching_step(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim();
    if !is_totp_code(code) {
        return None;
    }
    let totp = totp(secret, "castellan", "check").ok()?;
    let now = unix_seconds.div_euclid(STEP_SECONDS);
    let mut matched = None;
    // Every candidate is computed and compared, so timing does not tell which step matched.
    for step in (now - SKEW_STEPS)..=(now + SKEW_STEPS) {
        let at = u64::try_from(step * STEP_SECONDS).ok()?;
        let expected = totp.generate(at);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// A set of fresh backup codes, formatted `xxxxx-xxxxx`.
pub fn new_backup_codes(random: &dyn RandomSource) -> Vec<String> {
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            let raw: String = (0..BACKUP_CODE_LEN)
                .map(|_| {
                    char::from(BACKUP_ALPHABET[random.below(BACKUP_ALPHABET.len() as u32) as usize])
                })
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

/// The stored hash of a backup code: case, spaces and dashes do not matter, and the user id
/// is mixed in so equal codes of two users hash apart.
pub fn backup_code_hash(user: UserId, code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hash_token(&format!("{user}:{normalised}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_secret(&castellan_domain::SystemRandom);
        let totp = totp(&secret, "Castellan", "jane@example.com").unwrap();
        let now = 1_800_000_015;
        let code = totp.generate(u64::try_from(now).unwrap());
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now - 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 90), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn the_provisioning_uri_round_trips_through_totp_rs() {
        let secret = new_secret(&castellan_domain::SystemRandom);
        let provisioning = provisioning(&secret, "Castellan", "jane@example.com").unwrap();
        let parsed = TOTP::from_url(&provisioning.uri).unwrap();
        assert_eq!(parsed.secret, secret);
        assert_eq!(parsed.issuer.as_deref(), Some("Castellan"));
        assert!(
            provisioning
                .qr_code
                .starts_with("data:image/svg+xml;base64,")
        );
    }

    #[test]
    fn backup_codes_are_distinct_and_hash_loosely() {
        let codes = new_backup_codes(&castellan_domain::SystemRandom);
        assert_eq!(codes.len(), BACKUP_CODE_COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), BACKUP_CODE_COUNT);
        let user = UserId::new();
        let code = &codes[0];
        assert_eq!(
            backup_code_hash(user, code),
            backup_code_hash(user, &code.to_uppercase().replace('-', " "))
        );
        assert_ne!(
            backup_code_hash(user, code),
            backup_code_hash(UserId::new(), code)
        );
    }
}
