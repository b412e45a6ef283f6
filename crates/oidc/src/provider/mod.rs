//! The OpenID Connect provider: authorization requests and the sign-in/consent interaction,
//! codes, the token endpoint's grants, the device flow, userinfo, introspection, revocation,
//! logout (RP-initiated and back-channel), pushed authorization requests and discovery.
//!
//! It speaks in parsed parameters and results, never in HTTP types; the api crate maps them
//! onto requests, redirects and pages.

mod authorize;
mod claims;
mod client_auth;
mod consents;
mod device;
mod discovery;
mod error;
mod grants;
mod logout;
mod pkce;
mod resources;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use castellan_domain::secret::hash_token;
use castellan_domain::{
    ClientId, ClientRepository, Clock, ConsentRepository, DomainError, EventSink, KeyValueStore,
    OAuthClient, OutboundHttp, RandomSource, SessionParticipants, SessionRepository,
    SessionService, UserRepository,
};

pub use authorize::{
    AuthorizationParams, AuthorizeError, ChosenOrganization, Interaction, InteractionView,
    OrganizationRequest, Resolution, Step,
};
pub use claims::{ClientAccessClaims, requested_claims, user_claims};
pub use client_auth::ClientCredentials;
pub use consents::GrantedAccess;
pub use device::{DeviceAuthorization, DevicePrompt, DeviceRequest};
pub use discovery::discovery_document;
pub use error::{OAuthError, OAuthErrorCode};
pub use grants::{GrantType, TokenRequest, TokenResponse};
pub use logout::{LogoutParams, LogoutPlan};
pub use resources::{Introspection, UserInfo};

use crate::JwtTokenIssuer;

/// The provider's tunable rules.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    /// Default access-token lifetime (clients may override).
    pub access_token_lifetime: Duration,
    /// How long an authorization code is valid.
    pub code_lifetime: Duration,
    /// Require PKCE of confidential clients too (public clients always need it).
    pub require_pkce: bool,
    /// How long a sign-in/consent interaction may take.
    pub interaction_lifetime: Duration,
    /// How long a device code is valid.
    pub device_code_lifetime: Duration,
    /// The minimum device-flow polling interval.
    pub device_poll_interval: Duration,
    /// How long a pushed authorization request is valid.
    pub par_lifetime: Duration,
    /// How long a client read from the database is reused before it is read again.
    pub client_cache_ttl: Duration,
    /// Whether dynamic client registration is open.
    pub dynamic_registration: bool,
}

impl ProviderSettings {
    /// Settings with the defaults for `issuer`.
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            access_token_lifetime: Duration::from_secs(900),
            code_lifetime: Duration::from_secs(60),
            require_pkce: true,
            interaction_lifetime: Duration::from_secs(600),
            device_code_lifetime: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
            par_lifetime: Duration::from_secs(60),
            client_cache_ttl: Duration::from_secs(5),
            dynamic_registration: false,
        }
    }

    /// An endpoint URL under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The adapters the provider works through.
#[derive(Debug, Clone)]
pub struct ProviderPorts {
    /// Registered clients.
    pub clients: Arc<dyn ClientRepository>,
    /// Remembered consents.
    pub consents: Arc<dyn ConsentRepository>,
    /// Which clients took part in which session.
    pub participants: Arc<dyn SessionParticipants>,
    /// Signed-in sessions and their refresh tokens.
    pub session_service: SessionService,
    /// Users, for userinfo and introspection.
    pub users: Arc<dyn UserRepository>,
    /// Sessions, for logout.
    pub sessions: Arc<dyn SessionRepository>,
    /// Token signing.
    pub tokens: Arc<JwtTokenIssuer>,
    /// Codes, interactions, device grants, replay caches, deny-lists.
    pub kv: Arc<dyn KeyValueStore>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Codes, device codes, request URIs and interaction ids.
    pub random: Arc<dyn RandomSource>,
    /// Outbound HTTP: back-channel logout tokens, clients' `jwks_uri`.
    pub outbound: Arc<dyn OutboundHttp>,
}

type CachedClient = (Instant, Arc<OAuthClient>);

/// The OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    ports: ProviderPorts,
    settings: Arc<ProviderSettings>,
    client_cache: Arc<RwLock<HashMap<ClientId, CachedClient>>>,
}

/// KV key of a secret value: only its hash is a key, so a leaked key list reveals nothing.
fn kv_key(prefix: &str, secret: &str) -> String {
    format!("{prefix}:{}", hash_token(secret))
}

impl OidcProvider {
    /// A provider over `ports` with `settings`.
    pub fn new(ports: ProviderPorts, settings: ProviderSettings) -> Self {
        Self {
            ports,
            settings: Arc::new(settings),
            client_cache: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.ports.clock.now()
    }

    /// A random value of 32 bytes, base64url: codes, device codes, request URIs, interaction ids.
    fn random_token(&self) -> String {
        self.ports.random.token()
    }

    /// A client by id, from a short-lived cache: clients are read on every token request, and
    /// an edit reaches every replica within the cache lifetime.
    pub async fn client(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<Arc<OAuthClient>>, DomainError> {
        let ttl = self.settings.client_cache_ttl;
        if let Ok(cache) = self.client_cache.read()
            && let Some((loaded, client)) = cache.get(client_id)
            && loaded.elapsed() < ttl
        {
            return Ok(Some(client.clone()));
        }
        let Some(client) = self.ports.clients.get(client_id.as_str()).await? else {
            self.forget_client(client_id.as_str());
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Ok(mut cache) = self.client_cache.write() {
            // Only registered ids enter the cache, so its size is bounded by the client count.
            cache.insert(client_id.clone(), (Instant::now(), client.clone()));
        }
        Ok(Some(client))
    }

    /// Drops a client from this replica's cache (after an edit here).
    pub fn forget_client(&self, client_id: &str) {
        if let Ok(mut cache) = self.client_cache.write() {
            cache.remove(client_id);
        }
    }

    /// Lifetime of access tokens for `client`.
    fn access_lifetime(&self, client: &OAuthClient) -> Duration {
        client
            .metadata
            .access_token_lifetime_secs
            .map_or(self.settings.access_token_lifetime, Duration::from_secs)
    }

    /// Puts an access token's id on the deny-list until it would expire anyway.
    async fn deny_token(&self, jti: &str, expires_at: i64) -> Result<(), DomainError> {
        let left = expires_at.saturating_sub(self.now().timestamp()).max(1);
        let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(1) + 60);
        self.ports
            .kv
            .set(&format!("revoked-jti:{jti}"), b"1", Some(ttl))
            .await?;
        Ok(())
    }

    /// Verifies an access token Castellan issued and checks that neither it, its refresh
    /// grant nor its session was revoked.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<ClientAccessClaims, DomainError> {
        let claims: ClientAccessClaims = self.ports.tokens.decode(token, false).await?;
        if self
            .ports
            .kv
            .get(&format!("revoked-jti:{}", claims.jti))
            .await?
            .is_some()
        {
            return Err(DomainError::InvalidToken);
        }
        if let Some(grant_id) = claims.grant_id
            && self
                .ports
                .session_service
                .is_grant_revoked(grant_id)
                .await?
        {
            return Err(DomainError::InvalidToken);
        }
        if let Some(sid) = &claims.sid {
            let sid = uuid::Uuid::parse_str(sid).map_err(|_| DomainError::InvalidToken)?;
            if self
                .ports
                .session_service
                .is_session_revoked(castellan_domain::SessionId(sid))
                .await?
            {
                return Err(DomainError::InvalidToken);
            }
        }
        Ok(claims)
    }
}
