//! Castellan's own shape rules over the parsed Response, checked before and beside xmlsec's
//! verification so that the assertion read is the one a signature covers:
//!
//! - exactly one assertion (plain or encrypted) in the whole document, a direct child of the
//!   Response; no comments or processing instructions anywhere (they split text nodes that a
//!   canonicalised digest does not see);
//! - each signature is a direct child of the Response or of the assertion, at most one each, with
//!   one Reference whose URI is `#` + the ID of that parent (SAML core 5.4.2), only the
//!   enveloped-signature and exclusive canonicalisation transforms, and SHA-256 or stronger for
//!   both the signature and the digest.

use libxml::tree::{Document, Node, NodeType};

use crate::error::{ResponseError, clip};
use crate::xml::{DSIG, SAML, SAMLP, children, descendants, is, only_child};

/// Signature algorithms accepted: RSA or ECDSA with SHA-256 or stronger.
pub(crate) const SIGNATURE_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// Digest algorithms accepted: SHA-256 or stronger.
const DIGEST_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

const EXCLUSIVE_C14N: &[&str] = &[
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
];
const INCLUSIVE_C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// What the Response holds, as far as its shape tells.
#[derive(Debug)]
pub(crate) struct Shape {
    /// The Response's ID.
    pub response_id: String,
    /// Whether the Response carries a (well-placed) signature.
    pub response_signed: bool,
    /// The single assertion.
    pub assertion: AssertionShape,
}

/// The Response's single assertion.
#[derive(Debug)]
pub(crate) enum AssertionShape {
    /// A plain assertion with its ID and whether it carries a signature.
    Plain { id: String, signed: bool },
    /// An EncryptedAssertion (what it holds is known after decryption).
    Encrypted,
}

/// Checks the Response document's shape.
pub(crate) fn inspect_response(doc: &Document) -> Result<Shape, ResponseError> {
    let root = doc
        .get_root_element()
        .ok_or(ResponseError::Structure("no root element"))?;
    if !is(&root, SAMLP, "Response") {
        return Err(ResponseError::Structure(
            "the root element is not a Response",
        ));
    }
    let response_id = required_id(&root)?;
    let nodes = descendants(&root);
    refuse_comments(&nodes)?;
    let assertions: Vec<&Node> = nodes
        .iter()
        .filter(|n| is(n, SAML, "Assertion") || is(n, SAML, "EncryptedAssertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(ResponseError::AssertionCount {
            found: assertions.len(),
        });
    };
    let direct = assertion
        .get_parent()
        .is_some_and(|parent| parent.node_ptr() == root.node_ptr());
    if !direct {
        return Err(ResponseError::AssertionCount { found: 1 });
    }
    let signatures: Vec<&Node> = nodes.iter().filter(|n| is(n, DSIG, "Signature")).collect();
    let response_signed = signed_by_own_signature(&root, &response_id)?;
    let shape = if is(assertion, SAML, "Assertion") {
        let id = required_id(assertion)?;
        let signed = signed_by_own_signature(assertion, &id)?;
        if signatures.len() != usize::from(response_signed) + usize::from(signed) {
            return Err(ResponseError::SignatureReference(
                "a signature is placed outside the Response and the assertion",
            ));
        }
        AssertionShape::Plain { id, signed }
    } else {
        if signatures.len() != usize::from(response_signed) {
            return Err(ResponseError::SignatureReference(
                "a signature is placed outside the Response",
            ));
        }
        AssertionShape::Encrypted
    };
    Ok(Shape {
        response_id,
        response_signed,
        assertion: shape,
    })
}

/// Checks a decrypted assertion's shape: one Assertion root, none nested, signature placement.
/// Answers its ID and whether it carries a signature.
pub(crate) fn inspect_decrypted_assertion(doc: &Document) -> Result<(String, bool), ResponseError> {
    let root = doc.get_root_element().ok_or(ResponseError::Decryption(
        "the plaintext has no root element",
    ))?;
    if !is(&root, SAML, "Assertion") {
        return Err(ResponseError::Decryption(
            "the plaintext is not an Assertion",
        ));
    }
    let id = required_id(&root)?;
    let nodes = descendants(&root);
    refuse_comments(&nodes)?;
    let nested = nodes
        .iter()
        .filter(|n| is(n, SAML, "Assertion") || is(n, SAML, "EncryptedAssertion"))
        .count();
    if nested > 0 {
        return Err(ResponseError::AssertionCount { found: nested + 1 });
    }
    let signed = signed_by_own_signature(&root, &id)?;
    let signatures = nodes.iter().filter(|n| is(n, DSIG, "Signature")).count();
    if signatures != usize::from(signed) {
        return Err(ResponseError::SignatureReference(
            "a signature is placed outside the assertion",
        ));
    }
    Ok((id, signed))
}

fn refuse_comments(nodes: &[Node]) -> Result<(), ResponseError> {
    let odd = nodes.iter().any(|n| {
        matches!(
            n.get_type(),
            Some(NodeType::CommentNode | NodeType::PiNode | NodeType::EntityRefNode)
        )
    });
    if odd {
        Err(ResponseError::Malformed(
            "comments, processing instructions and entity references are refused",
        ))
    } else {
        Ok(())
    }
}

fn required_id(node: &Node) -> Result<String, ResponseError> {
    node.get_attribute("ID")
        .filter(|id| !id.is_empty())
        .ok_or(ResponseError::Structure(
            "an element that needs an ID has none",
        ))
}

/// Whether `parent` carries its own signature (checked for the profile's rules).
fn signed_by_own_signature(parent: &Node, parent_id: &str) -> Result<bool, ResponseError> {
    let signatures = children(parent, DSIG, "Signature");
    match signatures.as_slice() {
        [] => Ok(false),
        [signature] => check_signature(signature, parent_id).map(|()| true),
        _ => Err(ResponseError::SignatureReference(
            "more than one signature on one element",
        )),
    }
}

fn algorithm(node: &Node) -> String {
    node.get_attribute("Algorithm").unwrap_or_default()
}

fn check_signature(signature: &Node, parent_id: &str) -> Result<(), ResponseError> {
    let bad = ResponseError::SignatureReference;
    let signed_info = only_child(signature, DSIG, "SignedInfo").ok_or(bad("no SignedInfo"))?;
    let c14n = only_child(&signed_info, DSIG, "CanonicalizationMethod")
        .map(|m| algorithm(&m))
        .ok_or(bad("no CanonicalizationMethod"))?;
    if !EXCLUSIVE_C14N.contains(&c14n.as_str()) && c14n != INCLUSIVE_C14N {
        return Err(bad("unknown canonicalization"));
    }
    let method = only_child(&signed_info, DSIG, "SignatureMethod")
        .map(|m| algorithm(&m))
        .ok_or(bad("no SignatureMethod"))?;
    if !SIGNATURE_ALGORITHMS.contains(&method.as_str()) {
        return Err(ResponseError::WeakAlgorithm(clip(&method)));
    }
    let reference = only_child(&signed_info, DSIG, "Reference")
        .ok_or(bad("a signature must hold exactly one Reference"))?;
    let uri = reference.get_attribute("URI").unwrap_or_default();
    if uri.strip_prefix('#') != Some(parent_id) {
        return Err(bad(
            "the Reference does not point at the signed element's ID",
        ));
    }
    if let Some(transforms) = only_child(&reference, DSIG, "Transforms") {
        for transform in transforms.get_child_elements() {
            let name = algorithm(&transform);
            let known = is(&transform, DSIG, "Transform")
                && (name == ENVELOPED || EXCLUSIVE_C14N.contains(&name.as_str()));
            if !known {
                return Err(bad(
                    "a Transform other than enveloped-signature and exc-c14n",
                ));
            }
        }
    }
    let digest = only_child(&reference, DSIG, "DigestMethod")
        .map(|m| algorithm(&m))
        .ok_or(bad("no DigestMethod"))?;
    if !DIGEST_ALGORITHMS.contains(&digest.as_str()) {
        return Err(ResponseError::WeakAlgorithm(clip(&digest)));
    }
    Ok(())
}
