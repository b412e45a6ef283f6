//! The user's view of what they allowed: remembered consents, and withdrawing one (which also
//! ends the client's refresh tokens for that user).

use castellan_domain::{AuditAction, AuditEvent, ClientId, DomainError, RequestContext, UserId};

use super::OidcProvider;

/// A remembered consent with the client's name.
#[derive(Debug, Clone)]
pub struct GrantedAccess {
    /// The client.
    pub client_id: String,
    /// Its display name (the id when the client is gone).
    pub client_name: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
    /// When they were last allowed.
    pub granted_at: chrono::DateTime<chrono::Utc>,
}

impl OidcProvider {
    /// The clients a user has allowed.
    pub async fn consents(&self, user: UserId) -> Result<Vec<GrantedAccess>, DomainError> {
        let mut granted = Vec::new();
        for consent in self.ports.consents.for_user(user).await? {
            let client = match ClientId::parse(&consent.client_id) {
                Some(id) => self.client(&id).await?,
                None => None,
            };
            let client_name = client.map_or_else(
                || consent.client_id.clone(),
                |client| client.metadata.client_name.clone(),
            );
            granted.push(GrantedAccess {
                client_id: consent.client_id,
                client_name,
                scopes: consent.scopes,
                granted_at: consent.granted_at,
            });
        }
        Ok(granted)
    }

    /// Withdraws a consent: the next authorization asks again, and the client's refresh tokens
    /// for this user stop working.
    pub async fn withdraw_consent(
        &self,
        user: UserId,
        client_id: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        if !self.ports.consents.delete(user, client_id).await? {
            return Err(DomainError::NotFound("consent"));
        }
        let revoked = self
            .ports
            .session_service
            .revoke_client_tokens(user, client_id)
            .await?;
        self.ports
            .events
            .record(
                AuditEvent::new(AuditAction::ConsentRevoked, self.now(), context)
                    .by(user)
                    .on(client_id)
                    .note(format!("{revoked} refresh tokens revoked")),
            )
            .await
    }
}
