//! One refusal per rule: each Response is valid but for the one thing the test changes.

use std::time::Duration;

use castellan_domain::Clock;
use castellan_sso::{ResponseError, SamlConnection, SignedParts, validate_response};

use crate::idp::{Spec, TestIdp, clock, connection, fixture};

const REQUEST: &str = "_request-of-this-browser";

fn refused(connection: &SamlConnection, idp: &TestIdp, spec: &Spec) -> ResponseError {
    validate_response(connection, &idp.respond(spec), Some(REQUEST), &clock()).unwrap_err()
}

fn valid() -> Spec {
    Spec::answering(Some(REQUEST), clock().now())
}

#[test]
fn the_unchanged_response_is_accepted() {
    validate_response(
        &connection(),
        &fixture().idp.respond(&valid()),
        Some(REQUEST),
        &clock(),
    )
    .unwrap();
}

#[test]
fn a_wrong_audience_is_refused() {
    let spec = Spec {
        audience: "https://another-sp.example.test".to_owned(),
        ..valid()
    };
    let error = refused(&connection(), &fixture().idp, &spec);
    assert_eq!(error, ResponseError::Audience);
    assert_eq!(error.rule(), "audience");
}

#[test]
fn a_wrong_destination_is_refused() {
    let spec = Spec {
        destination: "https://evil.example.test/acs".to_owned(),
        ..valid()
    };
    let error = refused(&connection(), &fixture().idp, &spec);
    assert_eq!(error.rule(), "destination");
}

#[test]
fn a_wrong_recipient_is_refused() {
    let spec = Spec {
        recipient: "https://evil.example.test/acs".to_owned(),
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec).rule(),
        "recipient"
    );
}

#[test]
fn a_wrong_issuer_is_refused() {
    let spec = Spec {
        issuer: "https://another-idp.example.test".to_owned(),
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec).rule(),
        "issuer"
    );
}

#[test]
fn a_failed_status_is_refused() {
    let spec = Spec {
        status: "urn:oasis:names:tc:SAML:2.0:status:Requester".to_owned(),
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec).rule(),
        "status"
    );
}

#[test]
fn an_expired_response_is_refused() {
    let clock = clock();
    let response = fixture().idp.respond(&valid());
    // Five minutes of validity, two of skew: at seven minutes it is over.
    clock.advance(Duration::from_secs(7 * 60));
    let error = validate_response(&connection(), &response, Some(REQUEST), &clock).unwrap_err();
    assert_eq!(error, ResponseError::Expired);
}

#[test]
fn a_response_not_yet_valid_is_refused() {
    let start = clock().now() + chrono::Duration::minutes(10);
    let spec = Spec {
        not_before: start,
        not_on_or_after: start + chrono::Duration::minutes(5),
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec),
        ResponseError::NotYetValid
    );
    // An IdP whose clock runs ten minutes ahead issues "in the future" as well.
    let spec = Spec {
        issued_at: start,
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec),
        ResponseError::NotYetValid
    );
}

#[test]
fn an_unsigned_response_is_refused() {
    let spec = Spec {
        sign_response: false,
        sign_assertion: false,
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec),
        ResponseError::Unsigned
    );
}

#[test]
fn a_response_signed_by_another_key_is_refused() {
    for (sign_response, sign_assertion) in [(false, true), (true, false)] {
        let spec = Spec {
            sign_response,
            sign_assertion,
            ..valid()
        };
        assert_eq!(
            refused(&connection(), &fixture().other_idp, &spec),
            ResponseError::SignatureInvalid
        );
    }
}

#[test]
fn a_sha1_signature_is_refused() {
    for (sign_response, sign_assertion) in [(false, true), (true, false)] {
        let spec = Spec {
            sign_response,
            sign_assertion,
            sha1: true,
            ..valid()
        };
        let error = refused(&connection(), &fixture().idp, &spec);
        assert_eq!(error.rule(), "signature_algorithm", "{error}");
    }
}

#[test]
fn a_response_to_another_request_is_refused() {
    let spec = Spec::answering(Some("_request-of-another-browser"), clock().now());
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec),
        ResponseError::InResponseTo
    );
    // Nor may a Response to some request arrive where the browser started none.
    let error = validate_response(&connection(), &fixture().idp.respond(&spec), None, &clock())
        .unwrap_err();
    assert_eq!(error, ResponseError::InResponseTo);
}

#[test]
fn an_unsolicited_response_is_refused_by_default() {
    let spec = Spec::answering(None, clock().now());
    let response = fixture().idp.respond(&spec);
    let error = validate_response(&connection(), &response, None, &clock()).unwrap_err();
    assert_eq!(error, ResponseError::Unsolicited);
    // And an unsolicited Response cannot stand in for the request the browser did start.
    let error = validate_response(&connection(), &response, Some(REQUEST), &clock()).unwrap_err();
    assert_eq!(error, ResponseError::InResponseTo);
}

#[test]
fn a_connection_demanding_a_signed_part_refuses_a_response_without_it() {
    let mut connection = connection();
    connection.signed_parts = SignedParts::Response;
    assert_eq!(
        refused(&connection, &fixture().idp, &valid()),
        ResponseError::RequiredSignatureMissing("Response")
    );
    connection.signed_parts = SignedParts::Assertion;
    let spec = Spec {
        sign_response: true,
        sign_assertion: false,
        ..valid()
    };
    assert_eq!(
        refused(&connection, &fixture().idp, &spec).rule(),
        "required_signature"
    );
    connection.signed_parts = SignedParts::Both;
    assert_eq!(
        refused(&connection, &fixture().idp, &spec).rule(),
        "required_signature"
    );
}

#[test]
fn garbage_is_refused_as_malformed() {
    for input in ["not base64 at all!", "PGZvbw==", ""] {
        let error = validate_response(&connection(), input, Some(REQUEST), &clock()).unwrap_err();
        assert_eq!(error.rule(), "malformed", "{input}: {error}");
    }
}

#[test]
fn an_assertion_encrypted_for_another_key_is_refused() {
    let spec = Spec {
        sign_response: true,
        encrypt_for: Some(fixture().other_idp.cert.der_data().to_vec()),
        ..valid()
    };
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec).rule(),
        "decryption"
    );
}

#[test]
fn an_encrypted_assertion_without_any_signature_is_refused() {
    let spec = Spec {
        sign_response: false,
        sign_assertion: false,
        encrypt_for: Some(crate::idp::sp_cert_der()),
        ..valid()
    };
    // Encryption to the SP's public key proves nothing about who wrote the assertion.
    assert_eq!(
        refused(&connection(), &fixture().idp, &spec),
        ResponseError::Unsigned
    );
}
