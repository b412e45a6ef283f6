//! New key material: a key pair per signing algorithm, drawn from the operating system's
//! generator. This is the one place in the provider that reads it directly: aws-lc takes only
//! its own `SystemRandom` for EC and Ed25519 keys, and RSA keys come from the `rsa` crate on
//! the same generator.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "an adapter: new key pairs come from the system generator"
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan_domain::DomainError;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;

use crate::keys::storage;

/// The public JWK members (without `kid`, `use`, `alg`) and the private key's DER.
type KeyMaterial = (serde_json::Value, Vec<u8>);

/// Generates a key pair for `algorithm` off the async runtime (an RSA key takes long enough to
/// stall other requests).
pub(crate) async fn key_material(
    algorithm: &'static str,
    bits: usize,
) -> Result<KeyMaterial, DomainError> {
    tokio::task::spawn_blocking(move || -> Result<KeyMaterial, DomainError> {
        let rng = SystemRandom::new();
        match algorithm {
            "ES256" => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(storage)?;
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                        .map_err(storage)?;
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                let jwk = serde_json::json!({
                    "crv": "P-256", "kty": "EC",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                });
                Ok((jwk, pkcs8.as_ref().to_vec()))
            }
            "EdDSA" => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(storage)?;
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(storage)?;
                let jwk = serde_json::json!({
                    "crv": "Ed25519", "kty": "OKP",
                    "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
                });
                Ok((jwk, pkcs8.as_ref().to_vec()))
            }
            _ => {
                let private =
                    rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(storage)?;
                let jwk = serde_json::json!({
                    "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
                });
                let der = private.to_pkcs1_der().map_err(storage)?;
                Ok((jwk, der.as_bytes().to_vec()))
            }
        }
    })
    .await
    .map_err(storage)?
}
