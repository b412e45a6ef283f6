//! What every handler can reach: the configuration and the wired services.

use std::sync::Arc;

use castellan_domain::federation::SamlConnectionService;
use castellan_domain::{
    AdminService, AuditLog, ClientService, Clock, ComplianceService, EmailService,
    OrganizationServices, PlatformService, ProfileService, RandomSource, RateLimiter,
    RegistrationService, SecretSealer, SessionService, SignInService,
};
use castellan_mail::MailWorker;
use castellan_mfa::MfaService;
use castellan_oidc::{KeyManager, OidcProvider};
use castellan_passkeys::PasskeyService;

use crate::config::Config;
use crate::health::HealthChecker;
use crate::http::metrics::Metrics;
use crate::http::sso::SsoCookies;

/// Shared application state. Cloned for every request by the extractors and middleware, so
/// it is one pointer: the services behind it are many.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// State over `services`.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What every handler can reach.
#[derive(Debug)]
pub struct Services {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// Dependency checks for the health endpoints.
    pub health: Arc<HealthChecker>,
    /// The Prometheus renderer.
    pub metrics: Metrics,
    /// Creating accounts.
    pub registration: RegistrationService,
    /// Sessions and their tokens: authentication, refresh, logout, revocation.
    pub sessions: SessionService,
    /// Changing and deleting accounts.
    pub profiles: ProfileService,
    /// The sign-in flow every surface uses.
    pub signin: SignInService,
    /// Platform administration.
    pub admin: AdminService,
    /// Reading the audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Signing keys and JWKS.
    pub keys: Arc<KeyManager>,
    /// Request budgets.
    pub limiter: RateLimiter,
    /// OAuth client registration and management.
    pub clients: ClientService,
    /// The OpenID Connect provider.
    pub oidc: OidcProvider,
    /// The hosted pages' session and CSRF cookies.
    pub sso: SsoCookies,
    /// Second factors and the two-step sign-in.
    pub mfa: MfaService,
    /// Passkeys.
    pub passkeys: PasskeyService,
    /// Verification, reset, magic links, email change.
    pub email: EmailService,
    /// Drains the mail outbox (started by `server::spawn_background`).
    pub mail_worker: MailWorker,
    /// Organizations, memberships, roles, groups, invitations, domains and permissions.
    pub organizations: OrganizationServices,
    /// Platform figures and maintenance mode.
    pub platform: PlatformService,
    /// Data export, erasure and consent records.
    pub compliance: ComplianceService,
    /// Random ids minted at the edge (device cookies).
    pub random: Arc<dyn RandomSource>,
    /// SAML connections of organizations.
    pub saml: SamlSp,
}

/// What the SAML service-provider routes work with.
#[derive(Debug, Clone)]
pub struct SamlSp {
    /// The connections.
    pub connections: SamlConnectionService,
    /// Sign-in through them, up to the first factor.
    pub sign_in: castellan_sso::SamlSignIn,
    /// Seals and opens each connection's SP key.
    pub sealer: Arc<dyn SecretSealer>,
    /// Time, for new SP certificates and Response validation.
    pub clock: Arc<dyn Clock>,
}
