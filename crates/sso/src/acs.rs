//! The Assertion Consumer Service: a base64 HTTP-POST `SAMLResponse` in, a validated assertion
//! or the rule it broke out.
//!
//! Order of work: decode and parse strictly; check the document's shape ([`crate::structure`]);
//! verify every signature with xmlsec against the connection's certificates (samael's reduction
//! to signed content, SHA-256 or stronger only); read the assertion *from that verified
//! reduction* and check that it is the one assertion the document carries; decrypt an
//! `EncryptedAssertion` and verify its inner signature the same way; then apply the profile's
//! rules ([`crate::rules`]) against the caller's clock.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::Clock;
use libxml::tree::{Document, Node};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::Assertion;

use crate::connection::{SamlConnection, SignedParts};
use crate::decrypt::decrypt_assertion;
use crate::error::ResponseError;
use crate::identity::{ValidatedAssertion, identity_of};
use crate::rules::{ResponseFields, check_assertion, check_response};
use crate::structure::{AssertionShape, inspect_decrypted_assertion, inspect_response};
use crate::xml::{SAML, SAMLP, is, only_child, parse_strict};

/// The most bytes of base64 `SAMLResponse` accepted (large group lists fit well below).
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// The algorithms xmlsec may verify (its own check, beside [`crate::structure`]'s).
const ALLOWED: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Validates a `SAMLResponse` (the base64 form field of the HTTP-POST binding) for `connection`.
///
/// `expected_request_id` is the ID of the AuthnRequest this browser started (stored by the
/// caller when it sent the browser away), or `None` when the browser started none: such an
/// unsolicited Response is refused unless the connection allows them. Time comes from `clock`.
///
/// On success the caller must still consult its replay cache with
/// [`ValidatedAssertion::assertion_id`] (see there); the crate keeps no state.
pub fn validate_response(
    connection: &SamlConnection,
    saml_response: &str,
    expected_request_id: Option<&str>,
    clock: &dyn Clock,
) -> Result<ValidatedAssertion, ResponseError> {
    let xml = decode(saml_response)?;
    let doc = parse_strict(&xml).map_err(|()| ResponseError::Malformed("not well-formed XML"))?;
    let shape = inspect_response(&doc)?;
    let certificates: Vec<CertificateDer> = connection
        .idp
        .certificates
        .iter()
        .map(|c| c.to_samael())
        .collect();

    let signed_response = if shape.response_signed {
        let reduced = reduce(&xml, &certificates)?;
        let reduced = parse_strict(&reduced).map_err(|()| ResponseError::SignatureCoverage)?;
        let root = reduced
            .get_root_element()
            .ok_or(ResponseError::SignatureCoverage)?;
        if !is(&root, SAMLP, "Response")
            || root.get_attribute("ID") != Some(shape.response_id.clone())
        {
            return Err(ResponseError::SignatureCoverage);
        }
        Some(reduced)
    } else {
        None
    };
    // Response-level values come from the verified copy when there is one.
    let response_doc = signed_response.as_ref().unwrap_or(&doc);
    let response_root = response_doc
        .get_root_element()
        .ok_or(ResponseError::Structure("no root element"))?;

    let (assertion, assertion_signed) = match &shape.assertion {
        AssertionShape::Plain { id, signed } => {
            if !shape.response_signed && !signed {
                return Err(ResponseError::Unsigned);
            }
            let assertion_xml = if let Some(reduced) = &signed_response {
                // Signed by the Response (and perhaps itself: xmlsec verified every signature of
                // the document in the one pass): the verified copy's assertion.
                let node = only_child(&response_root, SAML, "Assertion")
                    .ok_or(ResponseError::SignatureCoverage)?;
                node_with_id(reduced, &node, id)?
            } else {
                verified_assertion(&xml, &certificates, id)?
            };
            (parse_assertion(&assertion_xml)?, *signed)
        }
        AssertionShape::Encrypted => {
            let encrypted = only_child(&response_root, SAML, "EncryptedAssertion")
                .ok_or(ResponseError::SignatureCoverage)?;
            let plaintext = decrypt_assertion(&encrypted, connection.sp_credentials.key())?;
            let inner = parse_strict(&plaintext)
                .map_err(|()| ResponseError::Decryption("the plaintext is not well-formed XML"))?;
            let (id, signed) = inspect_decrypted_assertion(&inner)?;
            if !shape.response_signed && !signed {
                return Err(ResponseError::Unsigned);
            }
            let assertion_xml = if signed {
                verified_assertion(&plaintext, &certificates, &id)?
            } else {
                plaintext
            };
            (parse_assertion(&assertion_xml)?, signed)
        }
    };

    require_parts(
        connection.signed_parts,
        shape.response_signed,
        assertion_signed,
    )?;
    check_response(
        &response_fields(&response_root),
        connection,
        expected_request_id,
    )?;
    let replay_expires_at =
        check_assertion(&assertion, connection, expected_request_id, clock.now())?;
    let identity = identity_of(&assertion, &connection.attributes)?;
    Ok(ValidatedAssertion {
        identity,
        assertion_id: assertion.id,
        replay_expires_at,
        response_signed: shape.response_signed,
        assertion_signed,
    })
}

/// The Issuer a Response claims, unverified: only to pick the connection whose certificates
/// then verify it (an IdP-initiated Response names no request that would). `None` when the
/// text is no readable Response or names no Issuer.
pub fn claimed_issuer(saml_response: &str) -> Option<String> {
    let xml = decode(saml_response).ok()?;
    let doc = parse_strict(&xml).ok()?;
    let root = doc.get_root_element()?;
    if !is(&root, SAMLP, "Response") {
        return None;
    }
    let issuer = only_child(&root, SAML, "Issuer")?.get_content();
    let issuer = issuer.trim();
    (!issuer.is_empty()).then(|| issuer.to_owned())
}

fn decode(saml_response: &str) -> Result<String, ResponseError> {
    if saml_response.len() > MAX_RESPONSE_BYTES {
        return Err(ResponseError::Malformed("larger than the ACS accepts"));
    }
    let compact: String = saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| ResponseError::Malformed("not base64"))?;
    String::from_utf8(bytes).map_err(|_| ResponseError::Malformed("not UTF-8"))
}

/// xmlsec's verification of every signature in `xml`, reduced to what they cover.
fn reduce(xml: &str, certificates: &[CertificateDer]) -> Result<String, ResponseError> {
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certificates,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(ALLOWED),
    )
    .map_err(|_| ResponseError::SignatureInvalid)
}

/// Verifies a document whose only signature is the assertion's own, and answers the verified
/// assertion's XML after checking it is the assertion with `id`.
fn verified_assertion(
    xml: &str,
    certificates: &[CertificateDer],
    id: &str,
) -> Result<String, ResponseError> {
    let reduced = reduce(xml, certificates)?;
    let doc = parse_strict(&reduced).map_err(|()| ResponseError::SignatureCoverage)?;
    let root = doc
        .get_root_element()
        .ok_or(ResponseError::SignatureCoverage)?;
    if !is(&root, SAML, "Assertion") {
        return Err(ResponseError::SignatureCoverage);
    }
    node_with_id(&doc, &root, id)
}

fn node_with_id(doc: &Document, node: &Node, id: &str) -> Result<String, ResponseError> {
    if node.get_attribute("ID").as_deref() != Some(id) {
        return Err(ResponseError::SignatureCoverage);
    }
    Ok(doc.node_to_string(node))
}

fn parse_assertion(xml: &str) -> Result<Assertion, ResponseError> {
    Assertion::from_str(xml).map_err(|_| ResponseError::Structure("the assertion does not parse"))
}

fn require_parts(
    required: SignedParts,
    response: bool,
    assertion: bool,
) -> Result<(), ResponseError> {
    match required {
        SignedParts::Either if response || assertion => Ok(()),
        SignedParts::Either => Err(ResponseError::Unsigned),
        SignedParts::Response if !response => {
            Err(ResponseError::RequiredSignatureMissing("Response"))
        }
        SignedParts::Assertion if !assertion => {
            Err(ResponseError::RequiredSignatureMissing("assertion"))
        }
        SignedParts::Both if !(response && assertion) => Err(
            ResponseError::RequiredSignatureMissing("Response and the assertion"),
        ),
        _ => Ok(()),
    }
}

fn response_fields(root: &Node) -> ResponseFields {
    let text = |node: Option<Node>| node.map(|n| n.get_content().trim().to_owned());
    ResponseFields {
        version: root.get_attribute("Version"),
        destination: root.get_attribute("Destination"),
        in_response_to: root.get_attribute("InResponseTo"),
        issuer: text(only_child(root, SAML, "Issuer")),
        status: only_child(root, SAMLP, "Status")
            .and_then(|status| only_child(&status, SAMLP, "StatusCode"))
            .and_then(|code| code.get_attribute("Value")),
    }
}
