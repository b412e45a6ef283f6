//! Between the domain's stored connection and this crate's protocol configuration: the SP key
//! sealed at rest with the domain's [`SecretSealer`] (bound to the connection id), the setting
//! names as stored, and the validated identity in the domain's terms.

use castellan_domain::SecretSealer;
use castellan_domain::federation::{self, AttributeNames, SamlConnectionRecord};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::connection::{
    AttributeMapping, IdpDescriptor, NameIdFormat, Preset, SamlConnection, SignedParts,
};
use crate::credentials::{IdpCertificate, SpCredentials};
use crate::error::SamlError;
use crate::identity::FederatedIdentity;

impl Preset {
    /// The name it is stored and sent under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Okta => "okta",
            Self::Entra => "entra",
            Self::Adfs => "adfs",
            Self::Google => "google",
        }
    }

    /// The preset a name stands for.
    pub fn parse(name: &str) -> Result<Self, SamlError> {
        [
            Self::Generic,
            Self::Okta,
            Self::Entra,
            Self::Adfs,
            Self::Google,
        ]
        .into_iter()
        .find(|preset| preset.as_str() == name)
        .ok_or_else(|| {
            SamlError::Config("provider must be generic, okta, entra, adfs or google".into())
        })
    }
}

impl SignedParts {
    /// The name it is stored and sent under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Either => "either",
            Self::Response => "response",
            Self::Assertion => "assertion",
            Self::Both => "both",
        }
    }

    /// The setting a name stands for.
    pub fn parse(name: &str) -> Result<Self, SamlError> {
        [Self::Either, Self::Response, Self::Assertion, Self::Both]
            .into_iter()
            .find(|parts| parts.as_str() == name)
            .ok_or_else(|| {
                SamlError::Config("signed_parts must be either, response, assertion or both".into())
            })
    }
}

impl NameIdFormat {
    /// The name it is stored and sent under.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::EmailAddress => "email_address",
            Self::Persistent => "persistent",
            Self::Transient => "transient",
        }
    }

    /// The format a name stands for.
    pub fn parse(name: &str) -> Result<Self, SamlError> {
        [
            Self::Unspecified,
            Self::EmailAddress,
            Self::Persistent,
            Self::Transient,
        ]
        .into_iter()
        .find(|format| format.as_str() == name)
        .ok_or_else(|| {
            SamlError::Config(
                "name_id_format must be unspecified, email_address, persistent or transient".into(),
            )
        })
    }
}

impl From<&AttributeMapping> for AttributeNames {
    fn from(mapping: &AttributeMapping) -> Self {
        Self {
            email: mapping.email.clone(),
            given_name: mapping.given_name.clone(),
            family_name: mapping.family_name.clone(),
            groups: mapping.groups.clone(),
        }
    }
}

impl From<&AttributeNames> for AttributeMapping {
    fn from(names: &AttributeNames) -> Self {
        Self {
            email: names.email.clone(),
            given_name: names.given_name.clone(),
            family_name: names.family_name.clone(),
            groups: names.groups.clone(),
        }
    }
}

/// Seals the SP's private key for storage, bound to the connection id (`connection_id`, its 16
/// bytes), as [`connection_from_record`] opens it.
pub fn seal_sp_key(
    credentials: &SpCredentials,
    connection_id: &[u8; 16],
    sealer: &dyn SecretSealer,
) -> Result<Vec<u8>, SamlError> {
    let pem = credentials.private_key_pem()?;
    sealer
        .seal(pem.expose_secret().as_bytes(), connection_id)
        .map_err(|_| SamlError::Key("sealing the SP key".into()))
}

/// The connection a stored record describes, its SP key opened with `sealer`; its ACS URL is
/// `acs_url`.
pub fn connection_from_record(
    record: &SamlConnectionRecord,
    acs_url: Url,
    sealer: &dyn SecretSealer,
) -> Result<SamlConnection, SamlError> {
    let opened = sealer
        .open(&record.sealed_sp_key, record.id.as_bytes())
        .map_err(|_| SamlError::Key("the SP key does not open under the master key".into()))?;
    let pem = String::from_utf8(opened)
        .map_err(|_| SamlError::Key("the SP key is not PEM text".into()))?;
    let credentials = SpCredentials::from_pem(&SecretString::from(pem), &record.sp_certificate)?;
    let certificates = record
        .idp_certificates
        .iter()
        .map(|text| IdpCertificate::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let parse_url = |text: &str, what: &str| {
        Url::parse(text).map_err(|_| SamlError::Config(format!("the {what} is not a URL")))
    };
    let idp = IdpDescriptor {
        entity_id: record.idp_entity_id.clone(),
        sso_redirect_url: parse_url(&record.idp_sso_url, "IdP SSO URL")?,
        slo_url: record
            .idp_slo_url
            .as_deref()
            .map(|url| parse_url(url, "IdP SLO URL"))
            .transpose()?,
        certificates,
    };
    let mut connection = SamlConnection::new(
        Preset::parse(&record.provider)?,
        record.sp_entity_id.clone(),
        acs_url,
        credentials,
        idp,
    )?;
    connection.signed_parts = SignedParts::parse(&record.signed_parts)?;
    connection.allow_unsolicited = record.allow_unsolicited;
    connection.name_id_format = NameIdFormat::parse(&record.name_id_format)?;
    connection.attributes = AttributeMapping::from(&record.attributes);
    connection.check()?;
    Ok(connection)
}

/// The validated identity in the domain's terms. SAML has no `email_verified` claim: an
/// asserted address counts as claimed verified, and the connection's `trust_email` decides.
pub fn domain_identity(identity: &FederatedIdentity) -> federation::FederatedIdentity {
    federation::FederatedIdentity {
        issuer: identity.issuer.clone(),
        subject: identity.name_id.clone(),
        subject_format: identity.name_id_format.clone(),
        email: identity.email.clone(),
        email_verified: identity.email.is_some(),
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        groups: identity.groups.clone(),
        attributes: identity.attributes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use castellan_domain::federation::RoleMapping;
    use castellan_domain::{Clock, DomainError, ManualClock, OrganizationId, SystemRandom};
    use chrono::DateTime;

    use super::*;

    /// A sealer that binds the associated data without secrecy: enough to see it is checked.
    #[derive(Debug)]
    struct Binding;

    impl SecretSealer for Binding {
        fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, DomainError> {
            Ok([associated, plaintext].concat())
        }
        fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, DomainError> {
            sealed
                .strip_prefix(associated)
                .map(<[u8]>::to_vec)
                .ok_or(DomainError::InvalidToken)
        }
    }

    #[test]
    fn a_record_opens_into_the_connection_it_was_made_from() -> Result<(), SamlError> {
        let clock =
            ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default());
        let sp = SpCredentials::generate("sp", &clock, &SystemRandom)?;
        let idp = SpCredentials::generate("idp", &clock, &SystemRandom)?;
        // The domain's ids are UUIDs; this crate borrows one rather than depend on `uuid`.
        let record_id = OrganizationId::new().0;
        let id = *record_id.as_bytes();
        let mut record = SamlConnectionRecord {
            id: record_id,
            organization_id: OrganizationId::default(),
            provider: "entra".to_owned(),
            sp_entity_id: "https://id.example.com/sp".to_owned(),
            idp_entity_id: "https://sts.windows.net/t/".to_owned(),
            idp_sso_url: "https://login.example.com/saml2".to_owned(),
            idp_slo_url: None,
            idp_certificates: vec![IdpCertificate::from_der(&idp.certificate_der()?)?.to_base64()],
            idp_metadata_url: None,
            metadata_refreshed_at: None,
            signed_parts: "both".to_owned(),
            allow_unsolicited: true,
            name_id_format: "persistent".to_owned(),
            attributes: AttributeNames::from(&AttributeMapping::for_preset(Preset::Entra)),
            roles: RoleMapping::default(),
            trust_email: false,
            enabled: true,
            sealed_sp_key: seal_sp_key(&sp, &id, &Binding)?,
            sp_certificate: sp.certificate_pem()?,
            created_at: clock.now(),
            updated_at: clock.now(),
        };
        let acs = Url::parse("https://id.example.com/api/v1/sso/acs")
            .map_err(|e| SamlError::Config(e.to_string()))?;
        let connection = connection_from_record(&record, acs.clone(), &Binding)?;
        assert_eq!(connection.signed_parts, SignedParts::Both);
        assert!(connection.allow_unsolicited);
        assert_eq!(connection.name_id_format, NameIdFormat::Persistent);
        assert_eq!(
            connection.sp_credentials.certificate_der()?,
            sp.certificate_der()?
        );
        assert_eq!(connection.idp.certificates.len(), 1);

        record.sealed_sp_key = seal_sp_key(&sp, b"another-conn-id!", &Binding)?;
        assert!(matches!(
            connection_from_record(&record, acs.clone(), &Binding),
            Err(SamlError::Key(_))
        ));
        record.sealed_sp_key = seal_sp_key(&sp, &id, &Binding)?;
        record.signed_parts = "some".to_owned();
        assert!(matches!(
            connection_from_record(&record, acs, &Binding),
            Err(SamlError::Config(_))
        ));
        Ok(())
    }

    #[test]
    fn names_round_trip() -> Result<(), SamlError> {
        for preset in [
            Preset::Generic,
            Preset::Okta,
            Preset::Entra,
            Preset::Adfs,
            Preset::Google,
        ] {
            assert_eq!(Preset::parse(preset.as_str())?, preset);
        }
        assert!(Preset::parse("Okta").is_err());
        Ok(())
    }
}
