//! An upstream provider's settings: an OpenID Connect issuer found through discovery, or a
//! plain OAuth 2 provider with its endpoints and a claim mapping, as the operator configures
//! it or as a [`super::Preset`] fills it in.

use secrecy::SecretString;

use super::UpstreamError;
use super::claims::{ClaimMapping, EmailSource};

/// An upstream identity provider Castellan signs users in with.
#[derive(Debug, Clone)]
pub struct UpstreamProvider {
    /// The provider's slug in Castellan's URLs (`/api/v1/auth/oauth/{slug}/...`).
    pub slug: String,
    /// OpenID Connect or plain OAuth 2, with what each needs.
    pub kind: ProviderKind,
    /// The client id Castellan was given upstream.
    pub client_id: String,
    /// The client secret Castellan was given upstream (for Apple: the client-secret JWT).
    pub client_secret: SecretString,
    /// The scopes requested.
    pub scopes: Vec<String>,
    /// How the client authenticates at the token endpoint; `None` lets an OpenID provider's
    /// discovery document decide (`client_secret_basic` when it allows it).
    pub token_auth: Option<TokenAuth>,
    /// How the provider returns the browser to the callback.
    pub response_mode: ResponseMode,
    /// Whether the provider posts the user's name in a `user` form field on the first sign-in
    /// (Apple), which the callback then reads.
    pub name_in_callback_form: bool,
}

/// The protocol an upstream provider speaks.
#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints and keys come from discovery, the user from the ID token.
    Oidc {
        /// The issuer identifier; discovery is `{issuer}/.well-known/openid-configuration`.
        issuer: String,
        /// Which `iss` values the provider's ID tokens may carry.
        issuer_rule: IssuerRule,
        /// Further boolean claims that, when true, vouch for the email (Microsoft's
        /// `xms_edov`), besides `email_verified`.
        email_verified_claims: Vec<String>,
    },
    /// Plain OAuth 2: the user comes from a userinfo endpoint through a claim mapping.
    OAuth2(Box<OAuth2Endpoints>),
}

/// The endpoints and mapping of a plain OAuth 2 provider.
#[derive(Debug, Clone)]
pub struct OAuth2Endpoints {
    /// The authorization endpoint the browser is sent to.
    pub authorization_url: String,
    /// The token endpoint the code is exchanged at.
    pub token_url: String,
    /// The endpoint answering the signed-in user as JSON for the access token.
    pub userinfo_url: String,
    /// Where the email comes from.
    pub email_source: EmailSource,
    /// Which userinfo fields hold which claim.
    pub mapping: ClaimMapping,
    /// A name for this provider in [`super::UpstreamIdentity::issuer`] (its site's origin).
    pub issuer: String,
}

/// Which issuer an ID token must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    /// Exactly the configured issuer.
    Exact,
    /// A multi-tenant issuer: the template with `{tenantid}` replaced by the token's `tid`
    /// claim (Microsoft's `common`, `organizations` and `consumers` endpoints).
    Tenant {
        /// The issuer template, such as `https://login.microsoftonline.com/{tenantid}/v2.0`.
        template: String,
    },
}

/// The placeholder a [`IssuerRule::Tenant`] template carries.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// How Castellan authenticates at the provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    Basic,
    /// The client id and secret in the form body (`client_secret_post`).
    Post,
}

/// How the provider sends the browser back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// A GET with the code in the query (the default).
    Query,
    /// An auto-submitted POST form (`response_mode=form_post`, which Apple requires when
    /// scopes are requested): the callback route must accept POST.
    FormPost,
}

impl UpstreamProvider {
    /// Checks the settings: a slug of lowercase letters, digits and dashes, a client id, a
    /// secret, and absolute `https` URLs (plain `http` only on loopback, for tests).
    pub fn validate(&self) -> Result<(), UpstreamError> {
        let slug_ok = !self.slug.is_empty()
            && self.slug.len() <= 64
            && self
                .slug
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !slug_ok {
            return Err(UpstreamError::InvalidSettings(
                "slug: 1 to 64 lowercase letters, digits or dashes",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(UpstreamError::InvalidSettings("client_id is empty"));
        }
        if secrecy::ExposeSecret::expose_secret(&self.client_secret).is_empty() {
            return Err(UpstreamError::InvalidSettings("client_secret is empty"));
        }
        if self
            .scopes
            .iter()
            .any(|scope| scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c == '"'))
        {
            return Err(UpstreamError::InvalidSettings(
                "scopes: each scope is one word",
            ));
        }
        match &self.kind {
            ProviderKind::Oidc {
                issuer,
                issuer_rule,
                ..
            } => {
                check_url(issuer, "issuer")?;
                if matches!(issuer_rule, IssuerRule::Tenant { template }
                    if !template.contains(TENANT_PLACEHOLDER))
                {
                    return Err(UpstreamError::InvalidSettings(
                        "issuer template: no {tenantid} placeholder",
                    ));
                }
            }
            ProviderKind::OAuth2(endpoints) => {
                check_url(&endpoints.authorization_url, "authorization_url")?;
                check_url(&endpoints.token_url, "token_url")?;
                check_url(&endpoints.userinfo_url, "userinfo_url")?;
                if let EmailSource::GitHubEmails { url } = &endpoints.email_source {
                    check_url(url, "emails_url")?;
                }
                if endpoints.mapping.subject.is_empty() {
                    return Err(UpstreamError::InvalidSettings(
                        "claim mapping: no subject field",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The callback URL to register upstream: `{issuer}/api/v1/auth/oauth/{slug}/callback`,
    /// `issuer` being Castellan's own.
    pub fn callback_url(&self, castellan_issuer: &str) -> String {
        callback_url(castellan_issuer, &self.slug)
    }

    /// The identifier of the upstream issuer recorded on identities: the OpenID issuer, or the
    /// OAuth 2 provider's configured name.
    pub fn issuer(&self) -> &str {
        match &self.kind {
            ProviderKind::Oidc { issuer, .. } => issuer,
            ProviderKind::OAuth2(endpoints) => &endpoints.issuer,
        }
    }
}

/// The callback URL of provider `slug` under Castellan's issuer.
pub fn callback_url(castellan_issuer: &str, slug: &str) -> String {
    format!(
        "{}/api/v1/auth/oauth/{slug}/callback",
        castellan_issuer.trim_end_matches('/')
    )
}

/// An absolute URL with a host, `https` except on loopback.
fn check_url(value: &str, field: &'static str) -> Result<(), UpstreamError> {
    let url = url::Url::parse(value).map_err(|_| UpstreamError::InvalidSettings(field))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(address)) if address.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(address)) if address.is_loopback())
        || url.host_str() == Some("localhost");
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(UpstreamError::InvalidSettings(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(slug: &str, issuer: &str) -> UpstreamProvider {
        UpstreamProvider {
            slug: slug.to_owned(),
            kind: ProviderKind::Oidc {
                issuer: issuer.to_owned(),
                issuer_rule: IssuerRule::Exact,
                email_verified_claims: Vec::new(),
            },
            client_id: "id".to_owned(),
            client_secret: SecretString::from("secret"),
            scopes: vec!["openid".to_owned()],
            token_auth: None,
            response_mode: ResponseMode::Query,
            name_in_callback_form: false,
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            provider("acme-idp", "https://idp.example")
                .validate()
                .is_ok()
        );
        assert!(provider("acme", "http://127.0.0.1:8080").validate().is_ok());
        for (slug, issuer) in [
            ("Acme", "https://idp.example"),
            ("a/b", "https://idp.example"),
            ("", "https://idp.example"),
            ("acme", "http://idp.example"),
            ("acme", "not a url"),
        ] {
            assert!(
                matches!(
                    provider(slug, issuer).validate(),
                    Err(UpstreamError::InvalidSettings(_))
                ),
                "{slug} {issuer}"
            );
        }
        let mut spaced = provider("acme", "https://idp.example");
        spaced.scopes = vec!["openid email".to_owned()];
        assert!(spaced.validate().is_err());
    }

    #[test]
    fn the_callback_is_under_the_issuer() {
        assert_eq!(
            provider("google", "https://accounts.google.com")
                .callback_url("https://id.example.com/"),
            "https://id.example.com/api/v1/auth/oauth/google/callback"
        );
    }
}
