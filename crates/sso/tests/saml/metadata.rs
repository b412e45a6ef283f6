//! Metadata both ways: the IdP's, as samael's metadata types write it, read into the connection;
//! the SP's, written by the crate, read back by samael as an IdP would.

use std::str::FromStr;

use castellan_domain::SystemRandom;
use castellan_sso::{
    IdpCertificate, SamlError, SignedParts, SpCredentials, parse_idp_metadata, sp_metadata_xml,
};
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    Endpoint, EntitiesDescriptor, EntityDescriptor, EntityDescriptorType, HTTP_POST_BINDING,
    HTTP_REDIRECT_BINDING, IdpSsoDescriptor, KeyDescriptor,
};
use samael::traits::ToXml;

use crate::idp::{ACS, IDP_ENTITY, IDP_SSO, SP_ENTITY, clock, connection, fixture};

fn idp_metadata(certificates: Vec<String>, bindings: &[&str]) -> String {
    let key = |use_: Option<&str>, cert: String| KeyDescriptor {
        key_use: use_.map(str::to_owned),
        key_info: KeyInfo {
            id: None,
            x509_data: Some(X509Data {
                certificates: vec![cert],
            }),
        },
        encryption_methods: None,
    };
    let mut keys: Vec<KeyDescriptor> = certificates
        .into_iter()
        .map(|cert| key(Some("signing"), cert))
        .collect();
    keys.push(key(
        Some("encryption"),
        fixture().other_idp.certificate().to_base64(),
    ));
    let descriptor = IdpSsoDescriptor {
        id: None,
        valid_until: None,
        cache_duration: None,
        protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_owned()),
        error_url: None,
        signature: None,
        key_descriptors: keys,
        organization: None,
        contact_people: vec![],
        artifact_resolution_service: vec![],
        single_logout_services: vec![Endpoint {
            binding: HTTP_REDIRECT_BINDING.to_owned(),
            location: "https://idp.example.test/saml/slo".to_owned(),
            response_location: None,
        }],
        manage_name_id_services: vec![],
        name_id_formats: vec![],
        want_authn_requests_signed: Some(true),
        single_sign_on_services: bindings
            .iter()
            .map(|binding| Endpoint {
                binding: (*binding).to_owned(),
                location: IDP_SSO.to_owned(),
                response_location: None,
            })
            .collect(),
        name_id_mapping_services: vec![],
        assertion_id_request_services: vec![],
        attribute_profiles: vec![],
        attributes: vec![],
    };
    EntityDescriptor {
        entity_id: Some(IDP_ENTITY.to_owned()),
        idp_sso_descriptors: Some(vec![descriptor]),
        ..EntityDescriptor::default()
    }
    .to_string()
    .unwrap()
}

#[test]
fn idp_metadata_gives_entity_id_endpoints_and_every_signing_certificate() {
    let fixture = fixture();
    let xml = idp_metadata(
        vec![
            fixture.idp.certificate().to_base64(),
            fixture.other_idp.certificate().to_base64(),
        ],
        &[HTTP_POST_BINDING, HTTP_REDIRECT_BINDING],
    );
    let idp = parse_idp_metadata(&xml).unwrap();
    assert_eq!(idp.entity_id, IDP_ENTITY);
    assert_eq!(idp.sso_redirect_url.as_str(), IDP_SSO);
    assert_eq!(
        idp.slo_url.map(|url| url.to_string()).as_deref(),
        Some("https://idp.example.test/saml/slo")
    );
    // Two signing certificates (a rollover); the encryption-only key is not trusted to sign.
    assert_eq!(
        idp.certificates,
        [fixture.idp.certificate(), fixture.other_idp.certificate()]
    );
}

#[test]
fn an_entities_descriptor_with_one_idp_is_read() {
    let xml = idp_metadata(
        vec![fixture().idp.certificate().to_base64()],
        &[HTTP_REDIRECT_BINDING],
    );
    let entity = EntityDescriptor::from_str(&xml).unwrap();
    let aggregate = EntityDescriptorType::EntitiesDescriptor(EntitiesDescriptor {
        descriptors: vec![EntityDescriptorType::EntityDescriptor(entity)],
        ..EntitiesDescriptor::default()
    })
    .to_string()
    .unwrap();
    assert_eq!(
        parse_idp_metadata(&aggregate).unwrap().entity_id,
        IDP_ENTITY
    );
}

#[test]
fn idp_metadata_without_a_redirect_endpoint_or_a_certificate_is_refused() {
    let cert = fixture().idp.certificate().to_base64();
    let post_only = idp_metadata(vec![cert], &[HTTP_POST_BINDING]);
    assert!(matches!(
        parse_idp_metadata(&post_only),
        Err(SamlError::Metadata(_))
    ));
    assert!(parse_idp_metadata("not xml").is_err());
    assert!(IdpCertificate::parse("bm90IGEgY2VydA==").is_err());
}

#[test]
fn sp_metadata_names_the_acs_the_keys_and_the_name_id_format() {
    let mut connection = connection();
    connection.signed_parts = SignedParts::Assertion;
    let xml = sp_metadata_xml(&connection).unwrap();
    let entity = EntityDescriptor::from_str(&xml).unwrap();
    assert_eq!(entity.entity_id.as_deref(), Some(SP_ENTITY));
    let sp = &entity.sp_sso_descriptors.unwrap()[0];
    assert_eq!(sp.assertion_consumer_services[0].location, ACS);
    assert_eq!(sp.assertion_consumer_services[0].binding, HTTP_POST_BINDING);
    assert_eq!(sp.authn_requests_signed, Some(true));
    assert_eq!(sp.want_assertions_signed, Some(true));
    assert_eq!(
        sp.name_id_formats.as_deref(),
        Some(&[connection.name_id_format.uri().to_owned()][..])
    );
    let keys = sp.key_descriptors.as_ref().unwrap();
    let uses: Vec<_> = keys.iter().map(|k| k.key_use.as_deref()).collect();
    assert_eq!(uses, [Some("signing"), Some("encryption")]);
    let cert = keys[0].key_info.x509_data.as_ref().unwrap().certificates[0].clone();
    assert_eq!(
        IdpCertificate::parse(&cert).unwrap().der(),
        connection.sp_credentials.certificate_der().unwrap()
    );
}

#[test]
fn sp_credentials_survive_a_pem_round_trip() {
    let credentials = SpCredentials::generate("sp.example.test", &clock(), &SystemRandom).unwrap();
    let again = SpCredentials::from_pem(
        &credentials.private_key_pem().unwrap(),
        &credentials.certificate_pem().unwrap(),
    )
    .unwrap();
    assert_eq!(
        again.certificate_der().unwrap(),
        credentials.certificate_der().unwrap()
    );
    assert!(!format!("{credentials:?}").contains("PRIVATE"));
    // A certificate of another key is refused.
    let other = SpCredentials::generate("other.example.test", &clock(), &SystemRandom).unwrap();
    assert!(
        SpCredentials::from_pem(
            &credentials.private_key_pem().unwrap(),
            &other.certificate_pem().unwrap()
        )
        .is_err()
    );
}
