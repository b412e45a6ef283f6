//! Registering and managing OAuth clients: the admin API, the CLI and dynamic registration all
//! go through this service, so the rules and the audit trail are the same for each.

use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::client::{
    ClientMetadata, ClientRepository, OAuthClient, hash_registration_token, hash_secret,
};
use crate::{AccessToken, ClientSecret, Clock, DomainError, RandomSource, RequestContext, UserId};

/// A client as just registered or rotated, with the secrets shown this once.
#[derive(Debug, Clone)]
pub struct IssuedClient {
    /// The stored client.
    pub client: OAuthClient,
    /// The new client secret, for confidential clients.
    pub client_secret: Option<ClientSecret>,
    /// The RFC 7592 registration access token, for dynamically registered clients.
    pub registration_access_token: Option<AccessToken>,
}

/// Client registration and management.
#[derive(Debug, Clone)]
pub struct ClientService {
    clients: Arc<dyn ClientRepository>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    secret_overlap: Duration,
}

impl ClientService {
    /// A service over `clients` drawing ids and secrets from `random`; a rotated secret keeps
    /// working for `secret_overlap`.
    pub fn new(
        clients: Arc<dyn ClientRepository>,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        secret_overlap: Duration,
    ) -> Self {
        Self {
            clients,
            events,
            clock,
            random,
            secret_overlap,
        }
    }

    /// A new client secret: a random token.
    fn new_secret(&self) -> ClientSecret {
        ClientSecret::new(self.random.token())
    }

    /// A random client id: 16 bytes, base64url.
    fn new_client_id(&self) -> String {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            self.random.bytes::<16>(),
        )
    }

    /// The repository, for the protocol services that read clients.
    pub fn repository(&self) -> Arc<dyn ClientRepository> {
        self.clients.clone()
    }

    /// Registers a client. `dynamic` registrations also get a registration access token.
    pub async fn register(
        &self,
        metadata: ClientMetadata,
        dynamic: bool,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<IssuedClient, DomainError> {
        metadata.validate()?;
        let now = self.clock.now();
        let client_secret = metadata
            .token_endpoint_auth_method
            .uses_secret()
            .then(|| self.new_secret());
        let registration_access_token = dynamic.then(|| AccessToken::new(self.random.token()));
        let client = OAuthClient {
            client_id: self.new_client_id(),
            secret_hash: client_secret.as_ref().map(hash_secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            registration_token_hash: registration_access_token
                .as_ref()
                .map(hash_registration_token),
            metadata,
            created_at: now,
            updated_at: now,
        };
        self.clients.create(&client).await?;
        self.audit(
            AuditAction::ClientCreated,
            &client.client_id,
            actor,
            context,
        )
        .await?;
        Ok(IssuedClient {
            client,
            client_secret,
            registration_access_token,
        })
    }

    /// The client with this id; `NotFound` otherwise.
    pub async fn get(&self, client_id: &str) -> Result<OAuthClient, DomainError> {
        self.clients
            .get(client_id)
            .await?
            .ok_or(DomainError::NotFound("client"))
    }

    /// Every client.
    pub async fn list(&self) -> Result<Vec<OAuthClient>, DomainError> {
        self.clients.list().await
    }

    /// Replaces a client's metadata. A client that now needs a secret and had none gets one.
    pub async fn update(
        &self,
        client_id: &str,
        metadata: ClientMetadata,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<IssuedClient, DomainError> {
        metadata.validate()?;
        let mut client = self.get(client_id).await?;
        let needs_secret = metadata.token_endpoint_auth_method.uses_secret();
        let client_secret =
            (needs_secret && client.secret_hash.is_none()).then(|| self.new_secret());
        if let Some(secret) = &client_secret {
            client.secret_hash = Some(hash_secret(secret));
        }
        if !needs_secret {
            client.secret_hash = None;
            client.previous_secret_hash = None;
            client.previous_secret_expires_at = None;
        }
        client.metadata = metadata;
        client.updated_at = self.clock.now();
        self.clients.update(&client).await?;
        self.audit(AuditAction::ClientUpdated, client_id, actor, context)
            .await?;
        Ok(IssuedClient {
            client,
            client_secret,
            registration_access_token: None,
        })
    }

    /// Changes some of a client's metadata: the fields given replace the stored ones, a `null`
    /// removes one (JSON merge patch, RFC 7396, one level deep).
    pub async fn patch(
        &self,
        client_id: &str,
        patch: serde_json::Map<String, serde_json::Value>,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<IssuedClient, DomainError> {
        let current = self.get(client_id).await?;
        let mut merged = serde_json::to_value(&current.metadata)
            .map_err(|error| DomainError::caused("encoding client metadata", error))?;
        if let Some(fields) = merged.as_object_mut() {
            for (key, value) in patch {
                if value.is_null() {
                    fields.remove(&key);
                } else {
                    fields.insert(key, value);
                }
            }
        }
        let metadata = serde_json::from_value(merged)
            .map_err(|error| DomainError::invalid("metadata", error.to_string()))?;
        self.update(client_id, metadata, actor, context).await
    }

    /// Issues a new secret; the old one keeps working for the overlap.
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<IssuedClient, DomainError> {
        let mut client = self.get(client_id).await?;
        if !client.metadata.token_endpoint_auth_method.uses_secret() {
            return Err(DomainError::invalid(
                "token_endpoint_auth_method",
                "this client authenticates without a shared secret",
            ));
        }
        let now = self.clock.now();
        let secret = self.new_secret();
        client.previous_secret_hash = client.secret_hash.take();
        client.previous_secret_expires_at = Some(
            now + chrono::Duration::from_std(self.secret_overlap)
                .unwrap_or(chrono::Duration::zero()),
        );
        client.secret_hash = Some(hash_secret(&secret));
        client.updated_at = now;
        self.clients.update(&client).await?;
        self.audit(AuditAction::ClientSecretRotated, client_id, actor, context)
            .await?;
        Ok(IssuedClient {
            client,
            client_secret: Some(secret),
            registration_access_token: None,
        })
    }

    /// Deletes a client.
    pub async fn delete(
        &self,
        client_id: &str,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if !self.clients.delete(client_id).await? {
            return Err(DomainError::NotFound("client"));
        }
        self.audit(AuditAction::ClientDeleted, client_id, actor, context)
            .await
    }

    async fn audit(
        &self,
        action: AuditAction,
        client_id: &str,
        actor: Option<UserId>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let mut event = AuditEvent::new(action, self.clock.now(), context).on(client_id);
        event.actor = actor;
        self.events.record(event).await
    }
}
