//! The crate's errors: configuration and metadata problems, and the rule a refused Response broke.

use thiserror::Error;

/// Errors of configuring a connection, reading metadata or building a request.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SamlError {
    /// A connection setting is unusable (named in the message).
    #[error("invalid SAML connection setting: {0}")]
    Config(String),
    /// IdP metadata could not be read (the reason in the message).
    #[error("invalid IdP metadata: {0}")]
    Metadata(String),
    /// A key or certificate could not be generated, read or used.
    #[error("SAML key material: {0}")]
    Key(String),
    /// Serialising or signing an outgoing message failed.
    #[error("could not build the SAML message: {0}")]
    Build(String),
}

/// Why a Response was refused: one variant per rule, with [`ResponseError::rule`] as the stable
/// code for the audit log. Nothing here is meant for the browser.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// Not base64, not UTF-8, not well-formed XML, too large, or with a document type declaration.
    #[error("the SAMLResponse is malformed: {0}")]
    Malformed(&'static str),
    /// The document is not a SAML 2.0 Response, or an element a Response needs is missing.
    #[error("the document is not a usable SAML 2.0 Response: {0}")]
    Structure(&'static str),
    /// Not exactly one assertion (plain or encrypted), placed directly in the Response.
    #[error("the Response must hold exactly one assertion, directly: found {found}")]
    AssertionCount {
        /// How many `Assertion` and `EncryptedAssertion` elements the document holds.
        found: usize,
    },
    /// No signature covers the assertion.
    #[error("neither the Response nor the assertion is signed")]
    Unsigned,
    /// The connection demands a signature on a part that has none.
    #[error("the connection requires the {0} to be signed")]
    RequiredSignatureMissing(&'static str),
    /// A signature or digest algorithm weaker than SHA-256 (or unknown).
    #[error("signature algorithm not accepted: {0}")]
    WeakAlgorithm(String),
    /// A signature is placed, referenced or transformed in a way the SAML profile does not allow.
    #[error("signature does not cover its enclosing element as the SAML profile requires: {0}")]
    SignatureReference(&'static str),
    /// A signature does not verify with any certificate of the connection.
    #[error("the signature does not verify with any certificate of the connection")]
    SignatureInvalid,
    /// The verified content is not the assertion the Response carries (signature wrapping).
    #[error("the signed content is not the assertion the Response carries")]
    SignatureCoverage,
    /// The EncryptedAssertion could not be decrypted with the SP key.
    #[error("the encrypted assertion could not be decrypted: {0}")]
    Decryption(&'static str),
    /// The IdP answered with a status other than Success.
    #[error("the IdP answered with status {0}")]
    Status(String),
    /// The Response's Destination is not this connection's ACS URL.
    #[error("Destination {0:?} is not the ACS URL")]
    Destination(Option<String>),
    /// The Response's or the assertion's Issuer is not the IdP's entity id.
    #[error("Issuer {0:?} is not the IdP's entity id")]
    Issuer(Option<String>),
    /// The assertion's audience restrictions do not name the SP's entity id.
    #[error("the assertion is not addressed to this SP's entity id")]
    Audience,
    /// No bearer SubjectConfirmation names the ACS URL as Recipient.
    #[error("Recipient {0:?} is not the ACS URL")]
    Recipient(Option<String>),
    /// InResponseTo names no request, or another request than the one the browser started.
    #[error("InResponseTo does not match the request this browser started")]
    InResponseTo,
    /// An IdP-initiated Response, and the connection does not allow them.
    #[error("unsolicited (IdP-initiated) Responses are not allowed on this connection")]
    Unsolicited,
    /// A NotBefore (or IssueInstant) lies ahead of the current time beyond the allowed skew.
    #[error("the assertion is not valid yet")]
    NotYetValid,
    /// A NotOnOrAfter lies behind the current time beyond the allowed skew, or none is given.
    #[error("the assertion has expired")]
    Expired,
    /// The assertion has no usable subject (NameID and a bearer confirmation).
    #[error("the assertion has no usable subject: {0}")]
    Subject(&'static str),
    /// The assertion's ID was used before (found in the caller's replay cache).
    #[error("the assertion was used before")]
    Replayed,
    /// No enabled connection trusts the IdP that the Response names.
    #[error("no enabled connection trusts the IdP {0:?}")]
    UnknownIdp(Option<String>),
}

impl ResponseError {
    /// A stable, short name of the rule that failed, for the audit log.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Structure(_) => "structure",
            Self::AssertionCount { .. } => "exactly_one_assertion",
            Self::Unsigned => "unsigned",
            Self::RequiredSignatureMissing(_) => "required_signature",
            Self::WeakAlgorithm(_) => "signature_algorithm",
            Self::SignatureReference(_) => "signature_reference",
            Self::SignatureInvalid => "signature_invalid",
            Self::SignatureCoverage => "signature_coverage",
            Self::Decryption(_) => "decryption",
            Self::Status(_) => "status",
            Self::Destination(_) => "destination",
            Self::Issuer(_) => "issuer",
            Self::Audience => "audience",
            Self::Recipient(_) => "recipient",
            Self::InResponseTo => "in_response_to",
            Self::Unsolicited => "unsolicited",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::Subject(_) => "subject",
            Self::Replayed => "replayed",
            Self::UnknownIdp(_) => "unknown_idp",
        }
    }
}

/// Keeps attacker-chosen text short before it enters an error (and so the audit log).
pub(crate) fn clip(value: &str) -> String {
    value.chars().take(200).collect()
}
