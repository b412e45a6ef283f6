//! The master key: AES-256-GCM over secrets at rest (signing keys now; TOTP seeds and upstream
//! credentials later). Each blob is `version || nonce || ciphertext+tag`, with the caller's
//! associated data binding it to its row, so a blob moved to another row fails to open.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "an adapter: AES-GCM keys and nonces come from the system generator"
)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why the master key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The configured key is not 32 bytes of base64.
    #[error(
        "the master key must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)"
    )]
    Malformed,
    /// Encryption failed (only for inputs beyond AES-GCM's 64 GiB limit).
    #[error("a secret could not be encrypted")]
    Encrypt,
    /// A blob did not decrypt: wrong key, wrong row, or tampered.
    #[error("a secret did not decrypt under the master key (wrong key or tampered data)")]
    Decrypt,
}

/// The key that encrypts secrets at rest.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// HMAC key over the same secret, for deriving purpose-bound keys.
    derivation: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// The key from its base64 form.
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| MasterKeyError::Malformed)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self {
            cipher,
            derivation: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// A key for one purpose, derived from the master key: HMAC-SHA256(master, `purpose`).
    /// Keys for different purposes are independent, and none reveals the master key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(&self.derivation, purpose.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(tag.as_ref());
        key
    }

    /// A fresh random key and its base64 form (to be stored by the caller).
    pub fn generate() -> (Self, String) {
        let bytes: [u8; 32] = rand::random();
        let text = STANDARD.encode(bytes);
        let key = Self {
            cipher: Aes256Gcm::new(&bytes.into()),
            derivation: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &bytes),
        };
        (key, text)
    }

    /// Encrypts `plaintext`, bound to `associated` (for example the row's id).
    pub fn encrypt(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: plaintext,
            aad: associated,
        };
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| MasterKeyError::Encrypt)?;
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        blob.push(VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    /// Decrypts a blob made by [`MasterKey::encrypt`] with the same associated data.
    pub fn decrypt(&self, blob: &[u8], associated: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let (&version, rest) = blob.split_first().ok_or(MasterKeyError::Decrypt)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| MasterKeyError::Decrypt)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| MasterKeyError::Decrypt)
    }
}

/// TOTP secrets and other small secrets at rest are sealed with the master key itself.
impl castellan_domain::SecretSealer for MasterKey {
    fn seal(
        &self,
        plaintext: &[u8],
        associated: &[u8],
    ) -> Result<Vec<u8>, castellan_domain::DomainError> {
        self.encrypt(plaintext, associated)
            .map_err(|error| castellan_domain::DomainError::caused("the master key", error))
    }

    fn open(
        &self,
        sealed: &[u8],
        associated: &[u8],
    ) -> Result<Vec<u8>, castellan_domain::DomainError> {
        self.decrypt(sealed, associated)
            .map_err(|error| castellan_domain::DomainError::caused("the master key", error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_open_only_with_their_key_and_row() {
        let (key, text) = MasterKey::generate();
        let blob = key.encrypt(b"private key", b"kid-1").unwrap();
        assert_eq!(key.decrypt(&blob, b"kid-1").unwrap(), b"private key");
        assert!(key.decrypt(&blob, b"kid-2").is_err());
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.decrypt(&tampered, b"kid-1").is_err());
        let (other, _) = MasterKey::generate();
        assert!(other.decrypt(&blob, b"kid-1").is_err());
        let same = MasterKey::from_base64(&text).unwrap();
        assert_eq!(same.decrypt(&blob, b"kid-1").unwrap(), b"private key");
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(!format!("{key:?}").contains(&text));
    }
}
