//! Responses the SP accepts: signed in each way the profile allows, encrypted, after a key
//! rollover, and unsolicited where allowed.

use castellan_domain::{Clock, SystemRandom};
use castellan_sso::{Preset, SignedParts, build_redirect_request, validate_response};

use crate::idp::{Spec, clock, connection, fixture, receive, sp_cert_der};

#[test]
fn a_response_to_our_request_with_a_signed_assertion_is_accepted() {
    let clock = clock();
    let connection = connection();
    let request = build_redirect_request(&connection, "rs-1", &clock, &SystemRandom).unwrap();
    let (authn_request, _) = receive(&request.url, &sp_cert_der());
    let spec = Spec::answering(Some(&authn_request.id), clock.now());
    let response = fixture().idp.respond(&spec);

    let validated =
        validate_response(&connection, &response, Some(&request.request_id), &clock).unwrap();

    assert!(validated.assertion_signed);
    assert!(!validated.response_signed);
    assert_eq!(validated.assertion_id, spec.assertion_id);
    assert_eq!(
        validated.replay_expires_at,
        spec.not_on_or_after + chrono::Duration::seconds(120)
    );
    let identity = validated.identity;
    assert_eq!(identity.issuer, crate::idp::IDP_ENTITY);
    assert_eq!(identity.name_id, "ada@acme.example");
    assert_eq!(
        identity.name_id_format.as_deref(),
        Some(crate::idp::EMAIL_FORMAT)
    );
    assert_eq!(identity.email.as_deref(), Some("ada@acme.example"));
    assert_eq!(identity.given_name.as_deref(), Some("Ada"));
    assert_eq!(identity.family_name.as_deref(), Some("Lovelace"));
    assert_eq!(identity.groups, ["engineering", "admins"]);
    assert_eq!(identity.session_index.as_deref(), Some("_session-7"));
    assert_eq!(identity.attributes["groups"].len(), 2);
}

#[test]
fn a_response_signed_only_on_the_response_is_accepted() {
    let clock = clock();
    let spec = Spec {
        sign_response: true,
        sign_assertion: false,
        ..Spec::answering(Some("_req-1"), clock.now())
    };
    let validated = validate_response(
        &connection(),
        &fixture().idp.respond(&spec),
        Some("_req-1"),
        &clock,
    )
    .unwrap();
    assert!(validated.response_signed);
    assert!(!validated.assertion_signed);
    assert_eq!(validated.identity.name_id, "ada@acme.example");
}

#[test]
fn a_response_signed_on_both_parts_meets_a_connection_demanding_both() {
    let clock = clock();
    let mut connection = connection();
    connection.signed_parts = SignedParts::Both;
    let spec = Spec {
        sign_response: true,
        ..Spec::answering(Some("_req-2"), clock.now())
    };
    let validated = validate_response(
        &connection,
        &fixture().idp.respond(&spec),
        Some("_req-2"),
        &clock,
    )
    .unwrap();
    assert!(validated.response_signed && validated.assertion_signed);
}

#[test]
fn an_encrypted_assertion_is_decrypted_with_the_sp_key() {
    let clock = clock();
    for (sign_response, sign_assertion) in [(true, false), (false, true), (true, true)] {
        let spec = Spec {
            sign_response,
            sign_assertion,
            encrypt_for: Some(sp_cert_der()),
            ..Spec::answering(Some("_req-3"), clock.now())
        };
        let xml = fixture().idp.respond_xml(&spec);
        assert!(xml.contains("EncryptedAssertion") && !xml.contains("ada@acme.example"));
        let validated = validate_response(
            &connection(),
            &fixture().idp.respond(&spec),
            Some("_req-3"),
            &clock,
        )
        .unwrap();
        assert_eq!(
            validated.identity.email.as_deref(),
            Some("ada@acme.example")
        );
        assert_eq!(validated.assertion_signed, sign_assertion);
        assert_eq!(validated.response_signed, sign_response);
    }
}

#[test]
fn during_a_rollover_either_certificate_verifies() {
    let clock = clock();
    let mut connection = connection();
    connection
        .idp
        .certificates
        .insert(0, fixture().other_idp.certificate());
    for idp in [&fixture().idp, &fixture().other_idp] {
        let spec = Spec::answering(Some("_req-4"), clock.now());
        validate_response(&connection, &idp.respond(&spec), Some("_req-4"), &clock).unwrap();
    }
}

#[test]
fn an_unsolicited_response_is_accepted_where_the_connection_allows_it() {
    let clock = clock();
    let mut connection = connection();
    connection.allow_unsolicited = true;
    let spec = Spec::answering(None, clock.now());
    let validated =
        validate_response(&connection, &fixture().idp.respond(&spec), None, &clock).unwrap();
    assert_eq!(validated.identity.name_id, "ada@acme.example");
}

#[test]
fn the_assertion_id_is_the_same_each_time_the_response_is_presented() {
    // The replay cache is the caller's: it keys on this ID, so the ID must not vary.
    let clock = clock();
    let spec = Spec::answering(Some("_req-5"), clock.now());
    let response = fixture().idp.respond(&spec);
    let first = validate_response(&connection(), &response, Some("_req-5"), &clock).unwrap();
    let second = validate_response(&connection(), &response, Some("_req-5"), &clock).unwrap();
    assert_eq!(first.assertion_id, spec.assertion_id);
    assert_eq!(first.assertion_id, second.assertion_id);
    assert_eq!(first.replay_expires_at, second.replay_expires_at);
}

#[test]
fn an_entra_style_assertion_maps_through_the_entra_preset() {
    let clock = clock();
    let mut connection = connection();
    connection.attributes = castellan_sso::AttributeMapping::for_preset(Preset::Entra);
    let claims = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
    let spec = Spec {
        name_id: "0f8e-opaque".to_owned(),
        name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".to_owned(),
        attributes: vec![
            (
                format!("{claims}/emailaddress"),
                vec!["grace@acme.example".to_owned()],
            ),
            (format!("{claims}/givenname"), vec!["Grace".to_owned()]),
            (format!("{claims}/surname"), vec!["Hopper".to_owned()]),
            (
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".to_owned(),
                vec!["8c2f1d2e-group".to_owned()],
            ),
        ],
        ..Spec::answering(Some("_req-6"), clock.now())
    };
    let identity = validate_response(
        &connection,
        &fixture().idp.respond(&spec),
        Some("_req-6"),
        &clock,
    )
    .unwrap()
    .identity;
    assert_eq!(identity.name_id, "0f8e-opaque");
    assert_eq!(identity.email.as_deref(), Some("grace@acme.example"));
    assert_eq!(identity.given_name.as_deref(), Some("Grace"));
    assert_eq!(identity.family_name.as_deref(), Some("Hopper"));
    assert_eq!(identity.groups, ["8c2f1d2e-group"]);
}

#[test]
fn a_response_within_the_clock_skew_is_accepted() {
    let clock = clock();
    let spec = Spec::answering(Some("_req-7"), clock.now());
    let response = fixture().idp.respond(&spec);
    // Five minutes of validity plus 119 seconds of the allowed two minutes' skew.
    clock.advance(std::time::Duration::from_secs(300 + 119));
    validate_response(&connection(), &response, Some("_req-7"), &clock).unwrap();
}
