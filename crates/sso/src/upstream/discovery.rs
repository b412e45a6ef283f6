//! OpenID Connect discovery through the outbound port: the provider's metadata, checked to
//! name the configured issuer (or, for a multi-tenant issuer, the issuer template), and its
//! key set.

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};

use super::UpstreamError;
use super::http_client::{PortClient, get_json};
use super::provider::{IssuerRule, TENANT_PLACEHOLDER};

/// Fetches and checks `{issuer}/.well-known/openid-configuration`.
pub(crate) async fn provider_metadata(
    client: PortClient<'_>,
    issuer: &str,
    rule: &IssuerRule,
) -> Result<CoreProviderMetadata, UpstreamError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document = get_json(client, &url).await?;
    let metadata: CoreProviderMetadata = serde_json::from_value(document)
        .map_err(|_| UpstreamError::Discovery("not an OpenID provider metadata document"))?;
    if !discovered_issuer_fits(metadata.issuer().as_str(), issuer, rule) {
        return Err(UpstreamError::DiscoveryIssuerMismatch);
    }
    Ok(metadata)
}

/// Fetches the provider's current key set; fetched at each login so rotated keys are seen.
pub(crate) async fn key_set(
    client: PortClient<'_>,
    metadata: &CoreProviderMetadata,
) -> Result<CoreJsonWebKeySet, UpstreamError> {
    let document = get_json(client, metadata.jwks_uri().url().as_str()).await?;
    serde_json::from_value(document).map_err(|_| UpstreamError::Discovery("not a JSON Web Key Set"))
}

/// Whether a discovery document's `issuer` is the configured one. A multi-tenant endpoint
/// answers its template (`.../{tenantid}/v2.0`) or, for a fixed pseudo-tenant such as
/// Microsoft's `consumers`, one concrete tenant's issuer of the template's shape.
fn discovered_issuer_fits(discovered: &str, configured: &str, rule: &IssuerRule) -> bool {
    if discovered == configured {
        return true;
    }
    match rule {
        IssuerRule::Exact => false,
        IssuerRule::Tenant { template } => {
            discovered == template || tenant_of(template, discovered).is_some()
        }
    }
}

/// The tenant an issuer of `template`'s shape names: one path segment in the placeholder's
/// place.
pub(crate) fn tenant_of<'a>(template: &str, issuer: &'a str) -> Option<&'a str> {
    let (before, after) = template.split_once(TENANT_PLACEHOLDER)?;
    let tenant = issuer.strip_prefix(before)?.strip_suffix(after)?;
    let plain = !tenant.is_empty()
        && tenant
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    plain.then_some(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    #[test]
    fn an_exact_issuer_must_match_exactly() {
        assert!(discovered_issuer_fits(
            "https://accounts.google.com",
            "https://accounts.google.com",
            &IssuerRule::Exact
        ));
        assert!(!discovered_issuer_fits(
            "https://accounts.google.com/",
            "https://accounts.google.com",
            &IssuerRule::Exact
        ));
    }

    #[test]
    fn a_tenant_issuer_fits_its_template_only() {
        let rule = IssuerRule::Tenant {
            template: TEMPLATE.to_owned(),
        };
        let common = "https://login.microsoftonline.com/common/v2.0";
        assert!(discovered_issuer_fits(TEMPLATE, common, &rule));
        assert!(discovered_issuer_fits(
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            "https://login.microsoftonline.com/consumers/v2.0",
            &rule
        ));
        assert!(!discovered_issuer_fits(
            "https://evil.example/9188040d/v2.0",
            common,
            &rule
        ));
        assert!(!discovered_issuer_fits(
            "https://login.microsoftonline.com/a/b/v2.0",
            common,
            &rule
        ));
        assert_eq!(
            tenant_of(TEMPLATE, "https://login.microsoftonline.com/abc-1/v2.0"),
            Some("abc-1")
        );
        assert_eq!(
            tenant_of(TEMPLATE, "https://login.microsoftonline.com//v2.0"),
            None
        );
    }
}
