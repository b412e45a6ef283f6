//! The adapters every service is built on: the database (migrated when configured), the
//! key-value store, the master key, the audit log, the signing keys, the token issuer and the
//! guarded outbound HTTP client.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::{Clock, KeyValueStore, OutboundHttp, RandomSource};
use castellan_oidc::{JwtTokenIssuer, KeyManager, KeySettings, MasterKey};
use castellan_persistence::{
    Backend, Database, DatabaseError, DatabaseOptions, MemoryKeyValueStore, RedisKeyValueStore,
    RedisOptions, SqlAuditLog, SqlLeaseRepository, SqlSigningKeyRepository,
};

use castellan_migration::Migrator;

use crate::config::Config;
use crate::health::HealthChecker;
use crate::http::cookies::secure_cookies;
use crate::http::metrics::Metrics;
use crate::http::sso::SsoCookies;
use crate::outbound::{AllowList, GuardedOutbound, OutboundSettings};

use super::{StartupError, SystemPorts};

/// What the services are built on: the stores, the machine's clock and random numbers, the
/// audit log and its notices, the master key, the signing keys and the outbound client.
pub(super) struct Adapters {
    pub(super) database: Database,
    pub(super) cache: Arc<dyn KeyValueStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) random: Arc<dyn RandomSource>,
    pub(super) health: HealthChecker,
    pub(super) metrics: Metrics,
    pub(super) sso: SsoCookies,
    pub(super) audit: Arc<SqlAuditLog>,
    pub(super) sealer: Arc<MasterKey>,
    pub(super) keys: Arc<KeyManager>,
    pub(super) tokens: Arc<JwtTokenIssuer>,
    pub(super) outbound: Arc<dyn OutboundHttp>,
}

/// Connects the stores (migrating the database when configured), loads the master key and the
/// signing keys, and builds the adapters every service shares.
pub(super) async fn adapters(
    config: &Config,
    system: &SystemPorts,
) -> Result<Adapters, StartupError> {
    let database = connect_database(config).await?;
    if config.database.run_migrations {
        database.migrate_up::<Migrator>(None).await?;
        tracing::info!("database schema is up to date");
    }
    let clock = system.clock.clone();
    let (cache, cache_backend) = connect_cache(config, clock.clone()).await?;
    let metrics = Metrics::new().map_err(StartupError::Metrics)?;
    let health = HealthChecker::new(database.clone(), cache.clone(), cache_backend);
    let master = load_master_key(config, database.backend())?;
    let sso = SsoCookies::new(
        &master.derive("castellan/sso-cookie/v1"),
        secure_cookies(&config.issuer),
        i64::try_from(config.tokens.session_absolute_days * 86_400).unwrap_or(i64::MAX),
        system.random.clone(),
    );
    let audit = Arc::new(SqlAuditLog::new(database.clone()));
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
    let tokens = Arc::new(
        JwtTokenIssuer::new(keys.clone(), clock.clone(), &config.issuer, access_ttl)
            .with_leeway(Duration::from_secs(config.tokens.clock_leeway_secs)),
    );
    let outbound = outbound_client(config)?;
    Ok(Adapters {
        database,
        cache,
        clock,
        random: system.random.clone(),
        health,
        metrics,
        sso,
        audit,
        sealer,
        keys,
        tokens,
        outbound,
    })
}

/// The one client for every request Castellan makes itself.
fn outbound_client(config: &Config) -> Result<Arc<dyn OutboundHttp>, StartupError> {
    let allow_everything = config.oidc.allow_private_network_callbacks;
    if allow_everything {
        tracing::warn!(
            "oidc.allow_private_network_callbacks is deprecated and lets outbound requests reach \
             every internal address; list the hosts to reach in outbound.allowed_hosts instead"
        );
    }
    let allowed = AllowList::parse(&config.outbound.allowed_hosts)
        .map_err(|error| StartupError::Outbound(error.to_string()))?;
    let client = GuardedOutbound::new(OutboundSettings {
        allow_everything,
        allowed,
        timeout: Duration::from_secs(config.outbound.timeout_secs),
        max_response_bytes: config.outbound.max_response_bytes,
    })
    .map_err(|error| StartupError::Outbound(error.to_string()))?;
    Ok(Arc::new(client))
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

pub(super) async fn connect_cache(
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
