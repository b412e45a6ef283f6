//! SP-initiated sign-in: a signed AuthnRequest for the HTTP-Redirect binding (SAML bindings
//! 3.4.4.1): the request is deflated and base64-encoded into `SAMLRequest`, and the query
//! `SAMLRequest=…&RelayState=…&SigAlg=…` is signed with the SP key (RSA-SHA256).

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::{Clock, RandomSource};
use flate2::Compression;
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use samael::metadata::HTTP_POST_BINDING;
use samael::schema::{AuthnRequest, Issuer, NameIdPolicy};
use samael::traits::ToXml;
use url::Url;
use url::form_urlencoded::byte_serialize;

use crate::connection::SamlConnection;
use crate::error::SamlError;

/// The signature algorithm of redirect-bound requests.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The most bytes of RelayState the binding allows (SAML bindings 3.4.3).
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// A signed AuthnRequest ready to send the browser to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRequest {
    /// The IdP's SSO URL with `SAMLRequest`, `RelayState`, `SigAlg` and `Signature`.
    pub url: Url,
    /// The request's ID: the caller stores it, bound to this browser, and passes it back as the
    /// expected `InResponseTo` when the Response arrives.
    pub request_id: String,
}

/// Builds a signed AuthnRequest for `connection`, carrying `relay_state` (at most 80 bytes; the
/// caller makes it an opaque handle, never a URL the IdP could alter).
pub fn build_redirect_request(
    connection: &SamlConnection,
    relay_state: &str,
    clock: &dyn Clock,
    random: &dyn RandomSource,
) -> Result<RedirectRequest, SamlError> {
    if relay_state.len() > MAX_RELAY_STATE_BYTES {
        return Err(SamlError::Config(format!(
            "RelayState may be at most {MAX_RELAY_STATE_BYTES} bytes"
        )));
    }
    let request_id = new_id(random);
    let request = AuthnRequest {
        id: request_id.clone(),
        version: "2.0".to_owned(),
        issue_instant: clock.now(),
        destination: Some(connection.idp.sso_redirect_url.to_string()),
        issuer: Some(Issuer {
            value: Some(connection.sp_entity_id.clone()),
            ..Issuer::default()
        }),
        name_id_policy: Some(NameIdPolicy {
            format: Some(connection.name_id_format.uri().to_owned()),
            sp_name_qualifier: None,
            allow_create: Some(true),
        }),
        assertion_consumer_service_url: Some(connection.acs_url.to_string()),
        protocol_binding: Some(HTTP_POST_BINDING.to_owned()),
        ..AuthnRequest::default()
    };
    let xml = request
        .to_string()
        .map_err(|e| SamlError::Build(format!("AuthnRequest: {e}")))?;
    let mut query = format!("SAMLRequest={}", encode(&deflate_base64(xml.as_bytes())?));
    if !relay_state.is_empty() {
        query.push_str("&RelayState=");
        query.push_str(&encode(relay_state));
    }
    query.push_str("&SigAlg=");
    query.push_str(&encode(RSA_SHA256));
    let signature = sign(connection, query.as_bytes())?;
    query.push_str("&Signature=");
    query.push_str(&encode(&STANDARD.encode(signature)));

    // The IdP's own query parameters (Google's `idpid`) stay first and outside the signed string.
    let mut url = connection.idp.sso_redirect_url.clone();
    let full = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{query}"),
        _ => query,
    };
    url.set_query(Some(&full));
    Ok(RedirectRequest { url, request_id })
}

/// A fresh SAML ID: 20 random bytes in hex behind an underscore, so it is an `NCName`.
pub(crate) fn new_id(random: &dyn RandomSource) -> String {
    let bytes = random.bytes::<20>();
    let mut id = String::with_capacity(41);
    id.push('_');
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

fn deflate_base64(data: &[u8]) -> Result<String, SamlError> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(data)
        .map_err(|e| SamlError::Build(format!("deflating the request: {e}")))?;
    let compressed = encoder
        .finish()
        .map_err(|e| SamlError::Build(format!("deflating the request: {e}")))?;
    Ok(STANDARD.encode(compressed))
}

fn encode(value: &str) -> String {
    byte_serialize(value.as_bytes()).collect()
}

fn sign(connection: &SamlConnection, data: &[u8]) -> Result<Vec<u8>, SamlError> {
    let fail = |e: openssl::error::ErrorStack| SamlError::Key(format!("signing the request: {e}"));
    let mut signer =
        Signer::new(MessageDigest::sha256(), connection.sp_credentials.key()).map_err(fail)?;
    signer.update(data).map_err(fail)?;
    signer.sign_to_vec().map_err(fail)
}
