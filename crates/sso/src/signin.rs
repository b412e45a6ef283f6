//! Signing in through an organization's SAML connection, up to the first factor: where a
//! browser is sent ([`SamlSignIn::start`], a signed AuthnRequest bound to the browser), and what
//! a Response proves ([`SamlSignIn::finish`]: validated strictly, recorded in the replay cache,
//! resolved to an account by the domain's federation rules). The sign-in flow takes it from
//! there: this crate never opens sessions.
//!
//! Every refused Response is recorded in the audit log as `sso.response.refused` with the rule
//! it broke; the caller shows the browser only that the sign-in failed.

use std::sync::Arc;

use castellan_domain::federation::{
    AuthnRequests, FederationService, FederationSource, PendingAuthn, ReplayCache,
    SamlConnectionRecord, SamlConnectionService,
};
use castellan_domain::org::DomainStore;
use castellan_domain::token::OrganizationDirectory;
use castellan_domain::{
    AuditAction, AuditEvent, AuthMethod, Clock, DomainError, EventSink, FirstFactor, OneTimeCode,
    RandomSource, RequestContext, SecretSealer,
};
use thiserror::Error;
use url::Url;

use crate::acs::{claimed_issuer, validate_response};
use crate::authn_request::build_redirect_request;
use crate::connection::SamlConnection;
use crate::error::{ResponseError, SamlError, clip};
use crate::stored::{connection_from_record, domain_identity};

/// Which organization's IdP a browser is to sign in at.
#[derive(Debug, Clone, Copy)]
pub enum Realm<'a> {
    /// The organization with this id or slug.
    Organization(&'a str),
    /// The organization that verified this address's domain (home-realm discovery).
    Email(&'a str),
}

/// Where the browser continues once signed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Continuation {
    /// The authorization in progress, if any.
    pub interaction: Option<String>,
    /// Else a local page (the caller checks it is one before sending the browser there).
    pub next: Option<String>,
}

/// A browser's way to its IdP.
#[derive(Debug, Clone)]
pub struct IdpRedirect {
    /// The IdP's SSO URL carrying the signed AuthnRequest.
    pub url: Url,
    /// The cookie value that binds the request to this browser.
    pub browser: OneTimeCode,
}

/// A Response that proved who the user is.
#[derive(Debug, Clone)]
pub struct Proven {
    /// The first factor for the sign-in flow.
    pub factor: FirstFactor,
    /// Where the browser continues.
    pub continuation: Continuation,
}

/// Why a SAML sign-in did not reach the sign-in flow.
#[derive(Debug, Error)]
pub enum SamlSignInError {
    /// The realm has no enabled connection.
    #[error("no enabled SAML connection for this organization")]
    NoConnection,
    /// The Response broke a rule (already recorded in the audit log).
    #[error("the SAML Response was refused: {0}")]
    Refused(ResponseError),
    /// A stored connection cannot be used (its key or settings).
    #[error(transparent)]
    Connection(#[from] SamlError),
    /// The domain refused or failed (an account that may not be linked, storage).
    #[error(transparent)]
    Domain(#[from] DomainError),
}

/// The adapters a SAML sign-in works through.
#[derive(Debug, Clone)]
pub struct SamlSignInPorts {
    /// The connections.
    pub connections: SamlConnectionService,
    /// AuthnRequests in flight.
    pub requests: AuthnRequests,
    /// Used assertion ids.
    pub replay: ReplayCache,
    /// From identities to accounts.
    pub federation: FederationService,
    /// Organizations by id or slug.
    pub organizations: Arc<dyn OrganizationDirectory>,
    /// Verified domains, for home-realm discovery.
    pub domains: Arc<dyn DomainStore>,
    /// Opens each connection's SP key.
    pub sealer: Arc<dyn SecretSealer>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Request ids and browser cookies.
    pub random: Arc<dyn RandomSource>,
}

/// SP-initiated and IdP-initiated sign-in, up to the first factor.
#[derive(Debug, Clone)]
pub struct SamlSignIn {
    ports: SamlSignInPorts,
    acs_url: Url,
}

impl SamlSignIn {
    /// Sign-in with the one ACS at `acs_url`.
    pub fn new(ports: SamlSignInPorts, acs_url: Url) -> Self {
        Self { ports, acs_url }
    }

    /// The ACS URL every connection answers to (one for all: the pending request, or the
    /// Issuer of an unsolicited Response, names the connection).
    pub fn acs_url(&self) -> &Url {
        &self.acs_url
    }

    /// The enabled connection of the organization a realm names; `None` when there is none
    /// (the hosted sign-in page then signs in as usual).
    pub async fn discover(
        &self,
        realm: Realm<'_>,
    ) -> Result<Option<SamlConnectionRecord>, SamlSignInError> {
        let organization = match realm {
            Realm::Organization(reference) => {
                self.ports.organizations.resolve(reference.trim()).await?
            }
            Realm::Email(email) => match email.trim().rsplit_once('@') {
                Some((_, domain)) if !domain.is_empty() => self
                    .ports
                    .domains
                    .verified_domain_owner(&domain.to_ascii_lowercase())
                    .await?
                    .map(|organization| organization.id),
                _ => None,
            },
        };
        let Some(organization) = organization else {
            return Ok(None);
        };
        match self.ports.connections.enabled_for(organization).await {
            Ok(record) => Ok(Some(record)),
            Err(DomainError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Where to send a browser to sign in at the IdP of `record` (a connection [`Self::discover`]
    /// found): a signed AuthnRequest, remembered under the browser's cookie `browser` (a new
    /// one when it has none).
    pub async fn start(
        &self,
        record: &SamlConnectionRecord,
        continuation: Continuation,
        browser: Option<&str>,
    ) -> Result<IdpRedirect, SamlSignInError> {
        let connection = self.connection(record)?;
        let handles = self.ports.requests.handles(browser);
        let request = build_redirect_request(
            &connection,
            &handles.relay_state,
            self.ports.clock.as_ref(),
            self.ports.random.as_ref(),
        )?;
        let pending = PendingAuthn {
            connection_id: record.id,
            request_id: request.request_id,
            interaction: continuation.interaction,
            next: continuation.next,
        };
        self.ports.requests.remember(&handles, &pending).await?;
        Ok(IdpRedirect {
            url: request.url,
            browser: handles.browser,
        })
    }

    /// What a Response posted to the ACS proves: the account it signs in as, and where the
    /// browser continues. `browser` is the cookie that binds requests to this browser.
    pub async fn finish(
        &self,
        saml_response: &str,
        relay_state: Option<&str>,
        browser: Option<&str>,
        context: &RequestContext,
    ) -> Result<Proven, SamlSignInError> {
        if saml_response.trim().is_empty() {
            let rule = ResponseError::Malformed("no SAMLResponse");
            return Err(self.refused(None, rule, context).await);
        }
        let pending = match relay_state {
            Some(relay) if !relay.is_empty() => self.ports.requests.take(relay, browser).await?,
            _ => None,
        };
        let record = match &pending {
            Some(pending) => match self.ports.connections.enabled(pending.connection_id).await {
                Ok(record) => record,
                Err(DomainError::NotFound(_)) => return Err(SamlSignInError::NoConnection),
                Err(other) => return Err(other.into()),
            },
            None => {
                let issuer = claimed_issuer(saml_response);
                let found = match &issuer {
                    Some(issuer) => self.ports.connections.unsolicited_for(issuer).await?,
                    None => None,
                };
                match found {
                    Some(record) => record,
                    None => {
                        let rule = ResponseError::UnknownIdp(issuer.map(|i| clip(&i)));
                        return Err(self.refused(None, rule, context).await);
                    }
                }
            }
        };
        let connection = self.connection(&record)?;
        let expected = pending.as_ref().map(|pending| pending.request_id.clone());
        let validated = {
            let (response, clock) = (saml_response.to_owned(), self.ports.clock.clone());
            // Signature checks are CPU-bound: off the async workers.
            tokio::task::spawn_blocking(move || {
                validate_response(&connection, &response, expected.as_deref(), clock.as_ref())
            })
            .await
            .map_err(|e| DomainError::caused("validating a SAML Response", e))?
        };
        let validated = match validated {
            Ok(validated) => validated,
            Err(rule) => return Err(self.refused(Some(&record), rule, context).await),
        };
        let first_use = self
            .ports
            .replay
            .first_use(
                &validated.identity.issuer,
                &validated.assertion_id,
                validated.replay_expires_at,
            )
            .await?;
        if !first_use {
            let rule = ResponseError::Replayed;
            return Err(self.refused(Some(&record), rule, context).await);
        }
        let source = FederationSource {
            provider_id: record.id,
            method: AuthMethod::Saml,
            organization: Some(record.organization_id),
            trust_email: record.trust_email,
            roles: record.roles.clone(),
        };
        let identity = domain_identity(&validated.identity);
        let resolved = self
            .ports
            .federation
            .resolve(&source, &identity, context)
            .await?;
        let continuation = match pending {
            Some(pending) => Continuation {
                interaction: pending.interaction,
                next: pending.next,
            },
            // An IdP-initiated Response's RelayState, where there is one, names the page.
            None => Continuation {
                interaction: None,
                next: relay_state
                    .filter(|relay| !relay.is_empty())
                    .map(str::to_owned),
            },
        };
        Ok(Proven {
            factor: FirstFactor::Federated {
                user: resolved.user,
                method: AuthMethod::Saml,
            },
            continuation,
        })
    }

    fn connection(&self, record: &SamlConnectionRecord) -> Result<SamlConnection, SamlError> {
        connection_from_record(record, self.acs_url.clone(), self.ports.sealer.as_ref())
    }

    /// Records a refusal in the audit log and answers it; a failure to record is logged, the
    /// refusal stands.
    async fn refused(
        &self,
        record: Option<&SamlConnectionRecord>,
        rule: ResponseError,
        context: &RequestContext,
    ) -> SamlSignInError {
        let mut event = AuditEvent::new(
            AuditAction::SsoResponseRefused,
            self.ports.clock.now(),
            context,
        )
        .failed(rule.rule());
        event = match record {
            Some(record) => event.on(record.organization_id).note(format!(
                "connection={} rule={} {rule}",
                record.id,
                rule.rule()
            )),
            None => event.note(format!("rule={} {rule}", rule.rule())),
        };
        if let Err(error) = self.ports.events.record(event).await {
            tracing::warn!(%error, "a refused SAML Response could not be recorded");
        }
        SamlSignInError::Refused(rule)
    }
}
