//! Castellan's federation in: the SAML 2.0 service provider core, one [`SamlConnection`] per
//! organization's IdP, tested without a server.
//!
//! - [`SamlConnection`]: the SP's entity id, ACS URL and key ([`SpCredentials`]), the trusted IdP
//!   ([`IdpDescriptor`], several certificates for rollover), which parts must be signed, whether
//!   unsolicited Responses are allowed, the clock skew, the NameID format and the attribute
//!   mapping, with defaults per [`Preset`] (generic, Okta, Entra ID, ADFS, Google Workspace).
//! - [`parse_idp_metadata`] reads an IdP's metadata; [`sp_metadata_xml`] writes the SP's.
//! - [`build_redirect_request`] makes a signed AuthnRequest for the HTTP-Redirect binding and
//!   answers the request ID the caller stores, bound to the browser.
//! - [`validate_response`] checks an HTTP-POST Response strictly and answers a
//!   [`ValidatedAssertion`] with the [`FederatedIdentity`], or a [`ResponseError`] whose
//!   [`ResponseError::rule`] names the rule that failed, for the audit log.
//!
//! - [`SamlSignIn`] puts these together for the server: where a browser is sent (the request
//!   remembered in the domain's key-value store, bound to a cookie), and what a posted Response
//!   proves (validated, checked against the replay cache, resolved to an account by the
//!   domain's federation rules) as a first factor for the domain's sign-in flow.
//!
//! The protocol functions keep no state: the caller stores request IDs and keeps the replay cache of
//! assertion IDs (the key-value store, until [`ValidatedAssertion::replay_expires_at`]). Time
//! comes from the domain's [`castellan_domain::Clock`], randomness from its
//! [`castellan_domain::RandomSource`].
//!
//! Signatures are verified by xmlsec (through samael), whose verified reduction of the document
//! is what the assertion is read from; Castellan adds its own checks over the parsed XML where
//! samael is more lenient (one assertion per document, signature placement and references, no
//! SHA-1, no comments), and its own time rules, since samael's read the system clock.

mod acs;
mod authn_request;
mod connection;
mod credentials;
mod decrypt;
mod error;
mod identity;
mod metadata;
mod rules;
mod signin;
mod stored;
mod structure;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upstream;
mod xml;

pub use acs::{MAX_RESPONSE_BYTES, claimed_issuer, validate_response};
pub use authn_request::{
    MAX_RELAY_STATE_BYTES, RSA_SHA256, RedirectRequest, build_redirect_request,
};
pub use connection::{
    AttributeMapping, IdpDescriptor, MAX_CLOCK_SKEW, NameIdFormat, Preset, SamlConnection,
    SignedParts,
};
pub use credentials::{IdpCertificate, SpCredentials};
pub use error::{ResponseError, SamlError};
pub use identity::{FederatedIdentity, ValidatedAssertion};
pub use metadata::{ENCRYPTION_METHODS, MAX_METADATA_BYTES, parse_idp_metadata, sp_metadata_xml};
pub use signin::{
    Continuation, IdpRedirect, Proven, Realm, SamlSignIn, SamlSignInError, SamlSignInPorts,
};
pub use stored::{connection_from_record, domain_identity, seal_sp_key};
pub use upstream::{UpstreamClient, UpstreamError, UpstreamIdentity, UpstreamProvider};
