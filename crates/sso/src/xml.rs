//! The XML ground rules every inbound document meets before any SAML reading: well-formed
//! (libxml2 without its recovery mode), no document type declaration (no entity expansion), no
//! network access, and small helpers over namespaced elements.

use libxml::parser::{Parser, ParserOptions};
use libxml::tree::{Document, Node, NodeType};

/// The SAML 2.0 protocol namespace.
pub(crate) const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 assertion namespace.
pub(crate) const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The XML Signature namespace.
pub(crate) const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The XML Encryption namespace.
pub(crate) const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";

/// Refuses document type declarations: SAML needs none, and they carry entity expansion.
pub(crate) fn reject_doctype(xml: &str) -> Result<(), ()> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        Err(())
    } else {
        Ok(())
    }
}

/// Parses a well-formed document strictly: errors are not recovered from, nothing is fetched.
pub(crate) fn parse_strict(xml: &str) -> Result<Document, ()> {
    reject_doctype(xml)?;
    let options = ParserOptions {
        recover: false,
        no_net: true,
        ..ParserOptions::default()
    };
    Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|_| ())
}

/// Whether `node` is the element `{namespace}name`.
pub(crate) fn is(node: &Node, namespace: &str, name: &str) -> bool {
    node.get_type() == Some(NodeType::ElementNode)
        && node.get_name() == name
        && node
            .get_namespace()
            .is_some_and(|ns| ns.get_href() == namespace)
}

/// The child elements `{namespace}name` of `node`.
pub(crate) fn children(node: &Node, namespace: &str, name: &str) -> Vec<Node> {
    node.get_child_elements()
        .into_iter()
        .filter(|child| is(child, namespace, name))
        .collect()
}

/// The single child element `{namespace}name`, if there is exactly one.
pub(crate) fn only_child(node: &Node, namespace: &str, name: &str) -> Option<Node> {
    let mut found = children(node, namespace, name);
    if found.len() == 1 { found.pop() } else { None }
}

/// Every node below `node` (not `node` itself), depth first, of any type.
pub(crate) fn descendants(node: &Node) -> Vec<Node> {
    let mut found = Vec::new();
    let mut stack: Vec<Node> = node.get_child_nodes().into_iter().rev().collect();
    while let Some(next) = stack.pop() {
        stack.extend(next.get_child_nodes().into_iter().rev());
        found.push(next);
    }
    found
}

/// The text of an element with all ASCII whitespace removed (base64 content).
pub(crate) fn compact_text(node: &Node) -> String {
    node.get_content()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect()
}
