//! The sign-in flow. Whatever proves who the user is (a password, a magic link, a passkey, a
//! federated assertion) is a [`FirstFactor`] of this one flow: it applies the same
//! policy to each (lockout, confirmed address, the organization's MFA requirement and allowed
//! methods, the platform's required enrolment), asks for the second step where the account
//! has one, and opens the session with its `amr`. The REST API and the hosted pages call it
//! and only render what it answers; the protocol services (`mfa`, `passkeys`, the email links)
//! only verify their proofs and hand them here.

pub(crate) mod credentials;
pub(crate) mod factor;
pub(crate) mod lockout;
pub(crate) mod method;
pub(crate) mod policy;

use std::sync::Arc;

pub use credentials::PasswordCheck;
pub use factor::FirstFactor;
pub use lockout::Lockout;
pub use method::{Amr, AuthMethod};

use crate::accounts::{SessionService, TokenPair};
use crate::audit::{AuditAction, AuditEvent, EventSink};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::mfa::{FactorDirectory, MfaChallenge, MfaChallenges, PendingSignIn};
use crate::org::OrganizationId;
use crate::sensitive::OneTimeCode;
use crate::session::{RequestContext, Session};
use crate::token::{OrgClaims, OrganizationDirectory};
use crate::user::User;

/// A step of a sign-in, proven: a first factor, or the answer to a pending second step.
#[derive(Clone)]
pub enum Proof {
    /// The first step.
    First(FirstFactor),
    /// `user` answered the second step `mfa_token` with `method` (the caller checked the code
    /// or the assertion; the challenge is used up here).
    Second {
        /// The challenge the first step opened.
        mfa_token: OneTimeCode,
        /// Who answered it.
        user: User,
        /// How (`otp`, `hwk`).
        method: AuthMethod,
    },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::First(factor) => factor.fmt(f),
            // The challenge token stands for a passed first factor: it stays out of logs.
            Self::Second { method, .. } => write!(f, "Proof::Second({})", method.as_str()),
        }
    }
}

impl From<FirstFactor> for Proof {
    fn from(factor: FirstFactor) -> Self {
        Self::First(factor)
    }
}

/// The organization a sign-in asked to be scoped to.
#[derive(Debug, Clone)]
enum Scope {
    /// Checked for membership during this request.
    Member(OrganizationId, OrgClaims),
    /// Named by an earlier step (a pending second step), checked when the session opens.
    Named(String),
}

/// A user who has passed every step of a sign-in; only the flow builds one, so a session is
/// never opened for anyone else.
#[derive(Debug, Clone)]
pub struct Authenticated {
    user: User,
    amr: Amr,
    scope: Option<Scope>,
}

impl Authenticated {
    /// Who signed in.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// How.
    pub fn amr(&self) -> &Amr {
        &self.amr
    }
}

/// How a first step ended.
#[derive(Debug, Clone)]
enum Passed {
    /// Every step is done.
    Fully(Authenticated),
    /// A second factor must follow; the challenge is open.
    FirstStep(MfaChallenge),
}

/// How a sign-in through the API ended. Callers match on the outcome rather than assume
/// tokens, so a new step fails to compile until every caller handles it.
#[derive(Debug, Clone)]
pub enum SignInOutcome {
    /// Signed in: here are the tokens.
    Complete(TokenPair),
    /// The first factor passed and a second factor must follow.
    SecondFactor(MfaChallenge),
}

/// How a sign-in through the hosted pages ended.
#[derive(Debug, Clone)]
pub enum BrowserSignIn {
    /// Signed in: the browser session is open.
    Opened(Session),
    /// The first factor passed and a second factor must follow.
    SecondFactor(MfaChallenge),
    /// The platform requires a second factor and the account has none: it must enrol one
    /// before the session opens.
    MustEnrol(Authenticated),
}

/// The adapters the sign-in flow works through.
#[derive(Debug, Clone)]
pub struct SignInPorts {
    /// Which second factors each user has.
    pub factors: Arc<dyn FactorDirectory>,
    /// Pending second steps.
    pub challenges: MfaChallenges,
    /// Organization membership and policy.
    pub organizations: Arc<dyn OrganizationDirectory>,
    /// The audit log.
    pub events: Arc<dyn EventSink>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// The sign-in use cases.
#[derive(Debug, Clone)]
pub struct SignInService {
    sessions: SessionService,
    credentials: PasswordCheck,
    ports: SignInPorts,
    require_verified_email: bool,
}

impl SignInService {
    /// A flow that checks passwords with `credentials` and opens sessions through `sessions`;
    /// with `require_verified_email`, a password sign-in waits until the address is confirmed.
    pub fn new(
        sessions: SessionService,
        credentials: PasswordCheck,
        ports: SignInPorts,
        require_verified_email: bool,
    ) -> Self {
        Self {
            sessions,
            credentials,
            ports,
            require_verified_email,
        }
    }

    /// Signs in through the API: tokens, or the second step. A first factor may ask for the
    /// session to be scoped to `organization` (id or slug; the user must belong to it and meet
    /// its policy); a second step keeps what its first step asked for.
    pub async fn sign_in(
        &self,
        proof: Proof,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<SignInOutcome, DomainError> {
        match self.prove(proof, organization, context).await? {
            Passed::Fully(authenticated) => Ok(SignInOutcome::Complete(
                self.issue_tokens(authenticated, context).await?,
            )),
            Passed::FirstStep(challenge) => Ok(SignInOutcome::SecondFactor(challenge)),
        }
    }

    /// Signs in through the hosted pages: a browser session (no tokens), the second step, or
    /// enrolment first where the platform requires a second factor.
    pub async fn sign_in_browser(
        &self,
        proof: Proof,
        context: &RequestContext,
    ) -> Result<BrowserSignIn, DomainError> {
        match self.prove(proof, None, context).await? {
            Passed::Fully(authenticated) => self.open_browser_session(authenticated, context).await,
            Passed::FirstStep(challenge) => Ok(BrowserSignIn::SecondFactor(challenge)),
        }
    }

    /// Opens the challenge that an enrolment during a sign-in answers: it stands for the
    /// passed first factor, and the first confirmed code finishes the sign-in.
    pub async fn enrolment_challenge(
        &self,
        authenticated: &Authenticated,
        context: &RequestContext,
    ) -> Result<MfaChallenge, DomainError> {
        let pending = PendingSignIn::after_first_factor(
            &authenticated.user,
            authenticated.amr.clone(),
            Vec::new(),
            self.ports.clock.now(),
            context,
        );
        self.ports.challenges.open(pending).await
    }

    /// The pending sign-in a second-step token stands for, refused while the address is
    /// locked for the device of `context`; nothing is used up.
    pub async fn pending(
        &self,
        mfa_token: &OneTimeCode,
        context: &RequestContext,
    ) -> Result<PendingSignIn, DomainError> {
        let pending = self.ports.challenges.peek(mfa_token).await?;
        self.lockout()
            .ensure_unlocked(&pending.email, context)
            .await?;
        Ok(pending)
    }

    /// Counts a wrong answer against the second step `mfa_token`, which is withdrawn at its
    /// limit (the caller counts it toward the account's lockout as well).
    pub async fn second_step_failed(&self, mfa_token: &OneTimeCode) -> Result<(), DomainError> {
        self.ports.challenges.fail(mfa_token).await
    }

    /// The lockout rule that wrong passwords and wrong codes count toward.
    pub fn lockout(&self) -> &Lockout {
        self.credentials.lockout()
    }

    /// The password check, for reauthentication before sensitive changes.
    pub fn credentials(&self) -> &PasswordCheck {
        &self.credentials
    }

    async fn prove(
        &self,
        proof: Proof,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<Passed, DomainError> {
        match proof {
            Proof::First(factor) => self.first_factor(factor, organization, context).await,
            Proof::Second {
                mfa_token,
                user,
                method,
            } => Ok(Passed::Fully(
                self.second_factor(&mfa_token, user, method).await?,
            )),
        }
    }

    /// Checks a first factor and the policy that applies before any second step.
    async fn first_factor(
        &self,
        factor: FirstFactor,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<Passed, DomainError> {
        let (user, amr, second_step_applies) = match factor {
            FirstFactor::Password { email, password } => {
                let user = self.credentials.check(&email, &password, context).await?;
                if self.require_verified_email && !user.email_verified {
                    return Err(DomainError::PendingConfirmation);
                }
                (user, Amr::of(&[AuthMethod::Password]), true)
            }
            FirstFactor::MagicLink(user) => (user, Amr::of(&[AuthMethod::Email]), true),
            // A passkey is possession and, usually, user verification at once.
            FirstFactor::Passkey {
                user,
                user_verified,
            } => {
                let amr = if user_verified {
                    Amr::of(&[AuthMethod::HardwareKey, AuthMethod::UserPresence])
                } else {
                    Amr::of(&[AuthMethod::HardwareKey])
                };
                (user, amr, false)
            }
            FirstFactor::NewAccount(user) => (user, Amr::of(&[AuthMethod::Password]), false),
            // The IdP vouched for the first factor; the account's own second factor still
            // applies, as after a password.
            FirstFactor::Federated { user, method } => (user, Amr::of(&[method]), true),
        };
        let scope = match organization {
            Some(reference) => {
                let (id, claims) =
                    policy::membership(self.ports.organizations.as_ref(), &user, reference).await?;
                Some(Scope::Member(id, claims))
            }
            None => None,
        };
        if second_step_applies {
            let methods = self.ports.factors.second_factors(user.id).await?;
            if !methods.is_empty() {
                let mut pending = PendingSignIn::after_first_factor(
                    &user,
                    amr,
                    methods,
                    self.ports.clock.now(),
                    context,
                );
                pending.organization = organization.map(str::to_owned);
                let challenge = self.ports.challenges.open(pending).await?;
                return Ok(Passed::FirstStep(challenge));
            }
        }
        Ok(Passed::Fully(Authenticated { user, amr, scope }))
    }

    /// Uses up the second step `mfa_token`, which `user` answered with `method`.
    async fn second_factor(
        &self,
        mfa_token: &OneTimeCode,
        user: User,
        method: AuthMethod,
    ) -> Result<Authenticated, DomainError> {
        let pending = self.ports.challenges.consume(mfa_token).await?;
        if pending.user_id != user.id {
            return Err(DomainError::InvalidToken);
        }
        Ok(Authenticated {
            user,
            amr: pending.amr.with_second_factor(method),
            scope: pending.organization.map(Scope::Named),
        })
    }

    /// Opens a session, scoped to the organization the sign-in asked for once its policy
    /// admits the sign-in, and issues tokens.
    async fn issue_tokens(
        &self,
        authenticated: Authenticated,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let Authenticated { user, amr, scope } = authenticated;
        let (id, claims) = match scope {
            None => return self.tokens_for(user, &amr, None, context).await,
            Some(Scope::Member(id, claims)) => (id, claims),
            Some(Scope::Named(reference)) => {
                policy::membership(self.ports.organizations.as_ref(), &user, &reference).await?
            }
        };
        policy::admits(&claims, &amr)?;
        self.tokens_for(user, &amr, Some(id), context).await
    }

    async fn tokens_for(
        &self,
        user: User,
        amr: &Amr,
        organization: Option<OrganizationId>,
        context: &RequestContext,
    ) -> Result<TokenPair, DomainError> {
        let session = self.open_session(&user, amr, organization, context).await?;
        self.sessions.issue_pair(user, &session).await
    }

    /// Opens a browser session (no tokens), or asks for enrolment first where the platform
    /// requires a second factor and the sign-in used none.
    async fn open_browser_session(
        &self,
        authenticated: Authenticated,
        context: &RequestContext,
    ) -> Result<BrowserSignIn, DomainError> {
        if self.sessions.needs_enrollment(&authenticated.amr.names()) {
            return Ok(BrowserSignIn::MustEnrol(authenticated));
        }
        let session = self
            .open_session(&authenticated.user, &authenticated.amr, None, context)
            .await?;
        Ok(BrowserSignIn::Opened(session))
    }

    /// Stores the session, clears the address's failures, lets the organization that verified
    /// the address's domain take the user in, and records the sign-in.
    async fn open_session(
        &self,
        user: &User,
        amr: &Amr,
        organization: Option<OrganizationId>,
        context: &RequestContext,
    ) -> Result<Session, DomainError> {
        let session = self
            .sessions
            .create_session(user, amr.names(), organization, context)
            .await?;
        self.lockout()
            .signed_in(user.email.as_str(), context)
            .await?;
        self.ports
            .organizations
            .join_by_domain(user, context)
            .await?;
        self.ports
            .events
            .record(
                AuditEvent::new(AuditAction::SigninSucceeded, session.created_at, context)
                    .by(user.id)
                    .on(session.id)
                    .note(format!("amr={}", session.amr.join(","))),
            )
            .await?;
        Ok(session)
    }
}
