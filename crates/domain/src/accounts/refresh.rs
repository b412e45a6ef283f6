//! Refresh tokens: rotation on every use with reuse detection (a used token presented again
//! revokes its session), introspection, and revocation by grant or by client.

use uuid::Uuid;

use super::{AccountService, RefreshExchange, TokenPair};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::DomainError;
use crate::secret::hash_token;
use crate::session::{RefreshRecord, RequestContext, Session};
use crate::user::UserId;

impl AccountService {
    /// Exchanges a refresh token for a new pair. A token already exchanged means it leaked: the
    /// session and all its tokens are revoked.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let exchange = self.exchange_refresh(refresh_token, None, context).await?;
        self.pair(exchange.user, &exchange.session, exchange.token)
            .await
    }

    /// Rotates a refresh token issued to `client` (`None`: Castellan's own API) and returns the
    /// next one with its session and user. A token of another client is refused before it is
    /// touched; a token already exchanged revokes its session.
    pub async fn exchange_refresh(
        &self,
        refresh_token: &str,
        client: Option<&str>,
        context: &RequestContext,
    ) -> Result<RefreshExchange, DomainError> {
        let now = self.now();
        let Some((record, session, user)) = self
            .ports
            .refresh_tokens
            .by_hash_with_owner(&hash_token(refresh_token))
            .await?
        else {
            return Err(DomainError::InvalidToken);
        };
        if record.client_id.as_deref() != client {
            return Err(DomainError::InvalidToken);
        }
        if record.used_at.is_some() {
            return Err(self.reuse_detected(&record, context).await);
        }
        if record.expires_at <= now || !session.is_active(now) {
            return Err(DomainError::InvalidToken);
        }
        let client = record.client_id.clone().zip(record.scope.clone());
        let (token, next) =
            self.new_refresh_record(&session, client, record.grant_id, record.organization_id);
        if !self
            .ports
            .refresh_tokens
            .rotate(record.id, now, &next)
            .await?
        {
            // Another request exchanged it between our read and now: the same leak.
            return Err(self.reuse_detected(&record, context).await);
        }
        Ok(RefreshExchange {
            token,
            record: next,
            session,
            user,
        })
    }

    /// What a refresh token stands for now: its record and session when it is unused, unexpired
    /// and its session active (for introspection; nothing changes).
    pub async fn inspect_refresh(
        &self,
        refresh_token: &str,
    ) -> Result<Option<(RefreshRecord, Session)>, DomainError> {
        let now = self.now();
        let Some(record) = self.find_refresh(refresh_token).await? else {
            return Ok(None);
        };
        if record.used_at.is_some() || record.expires_at <= now {
            return Ok(None);
        }
        Ok(match self.ports.sessions.get(record.session_id).await? {
            Some(session) if session.is_active(now) => Some((record, session)),
            _ => None,
        })
    }

    /// Revokes the grant a refresh token of `client_id` belongs to and names it; `None` when
    /// the token is unknown or another client's (RFC 7009 answers alike either way).
    pub async fn revoke_refresh_grant(
        &self,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<Option<Uuid>, DomainError> {
        let Some(record) = self.find_refresh(refresh_token).await? else {
            return Ok(None);
        };
        if record.client_id.as_deref() != Some(client_id) {
            return Ok(None);
        }
        self.ports
            .refresh_tokens
            .revoke_grant(record.grant_id)
            .await?;
        Ok(Some(record.grant_id))
    }

    /// Revokes every refresh token a client holds for a user (consent withdrawn).
    pub async fn revoke_client_tokens(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<u64, DomainError> {
        self.ports
            .refresh_tokens
            .revoke_client_tokens(user, client_id)
            .await
    }

    /// Revokes every refresh token of a grant (a replayed authorization code's, say).
    pub async fn revoke_grant(&self, grant_id: Uuid) -> Result<(), DomainError> {
        self.ports.refresh_tokens.revoke_grant(grant_id).await?;
        Ok(())
    }

    /// Ends the session a refresh token belongs to (logout with only the refresh token).
    pub async fn logout_refresh_token(
        &self,
        refresh_token: &str,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let record = self.refresh_record(refresh_token).await?;
        let session = self.ports.sessions.get(record.session_id).await?;
        self.revoke_sessions(&[record.session_id]).await?;
        let mut event =
            AuditEvent::new(AuditAction::Logout, self.now(), context).on(record.session_id);
        event.actor = session.map(|session| session.user_id);
        self.record(event).await
    }

    async fn reuse_detected(
        &self,
        record: &RefreshRecord,
        context: &RequestContext,
    ) -> DomainError {
        let result: Result<(), DomainError> = async {
            let session = self.ports.sessions.get(record.session_id).await?;
            self.revoke_sessions(&[record.session_id]).await?;
            let mut event = AuditEvent::new(AuditAction::RefreshReuse, self.now(), context)
                .on(record.session_id)
                .failed("a rotated refresh token was presented again; session revoked");
            event.actor = session.map(|session| session.user_id);
            self.record(event).await
        }
        .await;
        match result {
            Ok(()) => DomainError::InvalidToken,
            Err(error) => error,
        }
    }

    /// The stored record of a refresh token, if there is one.
    async fn find_refresh(
        &self,
        refresh_token: &str,
    ) -> Result<Option<RefreshRecord>, DomainError> {
        self.ports
            .refresh_tokens
            .by_hash(&hash_token(refresh_token))
            .await
    }

    /// The stored record of a refresh token; `InvalidToken` when there is none.
    async fn refresh_record(&self, refresh_token: &str) -> Result<RefreshRecord, DomainError> {
        self.find_refresh(refresh_token)
            .await?
            .ok_or(DomainError::InvalidToken)
    }
}
