//! Castellan's configuration: one typed struct, layered from built-in defaults, then an
//! optional TOML file, then `CASTELLAN_*` environment variables (nested keys joined by `__`).
//! Unknown keys and bad values are errors that name the key; nothing is guessed.

mod secret;
mod validate;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

pub use secret::{ConnectionUrl, Secret};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "castellan.toml";
/// The prefix of every environment variable Castellan reads.
pub const ENV_PREFIX: &str = "CASTELLAN_";

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The public base URL of this Castellan; the `iss` of every token. No trailing slash.
    pub issuer: String,
    /// Where the embedded mode keeps its SQLite file, generated keys and mail outbox.
    pub data_dir: PathBuf,
    /// The HTTP listener.
    pub server: ServerConfig,
    /// The relational database.
    pub database: DatabaseConfig,
    /// The key-value store.
    pub cache: CacheConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Logging.
    pub log: LogConfig,
    /// Token lifetimes.
    pub tokens: TokensConfig,
    /// Signing keys and the master key.
    pub keys: KeysConfig,
    /// Account rules: passwords, lockout, sign-up.
    pub accounts: AccountsConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// The OpenID Connect provider.
    pub oidc: OidcConfig,
    /// Second factors (TOTP, backup codes).
    pub mfa: MfaConfig,
    /// Passkeys (WebAuthn).
    pub passkeys: PasskeysConfig,
    /// Organizations: how their email domains are verified.
    pub organizations: OrganizationsConfig,
    /// Requests Castellan makes itself (`jwks_uri`, back-channel logout, upstream providers).
    pub outbound: OutboundConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8000".to_owned(),
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            cache: CacheConfig::default(),
            mail: MailConfig::default(),
            log: LogConfig::default(),
            tokens: TokensConfig::default(),
            keys: KeysConfig::default(),
            accounts: AccountsConfig::default(),
            rate_limit: RateLimitConfig::default(),
            oidc: OidcConfig::default(),
            mfa: MfaConfig::default(),
            passkeys: PasskeysConfig::default(),
            organizations: OrganizationsConfig::default(),
            outbound: OutboundConfig::default(),
        }
    }
}

/// Requests Castellan makes itself. Loopback, private, link-local and other internal addresses
/// are refused, after DNS resolution and on every redirect, unless listed here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Host names, IP addresses and CIDR networks that may be reached although internal.
    pub allowed_hosts: Vec<String>,
    /// Seconds a whole request may take: connecting, redirects and reading the body.
    pub timeout_secs: u64,
    /// The largest response body accepted, in bytes.
    pub max_response_bytes: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            timeout_secs: 10,
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Organizations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationsConfig {
    /// Let organizations verify their email domains by publishing a DNS TXT record; when off,
    /// only platform operators verify domains.
    pub dns_verification: bool,
    /// DNS servers asked for the TXT records (`ip:port`); empty: the system's resolvers
    /// (`/etc/resolv.conf`).
    pub dns_servers: Vec<String>,
}

impl Default for OrganizationsConfig {
    fn default() -> Self {
        Self {
            dns_verification: true,
            dns_servers: Vec::new(),
        }
    }
}

/// Second factors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// Every account must use a second factor: a password sign-in without one only lets the
    /// user enrol one.
    pub required: bool,
    /// The name authenticator apps show next to the account.
    pub issuer_name: String,
    /// How long the second step of a sign-in may take, in seconds.
    pub challenge_ttl_secs: u64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            required: false,
            issuer_name: "Castellan".to_owned(),
            challenge_ttl_secs: 300,
        }
    }
}

/// The WebAuthn relying party.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeysConfig {
    /// The relying-party id passkeys are bound to: the issuer's host, or a parent domain of it.
    /// Empty: the issuer's host.
    pub rp_id: String,
    /// The name authenticators show. Empty: `mfa.issuer_name`.
    pub rp_name: String,
    /// The origins pages run ceremonies from. Empty: the issuer's origin.
    pub origins: Vec<String>,
    /// Accept any port on those origins (for development on localhost).
    pub allow_any_port: bool,
    /// How long a ceremony may take, in seconds (0: 300).
    pub ceremony_ttl_secs: u64,
}

/// The OpenID Connect provider's rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Require PKCE of confidential clients too (public clients always need it).
    pub require_pkce: bool,
    /// Authorization-code lifetime in seconds.
    pub code_ttl_secs: u64,
    /// How long a user may take to sign in and consent, in seconds.
    pub interaction_ttl_secs: u64,
    /// Device-code lifetime in seconds.
    pub device_code_ttl_secs: u64,
    /// Minimum device polling interval in seconds.
    pub device_poll_interval_secs: u64,
    /// Pushed-authorization-request lifetime in seconds.
    pub par_ttl_secs: u64,
    /// How long a rotated client secret keeps working, in hours.
    pub secret_rotation_overlap_hours: u64,
    /// How long a replica reuses a client it read, in seconds (edits reach every replica
    /// within this time).
    pub client_cache_secs: u64,
    /// Open dynamic client registration (RFC 7591) at /oauth2/register.
    pub dynamic_registration: bool,
    /// The initial access token dynamic registration requires; open registration when unset.
    pub registration_token: Option<Secret>,
    /// Deprecated: lets every outbound request reach any address; list the internal hosts in
    /// `outbound.allowed_hosts` instead.
    pub allow_private_network_callbacks: bool,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            require_pkce: true,
            code_ttl_secs: 60,
            interaction_ttl_secs: 600,
            device_code_ttl_secs: 600,
            device_poll_interval_secs: 5,
            par_ttl_secs: 60,
            secret_rotation_overlap_hours: 24,
            client_cache_secs: 5,
            dynamic_registration: false,
            registration_token: None,
            allow_private_network_callbacks: false,
        }
    }
}

/// Token lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Seconds an access token is still accepted past its `exp` (and before its `nbf`), for
    /// clocks that drift apart.
    pub clock_leeway_secs: u64,
    /// A refresh token unused this many days expires (sliding).
    pub refresh_token_idle_days: u64,
    /// A session ends this many days after sign-in, whatever the refreshes.
    pub session_absolute_days: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 900,
            clock_leeway_secs: 30,
            refresh_token_idle_days: 30,
            session_absolute_days: 90,
        }
    }
}

/// Signing keys and the master key that encrypts them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// RSA key size: 2048, 3072 or 4096.
    pub rsa_bits: usize,
    /// Days an active key signs before it is rotated.
    pub rotation_interval_days: u64,
    /// The master key, 32 bytes base64. Empty: read `master_key_file`.
    pub master_key: Option<Secret>,
    /// A file holding the master key. Empty: `<data_dir>/master.key`, generated on first start
    /// in the embedded mode (SQLite); required with PostgreSQL.
    pub master_key_file: PathBuf,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rsa_bits: 2048,
            rotation_interval_days: 90,
            master_key: None,
            master_key_file: PathBuf::new(),
        }
    }
}

/// Which password rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordPolicyConfig {
    /// Length plus upper, lower, digit and special character (the default).
    Composition,
    /// NIST SP 800-63B: length and blocklist only.
    Nist,
}

/// Account rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Anyone may create an account through `POST /api/v1/auth/signup`.
    pub signup_enabled: bool,
    /// `composition` or `nist`.
    pub password_policy: PasswordPolicyConfig,
    /// Fewest characters in a password.
    pub password_min_length: usize,
    /// Most characters in a password.
    pub password_max_length: usize,
    /// Failed sign-ins that lock an account.
    pub lockout_threshold: u32,
    /// Minutes a lock lasts.
    pub lockout_minutes: u64,
    /// A password sign-in waits until the address is confirmed (403 `PENDING_CONFIRMATION`).
    pub require_verified_email: bool,
    /// Magic links: `off`, `existing_users`, or `signup` (also creates accounts).
    pub magic_links: castellan_domain::MagicLinks,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            signup_enabled: true,
            password_policy: PasswordPolicyConfig::Composition,
            password_min_length: 12,
            password_max_length: 128,
            lockout_threshold: 5,
            lockout_minutes: 15,
            require_verified_email: false,
            magic_links: castellan_domain::MagicLinks::ExistingUsers,
        }
    }
}

/// Request rate limits under `/api/v1`, shared by replicas through the key-value store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Apply the limits at all.
    pub enabled: bool,
    /// Requests per minute per client IP.
    pub per_ip_per_minute: u64,
    /// Requests per hour per client IP.
    pub per_ip_per_hour: u64,
    /// Requests per minute per client IP to the routes that take credentials or mailed links
    /// (sign-in, second step, sign-up, bootstrap, resend, reset, magic link, hosted forms).
    pub auth_per_ip_per_minute: u64,
    /// API refreshes per minute of one refresh-token family.
    pub refresh_per_family_per_minute: u64,
    /// API refreshes per minute of one account, all its token families together.
    pub refresh_per_account_per_minute: u64,
    /// Requests per minute per signed-in account.
    pub per_account_per_minute: u64,
    /// Client IPs never limited (monitoring, trusted back ends).
    pub allow_list: Vec<std::net::IpAddr>,
    /// Proxies whose `X-Forwarded-For` is believed; the client IP is the last address before
    /// them. Empty: the socket's peer address is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_minute: 60,
            per_ip_per_hour: 1000,
            auth_per_ip_per_minute: 10,
            refresh_per_family_per_minute: 30,
            refresh_per_account_per_minute: 60,
            per_account_per_minute: 120,
            allow_list: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The HTTP listener and its limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: std::net::SocketAddr,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// A request still running after this many seconds is answered 408 and dropped.
    pub request_timeout_secs: u64,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish before exit.
    pub shutdown_grace_secs: u64,
    /// Cross-origin requests.
    pub cors: CorsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: std::net::SocketAddr::from(([0, 0, 0, 0], 8000)),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            cors: CorsConfig::default(),
        }
    }
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins such as `https://app.example.com`; empty means no cross-origin access.
    pub allowed_origins: Vec<String>,
    /// How long browsers may cache a preflight answer, in seconds.
    pub max_age_secs: u64,
}

/// The relational database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://user:password@host/db`; empty means the SQLite file
    /// `castellan.db` under `data_dir`.
    pub url: ConnectionUrl,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
    /// Apply pending migrations when `serve` starts.
    pub run_migrations: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: ConnectionUrl::default(),
            max_connections: 16,
            min_connections: 1,
            connect_timeout_secs: 5,
            run_migrations: true,
        }
    }
}

/// The key-value store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://...`; empty means in-process.
    pub url: ConnectionUrl,
    /// Prepended to every key, so deployments can share one Redis.
    pub key_prefix: String,
    /// Milliseconds to wait for Redis to connect or answer a command.
    pub timeout_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            url: ConnectionUrl::default(),
            key_prefix: "castellan:".to_owned(),
            timeout_ms: 2000,
        }
    }
}

/// How mail leaves Castellan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per message under `mail.outbox_dir`.
    File,
    /// An SMTP relay.
    Smtp,
}

/// Outgoing mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `file` (the embedded default) or `smtp`.
    pub transport: MailTransport,
    /// The `From:` of every message.
    pub from: String,
    /// Where the file transport writes; empty means `mail` under `data_dir`.
    pub outbox_dir: PathBuf,
    /// The SMTP relay, when `transport = "smtp"`.
    pub smtp: SmtpConfig,
    /// The product name messages carry.
    pub product_name: String,
    /// A logo shown at the top of HTML messages; empty for none.
    pub logo_url: String,
    /// An address users may write to, named at the foot of messages; empty for none.
    pub support_address: String,
    /// Mail a notice when an account signs in from a device it has not used before.
    pub notify_new_sign_in: bool,
    /// How often the outbox is read, in milliseconds.
    pub poll_interval_ms: u64,
    /// Delay after a failed delivery, in milliseconds; it doubles with each further failure
    /// up to 15 minutes.
    pub retry_base_ms: u64,
    /// Deliveries tried before a message is given up (it stays in `mail_outbox` as `failed`).
    pub max_attempts: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            from: "Castellan <no-reply@localhost>".to_owned(),
            outbox_dir: PathBuf::new(),
            smtp: SmtpConfig::default(),
            product_name: "Castellan".to_owned(),
            logo_url: String::new(),
            support_address: String::new(),
            notify_new_sign_in: true,
            poll_interval_ms: 1000,
            retry_base_ms: 5000,
            max_attempts: 20,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// TLS from the first byte (usually port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS (usually port 587); refused if the server cannot.
    Starttls,
    /// No encryption; only for a relay on the same host or network.
    None,
}

/// An SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name of the relay.
    pub host: String,
    /// Port of the relay.
    pub port: u16,
    /// `tls`, `starttls` or `none`.
    pub security: SmtpSecurity,
    /// User name for SMTP AUTH; empty means no authentication.
    pub username: String,
    /// Password for SMTP AUTH.
    pub password: Option<Secret>,
    /// Seconds to wait for the relay.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: None,
            timeout_secs: 10,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `info,castellan_api=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    /// The dotted key (or file) at fault.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads the layers: defaults, then `file` (which must exist when given explicitly, and is
    /// read only if present otherwise), then the environment. Validates and fills derived
    /// values (the SQLite URL and the outbox under `data_dir`).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed(ENV_PREFIX))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        let (path, required) = match file {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        if required || path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|error| {
                ConfigError::new(
                    "--config",
                    format!("cannot read {}: {error}", path.display()),
                )
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        // Variables the CLI reads itself are not configuration keys.
        let env = env.split("__").ignore(&["config", "admin_password"]);
        figment = figment.merge(env);
        let mut config: Config = figment
            .extract()
            .map_err(|error| describe_figment_error(&error, &path))?;
        config.resolve()?;
        Ok(config)
    }

    /// The configuration as TOML with every secret replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        // Secrets serialize redacted (see `secret`), so plain serialization is already safe.
        toml::to_string_pretty(self)
            .unwrap_or_else(|error| format!("# cannot render configuration: {error}\n"))
    }

    /// True when the issuer is served over HTTPS (turns on HSTS and `Secure` cookies).
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// Turns figment's error into one line naming the key and where its value came from.
fn describe_figment_error(error: &figment::Error, file: &Path) -> ConfigError {
    let mut path = error.path.clone();
    if let figment::error::Kind::UnknownField(field, _) = &error.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = if path.is_empty() {
        "(root)".to_owned()
    } else {
        path.join(".")
    };
    let source = match &error.metadata {
        Some(metadata) if metadata.name.contains("environment") => format!(
            " (from environment variable {ENV_PREFIX}{})",
            path.join("__").to_uppercase()
        ),
        Some(_) => format!(" (from {})", file.display()),
        None => String::new(),
    };
    let message = match &error.kind {
        figment::error::Kind::UnknownField(field, expected) => format!(
            "unknown key `{field}`; expected one of: {}",
            expected.join(", ")
        ),
        // serde's messages quote the offending value; for these keys that value is a secret.
        _ if SECRET_KEYS.contains(&key.as_str()) => {
            "must be text (the value is not shown: it may be a secret; quote a value that looks \
             like a number, e.g. '\"007\"')"
                .to_owned()
        }
        other => other.to_string(),
    };
    ConfigError::new(key, format!("{message}{source}"))
}

/// Keys whose values are (or contain) secrets, so no error message may repeat them.
const SECRET_KEYS: &[&str] = &[
    "database.url",
    "cache.url",
    "mail.smtp.password",
    "keys.master_key",
    "oidc.registration_token",
];

#[cfg(test)]
mod tests;
