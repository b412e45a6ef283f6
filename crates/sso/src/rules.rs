//! The SAML Web Browser SSO profile's rules (SAML profiles 4.1.4.2-3) over a Response whose
//! signatures are already verified: status, Destination, Issuer, InResponseTo, audience, bearer
//! subject confirmation, and time windows with the connection's skew against the caller's clock.

use chrono::{DateTime, Duration, Utc};
use samael::schema::{Assertion, SubjectConfirmationData};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::connection::SamlConnection;
use crate::error::{ResponseError, clip};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The Response-level values read from the document (signed or not, as the connection allows).
#[derive(Debug, Default)]
pub(crate) struct ResponseFields {
    pub version: Option<String>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub issuer: Option<String>,
    pub status: Option<String>,
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn is_acs(connection: &SamlConnection, url: &str) -> bool {
    Url::parse(url.trim()).is_ok_and(|url| url == connection.acs_url)
}

/// Checks what the Response element itself says.
pub(crate) fn check_response(
    fields: &ResponseFields,
    connection: &SamlConnection,
    expected_request_id: Option<&str>,
) -> Result<(), ResponseError> {
    if fields.version.as_deref() != Some("2.0") {
        return Err(ResponseError::Structure("the Response is not SAML 2.0"));
    }
    match fields.status.as_deref() {
        Some(SUCCESS) => {}
        other => return Err(ResponseError::Status(clip(other.unwrap_or("(none)")))),
    }
    match fields.destination.as_deref() {
        Some(destination) if is_acs(connection, destination) => {}
        other => return Err(ResponseError::Destination(other.map(clip))),
    }
    if let Some(issuer) = fields.issuer.as_deref()
        && issuer.trim() != connection.idp.entity_id
    {
        return Err(ResponseError::Issuer(Some(clip(issuer))));
    }
    match (expected_request_id, fields.in_response_to.as_deref()) {
        (Some(expected), Some(got)) if same(expected, got) => Ok(()),
        (None, None) if connection.allow_unsolicited => Ok(()),
        (None, None) => Err(ResponseError::Unsolicited),
        _ => Err(ResponseError::InResponseTo),
    }
}

/// Checks the assertion; answers when its replay cache entry may expire.
pub(crate) fn check_assertion(
    assertion: &Assertion,
    connection: &SamlConnection,
    expected_request_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ResponseError> {
    let skew = Duration::from_std(connection.clock_skew).unwrap_or(Duration::zero());
    if assertion.version != "2.0" {
        return Err(ResponseError::Structure("the assertion is not SAML 2.0"));
    }
    let issuer = assertion.issuer.value.as_deref().map(str::trim);
    if issuer != Some(connection.idp.entity_id.as_str()) {
        return Err(ResponseError::Issuer(issuer.map(clip)));
    }
    if assertion.issue_instant > now + skew {
        return Err(ResponseError::NotYetValid);
    }
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or(ResponseError::Audience)?;
    check_window(conditions.not_before, conditions.not_on_or_after, now, skew)?;
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or(&[]);
    // Every AudienceRestriction must be met (SAML core 2.5.1.4).
    let addressed = !restrictions.is_empty()
        && restrictions.iter().all(|restriction| {
            restriction
                .audience
                .iter()
                .any(|audience| audience.trim() == connection.sp_entity_id)
        });
    if !addressed {
        return Err(ResponseError::Audience);
    }
    let confirmation = bearer_confirmation(assertion, connection, expected_request_id, now, skew)?;
    let statements = assertion.authn_statements.as_deref().unwrap_or(&[]);
    if statements.is_empty() {
        return Err(ResponseError::Subject("no AuthnStatement"));
    }
    for statement in statements {
        if let Some(end) = statement.session_not_on_or_after
            && now - skew >= end
        {
            return Err(ResponseError::Expired);
        }
    }
    let mut expires = confirmation;
    if let Some(end) = conditions.not_on_or_after {
        expires = expires.min(end);
    }
    Ok(expires + skew)
}

fn check_window(
    not_before: Option<DateTime<Utc>>,
    not_on_or_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<(), ResponseError> {
    if let Some(start) = not_before
        && now + skew < start
    {
        return Err(ResponseError::NotYetValid);
    }
    if let Some(end) = not_on_or_after
        && now - skew >= end
    {
        return Err(ResponseError::Expired);
    }
    Ok(())
}

/// Finds a bearer confirmation that holds; answers its NotOnOrAfter. When none holds, the first
/// one's failure is the error.
fn bearer_confirmation(
    assertion: &Assertion,
    connection: &SamlConnection,
    expected_request_id: Option<&str>,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<DateTime<Utc>, ResponseError> {
    let bearers: Vec<&SubjectConfirmationData> = assertion
        .subject
        .iter()
        .flat_map(|subject| subject.subject_confirmations.iter().flatten())
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect();
    let mut first_error = None;
    for data in bearers {
        match check_confirmation(data, connection, expected_request_id, now, skew) {
            Ok(end) => return Ok(end),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(ResponseError::Subject(
        "no bearer SubjectConfirmation with SubjectConfirmationData",
    )))
}

fn check_confirmation(
    data: &SubjectConfirmationData,
    connection: &SamlConnection,
    expected_request_id: Option<&str>,
    now: DateTime<Utc>,
    skew: Duration,
) -> Result<DateTime<Utc>, ResponseError> {
    match data.recipient.as_deref() {
        Some(recipient) if is_acs(connection, recipient) => {}
        other => return Err(ResponseError::Recipient(other.map(clip))),
    }
    let end = data.not_on_or_after.ok_or(ResponseError::Expired)?;
    check_window(data.not_before, Some(end), now, skew)?;
    match (expected_request_id, data.in_response_to.as_deref()) {
        (Some(expected), Some(got)) if same(expected, got) => Ok(end),
        (None, None) => Ok(end),
        _ => Err(ResponseError::InResponseTo),
    }
}
