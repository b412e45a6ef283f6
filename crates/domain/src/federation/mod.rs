//! Federation in: what a verified assertion from an organization's SAML IdP (and next an
//! upstream OpenID provider) means for Castellan's accounts.
//!
//! The protocol crates verify the proof and hand a [`FederatedIdentity`] here; this module
//! decides who it is ([`FederationService`]: an existing link, else an existing account whose
//! email the source vouches for, else a new account) and what it joins (the connection's
//! organization, with roles mapped from the IdP's groups). It also keeps the short-lived state
//! a browser round trip through an IdP needs: the AuthnRequests issued to each browser
//! ([`AuthnRequests`]) and the replay cache of assertion ids ([`ReplayCache`]), both in the
//! key-value store so that every replica sees them.

mod configurations;
mod connection;
mod identity;
mod links;
mod provisioning;
mod replay;
mod requests;

pub use configurations::SamlConnectionService;
pub use connection::{
    AttributeNames, GroupRole, RoleMapping, SamlConnectionRecord, SamlConnectionStore,
};
pub use identity::FederatedIdentity;
pub use links::{FederatedIdentityStore, FederatedLink};
pub use provisioning::{
    FederationPorts, FederationService, FederationSource, Resolution, Resolved,
};
pub use replay::ReplayCache;
pub use requests::{AuthnRequests, PendingAuthn, REQUEST_TTL, RequestHandles};
