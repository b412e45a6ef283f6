//! Sign-in sessions and the refresh tokens that extend them.
//!
//! Refresh tokens are opaque random strings; only their SHA-256 is stored. Each use rotates the
//! token (the old one is marked used, a new one issued); presenting a used token again means it
//! leaked, so the whole session and every token of it are revoked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, UserId};

/// A session's identifier, the `sid` claim of its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl SessionId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a request came from, for sessions and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The client's IP address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The browser's device cookie, as its SHA-256 (the cookie itself never leaves the edge):
    /// the lockout judges a device that signed in before on its own failures.
    pub device: Option<String>,
}

/// One signed-in session of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id, carried as `sid` in tokens.
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it was last used (sign-in or refresh).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the refreshes.
    pub expires_at: DateTime<Utc>,
    /// IP at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Authentication methods used (RFC 8176: `pwd`, `otp`, `hwk`, `mfa`).
    pub amr: Vec<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The organization its tokens are scoped to, if any.
    pub organization_id: Option<crate::OrganizationId>,
}

impl Session {
    /// True while neither revoked nor past its absolute end.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A stored refresh token (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// Row id.
    pub id: Uuid,
    /// The session it extends.
    pub session_id: SessionId,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged; a second exchange is reuse.
    pub used_at: Option<DateTime<Utc>>,
    /// The OAuth client it was issued to; `None` for Castellan's own REST API.
    pub client_id: Option<String>,
    /// The scopes it carries (OAuth clients only).
    pub scope: Option<String>,
    /// The grant it belongs to: every rotation of one token shares it, so revoking the grant
    /// revokes the whole chain.
    pub grant_id: Uuid,
    /// The organization an OAuth client's grant is scoped to (Castellan's own API scopes the
    /// session instead).
    pub organization_id: Option<crate::OrganizationId>,
}

/// Storage of sessions.
#[async_trait::async_trait]
pub trait SessionRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new session.
    async fn create(&self, session: &Session) -> Result<(), DomainError>;
    /// The session with this id.
    async fn get(&self, id: SessionId) -> Result<Option<Session>, DomainError>;
    /// Revokes one session; false when it was already revoked or absent.
    async fn revoke(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, DomainError>;
    /// Revokes every active session of a user but `keep`; returns the revoked ids.
    async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, DomainError>;
    /// The user's active sessions, newest first.
    async fn active_for_user(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, DomainError>;
    /// Scopes the session's tokens to an organization (or none).
    async fn set_organization(
        &self,
        id: SessionId,
        organization: Option<crate::OrganizationId>,
    ) -> Result<(), DomainError>;
    /// How many sessions are active platform-wide.
    async fn count_active(&self, now: DateTime<Utc>) -> Result<u64, DomainError>;
}

/// Storage of refresh tokens.
#[async_trait::async_trait]
pub trait RefreshTokenRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new token record.
    async fn insert(&self, record: &RefreshRecord) -> Result<(), DomainError>;
    /// The record whose hash this is.
    async fn by_hash(&self, token_hash: &str) -> Result<Option<RefreshRecord>, DomainError>;
    /// The record whose hash this is, with its session and the session's user, read at once
    /// (every refresh needs all three).
    async fn by_hash_with_owner(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshRecord, Session, crate::User)>, DomainError>;
    /// Exchanges a token in one transaction: marks `used` used (only if nobody did yet), records
    /// activity on its session, and stores `next`. False, with nothing changed, when `used` had
    /// already been exchanged: of two concurrent exchanges exactly one wins.
    async fn rotate(
        &self,
        used: Uuid,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<bool, DomainError>;
    /// Deletes every token of a grant; returns how many there were.
    async fn revoke_grant(&self, grant_id: Uuid) -> Result<u64, DomainError>;
    /// Deletes every token a client holds for a user; returns how many there were.
    async fn revoke_client_tokens(&self, user: UserId, client_id: &str)
    -> Result<u64, DomainError>;
}

/// Where ended sessions are announced. The protocol service that tells the applications
/// (back-channel logout) is built on the session service, so it listens at the other end of
/// this channel instead of being handed to the session service after both exist.
#[derive(Debug, Clone)]
pub struct SessionEnds(tokio::sync::mpsc::UnboundedSender<Vec<SessionId>>);

/// The listening end of [`SessionEnds`].
#[derive(Debug)]
pub struct SessionEndsReceiver(tokio::sync::mpsc::UnboundedReceiver<Vec<SessionId>>);

impl SessionEnds {
    /// A new channel: the announcing and the listening end.
    pub fn channel() -> (Self, SessionEndsReceiver) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Self(sender), SessionEndsReceiver(receiver))
    }

    /// Announces that `sessions` have ended. With nobody listening (a command that only runs
    /// a task) there is no one to tell, which is not an error.
    pub(crate) fn announce(&self, sessions: &[SessionId]) {
        let _ = self.0.send(sessions.to_vec());
    }
}

impl SessionEndsReceiver {
    /// Hands every announced end to `listener`, until every announcing end is gone.
    pub async fn serve(mut self, listener: std::sync::Arc<dyn SessionEndListener>) {
        while let Some(sessions) = self.0.recv().await {
            listener.sessions_ended(&sessions).await;
        }
    }
}

/// Told when sessions end (logout, revocation, password change, account deletion, refresh-token
/// reuse), so protocols can tell the applications that took part in them.
#[async_trait::async_trait]
pub trait SessionEndListener: Send + Sync + std::fmt::Debug {
    /// `sessions` have just been revoked. Failures are the listener's to log: the sessions
    /// are ended either way.
    async fn sessions_ended(&self, sessions: &[SessionId]);
}
