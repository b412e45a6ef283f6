//! Castellan's token provider: signing keys (generated with the `rsa` crate, private halves
//! encrypted under the master key, rotated on a schedule with the next key published ahead),
//! the JWKS document, and access tokens signed and verified with jsonwebtoken on aws-lc-rs.
//!
//! It knows nothing of HTTP; the api crate serves what it produces.

mod key_material;
pub mod keys;
pub mod master_key;
pub mod provider;
pub mod tokens;

pub use keys::{KeyManager, KeySettings, KeySummary};
pub use master_key::{MasterKey, MasterKeyError};
pub use provider::{OidcProvider, ProviderPorts, ProviderSettings};
pub use tokens::JwtTokenIssuer;
