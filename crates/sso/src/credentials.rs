//! Key material: the SP's own signing and decryption key with its self-signed certificate, and
//! the IdP's signing certificates.
//!
//! A new SP key is an RSA-2048 key made by OpenSSL from the operating system's generator (the one
//! cryptographic adapter here); the certificate's serial number and validity come from the
//! injected [`RandomSource`] and [`Clock`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::{Clock, RandomSource};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use samael::crypto::CertificateDer;
use secrecy::{ExposeSecret, SecretString};

use crate::error::SamlError;

/// How long a generated SP certificate is valid; SAML peers pin it, so expiry matters little.
const SP_CERTIFICATE_DAYS: i64 = 3650;

fn key_error(context: &str, error: impl fmt::Display) -> SamlError {
    SamlError::Key(format!("{context}: {error}"))
}

/// The SP's private key (signing AuthnRequests, decrypting assertions) and its certificate.
#[derive(Clone)]
pub struct SpCredentials {
    key: PKey<Private>,
    certificate: X509,
}

impl fmt::Debug for SpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpCredentials")
            .field("key", &"[redacted]")
            .field("certificate", &self.certificate.subject_name())
            .finish()
    }
}

impl SpCredentials {
    /// Generates an RSA-2048 key and a self-signed certificate for `common_name`.
    pub fn generate(
        common_name: &str,
        clock: &dyn Clock,
        random: &dyn RandomSource,
    ) -> Result<Self, SamlError> {
        let rsa = Rsa::generate(2048).map_err(|e| key_error("generating the RSA key", e))?;
        let key = PKey::from_rsa(rsa).map_err(|e| key_error("wrapping the RSA key", e))?;
        let certificate = self_signed(&key, common_name, clock, random)?;
        Self::from_parts(key, certificate)
    }

    /// Reads a PKCS#8 (or PKCS#1) PEM private key and its PEM certificate, as stored.
    pub fn from_pem(key_pem: &SecretString, certificate_pem: &str) -> Result<Self, SamlError> {
        let key = PKey::private_key_from_pem(key_pem.expose_secret().as_bytes())
            .map_err(|_| SamlError::Key("the SP private key is not a PEM private key".into()))?;
        let certificate = X509::from_pem(certificate_pem.as_bytes())
            .map_err(|e| key_error("reading the SP certificate", e))?;
        let matches = certificate
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(SamlError::Key(
                "the SP certificate does not belong to the SP private key".into(),
            ));
        }
        Self::from_parts(key, certificate)
    }

    fn from_parts(key: PKey<Private>, certificate: X509) -> Result<Self, SamlError> {
        if key.rsa().is_err() {
            return Err(SamlError::Key("the SP key must be an RSA key".into()));
        }
        Ok(Self { key, certificate })
    }

    /// The private key as PKCS#8 PEM, to be encrypted at rest by the caller.
    pub fn private_key_pem(&self) -> Result<SecretString, SamlError> {
        let pem = self
            .key
            .private_key_to_pem_pkcs8()
            .map_err(|e| key_error("encoding the SP key", e))?;
        String::from_utf8(pem)
            .map(SecretString::from)
            .map_err(|e| key_error("encoding the SP key", e))
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> Result<String, SamlError> {
        let pem = self
            .certificate
            .to_pem()
            .map_err(|e| key_error("encoding the SP certificate", e))?;
        String::from_utf8(pem).map_err(|e| key_error("encoding the SP certificate", e))
    }

    /// The certificate as DER.
    pub fn certificate_der(&self) -> Result<Vec<u8>, SamlError> {
        self.certificate
            .to_der()
            .map_err(|e| key_error("encoding the SP certificate", e))
    }

    pub(crate) fn key(&self) -> &PKey<Private> {
        &self.key
    }
}

fn self_signed(
    key: &PKey<Private>,
    common_name: &str,
    clock: &dyn Clock,
    random: &dyn RandomSource,
) -> Result<X509, SamlError> {
    let fail = |e: openssl::error::ErrorStack| key_error("building the SP certificate", e);
    let mut name = X509NameBuilder::new().map_err(fail)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .map_err(fail)?;
    let name = name.build();
    let mut serial = random.bytes::<16>();
    // A positive serial number: the top bit clear.
    serial[0] &= 0x7f;
    let serial = BigNum::from_slice(&serial).map_err(fail)?;
    let serial = Asn1Integer::from_bn(&serial).map_err(fail)?;
    let now = clock.now().timestamp();
    let not_before = Asn1Time::from_unix(now - 60).map_err(fail)?;
    let not_after = Asn1Time::from_unix(now + SP_CERTIFICATE_DAYS * 86_400).map_err(fail)?;
    let mut builder = X509::builder().map_err(fail)?;
    builder.set_version(2).map_err(fail)?;
    builder.set_serial_number(&serial).map_err(fail)?;
    builder.set_subject_name(&name).map_err(fail)?;
    builder.set_issuer_name(&name).map_err(fail)?;
    builder.set_pubkey(key).map_err(fail)?;
    builder.set_not_before(&not_before).map_err(fail)?;
    builder.set_not_after(&not_after).map_err(fail)?;
    builder.sign(key, MessageDigest::sha256()).map_err(fail)?;
    Ok(builder.build())
}

/// One signing certificate of the IdP (a connection holds several during a rollover).
#[derive(Clone, PartialEq, Eq)]
pub struct IdpCertificate {
    der: Vec<u8>,
}

impl fmt::Debug for IdpCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = X509::from_der(&self.der)
            .ok()
            .and_then(|cert| {
                cert.subject_name()
                    .entries_by_nid(Nid::COMMONNAME)
                    .next()
                    .and_then(|entry| entry.data().to_string().ok())
            })
            .unwrap_or_default();
        f.debug_struct("IdpCertificate")
            .field("common_name", &subject)
            .finish()
    }
}

impl IdpCertificate {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SamlError> {
        X509::from_der(der).map_err(|e| key_error("reading an IdP certificate", e))?;
        Ok(Self { der: der.to_vec() })
    }

    /// Reads a certificate given as PEM, or as the bare base64 of metadata's `X509Certificate`.
    pub fn parse(text: &str) -> Result<Self, SamlError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let cert = X509::from_pem(text.as_bytes())
                .map_err(|e| key_error("reading an IdP certificate", e))?;
            let der = cert
                .to_der()
                .map_err(|e| key_error("reading an IdP certificate", e))?;
            return Ok(Self { der });
        }
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(compact)
            .map_err(|_| SamlError::Key("an IdP certificate is neither PEM nor base64".into()))?;
        Self::from_der(&der)
    }

    /// The certificate as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as the base64 text metadata carries.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.der)
    }

    pub(crate) fn to_samael(&self) -> CertificateDer {
        CertificateDer::from(self.der.clone())
    }
}
