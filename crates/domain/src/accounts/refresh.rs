//! Refresh tokens: rotation on every use with reuse detection, introspection, and revocation
//! by grant or by client.
//!
//! The tokens of one grant (one authorization of one client, or one API sign-in) are a family:
//! each rotation adds a member. A rotated token presented again means one of the family leaked
//! (RFC 9700 §4.14.2), so the whole family goes: its refresh tokens, and the access tokens they
//! issued through the grant deny-list. A client's family is not its user's sign-in session: the
//! browser stays signed in and the user's other applications keep their tokens. An API
//! sign-in's session has no other family, so there the session ends with it.

use std::time::Duration;

use uuid::Uuid;

use super::{RefreshBudget, RefreshExchange, SessionService, TokenPair};
use crate::audit::{AuditAction, AuditEvent};
use crate::client::OAuthClient;
use crate::error::DomainError;
use crate::ratelimit::Limit;
use crate::secret::{chrono_duration, hash_token};
use crate::sensitive::RefreshToken;
use crate::session::{RefreshRecord, RequestContext, Session};
use crate::user::{User, UserId};

impl SessionService {
    /// Exchanges a refresh token of the API for a new pair, within the refresh budget. A token
    /// already exchanged means it leaked: the session and all its tokens are revoked.
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let exchange = self
            .exchange(refresh_token, None, self.settings.refresh_budget, context)
            .await?;
        self.pair(exchange.user, &exchange.session, exchange.token)
            .await
    }

    /// Rotates a refresh token issued to `client` (`None`: Castellan's own API) and returns the
    /// next one with its session and user. A token of another client is refused before it is
    /// touched; a token already exchanged revokes its family, unless it was rotated within the
    /// client's reuse leeway, which answers with another member of the same family.
    pub async fn exchange_refresh(
        &self,
        refresh_token: &RefreshToken,
        client: Option<&OAuthClient>,
        context: &RequestContext,
    ) -> Result<RefreshExchange, DomainError> {
        self.exchange(refresh_token, client, None, context).await
    }

    /// [`Self::exchange_refresh`], counted against `budget` when there is one.
    async fn exchange(
        &self,
        refresh_token: &RefreshToken,
        client: Option<&OAuthClient>,
        budget: Option<RefreshBudget>,
        context: &RequestContext,
    ) -> Result<RefreshExchange, DomainError> {
        let now = self.now();
        let Some((record, session, user)) = self
            .ports
            .refresh_tokens
            .by_hash_with_owner(&hash_token(refresh_token.expose()))
            .await?
        else {
            return Err(DomainError::InvalidToken);
        };
        if record.client_id.as_deref() != client.map(|client| client.client_id.as_str()) {
            return Err(DomainError::InvalidToken);
        }
        if let Some(budget) = budget {
            self.count_refresh(&record, &session, budget).await?;
        }
        let leeway = client
            .map(|client| chrono_duration(client.metadata.refresh_reuse_leeway()))
            .filter(|leeway| !leeway.is_zero());
        let usable = record.expires_at > now && session.is_active(now);
        // A second use is reuse even once the token or its session has ended: it is still a
        // leak, and still goes on the audit log.
        if let Some(used_at) = record.used_at {
            if usable && leeway.is_some_and(|leeway| now - used_at <= leeway) {
                return self.sibling(&record, session, user).await;
            }
            return Err(self.reuse_detected(&record, context).await);
        }
        if !usable {
            return Err(DomainError::InvalidToken);
        }
        let (token, next) = self.successor(&record, &session);
        if !self
            .ports
            .refresh_tokens
            .rotate(record.id, now, &next)
            .await?
        {
            // Another request exchanged it between our read and now: two tabs refreshing at
            // once, within any leeway; otherwise the same leak.
            if leeway.is_some() {
                return self.sibling(&record, session, user).await;
            }
            return Err(self.reuse_detected(&record, context).await);
        }
        Ok(RefreshExchange {
            token,
            record: next,
            session,
            user,
        })
    }

    /// The next member of `record`'s family.
    fn successor(
        &self,
        record: &RefreshRecord,
        session: &Session,
    ) -> (RefreshToken, RefreshRecord) {
        let client = record.client_id.clone().zip(record.scope.clone());
        self.new_refresh_record(session, client, record.grant_id, record.organization_id)
    }

    /// Another member of the family of a token rotated within the leeway. The family must
    /// still stand: once it was revoked, its tokens are gone and this is never reached.
    async fn sibling(
        &self,
        record: &RefreshRecord,
        session: Session,
        user: User,
    ) -> Result<RefreshExchange, DomainError> {
        if self.is_grant_revoked(record.grant_id).await? {
            return Err(DomainError::InvalidToken);
        }
        let (token, next) = self.successor(record, &session);
        self.ports.refresh_tokens.insert(&next).await?;
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
        refresh_token: &RefreshToken,
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

    /// Revokes the grant a refresh token of `client_id` belongs to, with the access tokens it
    /// issued (RFC 7009 §2.1), and names it; `None` when the token is unknown or another
    /// client's (RFC 7009 answers alike either way).
    pub async fn revoke_refresh_grant(
        &self,
        refresh_token: &RefreshToken,
        client_id: &str,
    ) -> Result<Option<Uuid>, DomainError> {
        let Some(record) = self.find_refresh(refresh_token).await? else {
            return Ok(None);
        };
        if record.client_id.as_deref() != Some(client_id) {
            return Ok(None);
        }
        self.revoke_grant(record.grant_id).await?;
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

    /// Revokes a grant's family: every refresh token of it, and the access tokens they issued
    /// (a replayed authorization code's, a reused refresh token's, a revoked one's).
    pub async fn revoke_grant(&self, grant_id: Uuid) -> Result<(), DomainError> {
        self.ports.refresh_tokens.revoke_grant(grant_id).await?;
        self.ports
            .kv
            .set(
                &Self::revoked_grant_key(grant_id),
                b"1",
                Some(self.deny_list_ttl()),
            )
            .await?;
        Ok(())
    }

    /// True when a grant's family was revoked: its access tokens are refused until they expire.
    pub async fn is_grant_revoked(&self, grant_id: Uuid) -> Result<bool, DomainError> {
        Ok(self
            .ports
            .kv
            .get(&Self::revoked_grant_key(grant_id))
            .await?
            .is_some())
    }

    fn revoked_grant_key(grant_id: Uuid) -> String {
        format!("revoked-grant:{grant_id}")
    }

    /// Ends the session a refresh token belongs to (logout with only the refresh token).
    pub async fn logout_refresh_token(
        &self,
        refresh_token: &RefreshToken,
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
            self.revoke_grant(record.grant_id).await?;
            let revoked = match &record.client_id {
                Some(client_id) => format!(
                    "a rotated refresh token was presented again; the grant of client \
                     {client_id} was revoked, the session kept"
                ),
                None => {
                    self.revoke_sessions(&[record.session_id]).await?;
                    "a rotated refresh token was presented again; session revoked".to_owned()
                }
            };
            let mut event = AuditEvent::new(AuditAction::RefreshReuse, self.now(), context)
                .on(record.session_id)
                .failed(&revoked);
            event.actor = session.map(|session| session.user_id);
            self.record(event).await
        }
        .await;
        match result {
            Ok(()) => DomainError::InvalidToken,
            Err(error) => error,
        }
    }

    /// Counts an exchange of `record`'s family against `budget`: per family and per account.
    async fn count_refresh(
        &self,
        record: &RefreshRecord,
        session: &Session,
        budget: RefreshBudget,
    ) -> Result<(), DomainError> {
        let minute = Duration::from_secs(60);
        for (subject, limit) in [
            (
                format!("refresh-family:{}", record.grant_id),
                budget.per_family_per_minute,
            ),
            (
                format!("refresh-account:{}", session.user_id),
                budget.per_account_per_minute,
            ),
        ] {
            let decision = self
                .limiter
                .hit(
                    &subject,
                    Limit {
                        limit,
                        window: minute,
                    },
                )
                .await?;
            if !decision.allowed {
                return Err(DomainError::RateLimited(decision));
            }
        }
        Ok(())
    }

    /// The stored record of a refresh token, if there is one.
    async fn find_refresh(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<Option<RefreshRecord>, DomainError> {
        self.ports
            .refresh_tokens
            .by_hash(&hash_token(refresh_token.expose()))
            .await
    }

    /// The stored record of a refresh token; `InvalidToken` when there is none.
    async fn refresh_record(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<RefreshRecord, DomainError> {
        self.find_refresh(refresh_token)
            .await?
            .ok_or(DomainError::InvalidToken)
    }
}
