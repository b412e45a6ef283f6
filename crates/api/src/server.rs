//! Starting Castellan: connect the stores, migrate, assemble the router with its layers, and
//! serve until a shutdown signal, letting in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use castellan_domain::{
    AccountPorts, AccountService, AccountSettings, AdminService, ClientService, Clock,
    CompliancePorts, ComplianceService, EmailPorts, EmailService, EmailSettings, KeyValueStore,
    Lockout, MfaChallenges, NoticeSink, NoticeWiring, OrganizationService, Outbox, PasswordCheck,
    PasswordHasher, PasswordPolicy, PlatformService, PolicyMode, RandomSource, RateLimiter,
    SignInPorts, SignInService, SystemClock, SystemRandom, UserRepository,
};
use castellan_mail::{
    Branding, LettreMailer, MailWorker, Security, SmtpSettings, Templates, WorkerSettings,
};
use castellan_mfa::{MfaPorts, MfaService};
use castellan_oidc::provider::ReqwestOutbound;
use castellan_oidc::{
    JwtTokenIssuer, KeyManager, KeySettings, MasterKey, OidcProvider, ProviderPorts,
    ProviderSettings,
};
use castellan_passkeys::{PasskeyPorts, PasskeyService, RelyingParty};
use castellan_passwords::Argon2Hasher;
use castellan_persistence::{
    Backend, Database, DatabaseError, DatabaseOptions, MemoryKeyValueStore, RedisKeyValueStore,
    RedisOptions, SqlAuditLog, SqlClientRepository, SqlConsentLedger, SqlConsentRepository,
    SqlEmailTokenRepository, SqlFactorDirectory, SqlLeaseRepository, SqlMailQueue,
    SqlMfaRepository, SqlOrganizationRepository, SqlPasskeyRepository, SqlRefreshTokenRepository,
    SqlSessionParticipants, SqlSessionRepository, SqlSigningKeyRepository, SqlUserRepository,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use castellan_migration::Migrator;

use crate::config::{Config, MailTransport, PasswordPolicyConfig, SmtpSecurity};
use crate::health::HealthChecker;
use crate::http::api_errors::{normalise_api_errors, unknown_api_route};
use crate::http::cookies::secure_cookies;
use crate::http::envelope::envelope;
use crate::http::maintenance::maintenance_guard;
use crate::http::metrics::Metrics;
use crate::http::rate_limit::limit_requests;
use crate::http::request_id::RequestId;
use crate::http::security_headers::SecurityHeaders;
use crate::http::sso::SsoCookies;
use crate::routes;
use crate::state::{AppState, Services};

/// Why Castellan could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] DatabaseError),
    /// The key-value store could not be reached.
    #[error("cache: {0}")]
    Cache(#[from] castellan_domain::KvError),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// The master key is missing, unreadable or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The mail transport could not be set up.
    #[error("{0}")]
    Mail(String),
    /// The outbound HTTP client could not be built.
    #[error("outbound HTTP client: {0}")]
    Outbound(String),
    /// A service could not start.
    #[error("{0}")]
    Service(#[from] castellan_domain::DomainError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The configured address.
        address: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// A started application: the state the router serves, and the database to close at the end.
#[derive(Debug)]
pub struct App {
    /// The shared state.
    pub state: AppState,
    /// The database connection pool.
    pub database: Database,
}

/// What the server reads from the machine rather than from its stores: the time and random
/// numbers. Production takes the system's; tests pass a clock they move.
#[derive(Debug, Clone)]
pub struct SystemPorts {
    /// The source of "now" for every rule, store and token.
    pub clock: Arc<dyn Clock>,
    /// The source of every secret, token, code and salt.
    pub random: Arc<dyn RandomSource>,
}

impl Default for SystemPorts {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            random: Arc::new(SystemRandom),
        }
    }
}

/// Connects the database (migrating it when configured) and the key-value store, loads the
/// signing keys, and wires the services, on the system's clock and random numbers.
pub async fn build(config: Config) -> Result<App, StartupError> {
    build_with(config, SystemPorts::default()).await
}

/// [`build`] on the given clock and random source.
pub async fn build_with(config: Config, system: SystemPorts) -> Result<App, StartupError> {
    // Wiring holds many adapters at once; boxing keeps callers' futures small.
    Box::pin(wire(config, system)).await
}

async fn wire(config: Config, system: SystemPorts) -> Result<App, StartupError> {
    let database = connect_database(&config).await?;
    if config.database.run_migrations {
        database.migrate_up::<Migrator>(None).await?;
        tracing::info!("database schema is up to date");
    }
    let clock = system.clock.clone();
    let (cache, cache_backend) = connect_cache(&config, clock.clone()).await?;
    let metrics = Metrics::install().map_err(StartupError::Metrics)?;
    let health = HealthChecker::new(database.clone(), cache.clone(), cache_backend);
    let master = load_master_key(&config, database.backend())?;
    let sso = SsoCookies::new(
        &master.derive("castellan/sso-cookie/v1"),
        secure_cookies(&config.issuer),
        i64::try_from(config.tokens.session_absolute_days * 86_400).unwrap_or(i64::MAX),
        system.random.clone(),
    );
    let audit = Arc::new(SqlAuditLog::new(database.clone()));
    // Security events also become notices to the account holder.
    let events = Arc::new(NoticeSink::new(audit.clone()));
    let sealer = Arc::new(master.clone());
    let access_ttl = Duration::from_secs(config.tokens.access_token_ttl_secs);
    let keys = KeyManager::start(
        Arc::new(SqlSigningKeyRepository::new(database.clone())),
        Arc::new(SqlLeaseRepository::new(database.clone(), clock.clone())),
        audit.clone(),
        master,
        clock.clone(),
        KeySettings {
            rsa_bits: config.keys.rsa_bits,
            rotation_interval: Duration::from_secs(config.keys.rotation_interval_days * 86_400),
            // Retired keys stay published while any token they signed may live, including a
            // client's longer-lived access tokens.
            max_token_lifetime: access_ttl.max(Duration::from_secs(
                castellan_domain::client::MAX_ACCESS_TOKEN_LIFETIME_SECS,
            )),
        },
        // Before `castellan migrate up` has run, keys are created on first use instead.
        database.is_migrated::<Migrator>().await?,
    )
    .await?;
    let tokens = Arc::new(JwtTokenIssuer::new(
        keys.clone(),
        clock.clone(),
        &config.issuer,
        access_ttl,
    ));
    let challenges = MfaChallenges::new(
        cache.clone(),
        system.random.clone(),
        Duration::from_secs(config.mfa.challenge_ttl_secs),
    );
    let users: Arc<dyn UserRepository> = Arc::new(SqlUserRepository::new(database.clone()));
    let mail_queue = Arc::new(SqlMailQueue::new(database.clone()));
    let outbox = Outbox::new(
        mail_queue.clone(),
        Arc::new(Templates::new(branding(&config))),
    );
    events.wire(NoticeWiring {
        users: users.clone(),
        outbox: outbox.clone(),
        kv: cache.clone(),
        notify_new_sign_in: config.mail.notify_new_sign_in,
    });
    let organization_repository = Arc::new(SqlOrganizationRepository::new(database.clone()));
    let organizations = OrganizationService::new(
        castellan_domain::OrganizationPorts::on(organization_repository.clone()),
        users.clone(),
        cache.clone(),
        events.clone(),
        clock.clone(),
        system.random.clone(),
    )
    .with_invitations(outbox.clone(), &config.issuer);
    let organizations = with_domain_verification(organizations, &config.organizations);
    // Sessions are scoped through the organization service, and sign-ins count toward the
    // lockout: both are built before the account service that uses them.
    let settings = account_settings(&config);
    let hasher: Arc<dyn PasswordHasher> = Arc::new(Argon2Hasher::for_this_machine()?);
    let credentials = PasswordCheck::new(
        users.clone(),
        hasher.clone(),
        Lockout::new(
            cache.clone(),
            events.clone(),
            clock.clone(),
            settings.lockout_threshold,
            settings.lockout_duration,
        ),
    );
    let require_verified_email = settings.require_verified_email;
    let accounts = AccountService::new(
        AccountPorts {
            random: system.random.clone(),
            users: users.clone(),
            sessions: Arc::new(SqlSessionRepository::new(database.clone())),
            refresh_tokens: Arc::new(SqlRefreshTokenRepository::new(database.clone())),
            tokens: tokens.clone(),
            kv: cache.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        hasher,
        settings,
        credentials.clone(),
        Arc::new(organizations.clone()),
    );
    let signin = SignInService::new(
        accounts.clone(),
        credentials,
        SignInPorts {
            factors: Arc::new(SqlFactorDirectory::new(database.clone())),
            challenges: challenges.clone(),
            organizations: Arc::new(organizations.clone()),
            events: events.clone(),
            clock: clock.clone(),
        },
        require_verified_email,
    );
    let email = EmailService::new(
        accounts.clone(),
        EmailPorts {
            random: system.random.clone(),
            tokens: Arc::new(SqlEmailTokenRepository::new(database.clone())),
            users: users.clone(),
            outbox,
            events: events.clone(),
            clock: clock.clone(),
        },
        EmailSettings {
            require_verified_email: config.accounts.require_verified_email,
            magic_links: config.accounts.magic_links,
            ..EmailSettings::new(&config.issuer)
        },
    );
    let mail_worker = MailWorker::new(
        mail_queue.clone(),
        Arc::new(mailer(&config).map_err(|error| StartupError::Mail(error.to_string()))?),
        clock.clone(),
        WorkerSettings {
            poll_interval: Duration::from_millis(config.mail.poll_interval_ms),
            retry_base: Duration::from_millis(config.mail.retry_base_ms),
            max_attempts: config.mail.max_attempts,
            ..WorkerSettings::default()
        },
    );
    let passkey_repository = Arc::new(SqlPasskeyRepository::new(database.clone()));
    let mfa_factors = Arc::new(SqlMfaRepository::new(database.clone()));
    let consent_repository = Arc::new(SqlConsentRepository::new(database.clone()));
    let platform = PlatformService::new(
        accounts.clone(),
        organization_repository.clone(),
        audit.clone(),
    );
    let compliance = ComplianceService::new(
        accounts.clone(),
        CompliancePorts {
            random: system.random.clone(),
            organizations: organization_repository,
            factors: mfa_factors.clone(),
            passkeys: passkey_repository.clone(),
            oauth_consents: consent_repository.clone(),
            ledger: Arc::new(SqlConsentLedger::new(database.clone())),
            audit: audit.clone(),
            mail: mail_queue,
        },
    );
    let mfa = MfaService::new(
        signin.clone(),
        MfaPorts {
            random: system.random.clone(),
            factors: mfa_factors,
            passkeys: passkey_repository.clone(),
            sealer,
            users: users.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        config.mfa.issuer_name.clone(),
    );
    let relying_party = castellan_passkeys::relying_party(&relying_party(&config));
    if let Err(reason) = &relying_party {
        tracing::warn!(%reason, "passkeys are off");
    }
    let passkeys = PasskeyService::new(
        relying_party,
        PasskeyPorts {
            random: system.random.clone(),
            passkeys: passkey_repository,
            users,
            kv: cache.clone(),
            challenges,
            events: events.clone(),
            clock: clock.clone(),
        },
        Duration::from_secs(match config.passkeys.ceremony_ttl_secs {
            0 => 300,
            secs => secs,
        }),
    );
    let admin = AdminService::new(accounts.clone(), audit.clone(), system.random.clone());
    let client_repository = Arc::new(SqlClientRepository::new(database.clone()));
    let clients = ClientService::new(
        client_repository.clone(),
        audit.clone(),
        clock.clone(),
        system.random.clone(),
        Duration::from_secs(config.oidc.secret_rotation_overlap_hours * 3600),
    );
    let outbound = ReqwestOutbound::new(
        Duration::from_secs(10),
        config.oidc.allow_private_network_callbacks,
    )
    .map_err(StartupError::Outbound)?;
    let oidc = OidcProvider::new(
        ProviderPorts {
            clients: client_repository,
            consents: consent_repository,
            participants: Arc::new(SqlSessionParticipants::new(database.clone())),
            accounts: accounts.clone(),
            tokens,
            kv: cache.clone(),
            events: audit.clone(),
            clock: clock.clone(),
            random: system.random.clone(),
            outbound: Arc::new(outbound),
        },
        provider_settings(&config),
    );
    // The provider is built on the account service and listens to it, so this one link is
    // made after both exist.
    accounts.on_session_end(Arc::new(oidc.clone()));
    let state = AppState::new(Services {
        config: Arc::new(config),
        health: Arc::new(health),
        metrics,
        accounts,
        signin,
        admin,
        audit,
        keys,
        limiter: RateLimiter::new(cache, clock.clone()),
        clients,
        oidc,
        sso,
        mfa,
        passkeys,
        email,
        mail_worker,
        organizations,
        platform,
        compliance,
    });
    Ok(App { state, database })
}

fn provider_settings(config: &Config) -> ProviderSettings {
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

fn branding(config: &Config) -> Branding {
    let optional = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
    Branding {
        product_name: config.mail.product_name.clone(),
        logo_url: optional(&config.mail.logo_url),
        support_address: optional(&config.mail.support_address),
    }
}

/// The configured mail transport.
fn mailer(config: &Config) -> Result<LettreMailer, castellan_mail::TransportError> {
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
fn relying_party(config: &Config) -> RelyingParty {
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

fn account_settings(config: &Config) -> AccountSettings {
    let accounts = &config.accounts;
    AccountSettings {
        lockout_threshold: accounts.lockout_threshold,
        lockout_duration: Duration::from_secs(accounts.lockout_minutes * 60),
        refresh_idle: Duration::from_secs(config.tokens.refresh_token_idle_days * 86_400),
        session_absolute: Duration::from_secs(config.tokens.session_absolute_days * 86_400),
        password_policy: PasswordPolicy {
            mode: match accounts.password_policy {
                PasswordPolicyConfig::Composition => PolicyMode::Composition,
                PasswordPolicyConfig::Nist => PolicyMode::Nist,
            },
            min_length: accounts.password_min_length,
            max_length: accounts.password_max_length,
        },
        mfa_required: config.mfa.required,
        require_verified_email: config.accounts.require_verified_email,
    }
}

/// The master key from `keys.master_key`, or from `keys.master_key_file`; in the embedded mode
/// a missing file is created with a fresh key (and the operator is told to back it up). With
/// PostgreSQL every replica must share one key, so a missing one is an error.
fn load_master_key(config: &Config, backend: Backend) -> Result<MasterKey, StartupError> {
    if let Some(key) = &config.keys.master_key {
        return MasterKey::from_base64(key.expose())
            .map_err(|error| StartupError::MasterKey(format!("keys.master_key: {error}")));
    }
    let path = &config.keys.master_key_file;
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_base64(&text)
            .map_err(|error| StartupError::MasterKey(format!("{}: {error}", path.display()))),
        Err(error)
            if error.kind() == std::io::ErrorKind::NotFound && backend == Backend::Sqlite =>
        {
            let (key, text) = MasterKey::generate();
            write_private_file(path, &text).map_err(|error| {
                StartupError::MasterKey(format!("cannot create {}: {error}", path.display()))
            })?;
            tracing::warn!(path = %path.display(), "generated a master key for the embedded mode; back it up with the database");
            Ok(key)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(StartupError::MasterKey(format!(
                "no keys.master_key and no file at {}: with PostgreSQL every replica must share one master key \
             (generate one with `openssl rand -base64 32`)",
                path.display()
            )))
        }
        Err(error) => Err(StartupError::MasterKey(format!(
            "cannot read {}: {error}",
            path.display()
        ))),
    }
}

/// Writes a new file readable by its owner only; never overwrites.
fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The mail worker, draining the outbox until the task is aborted.
pub fn spawn_mail_worker(state: &AppState) -> tokio::task::JoinHandle<()> {
    let worker = state.mail_worker.clone();
    tokio::spawn(worker.run(std::future::pending()))
}

/// Work every replica does in the background: send queued mail; reload the signing keys (to
/// see another replica's rotation) every minute, and rotate them when due (once across
/// replicas).
pub fn spawn_background(state: &AppState) -> tokio::task::JoinHandle<()> {
    let keys = state.keys.clone();
    let mail = spawn_mail_worker(state);
    tokio::spawn(async move {
        // Stopping the background work stops the mail worker with it.
        let _mail = AbortOnDrop(mail);
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = keys.rotate_if_due().await {
                tracing::warn!(%error, "scheduled key rotation failed");
            }
            if let Err(error) = keys.reload().await {
                tracing::warn!(%error, "reloading the signing keys failed");
            }
        }
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the configured database.
pub async fn connect_database(config: &Config) -> Result<Database, DatabaseError> {
    let options = DatabaseOptions {
        max_connections: config.database.max_connections,
        min_connections: config.database.min_connections,
        connect_timeout: Duration::from_secs(config.database.connect_timeout_secs),
    };
    Database::connect(config.database.url.expose(), &options).await
}

async fn connect_cache(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn KeyValueStore>, &'static str), StartupError> {
    if config.cache.url.is_empty() {
        return Ok((Arc::new(MemoryKeyValueStore::new(clock)), "memory"));
    }
    let timeout = Duration::from_millis(config.cache.timeout_ms);
    let options = RedisOptions {
        key_prefix: config.cache.key_prefix.clone(),
        connect_timeout: timeout,
        response_timeout: timeout,
    };
    let redis = RedisKeyValueStore::connect(config.cache.url.expose(), &options).await?;
    Ok((Arc::new(redis), "redis"))
}

/// The whole HTTP surface with its layers.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (documented, openapi) = routes::documented().split_for_parts();
    let openapi = Arc::new(openapi);
    // Unknown routes under /api/v1 answer in the API's format, not the framework's.
    let documented = documented
        .route("/api/v1", axum::routing::any(unknown_api_route))
        .route("/api/v1/{*rest}", axum::routing::any(unknown_api_route));
    let router = documented
        .route(
            "/openapi.json",
            get(move || routes::docs::openapi_json(openapi.clone())),
        )
        .route("/docs", get(routes::docs::docs_page))
        .merge(routes::oauth::router())
        .merge(routes::pages::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            maintenance_guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_requests,
        ))
        .with_state(state);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::extract::Request| {
            let id = request
                .extensions()
                .get::<RequestId>()
                .map_or("", |id| id.0.as_str());
            // The path only: query strings can carry codes and tokens.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    router
        .layer(DefaultBodyLimit::max(config.server.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(config.server.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.server.request_timeout_secs),
        ))
        .layer(CatchPanicLayer::new())
        // Outside the limit, timeout and panic layers, so their answers are rewritten too.
        .layer(middleware::from_fn(normalise_api_errors))
        .layer(cors(&config))
        .layer(trace)
        // Outermost, so the trace span sees the request id and every answer gets the headers.
        .layer(middleware::from_fn_with_state(
            SecurityHeaders {
                hsts: config.issuer_is_https(),
            },
            envelope,
        ))
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .server
        .cors
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            header::RETRY_AFTER,
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(config.server.cors.max_age_secs))
}

/// Binds the configured address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartupError::Bind { address, source })
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish for up to `grace` before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let draining = Arc::new(Notify::new());
    let signal_draining = draining.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        // notify_one keeps the permit if the grace timer is not waiting yet.
        signal_draining.notify_one();
    });
    tokio::select! {
        result = server => result,
        () = async {
            draining.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; exiting with requests still in flight");
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// Lets organizations verify their domains through DNS when the configuration allows it.
fn with_domain_verification(
    organizations: OrganizationService,
    config: &crate::config::OrganizationsConfig,
) -> OrganizationService {
    if !config.dns_verification {
        return organizations;
    }
    // Validated when the configuration was loaded.
    let servers = config
        .dns_servers
        .iter()
        .filter_map(|server| server.parse().ok())
        .collect();
    organizations.with_dns(Arc::new(crate::dns::DnsTxtLookup::new(servers)))
}
