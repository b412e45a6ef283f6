//! The SAML SP core against a real IdP implementation (samael's IdP side with xmlsec signing):
//! AuthnRequests the IdP verifies, Responses the SP accepts, one refusal per rule, and
//! signature-wrapping attempts made by editing a validly signed Response's DOM.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accept;
mod idp;
mod metadata;
mod refuse;
mod request;
mod wrapping;
