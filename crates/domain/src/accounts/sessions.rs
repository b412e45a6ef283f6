//! Sessions: opening one for a signed-in user, the tokens minted from it, scoping it to an
//! organization, checking access tokens against the deny-list, and ending sessions (logout,
//! revocation) so that their tokens stop working on every replica at once.

use std::time::Duration;

use uuid::Uuid;

use super::{Principal, SessionService, TokenPair};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::DomainError;
use crate::org::OrganizationId;
use crate::secret::{chrono_duration, hash_token};
use crate::sensitive::{AccessToken, RefreshToken};
use crate::session::{RefreshRecord, RequestContext, Session, SessionId};
use crate::signin::method::Amr;
use crate::signin::policy;
use crate::token::{AccessGrant, OrgChoice, OrgClaims};
use crate::user::{User, UserId};

impl SessionService {
    /// The organization claims of a session's tokens, as of now.
    async fn organization_claims(
        &self,
        session: &Session,
    ) -> Result<Option<OrgClaims>, DomainError> {
        match session.organization_id {
            Some(organization) => {
                self.session_organization_claims(organization, session)
                    .await
            }
            None => Ok(None),
        }
    }

    /// What tokens of `session` scoped to `organization` say about it now: `None` when the
    /// user is no longer a member; refused once the organization's session lifetime has
    /// passed since sign-in.
    pub async fn session_organization_claims(
        &self,
        organization: OrganizationId,
        session: &Session,
    ) -> Result<Option<OrgClaims>, DomainError> {
        let Some(claims) = self
            .organizations
            .claims(organization, session.user_id)
            .await?
        else {
            return Ok(None);
        };
        if let Some(hours) = claims.session_lifetime_hours
            && self.now() >= session.created_at + chrono::Duration::hours(i64::from(hours))
        {
            return Err(DomainError::Forbidden(
                "this organization's session lifetime has passed; sign in again",
            ));
        }
        Ok(Some(claims))
    }

    /// The organizations `user` belongs to, for a picker.
    pub async fn organization_choices(&self, user: UserId) -> Result<Vec<OrgChoice>, DomainError> {
        self.organizations.of_user(user).await
    }

    /// The organization `reference` (id or slug) names, when `user`, signed in with `amr`,
    /// belongs to it and meets its policy.
    pub async fn organization_for_session(
        &self,
        user: &User,
        amr: &[String],
        reference: &str,
    ) -> Result<OrganizationId, DomainError> {
        let (id, claims) = policy::membership(self.organizations.as_ref(), user, reference).await?;
        policy::admits(&claims, &Amr::from_names(amr))?;
        Ok(id)
    }

    /// Scopes the caller's session to an organization (by id or slug; `None` for no
    /// organization) and mints new tokens from it; later refreshes keep the scope and pick up
    /// role changes.
    pub async fn switch_organization(
        &self,
        principal: &Principal,
        organization: Option<&str>,
    ) -> Result<TokenPair, DomainError> {
        let target = match organization {
            Some(reference) => Some(
                self.organization_for_session(&principal.user, &principal.token.amr, reference)
                    .await?,
            ),
            None => None,
        };
        self.ports
            .sessions
            .set_organization(principal.session_id(), target)
            .await?;
        let (session, user) = self
            .active_session(principal.session_id())
            .await?
            .ok_or(DomainError::InvalidToken)?;
        self.issue_pair(user, &session).await
    }

    /// Stores a new session of `user`, authenticated with `amr` and scoped to `organization`
    /// (the sign-in flow records the sign-in around it).
    pub(crate) async fn create_session(
        &self,
        user: &User,
        amr: Vec<String>,
        organization: Option<OrganizationId>,
        context: &RequestContext,
    ) -> Result<Session, DomainError> {
        let now = self.now();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + chrono_duration(self.settings.session_absolute),
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            amr,
            revoked_at: None,
            organization_id: organization,
        };
        self.ports.sessions.create(&session).await?;
        Ok(session)
    }

    /// Whether a session authenticated with `amr` may only enrol a second factor: the platform
    /// requires one and the sign-in did not use one.
    pub fn needs_enrollment(&self, amr: &[String]) -> bool {
        self.settings.mfa_required && !Amr::from_names(amr).is_strong()
    }

    /// The session with this id and its user, while the session is active.
    pub async fn active_session(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, User)>, DomainError> {
        let Some(session) = self.ports.sessions.get(id).await? else {
            return Ok(None);
        };
        if !session.is_active(self.now()) {
            return Ok(None);
        }
        Ok(self
            .ports
            .users
            .by_id(session.user_id)
            .await?
            .map(|user| (session, user)))
    }

    /// Issues the first access and refresh tokens of a session.
    pub(crate) async fn issue_pair(
        &self,
        user: User,
        session: &Session,
    ) -> Result<TokenPair, DomainError> {
        let (refresh_token, record) = self.new_refresh_record(session, None, Uuid::now_v7(), None);
        self.ports.refresh_tokens.insert(&record).await?;
        self.pair(user, session, refresh_token).await
    }

    /// Issues a refresh token to an OAuth client for `scope` within a session; returns the
    /// token and its grant id.
    pub async fn issue_client_refresh(
        &self,
        session: &Session,
        client_id: &str,
        scope: &str,
        organization: Option<OrganizationId>,
    ) -> Result<(RefreshToken, Uuid), DomainError> {
        let grant_id = Uuid::now_v7();
        let (token, record) = self.new_refresh_record(
            session,
            Some((client_id.to_owned(), scope.to_owned())),
            grant_id,
            organization,
        );
        self.ports.refresh_tokens.insert(&record).await?;
        Ok((token, grant_id))
    }

    /// A fresh refresh token and its record, expiring at the sliding or the absolute end.
    pub(super) fn new_refresh_record(
        &self,
        session: &Session,
        client: Option<(String, String)>,
        grant_id: Uuid,
        organization: Option<OrganizationId>,
    ) -> (RefreshToken, RefreshRecord) {
        let now = self.now();
        let refresh_token = RefreshToken::new(self.ports.random.token());
        let sliding_end = now + chrono_duration(self.settings.refresh_idle);
        let (client_id, scope) = client.unzip();
        let record = RefreshRecord {
            id: Uuid::now_v7(),
            session_id: session.id,
            token_hash: hash_token(refresh_token.expose()),
            created_at: now,
            expires_at: sliding_end.min(session.expires_at),
            used_at: None,
            client_id,
            scope,
            grant_id,
            organization_id: organization,
        };
        (refresh_token, record)
    }

    pub(super) async fn pair(
        &self,
        user: User,
        session: &Session,
        refresh_token: RefreshToken,
    ) -> Result<TokenPair, DomainError> {
        let access = self
            .ports
            .tokens
            .issue(&AccessGrant {
                user_id: user.id,
                session_id: session.id,
                role: user.role,
                email: user.email.as_str().to_owned(),
                email_verified: user.email_verified,
                amr: session.amr.clone(),
                organization: self.organization_claims(session).await?,
            })
            .await?;
        Ok(TokenPair {
            access_token: AccessToken::new(access.token),
            refresh_token,
            expires_in: access.expires_in,
            session_id: session.id,
            mfa_enrollment_required: self.needs_enrollment(&session.amr),
            amr: session.amr.clone(),
            user,
        })
    }

    /// True when a session was revoked (the shared deny-list, then the database).
    pub async fn is_session_revoked(&self, session: SessionId) -> Result<bool, DomainError> {
        Ok(self
            .ports
            .kv
            .get(&Self::revoked_key(session))
            .await?
            .is_some())
    }

    /// Ends a session by id (hosted-page logout, RP-initiated logout).
    pub async fn end_session(
        &self,
        session: &Session,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.revoke_sessions(&[session.id]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(session.user_id)
                .on(session.id),
        )
        .await
    }

    fn revoked_key(session: SessionId) -> String {
        format!("revoked-session:{session}")
    }

    /// Revokes sessions in the database and puts them on the deny-list.
    pub(super) async fn revoke_sessions(&self, sessions: &[SessionId]) -> Result<(), DomainError> {
        let now = self.now();
        for session in sessions {
            self.ports.sessions.revoke(*session, now).await?;
        }
        self.deny_list(sessions).await
    }

    /// Puts sessions on the shared deny-list (already revoked in the database), so their
    /// access tokens stop working on every replica at once, and tells the listener.
    async fn deny_list(&self, sessions: &[SessionId]) -> Result<(), DomainError> {
        let ttl = self.deny_list_ttl();
        for session in sessions {
            self.ports
                .kv
                .set(&Self::revoked_key(*session), b"1", Some(ttl))
                .await?;
        }
        if !sessions.is_empty() {
            self.ports.session_ends.announce(sessions);
        }
        Ok(())
    }

    /// How long a deny-list entry lasts: longer than every access token it refuses, clients'
    /// longer-lived ones included.
    pub(super) fn deny_list_ttl(&self) -> Duration {
        let longest = Duration::from_secs(crate::client::MAX_ACCESS_TOKEN_LIFETIME_SECS);
        self.ports.tokens.access_token_lifetime().max(longest) + Duration::from_secs(60)
    }

    /// Checks an access token: signature and expiry, then the deny-list, then that the user
    /// still exists.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, DomainError> {
        let token = self.ports.tokens.verify(access_token).await?;
        if self
            .ports
            .kv
            .get(&Self::revoked_key(token.session_id))
            .await?
            .is_some()
        {
            return Err(DomainError::InvalidToken);
        }
        let Some(user) = self.ports.users.by_id(token.user_id).await? else {
            return Err(DomainError::InvalidToken);
        };
        Ok(Principal { user, token })
    }

    /// Ends the caller's session.
    pub async fn logout(
        &self,
        principal: &Principal,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        self.revoke_sessions(&[principal.session_id()]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(principal.user.id)
                .on(principal.session_id()),
        )
        .await
    }

    /// The caller's active sessions, newest first.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, DomainError> {
        self.ports
            .sessions
            .active_for_user(principal.user.id, self.now())
            .await
    }

    /// Ends one of the caller's sessions; `NotFound` for anyone else's.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        session: SessionId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        match self.ports.sessions.get(session).await? {
            Some(found) if found.user_id == principal.user.id && found.is_active(self.now()) => {}
            _ => return Err(DomainError::NotFound("session")),
        }
        self.revoke_sessions(&[session]).await?;
        self.record(
            AuditEvent::new(AuditAction::Logout, self.now(), context)
                .by(principal.user.id)
                .on(session),
        )
        .await
    }

    /// Ends every session of a user except `keep`; returns how many ended.
    pub async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<usize, DomainError> {
        let revoked = self
            .ports
            .sessions
            .revoke_all_for_user(user, keep, self.now())
            .await?;
        self.deny_list(&revoked).await?;
        Ok(revoked.len())
    }
}
