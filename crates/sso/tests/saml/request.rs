//! AuthnRequests as the IdP receives them: the redirect signature verifies with the SP
//! certificate (samael's `UrlVerifier`), and the request says who asks and where to answer.

use castellan_domain::{Clock, SystemRandom};
use castellan_sso::{RSA_SHA256, SamlError, build_redirect_request};
use url::Url;

use crate::idp::{ACS, IDP_SSO, SP_ENTITY, clock, connection, receive, sp_cert_der};

#[test]
fn the_request_is_signed_and_names_the_sp_and_its_acs() {
    let clock = clock();
    let request = build_redirect_request(&connection(), "opaque-7", &clock, &SystemRandom).unwrap();
    assert!(request.url.as_str().starts_with(IDP_SSO));
    let (authn, relay_state) = receive(&request.url, &sp_cert_der());
    assert_eq!(authn.id, request.request_id);
    assert_eq!(relay_state.as_deref(), Some("opaque-7"));
    assert_eq!(authn.issue_instant, clock.now());
    assert_eq!(authn.destination.as_deref(), Some(IDP_SSO));
    assert_eq!(authn.assertion_consumer_service_url.as_deref(), Some(ACS));
    assert_eq!(
        authn.issuer.and_then(|issuer| issuer.value).as_deref(),
        Some(SP_ENTITY)
    );
    assert_eq!(
        authn.protocol_binding.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    let sig_alg = request
        .url
        .query_pairs()
        .find(|(key, _)| key == "SigAlg")
        .map(|(_, value)| value.into_owned());
    assert_eq!(sig_alg.as_deref(), Some(RSA_SHA256));
}

#[test]
fn each_request_has_its_own_id() {
    let clock = clock();
    let first = build_redirect_request(&connection(), "", &clock, &SystemRandom).unwrap();
    let second = build_redirect_request(&connection(), "", &clock, &SystemRandom).unwrap();
    assert_ne!(first.request_id, second.request_id);
    assert!(first.request_id.starts_with('_'));
    // Without RelayState the signed string has none either, and still verifies.
    let (_, relay_state) = receive(&first.url, &sp_cert_der());
    assert_eq!(relay_state, None);
}

#[test]
fn an_sso_url_with_its_own_query_keeps_it_outside_the_signature() {
    let mut connection = connection();
    connection.idp.sso_redirect_url =
        Url::parse("https://accounts.google.test/o/saml2/idp?idpid=C0abc").unwrap();
    let request = build_redirect_request(&connection, "rs", &clock(), &SystemRandom).unwrap();
    assert!(
        request
            .url
            .query()
            .unwrap()
            .starts_with("idpid=C0abc&SAMLRequest=")
    );
    receive(&request.url, &sp_cert_der());
}

#[test]
fn a_relay_state_over_80_bytes_is_refused() {
    let long = "x".repeat(81);
    let error = build_redirect_request(&connection(), &long, &clock(), &SystemRandom).unwrap_err();
    assert!(matches!(error, SamlError::Config(_)));
}
