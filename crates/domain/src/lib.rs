//! Castellan's pure core: what the identity platform's things are, the rules over them, the
//! services that apply those rules, and the ports (traits) that storage, cache, mail and
//! protocol adapters implement.
//!
//! This crate depends on no web framework, database driver or cache client; CI checks that.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod client;
pub mod clients;
pub mod clock;
pub mod compliance;
pub mod email;
pub mod error;
pub mod federation;
pub mod keys;
pub mod kv;
pub mod lease;
pub mod mfa;
pub mod org;
pub mod outbound;
pub mod password;
pub mod platform;
pub mod protocol;
pub mod random;
pub mod ratelimit;
pub mod secret;
pub mod sensitive;
pub mod session;
pub mod signin;
pub mod token;
pub mod user;

pub use accounts::{
    AccountSettings, NewAccount, Principal, ProfilePorts, ProfileService, RefreshBudget,
    RefreshExchange, RegistrationPorts, RegistrationService, SessionPorts, SessionService,
    SessionSettings, TokenPair,
};
pub use admin::{AdminService, AdminUserPatch, DirectoryPorts};
pub use audit::{AuditAction, AuditEvent, AuditLog, AuditQuery, EventSink};
pub use client::{
    ClientAuthMethod, ClientMetadata, ClientRepository, Consent, ConsentRepository, OAuthClient,
    SessionParticipants,
};
pub use clients::{ClientService, IssuedClient};
pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use compliance::{CompliancePorts, ComplianceService, ConsentLedger, ConsentRecord};
pub use email::{
    EmailPorts, EmailService, EmailSettings, EmailToken, EmailTokenRepository, LinkKind,
    LinkRequest, LinkRequestQueue, MagicLinks, MailComposer, MailQueue, Mailer, Notice,
    NoticePorts, NoticeSink, Outbox, OutgoingMail, QueuedLinkRequest, QueuedMail, TokenPurpose,
};
pub use error::{DomainError, Violations};
pub use keys::{KeyState, SigningKeyRecord, SigningKeyRepository};
pub use kv::{Counter, KeyValueStore, KvError};
pub use lease::{LeaseError, LeaseRepository};
pub use mfa::{
    FactorDirectory, MfaChallenge, MfaChallenges, MfaMethod, MfaRepository, PasskeyRecord,
    PasskeyRepository, PendingSignIn, SecretSealer, TotpFactor,
};
pub use org::{
    Added, CustomRole, Decision, DomainService, DomainStore, Group, GroupService, GroupStore,
    Invitation, InvitationService, InvitationStore, Member, MemberRef, MemberService, Membership,
    MembershipDirectory, MembershipStore, Organization, OrganizationAccess, OrganizationDomain,
    OrganizationId, OrganizationPage, OrganizationPatch, OrganizationPolicy, OrganizationPorts,
    OrganizationService, OrganizationServices, OrganizationStore, OrganizationWiring, RoleService,
    RoleStore, RoleView, TxtLookup, Verification,
};
pub use outbound::{OutboundError, OutboundHttp, OutboundRequest, OutboundResponse};
pub use password::{PasswordHasher, PasswordPolicy, PolicyMode};
pub use platform::{Maintenance, PlatformService, PlatformStats};
pub use protocol::{ClientId, InvalidUri, RedirectUri, Scope};
pub use random::{RandomSource, SystemRandom};
pub use ratelimit::{Limit, RateDecision, RateLimiter};
pub use sensitive::{AccessToken, ClientSecret, OneTimeCode, Password, RefreshToken};
pub use session::{
    RefreshRecord, RefreshTokenRepository, RequestContext, Session, SessionEndListener,
    SessionEnds, SessionEndsReceiver, SessionId, SessionRepository,
};
pub use signin::{
    Amr, AuthMethod, Authenticated, BrowserSignIn, FirstFactor, Lockout, PasswordCheck, Proof,
    SignInOutcome, SignInPorts, SignInService,
};
pub use token::{
    AccessGrant, IssuedToken, OrgChoice, OrgClaims, OrganizationDirectory, TokenIssuer,
    VerifiedToken,
};
pub use user::{
    Email, PlatformRole, ProfilePatch, User, UserId, UserPage, UserQuery, UserRepository,
};
