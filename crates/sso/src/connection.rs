//! One SAML connection as the SP sees it: its own identity and keys, the IdP it trusts, and the
//! rules its Responses must meet.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::credentials::{IdpCertificate, SpCredentials};
use crate::error::SamlError;

/// The IdP products Castellan knows defaults for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Any SAML 2.0 IdP.
    Generic,
    /// Okta.
    Okta,
    /// Microsoft Entra ID.
    Entra,
    /// Active Directory Federation Services.
    Adfs,
    /// Google Workspace.
    Google,
}

/// The NameID formats an SP asks for (SAML core 8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    /// Whatever the IdP chooses.
    Unspecified,
    /// An email address.
    EmailAddress,
    /// A stable, opaque identifier per SP.
    Persistent,
    /// A one-time identifier.
    Transient,
}

impl NameIdFormat {
    /// The format's URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::EmailAddress => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        }
    }
}

/// Which parts of a Response must carry a signature of the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedParts {
    /// The Response or the assertion (what Okta, Entra ID and ADFS send by default).
    Either,
    /// The Response.
    Response,
    /// The assertion.
    Assertion,
    /// Both the Response and the assertion.
    Both,
}

/// Which assertion attributes carry the user's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMapping {
    /// The email address attribute (the NameID stands in when it is an email address).
    pub email: String,
    /// The given name attribute.
    pub given_name: String,
    /// The family name attribute.
    pub family_name: String,
    /// The attribute listing the user's groups (one value per group).
    pub groups: String,
}

const CLAIMS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";

impl AttributeMapping {
    /// The attribute names each product sends by default (or suggests in its set-up screens).
    pub fn for_preset(preset: Preset) -> Self {
        let names = |email: &str, given: &str, family: &str, groups: &str| Self {
            email: email.to_owned(),
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            groups: groups.to_owned(),
        };
        match preset {
            Preset::Generic => names("email", "given_name", "family_name", "groups"),
            Preset::Okta | Preset::Google => names("email", "firstName", "lastName", "groups"),
            Preset::Entra => names(
                &format!("{CLAIMS}/emailaddress"),
                &format!("{CLAIMS}/givenname"),
                &format!("{CLAIMS}/surname"),
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
            ),
            Preset::Adfs => names(
                &format!("{CLAIMS}/emailaddress"),
                &format!("{CLAIMS}/givenname"),
                &format!("{CLAIMS}/surname"),
                "http://schemas.xmlsoap.org/claims/Group",
            ),
        }
    }
}

impl Preset {
    /// The NameID format to ask this product for.
    pub fn name_id_format(self) -> NameIdFormat {
        match self {
            Self::Generic | Self::Adfs => NameIdFormat::Unspecified,
            Self::Okta | Self::Entra | Self::Google => NameIdFormat::EmailAddress,
        }
    }
}

/// The IdP's side of a connection, as its metadata or an administrator gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpDescriptor {
    /// The IdP's entity id: the Issuer of its Responses and assertions.
    pub entity_id: String,
    /// Where AuthnRequests go (HTTP-Redirect binding).
    pub sso_redirect_url: Url,
    /// Where logout requests go, if the IdP offers Single Logout.
    pub slo_url: Option<Url>,
    /// Certificates whose keys may sign Responses (several during a rollover).
    pub certificates: Vec<IdpCertificate>,
}

/// One SAML connection: what the SP is, whom it trusts, and how strictly.
#[derive(Debug, Clone)]
pub struct SamlConnection {
    /// The SP's entity id: the Issuer of AuthnRequests and the Audience assertions must name.
    pub sp_entity_id: String,
    /// The Assertion Consumer Service URL (HTTP-POST binding): Destination and Recipient.
    pub acs_url: Url,
    /// The SP's signing and decryption key with its certificate.
    pub sp_credentials: SpCredentials,
    /// The trusted IdP.
    pub idp: IdpDescriptor,
    /// Which parts must be signed.
    pub signed_parts: SignedParts,
    /// Whether IdP-initiated (unsolicited) Responses are accepted.
    pub allow_unsolicited: bool,
    /// How far the IdP's clock may be off ours.
    pub clock_skew: Duration,
    /// The NameID format asked for.
    pub name_id_format: NameIdFormat,
    /// Where the user's details are in the assertion.
    pub attributes: AttributeMapping,
}

/// The most clock skew a connection may allow.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);

impl SamlConnection {
    /// A connection with the preset's defaults: either part signed, no unsolicited Responses,
    /// two minutes of skew, and the preset's NameID format and attribute names.
    pub fn new(
        preset: Preset,
        sp_entity_id: String,
        acs_url: Url,
        sp_credentials: SpCredentials,
        idp: IdpDescriptor,
    ) -> Result<Self, SamlError> {
        let connection = Self {
            sp_entity_id,
            acs_url,
            sp_credentials,
            idp,
            signed_parts: SignedParts::Either,
            allow_unsolicited: false,
            clock_skew: Duration::from_secs(120),
            name_id_format: preset.name_id_format(),
            attributes: AttributeMapping::for_preset(preset),
        };
        connection.check()?;
        Ok(connection)
    }

    /// Checks the settings a Response could not be validated without.
    pub fn check(&self) -> Result<(), SamlError> {
        if self.sp_entity_id.trim().is_empty() {
            return Err(SamlError::Config("the SP entity id is empty".into()));
        }
        if self.idp.entity_id.trim().is_empty() {
            return Err(SamlError::Config("the IdP entity id is empty".into()));
        }
        if self.idp.certificates.is_empty() {
            return Err(SamlError::Config(
                "the IdP needs at least one signing certificate".into(),
            ));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(SamlError::Config(format!(
                "the clock skew may be at most {} seconds",
                MAX_CLOCK_SKEW.as_secs()
            )));
        }
        for (what, url) in [
            ("ACS URL", &self.acs_url),
            ("IdP SSO URL", &self.idp.sso_redirect_url),
        ] {
            if !matches!(url.scheme(), "https" | "http") {
                return Err(SamlError::Config(format!("the {what} must be http(s)")));
            }
        }
        Ok(())
    }
}
