//! Checks that reach past types: URLs, cross-key rules, and derived defaults.

use castellan_persistence::Backend;
use castellan_persistence::kv::check_redis_url;

use super::{Config, ConfigError, ConnectionUrl, MailTransport};

impl Config {
    /// Validates every key and fills the values derived from others (the SQLite URL and the
    /// outbox under `data_dir`). `Config::load` calls it; code that builds a `Config` by hand must.
    pub fn resolve(&mut self) -> Result<(), ConfigError> {
        self.issuer = normalise_issuer(&self.issuer)?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        self.validate_server()?;
        self.resolve_database()?;
        self.validate_cache()?;
        self.resolve_mail()?;
        self.validate_security()?;
        self.validate_oidc()?;
        self.validate_second_factors()?;
        self.validate_outbound()?;
        for server in &self.organizations.dns_servers {
            if server.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::new(
                    "organizations.dns_servers",
                    format!("{server} is not an ip:port address"),
                ));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|error| {
            ConfigError::new("log.level", format!("not a valid filter: {error}"))
        })?;
        Ok(())
    }

    fn validate_server(&mut self) -> Result<(), ConfigError> {
        if self.server.body_limit_bytes == 0 {
            return Err(ConfigError::new(
                "server.body_limit_bytes",
                "must be above zero",
            ));
        }
        if self.server.request_timeout_secs == 0 {
            return Err(ConfigError::new(
                "server.request_timeout_secs",
                "must be above zero",
            ));
        }
        for origin in &mut self.server.cors.allowed_origins {
            *origin = normalise_origin(origin)?;
        }
        Ok(())
    }

    fn resolve_database(&mut self) -> Result<(), ConfigError> {
        if self.database.url.is_empty() {
            let file = self.data_dir.join("castellan.db");
            self.database.url = ConnectionUrl::from(format!("sqlite://{}", file.display()));
        }
        Backend::from_url(self.database.url.expose())
            .map_err(|error| ConfigError::new("database.url", error.to_string()))?;
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be above zero",
            ));
        }
        if self.database.min_connections > self.database.max_connections {
            return Err(ConfigError::new(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        Ok(())
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let oidc = &self.oidc;
        for (key, value) in [
            ("oidc.code_ttl_secs", oidc.code_ttl_secs),
            ("oidc.interaction_ttl_secs", oidc.interaction_ttl_secs),
            ("oidc.device_code_ttl_secs", oidc.device_code_ttl_secs),
            (
                "oidc.device_poll_interval_secs",
                oidc.device_poll_interval_secs,
            ),
            ("oidc.par_ttl_secs", oidc.par_ttl_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be above zero"));
            }
        }
        if oidc.code_ttl_secs > 600 {
            return Err(ConfigError::new(
                "oidc.code_ttl_secs",
                "must be at most 600 (RFC 6749 recommends codes live at most 10 minutes)",
            ));
        }
        if oidc
            .registration_token
            .as_ref()
            .is_some_and(|token| token.expose().len() < 16)
        {
            return Err(ConfigError::new(
                "oidc.registration_token",
                "must be at least 16 characters",
            ));
        }
        Ok(())
    }

    fn validate_outbound(&self) -> Result<(), ConfigError> {
        let outbound = &self.outbound;
        crate::outbound::AllowList::parse(&outbound.allowed_hosts)
            .map_err(|error| ConfigError::new("outbound.allowed_hosts", error.to_string()))?;
        if !(1..=300).contains(&outbound.timeout_secs) {
            return Err(ConfigError::new(
                "outbound.timeout_secs",
                "must be 1 to 300",
            ));
        }
        if outbound.max_response_bytes == 0 {
            return Err(ConfigError::new(
                "outbound.max_response_bytes",
                "must be above zero",
            ));
        }
        Ok(())
    }

    fn validate_second_factors(&self) -> Result<(), ConfigError> {
        if self.mfa.challenge_ttl_secs == 0 || self.mfa.challenge_ttl_secs > 3600 {
            return Err(ConfigError::new(
                "mfa.challenge_ttl_secs",
                "must be between 1 and 3600",
            ));
        }
        if self.mfa.issuer_name.trim().is_empty() || self.mfa.issuer_name.contains(':') {
            return Err(ConfigError::new(
                "mfa.issuer_name",
                "must be a non-empty name without ':'",
            ));
        }
        for origin in &self.passkeys.origins {
            let parsed = url::Url::parse(origin).map_err(|error| {
                ConfigError::new(
                    "passkeys.origins",
                    format!("{origin} is not a URL: {error}"),
                )
            })?;
            if parsed.host_str().is_none() || parsed.path() != "/" {
                return Err(ConfigError::new(
                    "passkeys.origins",
                    format!("{origin} must be an origin: scheme, host and port only"),
                ));
            }
        }
        Ok(())
    }

    fn validate_cache(&self) -> Result<(), ConfigError> {
        if !self.cache.url.is_empty() {
            check_redis_url(self.cache.url.expose())
                .map_err(|error| ConfigError::new("cache.url", error.to_string()))?;
            url::Url::parse(self.cache.url.expose())
                .map_err(|error| ConfigError::new("cache.url", format!("not a URL: {error}")))?;
        }
        if self.cache.timeout_ms == 0 {
            return Err(ConfigError::new("cache.timeout_ms", "must be above zero"));
        }
        Ok(())
    }

    fn validate_security(&mut self) -> Result<(), ConfigError> {
        if ![2048, 3072, 4096].contains(&self.keys.rsa_bits) {
            return Err(ConfigError::new(
                "keys.rsa_bits",
                "must be 2048, 3072 or 4096",
            ));
        }
        if self.keys.rotation_interval_days == 0 {
            return Err(ConfigError::new(
                "keys.rotation_interval_days",
                "must be above zero",
            ));
        }
        if self.keys.master_key_file.as_os_str().is_empty() {
            self.keys.master_key_file = self.data_dir.join("master.key");
        }
        if !(60..=86_400).contains(&self.tokens.access_token_ttl_secs) {
            return Err(ConfigError::new(
                "tokens.access_token_ttl_secs",
                "must be 60 to 86400",
            ));
        }
        if self.tokens.clock_leeway_secs > 300 {
            return Err(ConfigError::new(
                "tokens.clock_leeway_secs",
                "must be 0 to 300",
            ));
        }
        if self.tokens.refresh_token_idle_days == 0
            || self.tokens.session_absolute_days < self.tokens.refresh_token_idle_days
        {
            return Err(ConfigError::new(
                "tokens.session_absolute_days",
                "must be at least tokens.refresh_token_idle_days, which must be above zero",
            ));
        }
        let accounts = &self.accounts;
        if accounts.password_min_length < 8
            || accounts.password_max_length < accounts.password_min_length
        {
            return Err(ConfigError::new(
                "accounts.password_min_length",
                "must be at least 8 and not above accounts.password_max_length",
            ));
        }
        let must_be_positive = [
            (
                "accounts.lockout_threshold",
                u64::from(accounts.lockout_threshold),
            ),
            ("accounts.lockout_minutes", accounts.lockout_minutes),
        ]
        .into_iter()
        .chain(
            self.rate_limit
                .enabled
                .then_some([
                    (
                        "rate_limit.per_ip_per_minute",
                        self.rate_limit.per_ip_per_minute,
                    ),
                    (
                        "rate_limit.per_ip_per_hour",
                        self.rate_limit.per_ip_per_hour,
                    ),
                    (
                        "rate_limit.auth_per_ip_per_minute",
                        self.rate_limit.auth_per_ip_per_minute,
                    ),
                    (
                        "rate_limit.per_account_per_minute",
                        self.rate_limit.per_account_per_minute,
                    ),
                    (
                        "rate_limit.refresh_per_family_per_minute",
                        self.rate_limit.refresh_per_family_per_minute,
                    ),
                    (
                        "rate_limit.refresh_per_account_per_minute",
                        self.rate_limit.refresh_per_account_per_minute,
                    ),
                ])
                .into_iter()
                .flatten(),
        );
        for (key, value) in must_be_positive {
            if value == 0 {
                return Err(ConfigError::new(key, "must be above zero"));
            }
        }
        Ok(())
    }

    fn resolve_mail(&mut self) -> Result<(), ConfigError> {
        let address = self
            .mail
            .from
            .rsplit_once('<')
            .map_or(self.mail.from.as_str(), |(_, rest)| {
                rest.trim_end_matches('>')
            });
        if !address.contains('@') || address.starts_with('@') || address.ends_with('@') {
            return Err(ConfigError::new(
                "mail.from",
                "must be an address such as `Castellan <no-reply@example.com>`",
            ));
        }
        if self.mail.outbox_dir.as_os_str().is_empty() {
            self.mail.outbox_dir = self.data_dir.join("mail");
        }
        if self.mail.poll_interval_ms == 0 {
            return Err(ConfigError::new(
                "mail.poll_interval_ms",
                "must be above zero",
            ));
        }
        if self.mail.retry_base_ms == 0 {
            return Err(ConfigError::new("mail.retry_base_ms", "must be above zero"));
        }
        if self.mail.max_attempts == 0 {
            return Err(ConfigError::new("mail.max_attempts", "must be above zero"));
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp.host.trim().is_empty() {
            return Err(ConfigError::new(
                "mail.smtp.host",
                "is required when mail.transport is \"smtp\"",
            ));
        }
        Ok(())
    }
}

/// An issuer is an absolute http(s) URL with a host, no query or fragment, no trailing slash.
fn normalise_issuer(issuer: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(issuer.trim())
        .map_err(|error| ConfigError::new("issuer", format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            "issuer",
            "must be an http:// or https:// URL with a host",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "issuer",
            "must not have a query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An origin is scheme, host and optional port, nothing else.
fn normalise_origin(origin: &str) -> Result<String, ConfigError> {
    let key = "server.cors.allowed_origins";
    let url = url::Url::parse(origin.trim())
        .map_err(|error| ConfigError::new(key, format!("{origin:?} is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
    {
        return Err(ConfigError::new(
            key,
            format!("{origin:?} is not an origin like https://app.example.com"),
        ));
    }
    Ok(url.origin().ascii_serialization())
}
