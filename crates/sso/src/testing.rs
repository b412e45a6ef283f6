//! A test IdP for Castellan's own tests (the `testing` feature): samael's IdP side signs (and
//! OpenSSL encrypts) real Responses to the SP's AuthnRequests, so tests never hand-write XML.
//!
//! Built from samael's IdP side: its key and certificate (`samael::idp`), its
//! Response and Assertion types serialised by samael, and xmlsec signing (`Crypto::sign_xml`).
//! samael has no encryption on the IdP side, so [`TestIdp::respond`] encrypts with OpenSSL and
//! builds the XML Encryption elements through libxml's DOM (never as text).

// Test support: a failed setup should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;
use std::sync::OnceLock;

use crate::{IdpCertificate, IdpDescriptor, Preset, SamlConnection, SpCredentials};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use castellan_domain::{ManualClock, SystemRandom};
use chrono::{DateTime, Duration, Utc};
use libxml::parser::Parser;
use libxml::tree::{Document, Namespace, Node};
use samael::attribute::{Attribute, AttributeValue};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, UrlVerifier};
use samael::idp::{CertificateParams, IdentityProvider, KeyType, Rsa};
use samael::schema::{
    Assertion, AttributeStatement, AudienceRestriction, AuthnRequest, AuthnStatement, Conditions,
    Issuer, Response, Status, StatusCode, Subject, SubjectConfirmation, SubjectConfirmationData,
    SubjectNameID,
};
use samael::signature::{DigestAlgorithm, Signature, SignatureAlgorithm};
use samael::traits::ToXml;
use url::Url;

/// The test IdP's entity id.
pub const IDP_ENTITY: &str = "https://idp.example.test/saml/metadata";
/// The test IdP's SSO URL.
pub const IDP_SSO: &str = "https://idp.example.test/saml/sso";
/// The SP entity id the standard connection uses.
pub const SP_ENTITY: &str = "https://castellan.example.test/sso/acme";
/// The ACS URL the standard connection uses.
pub const ACS: &str = "https://castellan.example.test/api/v1/sso/acs";
/// The Success status code.
pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The emailAddress NameID format.
pub const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A fixed instant: the tests never read the wall clock for validation.
pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

/// A manual clock at [`start`].
pub fn clock() -> ManualClock {
    ManualClock::new(start())
}

/// An IdP with its own RSA key and self-signed certificate.
pub struct TestIdp {
    key_der: Vec<u8>,
    /// Its self-signed certificate.
    pub cert: CertificateDer,
}

impl std::fmt::Debug for TestIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIdp").finish_non_exhaustive()
    }
}

impl TestIdp {
    /// A new IdP whose certificate names `name`.
    pub fn generate(name: &str) -> Self {
        let idp = IdentityProvider::generate_new(KeyType::Rsa(Rsa::Rsa2048)).unwrap();
        let cert = idp
            .create_certificate(&CertificateParams {
                common_name: name,
                issuer_name: name,
                days_until_expiration: 365,
            })
            .unwrap();
        Self {
            key_der: idp.export_private_key_der().unwrap(),
            cert,
        }
    }

    /// Its certificate as a connection trusts it.
    pub fn certificate(&self) -> IdpCertificate {
        IdpCertificate::from_der(self.cert.der_data()).unwrap()
    }

    /// Its descriptor, as its metadata would give it.
    pub fn descriptor(&self) -> IdpDescriptor {
        IdpDescriptor {
            entity_id: IDP_ENTITY.to_owned(),
            sso_redirect_url: Url::parse(IDP_SSO).unwrap(),
            slo_url: None,
            certificates: vec![self.certificate()],
        }
    }

    /// The Response for `spec`, base64 as the HTTP-POST binding carries it.
    pub fn respond(&self, spec: &Spec) -> String {
        STANDARD.encode(self.respond_xml(spec))
    }

    /// The Response for `spec`, as XML.
    pub fn respond_xml(&self, spec: &Spec) -> String {
        let response = Response {
            id: spec.response_id.clone(),
            in_response_to: spec.in_response_to.clone(),
            version: "2.0".to_owned(),
            issue_instant: spec.issued_at,
            destination: Some(spec.destination.clone()),
            consent: None,
            issuer: Some(issuer(&spec.issuer)),
            signature: spec
                .sign_response
                .then(|| self.template(&spec.response_id, spec.sha1)),
            status: Some(Status {
                status_code: StatusCode {
                    value: Some(spec.status.clone()),
                },
                status_message: None,
                status_detail: None,
            }),
            encrypted_assertion: None,
            assertion: None,
        };
        let mut doc = parse(&response.to_string().unwrap());
        let assertion_xml = self.assertion_xml(spec);
        let mut child = match &spec.encrypt_for {
            Some(sp_cert) => encrypted_assertion(&doc, &assertion_xml, sp_cert),
            None => {
                let source = parse(&assertion_xml);
                let mut node = source.get_root_element().unwrap();
                node.unlink();
                doc.import_node(&mut node).unwrap()
            }
        };
        doc.get_root_element()
            .unwrap()
            .add_child(&mut child)
            .unwrap();
        let xml = doc.to_string();
        if spec.sign_response {
            Crypto::sign_xml(xml, &self.key_der).unwrap()
        } else {
            xml
        }
    }

    fn assertion_xml(&self, spec: &Spec) -> String {
        let assertion = Assertion {
            id: spec.assertion_id.clone(),
            issue_instant: spec.issued_at,
            version: "2.0".to_owned(),
            issuer: issuer(&spec.issuer),
            signature: spec
                .sign_assertion
                .then(|| self.template(&spec.assertion_id, spec.sha1)),
            subject: Some(Subject {
                name_id: Some(SubjectNameID {
                    format: Some(spec.name_id_format.clone()),
                    value: spec.name_id.clone(),
                }),
                subject_confirmations: Some(vec![SubjectConfirmation {
                    method: Some("urn:oasis:names:tc:SAML:2.0:cm:bearer".to_owned()),
                    name_id: None,
                    subject_confirmation_data: Some(SubjectConfirmationData {
                        not_before: None,
                        not_on_or_after: Some(spec.not_on_or_after),
                        recipient: Some(spec.recipient.clone()),
                        in_response_to: spec.in_response_to.clone(),
                        address: None,
                        content: None,
                    }),
                }]),
            }),
            conditions: Some(Conditions {
                not_before: Some(spec.not_before),
                not_on_or_after: Some(spec.not_on_or_after),
                audience_restrictions: Some(vec![AudienceRestriction {
                    audience: vec![spec.audience.clone()],
                }]),
                one_time_use: None,
                proxy_restriction: None,
            }),
            authn_statements: Some(vec![AuthnStatement {
                authn_instant: Some(spec.issued_at),
                session_index: Some("_session-7".to_owned()),
                session_not_on_or_after: None,
                subject_locality: None,
                authn_context: None,
            }]),
            attribute_statements: Some(vec![AttributeStatement {
                attributes: spec
                    .attributes
                    .iter()
                    .map(|(name, values)| Attribute {
                        friendly_name: None,
                        name: Some(name.clone()),
                        name_format: None,
                        values: values
                            .iter()
                            .map(|value| AttributeValue {
                                attribute_type: None,
                                value: Some(value.clone()),
                            })
                            .collect(),
                    })
                    .collect(),
            }]),
        };
        let xml = assertion.to_string().unwrap();
        if spec.sign_assertion {
            Crypto::sign_xml(xml, &self.key_der).unwrap()
        } else {
            xml
        }
    }

    /// samael's signature template, with SHA-256 digests (its default digest is SHA-1), or
    /// RSA-SHA1 throughout when `sha1`.
    fn template(&self, id: &str, sha1: bool) -> Signature {
        let mut signature = Signature::template(id, &self.cert);
        let digest = if sha1 {
            signature.signed_info.signature_method.algorithm = SignatureAlgorithm::Unsupported(
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1".to_owned(),
            );
            DigestAlgorithm::Sha1
        } else {
            DigestAlgorithm::Sha256
        };
        for reference in &mut signature.signed_info.reference {
            reference.digest_method.algorithm = digest.clone();
        }
        signature
    }
}

fn issuer(value: &str) -> Issuer {
    Issuer {
        value: Some(value.to_owned()),
        ..Issuer::default()
    }
}

/// Parses XML into a libxml document, for tests that edit a Response's DOM.
pub fn parse(xml: &str) -> Document {
    Parser::default().parse_string(xml).unwrap()
}

fn element(parent: &mut Node, prefix: &str, href: &str, name: &str) -> Node {
    let mut node = parent.new_child(None, name).unwrap();
    let namespace = Namespace::new(prefix, href, &mut node).unwrap();
    node.set_namespace(&namespace).unwrap();
    node
}

/// Encrypts the assertion for the SP's certificate: AES-256-GCM content, RSA-OAEP key transport.
fn encrypted_assertion(doc: &Document, plaintext: &str, sp_cert: &[u8]) -> Node {
    use openssl::encrypt::Encrypter;
    use openssl::rsa::Padding;
    use openssl::symm::{Cipher, encrypt_aead};
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    openssl::rand::rand_bytes(&mut key).unwrap();
    openssl::rand::rand_bytes(&mut iv).unwrap();
    let mut tag = [0u8; 16];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        plaintext.as_bytes(),
        &mut tag,
    )
    .unwrap();
    let public = openssl::x509::X509::from_der(sp_cert)
        .unwrap()
        .public_key()
        .unwrap();
    let mut encrypter = Encrypter::new(&public).unwrap();
    encrypter.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
    let mut wrapped = vec![0; encrypter.encrypt_len(&key).unwrap()];
    let length = encrypter.encrypt(&key, &mut wrapped).unwrap();
    wrapped.truncate(length);

    let mut root = Node::new("EncryptedAssertion", None, doc).unwrap();
    let namespace = Namespace::new("saml2", SAML, &mut root).unwrap();
    root.set_namespace(&namespace).unwrap();
    let mut data = element(&mut root, "xenc", XENC, "EncryptedData");
    data.set_attribute("Type", "http://www.w3.org/2001/04/xmlenc#Element")
        .unwrap();
    element(&mut data, "xenc", XENC, "EncryptionMethod")
        .set_attribute("Algorithm", "http://www.w3.org/2009/xmlenc11#aes256-gcm")
        .unwrap();
    let mut key_info = element(&mut data, "ds", DSIG, "KeyInfo");
    let mut encrypted_key = element(&mut key_info, "xenc", XENC, "EncryptedKey");
    element(&mut encrypted_key, "xenc", XENC, "EncryptionMethod")
        .set_attribute(
            "Algorithm",
            "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        )
        .unwrap();
    let mut key_data = element(&mut encrypted_key, "xenc", XENC, "CipherData");
    element(&mut key_data, "xenc", XENC, "CipherValue")
        .set_content(&STANDARD.encode(&wrapped))
        .unwrap();
    let mut cipher_data = element(&mut data, "xenc", XENC, "CipherData");
    let sealed = [iv.as_slice(), &ciphertext, &tag].concat();
    element(&mut cipher_data, "xenc", XENC, "CipherValue")
        .set_content(&STANDARD.encode(sealed))
        .unwrap();
    root
}

/// What the IdP puts in a Response; [`Spec::answering`] gives a valid one.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The Response's ID.
    pub response_id: String,
    /// The assertion's ID.
    pub assertion_id: String,
    /// The request answered; `None`: unsolicited.
    pub in_response_to: Option<String>,
    /// The Response's Destination.
    pub destination: String,
    /// The SubjectConfirmationData's Recipient.
    pub recipient: String,
    /// The Audience.
    pub audience: String,
    /// The Issuer of the Response and the assertion.
    pub issuer: String,
    /// The status code.
    pub status: String,
    /// The subject's NameID.
    pub name_id: String,
    /// The NameID's format.
    pub name_id_format: String,
    /// The IssueInstant.
    pub issued_at: DateTime<Utc>,
    /// The Conditions' NotBefore.
    pub not_before: DateTime<Utc>,
    /// NotOnOrAfter of the Conditions and the subject confirmation.
    pub not_on_or_after: DateTime<Utc>,
    /// The attributes, each with its values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Whether the Response is signed.
    pub sign_response: bool,
    /// Whether the assertion is signed.
    pub sign_assertion: bool,
    /// Sign with RSA-SHA1 (which the SP must refuse).
    pub sha1: bool,
    /// Encrypt the assertion for this DER certificate.
    pub encrypt_for: Option<Vec<u8>>,
}

impl Spec {
    /// A valid Response to `request_id` (None: unsolicited), issued at `now`, assertion signed.
    pub fn answering(request_id: Option<&str>, now: DateTime<Utc>) -> Self {
        Self {
            response_id: samael::crypto::gen_saml_response_id(),
            assertion_id: samael::crypto::gen_saml_assertion_id(),
            in_response_to: request_id.map(str::to_owned),
            destination: ACS.to_owned(),
            recipient: ACS.to_owned(),
            audience: SP_ENTITY.to_owned(),
            issuer: IDP_ENTITY.to_owned(),
            status: SUCCESS.to_owned(),
            name_id: "ada@acme.example".to_owned(),
            name_id_format: EMAIL_FORMAT.to_owned(),
            issued_at: now,
            not_before: now - Duration::seconds(30),
            not_on_or_after: now + Duration::minutes(5),
            attributes: vec![
                ("email".to_owned(), vec!["ada@acme.example".to_owned()]),
                ("given_name".to_owned(), vec!["Ada".to_owned()]),
                ("family_name".to_owned(), vec!["Lovelace".to_owned()]),
                (
                    "groups".to_owned(),
                    vec!["engineering".to_owned(), "admins".to_owned()],
                ),
            ],
            sign_response: false,
            sign_assertion: true,
            sha1: false,
            encrypt_for: None,
        }
    }
}

/// The IdP reading an AuthnRequest off the redirect URL: the query signature is checked with
/// samael's `UrlVerifier` against the SP certificate, then the request inflated and parsed.
pub fn receive(url: &Url, sp_cert_der: &[u8]) -> (AuthnRequest, Option<String>) {
    let verifier = UrlVerifier::from_x509(&CertificateDer::from(sp_cert_der.to_vec())).unwrap();
    assert!(verifier.verify_signed_request_url(url).unwrap());
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let deflated = STANDARD.decode(value("SAMLRequest").unwrap()).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    (xml.parse().unwrap(), value("RelayState"))
}

/// Shared key material: RSA generation is slow, and every test may use the same keys.
#[derive(Debug)]
pub struct Fixture {
    /// The IdP connections trust.
    pub idp: TestIdp,
    /// An IdP no connection trusts.
    pub other_idp: TestIdp,
    /// The SP's key and certificate.
    pub sp: SpCredentials,
}

/// The shared fixture, generated once.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        idp: TestIdp::generate("Test IdP"),
        other_idp: TestIdp::generate("Another IdP"),
        sp: SpCredentials::generate("castellan.example.test", &clock(), &SystemRandom).unwrap(),
    })
}

/// A connection to the fixture's IdP with the generic preset.
pub fn connection() -> SamlConnection {
    let fixture = fixture();
    SamlConnection::new(
        Preset::Generic,
        SP_ENTITY.to_owned(),
        Url::parse(ACS).unwrap(),
        fixture.sp.clone(),
        fixture.idp.descriptor(),
    )
    .unwrap()
}

/// The fixture SP's certificate, DER.
pub fn sp_cert_der() -> Vec<u8> {
    fixture().sp.certificate_der().unwrap()
}
