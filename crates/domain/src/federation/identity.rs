//! A user as an external identity provider vouched for them, in the domain's own terms (the
//! protocol crates map their results into it; the domain depends on none of them).

use std::collections::BTreeMap;

/// Who an IdP says the user is, after the protocol crate verified the proof.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FederatedIdentity {
    /// The IdP's identifier (a SAML entity id, an OpenID issuer).
    pub issuer: String,
    /// The IdP's identifier of the user (a SAML NameID, an OpenID `sub`).
    pub subject: String,
    /// The subject's format, where the protocol names one (a NameID format URI).
    pub subject_format: Option<String>,
    /// The email address the IdP asserts.
    pub email: Option<String>,
    /// Whether the IdP says it verified the address (an OpenID `email_verified` claim). SAML
    /// has no such claim: an asserted address counts as claimed verified, and the connection's
    /// `trust_email` decides whether Castellan believes it.
    pub email_verified: bool,
    /// The given name.
    pub given_name: Option<String>,
    /// The family name.
    pub family_name: Option<String>,
    /// The groups the IdP lists for the user.
    pub groups: Vec<String>,
    /// Every attribute or claim by name.
    pub attributes: BTreeMap<String, Vec<String>>,
}
