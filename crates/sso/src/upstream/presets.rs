//! The social presets as one table: each row knows its protocol, endpoints or issuer, scopes,
//! token-endpoint authentication, response mode and email semantics, and where the operator
//! creates the upstream app. [`Preset::provider`] turns a row and the operator's credentials
//! into an [`UpstreamProvider`].

use secrecy::SecretString;

use super::UpstreamError;
use super::claims::{ClaimMapping, EmailSource};
use super::provider::{
    IssuerRule, OAuth2Endpoints, ProviderKind, ResponseMode, TENANT_PLACEHOLDER, TokenAuth,
    UpstreamProvider,
};

/// A provider Castellan knows the settings of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Google (OpenID Connect).
    Google,
    /// GitHub (OAuth 2 only; the email comes from `/user/emails`).
    Github,
    /// Microsoft identity platform (OpenID Connect; multi-tenant issuers).
    Microsoft,
    /// Sign in with Apple (OpenID Connect, form-post response, JWT client secret).
    Apple,
    /// Discord (OAuth 2).
    Discord,
    /// X, formerly Twitter (OAuth 2 with PKCE; no email).
    Twitter,
    /// LinkedIn (OpenID Connect).
    Linkedin,
    /// Slack (OpenID Connect, "Sign in with Slack").
    Slack,
}

/// The protocol side of a preset row.
#[derive(Debug)]
pub enum PresetProtocol {
    /// OpenID Connect at `issuer` (`{tenant}` is replaced by the configured tenant).
    Oidc {
        /// The issuer URL.
        issuer: &'static str,
        /// Boolean claims that, besides `email_verified`, vouch for the email.
        email_verified_claims: &'static [&'static str],
    },
    /// Plain OAuth 2.
    OAuth2 {
        /// The authorization endpoint.
        authorization_url: &'static str,
        /// The token endpoint.
        token_url: &'static str,
        /// The user endpoint.
        userinfo_url: &'static str,
        /// GitHub's email list, where the email comes from there.
        emails_url: Option<&'static str>,
        /// The name recorded as the identities' issuer.
        issuer: &'static str,
        /// The user endpoint's field paths.
        mapping: MappingRow,
    },
}

/// A claim mapping as table data.
#[derive(Debug)]
pub struct MappingRow {
    /// Subject path.
    pub subject: &'static str,
    /// Email path.
    pub email: Option<&'static str>,
    /// Email-verified path.
    pub email_verified: Option<&'static str>,
    /// Name paths, by preference.
    pub name: &'static [&'static str],
    /// Picture path.
    pub picture: Option<&'static str>,
}

/// One row of the preset table.
#[derive(Debug)]
pub struct PresetSpec {
    /// The preset.
    pub preset: Preset,
    /// Its name in configuration (`"google"`, ...), also the default slug.
    pub name: &'static str,
    /// Protocol and endpoints.
    pub protocol: PresetProtocol,
    /// The scopes requested by default.
    pub scopes: &'static [&'static str],
    /// Token-endpoint authentication; `None` follows discovery.
    pub token_auth: Option<TokenAuth>,
    /// How the browser comes back.
    pub response_mode: ResponseMode,
    /// Whether the first sign-in posts the user's name in a `user` form field.
    pub name_in_callback_form: bool,
    /// Where the operator registers Castellan upstream.
    pub console: &'static str,
}

/// The tenants whose discovery answers a templated, per-tenant issuer.
const MICROSOFT_MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// Every preset.
pub const PRESETS: [PresetSpec; 8] = [
    PresetSpec {
        preset: Preset::Google,
        name: "google",
        protocol: PresetProtocol::Oidc {
            issuer: "https://accounts.google.com",
            email_verified_claims: &[],
        },
        scopes: &["openid", "email", "profile"],
        token_auth: None,
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "Google Cloud console, APIs & Services, Credentials: an OAuth client ID of type Web application",
    },
    PresetSpec {
        preset: Preset::Github,
        name: "github",
        protocol: PresetProtocol::OAuth2 {
            authorization_url: "https://github.com/login/oauth/authorize",
            token_url: "https://github.com/login/oauth/access_token",
            userinfo_url: "https://api.github.com/user",
            emails_url: Some("https://api.github.com/user/emails"),
            issuer: "https://github.com",
            mapping: MappingRow {
                subject: "id",
                email: None,
                email_verified: None,
                name: &["name", "login"],
                picture: Some("avatar_url"),
            },
        },
        scopes: &["read:user", "user:email"],
        token_auth: Some(TokenAuth::Post),
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "GitHub, Settings, Developer settings, OAuth Apps (or a GitHub App with the Email addresses read permission)",
    },
    PresetSpec {
        preset: Preset::Microsoft,
        name: "microsoft",
        protocol: PresetProtocol::Oidc {
            issuer: "https://login.microsoftonline.com/{tenant}/v2.0",
            email_verified_claims: &["xms_edov"],
        },
        scopes: &["openid", "email", "profile"],
        token_auth: None,
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "Microsoft Entra admin center, App registrations, New registration (platform Web)",
    },
    PresetSpec {
        preset: Preset::Apple,
        name: "apple",
        protocol: PresetProtocol::Oidc {
            issuer: "https://appleid.apple.com",
            email_verified_claims: &[],
        },
        scopes: &["openid", "email", "name"],
        token_auth: Some(TokenAuth::Post),
        response_mode: ResponseMode::FormPost,
        name_in_callback_form: true,
        console: "Apple Developer, Certificates, Identifiers & Profiles: a Services ID with Sign in with Apple, and a Sign in with Apple key",
    },
    PresetSpec {
        preset: Preset::Discord,
        name: "discord",
        protocol: PresetProtocol::OAuth2 {
            authorization_url: "https://discord.com/oauth2/authorize",
            token_url: "https://discord.com/api/oauth2/token",
            userinfo_url: "https://discord.com/api/users/@me",
            emails_url: None,
            issuer: "https://discord.com",
            mapping: MappingRow {
                subject: "id",
                email: Some("email"),
                email_verified: Some("verified"),
                name: &["global_name", "username"],
                picture: None,
            },
        },
        scopes: &["identify", "email"],
        token_auth: Some(TokenAuth::Basic),
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "Discord Developer Portal, Applications, OAuth2",
    },
    PresetSpec {
        preset: Preset::Twitter,
        name: "twitter",
        protocol: PresetProtocol::OAuth2 {
            authorization_url: "https://x.com/i/oauth2/authorize",
            token_url: "https://api.x.com/2/oauth2/token",
            userinfo_url: "https://api.x.com/2/users/me?user.fields=profile_image_url",
            emails_url: None,
            issuer: "https://x.com",
            mapping: MappingRow {
                subject: "data.id",
                email: None,
                email_verified: None,
                name: &["data.name", "data.username"],
                picture: Some("data.profile_image_url"),
            },
        },
        scopes: &["users.read", "tweet.read"],
        token_auth: Some(TokenAuth::Basic),
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "X Developer Portal, Projects & Apps, User authentication settings (type Web App, confidential client)",
    },
    PresetSpec {
        preset: Preset::Linkedin,
        name: "linkedin",
        protocol: PresetProtocol::Oidc {
            issuer: "https://www.linkedin.com/oauth",
            email_verified_claims: &[],
        },
        scopes: &["openid", "email", "profile"],
        token_auth: Some(TokenAuth::Post),
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "LinkedIn Developers, My apps, Create app, then the product Sign In with LinkedIn using OpenID Connect",
    },
    PresetSpec {
        preset: Preset::Slack,
        name: "slack",
        protocol: PresetProtocol::Oidc {
            issuer: "https://slack.com",
            email_verified_claims: &[],
        },
        scopes: &["openid", "email", "profile"],
        token_auth: Some(TokenAuth::Post),
        response_mode: ResponseMode::Query,
        name_in_callback_form: false,
        console: "api.slack.com/apps, Create New App, OAuth & Permissions (Sign in with Slack)",
    },
];

impl Preset {
    /// Every preset, in table order.
    pub const ALL: [Preset; 8] = [
        Preset::Google,
        Preset::Github,
        Preset::Microsoft,
        Preset::Apple,
        Preset::Discord,
        Preset::Twitter,
        Preset::Linkedin,
        Preset::Slack,
    ];

    /// The preset named `name` in configuration.
    pub fn from_name(name: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|spec| spec.name == name)
            .map(|spec| spec.preset)
    }

    /// This preset's row.
    pub fn spec(self) -> &'static PresetSpec {
        // The table lists the presets in declaration order, checked by a test.
        &PRESETS[self as usize]
    }

    /// A provider from this preset with the operator's credentials. `tenant` is Microsoft's
    /// tenant (`common` when `None`: any work, school or personal account); other presets take
    /// none. `scopes` replaces the preset's when given.
    pub fn provider(
        self,
        slug: &str,
        client_id: &str,
        client_secret: SecretString,
        tenant: Option<&str>,
        scopes: Option<Vec<String>>,
    ) -> Result<UpstreamProvider, UpstreamError> {
        let spec = self.spec();
        if tenant.is_some() && self != Preset::Microsoft {
            return Err(UpstreamError::InvalidSettings("tenant: only for microsoft"));
        }
        let kind = match &spec.protocol {
            PresetProtocol::Oidc {
                issuer,
                email_verified_claims,
            } => {
                let tenant = tenant.unwrap_or("common");
                if tenant.is_empty()
                    || !tenant
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || b"-.".contains(&byte))
                {
                    return Err(UpstreamError::InvalidSettings("tenant"));
                }
                let issuer_rule = match MICROSOFT_MULTI_TENANT.contains(&tenant) {
                    true if self == Preset::Microsoft => IssuerRule::Tenant {
                        template: issuer.replace("{tenant}", TENANT_PLACEHOLDER),
                    },
                    _ => IssuerRule::Exact,
                };
                ProviderKind::Oidc {
                    issuer: issuer.replace("{tenant}", tenant),
                    issuer_rule,
                    email_verified_claims: email_verified_claims
                        .iter()
                        .map(|claim| (*claim).to_owned())
                        .collect(),
                }
            }
            PresetProtocol::OAuth2 { .. } => ProviderKind::OAuth2(Box::new(
                spec.oauth2_endpoints()
                    .ok_or(UpstreamError::InvalidSettings("preset"))?,
            )),
        };
        let provider = UpstreamProvider {
            slug: slug.to_owned(),
            kind,
            client_id: client_id.to_owned(),
            client_secret,
            scopes: scopes.unwrap_or_else(|| {
                spec.scopes
                    .iter()
                    .map(|scope| (*scope).to_owned())
                    .collect()
            }),
            token_auth: spec.token_auth,
            response_mode: spec.response_mode,
            name_in_callback_form: spec.name_in_callback_form,
        };
        provider.validate()?;
        Ok(provider)
    }
}

impl PresetSpec {
    /// The OAuth 2 endpoints and mapping of a plain OAuth 2 row; `None` for OpenID Connect.
    pub fn oauth2_endpoints(&self) -> Option<OAuth2Endpoints> {
        let PresetProtocol::OAuth2 {
            authorization_url,
            token_url,
            userinfo_url,
            emails_url,
            issuer,
            mapping,
        } = &self.protocol
        else {
            return None;
        };
        let owned = |path: &Option<&str>| path.map(str::to_owned);
        Some(OAuth2Endpoints {
            authorization_url: (*authorization_url).to_owned(),
            token_url: (*token_url).to_owned(),
            userinfo_url: (*userinfo_url).to_owned(),
            email_source: match emails_url {
                Some(url) => EmailSource::GitHubEmails {
                    url: (*url).to_owned(),
                },
                None => EmailSource::Userinfo,
            },
            mapping: ClaimMapping {
                subject: mapping.subject.to_owned(),
                email: owned(&mapping.email),
                email_verified: owned(&mapping.email_verified),
                name: mapping.name.iter().map(|path| (*path).to_owned()).collect(),
                given_name: None,
                family_name: None,
                picture: owned(&mapping.picture),
            },
            issuer: (*issuer).to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("s3cret")
    }

    #[test]
    fn the_table_is_in_declaration_order_and_names_are_unique() {
        for (index, preset) in Preset::ALL.iter().enumerate() {
            assert_eq!(PRESETS[index].preset, *preset);
            assert_eq!(Preset::from_name(preset.spec().name), Some(*preset));
        }
        assert_eq!(Preset::from_name("myspace"), None);
    }

    #[test]
    fn every_preset_makes_a_valid_provider() {
        for preset in Preset::ALL {
            let provider = preset
                .provider(preset.spec().name, "client", secret(), None, None)
                .unwrap();
            assert!(!provider.scopes.is_empty(), "{preset:?}");
            let oidc = matches!(provider.kind, ProviderKind::Oidc { .. });
            assert_eq!(
                oidc,
                provider.scopes.iter().any(|scope| scope == "openid"),
                "{preset:?}: OpenID Connect presets ask for openid, OAuth 2 ones do not"
            );
        }
    }

    #[test]
    fn github_is_oauth2_with_the_email_list() {
        let provider = Preset::Github
            .provider("github", "client", secret(), None, None)
            .unwrap();
        let ProviderKind::OAuth2(endpoints) = provider.kind else {
            panic!("GitHub has no OpenID Connect");
        };
        assert_eq!(
            endpoints.email_source,
            EmailSource::GitHubEmails {
                url: "https://api.github.com/user/emails".to_owned()
            }
        );
        assert!(provider.scopes.contains(&"user:email".to_owned()));
    }

    #[test]
    fn apple_posts_the_form_and_sends_the_name_there() {
        let provider = Preset::Apple
            .provider("apple", "com.example.web", secret(), None, None)
            .unwrap();
        assert_eq!(provider.response_mode, ResponseMode::FormPost);
        assert!(provider.name_in_callback_form);
        assert_eq!(provider.token_auth, Some(TokenAuth::Post));
        assert_eq!(provider.issuer(), "https://appleid.apple.com");
    }

    #[test]
    fn microsofts_multi_tenant_endpoints_check_the_tenant_issuer() {
        let common = Preset::Microsoft
            .provider("microsoft", "client", secret(), None, None)
            .unwrap();
        let ProviderKind::Oidc {
            issuer,
            issuer_rule,
            email_verified_claims,
        } = common.kind
        else {
            panic!("Microsoft speaks OpenID Connect");
        };
        assert_eq!(issuer, "https://login.microsoftonline.com/common/v2.0");
        assert_eq!(
            issuer_rule,
            IssuerRule::Tenant {
                template: "https://login.microsoftonline.com/{tenantid}/v2.0".to_owned()
            }
        );
        assert_eq!(email_verified_claims, vec!["xms_edov".to_owned()]);
        let single = Preset::Microsoft
            .provider(
                "contoso",
                "client",
                secret(),
                Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
                None,
            )
            .unwrap();
        let ProviderKind::Oidc {
            issuer,
            issuer_rule,
            ..
        } = single.kind
        else {
            panic!("Microsoft speaks OpenID Connect");
        };
        assert_eq!(
            issuer,
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        assert_eq!(issuer_rule, IssuerRule::Exact);
    }

    #[test]
    fn a_tenant_is_refused_where_it_means_nothing_or_is_malformed() {
        assert!(
            Preset::Google
                .provider("google", "c", secret(), Some("common"), None)
                .is_err()
        );
        assert!(
            Preset::Microsoft
                .provider("microsoft", "c", secret(), Some("../evil"), None)
                .is_err()
        );
    }

    #[test]
    fn scopes_can_be_replaced() {
        let provider = Preset::Google
            .provider(
                "google",
                "c",
                secret(),
                None,
                Some(vec!["openid".to_owned(), "email".to_owned()]),
            )
            .unwrap();
        assert_eq!(provider.scopes, vec!["openid", "email"]);
    }
}
