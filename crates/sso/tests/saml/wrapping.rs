//! Signature wrapping: a validly signed Response is edited through libxml's DOM so that an
//! unsigned "evil" assertion sits next to, around or in place of the signed one. The validator
//! must read the signed assertion only, or refuse.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::Clock;
use castellan_sso::{ResponseError, validate_response};
use libxml::tree::{Document, Node};

use crate::idp::{Spec, clock, connection, fixture, parse};

const REQUEST: &str = "_wrapped-request";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

fn signed_response(sign_response: bool, sign_assertion: bool) -> String {
    let spec = Spec {
        sign_response,
        sign_assertion,
        ..Spec::answering(Some(REQUEST), clock().now())
    };
    fixture().idp.respond_xml(&spec)
}

fn element(node: &Node, namespace: &str, name: &str) -> Option<Node> {
    let mut stack = vec![node.clone()];
    while let Some(next) = stack.pop() {
        let matches = next.get_name() == name
            && next
                .get_namespace()
                .is_some_and(|ns| ns.get_href() == namespace);
        if matches {
            return Some(next);
        }
        stack.extend(next.get_child_elements().into_iter().rev());
    }
    None
}

fn root(doc: &Document) -> Node {
    doc.get_root_element().unwrap()
}

/// A copy of the signed assertion, imported into `doc`, turned into the attacker's: another ID,
/// another subject, no signature.
fn evil_assertion(doc: &mut Document, xml: &str) -> Node {
    let source = parse(xml);
    let mut assertion = element(&root(&source), SAML, "Assertion").unwrap();
    assertion.unlink();
    let mut evil = doc.import_node(&mut assertion).unwrap();
    evil.set_attribute("ID", "_evil-assertion").unwrap();
    element(&evil, SAML, "NameID")
        .unwrap()
        .set_content("mallory@evil.example")
        .unwrap();
    if let Some(mut signature) = element(&evil, DSIG, "Signature") {
        signature.unlink();
    }
    evil
}

fn validate(doc: &Document) -> Result<castellan_sso::ValidatedAssertion, ResponseError> {
    let encoded = STANDARD.encode(doc.to_string());
    validate_response(&connection(), &encoded, Some(REQUEST), &clock())
}

fn assert_not_mallory(result: Result<castellan_sso::ValidatedAssertion, ResponseError>) {
    match result {
        Ok(validated) => assert_eq!(validated.identity.name_id, "ada@acme.example"),
        Err(error) => assert_ne!(error.rule(), "", "refused: {error}"),
    }
}

#[test]
fn an_evil_assertion_beside_the_signed_one_is_refused() {
    let xml = signed_response(false, true);
    for before in [true, false] {
        let mut doc = parse(&xml);
        let mut evil = evil_assertion(&mut doc, &xml);
        let mut signed = element(&root(&doc), SAML, "Assertion").unwrap();
        if before {
            signed.add_prev_sibling(&mut evil).unwrap();
        } else {
            signed.add_next_sibling(&mut evil).unwrap();
        }
        assert_eq!(
            validate(&doc).unwrap_err(),
            ResponseError::AssertionCount { found: 2 }
        );
    }
}

#[test]
fn the_signed_assertion_hidden_inside_an_evil_one_is_refused() {
    let xml = signed_response(false, true);
    let mut doc = parse(&xml);
    let mut evil = evil_assertion(&mut doc, &xml);
    let mut signed = element(&root(&doc), SAML, "Assertion").unwrap();
    signed.unlink();
    evil.add_child(&mut signed).unwrap();
    root(&doc).add_child(&mut evil).unwrap();
    assert_eq!(
        validate(&doc).unwrap_err(),
        ResponseError::AssertionCount { found: 2 }
    );
}

#[test]
fn an_evil_assertion_carrying_the_signed_ones_signature_is_refused() {
    // The attacker keeps the genuine signature (it still verifies against the genuine
    // assertion's ID, moved out of sight into the Response's Extensions) and makes the evil
    // assertion the only one in view.
    let xml = signed_response(false, true);
    let mut doc = parse(&xml);
    let mut evil = evil_assertion(&mut doc, &xml);
    let mut signed = element(&root(&doc), SAML, "Assertion").unwrap();
    let mut signature = element(&signed, DSIG, "Signature").unwrap();
    signature.unlink();
    evil.add_child(&mut signature).unwrap();
    signed.unlink();
    let mut response = root(&doc);
    let protocol = response.get_namespace();
    let mut extensions = response.new_child(protocol, "Extensions").unwrap();
    extensions.add_child(&mut signed).unwrap();
    drop(extensions);
    response.add_child(&mut evil).unwrap();
    let error = validate(&doc).unwrap_err();
    assert_eq!(error, ResponseError::AssertionCount { found: 2 });

    // Without the genuine assertion at all, the signature's reference no longer fits.
    let mut doc = parse(&xml);
    let mut evil = evil_assertion(&mut doc, &xml);
    let mut signed = element(&root(&doc), SAML, "Assertion").unwrap();
    let mut signature = element(&signed, DSIG, "Signature").unwrap();
    signature.unlink();
    let mut issuer = element(&evil, SAML, "Issuer").unwrap();
    issuer.add_next_sibling(&mut signature).unwrap();
    drop(issuer);
    signed.unlink();
    root(&doc).add_child(&mut evil).unwrap();
    assert_eq!(validate(&doc).unwrap_err().rule(), "signature_reference");
}

#[test]
fn an_edited_assertion_under_a_response_signature_is_refused() {
    let xml = signed_response(true, false);
    let doc = parse(&xml);
    element(&root(&doc), SAML, "NameID")
        .unwrap()
        .set_content("mallory@evil.example")
        .unwrap();
    assert_eq!(validate(&doc).unwrap_err(), ResponseError::SignatureInvalid);
}

#[test]
fn an_evil_assertion_beside_a_signed_response_is_refused_or_ignored() {
    let xml = signed_response(true, true);
    let mut doc = parse(&xml);
    let mut evil = evil_assertion(&mut doc, &xml);
    root(&doc).add_child(&mut evil).unwrap();
    let result = validate(&doc);
    assert_not_mallory(result.clone());
    assert_eq!(
        result.unwrap_err(),
        ResponseError::AssertionCount { found: 2 }
    );
}

#[test]
fn a_processing_instruction_splitting_the_name_id_is_refused() {
    // Canonicalisation without comments drops a comment, so a digest would still match while the
    // text read differs; comments and processing instructions are refused alike.
    let xml = signed_response(false, true);
    let mut doc = parse(&xml);
    let mut instruction = doc.create_processing_instruction("x", "y").unwrap();
    let mut name_id = element(&root(&doc), SAML, "NameID").unwrap();
    name_id.add_child(&mut instruction).unwrap();
    drop(name_id);
    assert_eq!(validate(&doc).unwrap_err().rule(), "malformed");
}
