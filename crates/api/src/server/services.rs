//! The services, wired in dependency order on the adapters, and the state the router serves.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::federation::{
    AuthnRequests, FederationPorts, FederationService, ReplayCache, SamlConnectionService,
};
use castellan_domain::{
    AdminService, ClientService, CompliancePorts, ComplianceService, DirectoryPorts, DomainError,
    EmailPorts, EmailService, EmailSettings, Lockout, MfaChallenges, NoticePorts, NoticeSink,
    OrganizationServices, OrganizationWiring, Outbox, PasswordCheck, PasswordHasher,
    PlatformService, ProfilePorts, ProfileService, RateLimiter, RegistrationPorts,
    RegistrationService, SessionEnds, SessionPorts, SessionRepository, SessionService, SignInPorts,
    SignInService, UserRepository,
};
use castellan_mail::{MailWorker, Templates, WorkerSettings};
use castellan_mfa::{MfaPorts, MfaService};
use castellan_oidc::{OidcProvider, ProviderPorts};
use castellan_passkeys::{PasskeyPorts, PasskeyService};
use castellan_passwords::Argon2Hasher;
use castellan_persistence::{
    SqlClientRepository, SqlConsentLedger, SqlConsentRepository, SqlEmailTokenRepository,
    SqlFactorDirectory, SqlFederationRepository, SqlLinkRequestQueue, SqlMailQueue,
    SqlMfaRepository, SqlOrganizationRepository, SqlPasskeyRepository, SqlRefreshTokenRepository,
    SqlSessionParticipants, SqlSessionRepository, SqlUserRepository,
};
use castellan_sso::{SamlSignIn, SamlSignInPorts};

use crate::config::Config;

use crate::state::{AppState, SamlSp, Services};

use super::adapters::Adapters;
use super::settings::{
    account_settings, branding, domain_verification, mailer, provider_settings, relying_party,
};
use super::{App, StartupError};

/// The services, built in dependency order on `adapters`.
pub(super) fn services(config: Config, adapters: Adapters) -> Result<App, StartupError> {
    let Adapters {
        database,
        cache,
        clock,
        random,
        health,
        metrics,
        sso,
        audit,
        sealer,
        keys,
        tokens,
        outbound,
    } = adapters;
    let challenges = MfaChallenges::new(
        cache.clone(),
        random.clone(),
        Duration::from_secs(config.mfa.challenge_ttl_secs),
    );
    let users: Arc<dyn UserRepository> = Arc::new(SqlUserRepository::new(database.clone()));
    let mail_queue = Arc::new(SqlMailQueue::new(database.clone()));
    let link_requests = Arc::new(SqlLinkRequestQueue::new(database.clone()));
    let outbox = Outbox::new(
        mail_queue.clone(),
        Arc::new(Templates::new(branding(&config))),
    );
    // Security events also become notices to the account holder.
    let events = Arc::new(NoticeSink::new(
        audit.clone(),
        NoticePorts {
            users: users.clone(),
            outbox: outbox.clone(),
            kv: cache.clone(),
            notify_new_sign_in: config.mail.notify_new_sign_in,
        },
    ));
    let organization_repository = Arc::new(SqlOrganizationRepository::new(database.clone()));
    let organizations = OrganizationServices::new(OrganizationWiring {
        ports: castellan_domain::OrganizationPorts::on(organization_repository.clone()),
        users: users.clone(),
        kv: cache.clone(),
        events: events.clone(),
        clock: clock.clone(),
        random: random.clone(),
        invitation_mail: Some((outbox.clone(), config.issuer.clone())),
        dns: domain_verification(&config.organizations),
    });
    // Sessions are scoped through the organization service, and sign-ins count toward the
    // lockout: both are built before the account services that use them.
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
    // Ended sessions reach the provider, built later on the session service, through this.
    let (session_ends, ended_sessions) = SessionEnds::channel();
    let sessions: Arc<dyn SessionRepository> =
        Arc::new(SqlSessionRepository::new(database.clone()));
    let directory = DirectoryPorts {
        users: users.clone(),
        sessions: sessions.clone(),
        kv: cache.clone(),
        events: events.clone(),
        clock: clock.clone(),
    };
    let session_service = SessionService::new(
        SessionPorts {
            session_ends,
            random: random.clone(),
            users: users.clone(),
            sessions: sessions.clone(),
            refresh_tokens: Arc::new(SqlRefreshTokenRepository::new(database.clone())),
            tokens: tokens.clone(),
            kv: cache.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        settings.sessions(),
        organizations.directory.clone(),
    );
    let registration = RegistrationService::new(
        RegistrationPorts {
            users: users.clone(),
            hasher: hasher.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        settings.password_policy,
    );
    let profiles = ProfileService::new(
        ProfilePorts {
            users: users.clone(),
            hasher,
            credentials: credentials.clone(),
            sessions: session_service.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        settings.password_policy,
    );
    let signin = SignInService::new(
        session_service.clone(),
        credentials,
        SignInPorts {
            factors: Arc::new(SqlFactorDirectory::new(database.clone())),
            challenges: challenges.clone(),
            organizations: organizations.directory.clone(),
            events: events.clone(),
            clock: clock.clone(),
        },
        require_verified_email,
    );
    let email = EmailService::new(
        registration.clone(),
        profiles.clone(),
        EmailPorts {
            random: random.clone(),
            tokens: Arc::new(SqlEmailTokenRepository::new(database.clone())),
            users: users.clone(),
            outbox,
            link_requests: link_requests.clone(),
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
        directory.clone(),
        organization_repository.clone(),
        audit.clone(),
    );
    let compliance = ComplianceService::new(
        profiles.clone(),
        directory.clone(),
        CompliancePorts {
            random: random.clone(),
            organizations: organization_repository.clone(),
            factors: mfa_factors.clone(),
            passkeys: passkey_repository.clone(),
            oauth_consents: consent_repository.clone(),
            ledger: Arc::new(SqlConsentLedger::new(database.clone())),
            audit: audit.clone(),
            mail: mail_queue,
            link_requests,
        },
    );
    let mfa = MfaService::new(
        signin.clone(),
        MfaPorts {
            random: random.clone(),
            factors: mfa_factors,
            passkeys: passkey_repository.clone(),
            sealer: sealer.clone(),
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
            random: random.clone(),
            passkeys: passkey_repository,
            users: users.clone(),
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
    let admin = AdminService::new(
        registration.clone(),
        profiles.clone(),
        directory,
        audit.clone(),
        random.clone(),
    );
    let client_repository = Arc::new(SqlClientRepository::new(database.clone()));
    let clients = ClientService::new(
        client_repository.clone(),
        audit.clone(),
        clock.clone(),
        random.clone(),
        Duration::from_secs(config.oidc.secret_rotation_overlap_hours * 3600),
    );
    let oidc = OidcProvider::new(
        ProviderPorts {
            clients: client_repository,
            consents: consent_repository,
            participants: Arc::new(SqlSessionParticipants::new(database.clone())),
            session_service: session_service.clone(),
            users: users.clone(),
            sessions,
            tokens,
            kv: cache.clone(),
            events: audit.clone(),
            clock: clock.clone(),
            random: random.clone(),
            outbound,
        },
        provider_settings(&config),
    );
    tokio::spawn(ended_sessions.serve(Arc::new(oidc.clone())));
    let federation_repository = Arc::new(SqlFederationRepository::new(database.clone()));
    let connections = SamlConnectionService::new(
        federation_repository.clone(),
        organizations.access.clone(),
        audit.clone(),
        clock.clone(),
    );
    let acs_url = url::Url::parse(&format!(
        "{}/api/v1/sso/acs",
        config.issuer.trim_end_matches('/')
    ))
    .map_err(|e| StartupError::Service(DomainError::caused("the ACS URL of the issuer", e)))?;
    let saml_sign_in = SamlSignIn::new(
        SamlSignInPorts {
            connections: connections.clone(),
            requests: AuthnRequests::new(cache.clone(), random.clone()),
            replay: ReplayCache::new(cache.clone(), clock.clone()),
            federation: FederationService::new(FederationPorts {
                links: federation_repository,
                users: users.clone(),
                domains: organization_repository.clone(),
                memberships: organization_repository.clone(),
                access: organizations.access.clone(),
                events,
                clock: clock.clone(),
            }),
            organizations: organizations.directory.clone(),
            domains: organization_repository,
            sealer: sealer.clone(),
            events: audit.clone(),
            clock: clock.clone(),
            random: random.clone(),
        },
        acs_url,
    );
    let saml = SamlSp {
        connections,
        sign_in: saml_sign_in,
        sealer,
        clock: clock.clone(),
    };
    let state = AppState::new(Services {
        config: Arc::new(config),
        health: Arc::new(health),
        metrics,
        registration,
        sessions: session_service,
        profiles,
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
        random,
        saml,
    });
    Ok(App { state, database })
}
