//! The services' settings, read from the configuration.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{AccountSettings, PasswordPolicy, PolicyMode, RefreshBudget, TxtLookup};
use castellan_mail::{Branding, LettreMailer, Security, SmtpSettings};
use castellan_oidc::ProviderSettings;
use castellan_passkeys::RelyingParty;

use crate::config::{Config, MailTransport, PasswordPolicyConfig, SmtpSecurity};

pub(super) fn provider_settings(config: &Config) -> ProviderSettings {
    let oidc = &config.oidc;
    ProviderSettings {
        access_token_lifetime: Duration::from_secs(config.tokens.access_token_ttl_secs),
        code_lifetime: Duration::from_secs(oidc.code_ttl_secs),
        require_pkce: oidc.require_pkce,
        interaction_lifetime: Duration::from_secs(oidc.interaction_ttl_secs),
        device_code_lifetime: Duration::from_secs(oidc.device_code_ttl_secs),
        device_poll_interval: Duration::from_secs(oidc.device_poll_interval_secs),
        par_lifetime: Duration::from_secs(oidc.par_ttl_secs),
        client_cache_ttl: Duration::from_secs(oidc.client_cache_secs),
        dynamic_registration: oidc.dynamic_registration,
        ..ProviderSettings::new(&config.issuer)
    }
}

pub(super) fn branding(config: &Config) -> Branding {
    let optional = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    Branding {
        product_name: config.mail.product_name.clone(),
        logo_url: optional(&config.mail.logo_url),
        support_address: optional(&config.mail.support_address),
    }
}

/// The configured mail transport.
pub(super) fn mailer(config: &Config) -> Result<LettreMailer, castellan_mail::TransportError> {
    let mail = &config.mail;
    match mail.transport {
        MailTransport::File => LettreMailer::files(&mail.from, mail.outbox_dir.clone()),
        MailTransport::Smtp => {
            let smtp = &mail.smtp;
            LettreMailer::smtp(
                &mail.from,
                &SmtpSettings {
                    host: smtp.host.clone(),
                    port: smtp.port,
                    security: match smtp.security {
                        SmtpSecurity::Tls => Security::Tls,
                        SmtpSecurity::Starttls => Security::StartTls,
                        SmtpSecurity::None => Security::None,
                    },
                    credentials: (!smtp.username.is_empty()).then(|| {
                        (
                            smtp.username.clone(),
                            smtp.password
                                .as_ref()
                                .map(|password| password.expose().to_owned())
                                .unwrap_or_default(),
                        )
                    }),
                    timeout: Duration::from_secs(smtp.timeout_secs),
                },
            )
        }
    }
}

/// The WebAuthn relying party: configured values, or the issuer's host and origin.
pub(super) fn relying_party(config: &Config) -> RelyingParty {
    let issuer = url::Url::parse(&config.issuer).ok();
    let passkeys = &config.passkeys;
    let id = if passkeys.rp_id.is_empty() {
        issuer
            .as_ref()
            .and_then(|url| url.host_str())
            .unwrap_or_default()
            .to_owned()
    } else {
        passkeys.rp_id.clone()
    };
    let origins = if passkeys.origins.is_empty() {
        issuer
            .and_then(|url| url::Url::parse(&url.origin().ascii_serialization()).ok())
            .into_iter()
            .collect()
    } else {
        passkeys
            .origins
            .iter()
            .filter_map(|origin| url::Url::parse(origin).ok())
            .collect()
    };
    RelyingParty {
        id,
        name: if passkeys.rp_name.is_empty() {
            config.mfa.issuer_name.clone()
        } else {
            passkeys.rp_name.clone()
        },
        origins,
        allow_any_port: passkeys.allow_any_port,
    }
}

/// The password policy the configuration sets, for the services and for the pages that
/// state it.
pub(crate) fn password_policy(config: &Config) -> PasswordPolicy {
    let accounts = &config.accounts;
    PasswordPolicy {
        mode: match accounts.password_policy {
            PasswordPolicyConfig::Composition => PolicyMode::Composition,
            PasswordPolicyConfig::Nist => PolicyMode::Nist,
        },
        min_length: accounts.password_min_length,
        max_length: accounts.password_max_length,
    }
}

pub(super) fn account_settings(config: &Config) -> AccountSettings {
    let accounts = &config.accounts;
    AccountSettings {
        lockout_threshold: accounts.lockout_threshold,
        lockout_duration: Duration::from_secs(accounts.lockout_minutes * 60),
        refresh_idle: Duration::from_secs(config.tokens.refresh_token_idle_days * 86_400),
        session_absolute: Duration::from_secs(config.tokens.session_absolute_days * 86_400),
        password_policy: password_policy(config),
        mfa_required: config.mfa.required,
        require_verified_email: config.accounts.require_verified_email,
        refresh_budget: config.rate_limit.enabled.then_some(RefreshBudget {
            per_family_per_minute: config.rate_limit.refresh_per_family_per_minute,
            per_account_per_minute: config.rate_limit.refresh_per_account_per_minute,
        }),
    }
}

/// The DNS lookup organizations verify their domains with, when the configuration allows it.
pub(super) fn domain_verification(
    config: &crate::config::OrganizationsConfig,
) -> Option<Arc<dyn TxtLookup>> {
    if !config.dns_verification {
        return None;
    }
    // Validated when the configuration was loaded.
    let servers = config
        .dns_servers
        .iter()
        .filter_map(|server| server.parse().ok())
        .collect();
    Some(Arc::new(crate::dns::DnsTxtLookup::new(servers)))
}
