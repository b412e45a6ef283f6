//! SAML metadata: reading an IdP's (entity id, SSO and SLO endpoints, signing certificates) and
//! writing the SP's own (entity id, ACS, keys, NameID format).

use std::str::FromStr;

use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    EncryptionMethod, Endpoint, EntityDescriptor, EntityDescriptorType, HTTP_POST_BINDING,
    HTTP_REDIRECT_BINDING, IdpSsoDescriptor, IndexedEndpoint, KeyDescriptor, SpSsoDescriptor,
};
use samael::traits::ToXml;
use url::Url;

use crate::connection::{IdpDescriptor, SamlConnection, SignedParts};
use crate::credentials::IdpCertificate;
use crate::error::SamlError;
use crate::xml::reject_doctype;

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The most bytes of IdP metadata read (federation aggregates are refused anyway).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// The key transport and content encryption algorithms the SP decrypts, in order of preference.
pub const ENCRYPTION_METHODS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

fn metadata_error(message: impl Into<String>) -> SamlError {
    SamlError::Metadata(message.into())
}

/// Reads an IdP's metadata: one `EntityDescriptor` with an `IDPSSODescriptor` for SAML 2.0 that
/// offers the HTTP-Redirect binding and at least one signing certificate.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpDescriptor, SamlError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(metadata_error("larger than 1 MiB"));
    }
    reject_doctype(xml).map_err(|_| metadata_error("document type declarations are refused"))?;
    let entity = single_entity(xml)?;
    let entity_id = entity
        .entity_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| metadata_error("the EntityDescriptor has no entityID"))?;
    let descriptor = entity
        .idp_sso_descriptors
        .iter()
        .flatten()
        .find(|d| {
            d.protocol_support_enumeration
                .as_deref()
                .is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL))
        })
        .ok_or_else(|| metadata_error("no IDPSSODescriptor supports SAML 2.0"))?;
    let sso = descriptor
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == HTTP_REDIRECT_BINDING)
        .ok_or_else(|| metadata_error("no SingleSignOnService with the HTTP-Redirect binding"))?;
    let sso_redirect_url = parse_url(&sso.location, "SingleSignOnService")?;
    let slo_url = [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
        .iter()
        .find_map(|binding| {
            descriptor
                .single_logout_services
                .iter()
                .find(|s| s.binding == *binding)
        })
        .map(|s| parse_url(&s.location, "SingleLogoutService"))
        .transpose()?;
    let certificates = signing_certificates(descriptor)?;
    if certificates.is_empty() {
        return Err(metadata_error(
            "no signing certificate in the IDPSSODescriptor",
        ));
    }
    Ok(IdpDescriptor {
        entity_id,
        sso_redirect_url,
        slo_url,
        certificates,
    })
}

fn single_entity(xml: &str) -> Result<EntityDescriptor, SamlError> {
    match EntityDescriptorType::from_str(xml) {
        Ok(EntityDescriptorType::EntityDescriptor(entity)) => Ok(entity),
        Ok(EntityDescriptorType::EntitiesDescriptor(entities)) => {
            let mut idps = entities.descriptors.into_iter().filter_map(|d| match d {
                EntityDescriptorType::EntityDescriptor(e) if e.idp_sso_descriptors.is_some() => {
                    Some(e)
                }
                _ => None,
            });
            match (idps.next(), idps.next()) {
                (Some(entity), None) => Ok(entity),
                _ => Err(metadata_error(
                    "an EntitiesDescriptor must hold exactly one IdP entity",
                )),
            }
        }
        Err(_) => EntityDescriptor::from_str(xml)
            .map_err(|_| metadata_error("not SAML metadata (no EntityDescriptor)")),
    }
}

fn parse_url(location: &str, what: &str) -> Result<Url, SamlError> {
    let url = Url::parse(location.trim())
        .map_err(|_| metadata_error(format!("the {what} location is not a URL")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(metadata_error(format!(
            "the {what} location must be http(s)"
        )));
    }
    Ok(url)
}

fn signing_certificates(descriptor: &IdpSsoDescriptor) -> Result<Vec<IdpCertificate>, SamlError> {
    let mut certificates = Vec::new();
    // A KeyDescriptor without `use` serves both signing and encryption (metadata 2.4.1.1).
    for key in descriptor
        .key_descriptors
        .iter()
        .filter(|k| matches!(k.key_use.as_deref(), None | Some("") | Some("signing")))
    {
        for text in key
            .key_info
            .x509_data
            .iter()
            .flat_map(|data| data.certificates.iter())
        {
            let certificate = IdpCertificate::parse(text)
                .map_err(|_| metadata_error("an X509Certificate is not a certificate"))?;
            if !certificates.contains(&certificate) {
                certificates.push(certificate);
            }
        }
    }
    Ok(certificates)
}

/// The SP's metadata document for the connection: entity id, the ACS (HTTP-POST), the signing
/// and encryption key, the NameID format, and that AuthnRequests are signed.
pub fn sp_metadata_xml(connection: &SamlConnection) -> Result<String, SamlError> {
    let certificate = base64_certificate(connection)?;
    let key_info = || KeyInfo {
        id: None,
        x509_data: Some(X509Data {
            certificates: vec![certificate.clone()],
        }),
    };
    let descriptor = SpSsoDescriptor {
        protocol_support_enumeration: Some(PROTOCOL.to_owned()),
        key_descriptors: Some(vec![
            KeyDescriptor {
                key_use: Some("signing".to_owned()),
                key_info: key_info(),
                encryption_methods: None,
            },
            KeyDescriptor {
                key_use: Some("encryption".to_owned()),
                key_info: key_info(),
                encryption_methods: Some(
                    ENCRYPTION_METHODS
                        .iter()
                        .map(|algorithm| EncryptionMethod {
                            algorithm: (*algorithm).to_owned(),
                        })
                        .collect(),
                ),
            },
        ]),
        name_id_formats: Some(vec![connection.name_id_format.uri().to_owned()]),
        authn_requests_signed: Some(true),
        want_assertions_signed: Some(matches!(
            connection.signed_parts,
            SignedParts::Assertion | SignedParts::Both
        )),
        assertion_consumer_services: vec![IndexedEndpoint {
            binding: HTTP_POST_BINDING.to_owned(),
            location: connection.acs_url.to_string(),
            response_location: None,
            index: 0,
            is_default: Some(true),
        }],
        single_logout_services: None::<Vec<Endpoint>>,
        ..SpSsoDescriptor::default()
    };
    let entity = EntityDescriptor {
        entity_id: Some(connection.sp_entity_id.clone()),
        sp_sso_descriptors: Some(vec![descriptor]),
        ..EntityDescriptor::default()
    };
    entity
        .to_string()
        .map_err(|e| SamlError::Build(format!("SP metadata: {e}")))
}

fn base64_certificate(connection: &SamlConnection) -> Result<String, SamlError> {
    use base64::Engine as _;
    let der = connection.sp_credentials.certificate_der()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}
