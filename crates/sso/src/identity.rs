//! What a validated assertion says about the user, read through the connection's attribute
//! mapping.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use samael::schema::Assertion;

use crate::connection::{AttributeMapping, NameIdFormat};
use crate::error::ResponseError;

/// A user as the IdP vouched for them in one validated assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The IdP's entity id (the assertion's Issuer).
    pub issuer: String,
    /// The subject's NameID.
    pub name_id: String,
    /// The NameID's format URI, if the IdP named one.
    pub name_id_format: Option<String>,
    /// The email address: the mapped attribute, else the NameID when its format is emailAddress.
    pub email: Option<String>,
    /// The given name.
    pub given_name: Option<String>,
    /// The family name.
    pub family_name: Option<String>,
    /// The groups the IdP lists for the user.
    pub groups: Vec<String>,
    /// The IdP's session index (for Single Logout).
    pub session_index: Option<String>,
    /// Every attribute by name, values in document order.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// A validated assertion: the identity, and what the caller needs for its replay cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAssertion {
    /// Who the user is.
    pub identity: FederatedIdentity,
    /// The assertion's ID. The caller must record it in its replay cache (the key-value store,
    /// shared by replicas) until [`ValidatedAssertion::replay_expires_at`] and refuse the
    /// Response when the ID was seen before: this crate keeps no state.
    pub assertion_id: String,
    /// When the assertion stops being acceptable anyway (its earliest NotOnOrAfter plus the
    /// clock skew): the replay cache entry may go then.
    pub replay_expires_at: DateTime<Utc>,
    /// Whether the Response's own signature was verified.
    pub response_signed: bool,
    /// Whether the assertion's own signature was verified.
    pub assertion_signed: bool,
}

/// Reads the identity out of an assertion already validated.
pub(crate) fn identity_of(
    assertion: &Assertion,
    mapping: &AttributeMapping,
) -> Result<FederatedIdentity, ResponseError> {
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|subject| subject.name_id.as_ref())
        .ok_or(ResponseError::Subject("no NameID"))?;
    let value = name_id.value.trim().to_owned();
    if value.is_empty() {
        return Err(ResponseError::Subject("an empty NameID"));
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attribute in assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|statement| statement.attributes.iter())
    {
        let Some(name) = attribute.name.clone() else {
            continue;
        };
        let values = attribute
            .values
            .iter()
            .filter_map(|v| v.value.as_deref())
            .map(|v| v.trim().to_owned());
        attributes.entry(name).or_default().extend(values);
    }
    let first = |name: &str| {
        attributes
            .get(name)
            .and_then(|values| values.iter().find(|v| !v.is_empty()))
            .cloned()
    };
    let email_format = name_id.format.as_deref() == Some(NameIdFormat::EmailAddress.uri());
    let email = first(&mapping.email).or_else(|| email_format.then(|| value.clone()));
    let groups = attributes
        .get(&mapping.groups)
        .map(|values| values.iter().filter(|v| !v.is_empty()).cloned().collect())
        .unwrap_or_default();
    let session_index = assertion
        .authn_statements
        .iter()
        .flatten()
        .find_map(|statement| statement.session_index.clone());
    Ok(FederatedIdentity {
        issuer: assertion.issuer.value.clone().unwrap_or_default(),
        name_id: value,
        name_id_format: name_id.format.clone(),
        email,
        given_name: first(&mapping.given_name),
        family_name: first(&mapping.family_name),
        groups,
        session_index,
        attributes,
    })
}
