//! sea-orm entities, one module per table. They never leave this crate.

pub mod audit_event;
pub mod consent_record;
pub mod email_token;
pub mod federated_identity;
pub mod invitation;
pub mod lease;
pub mod link_request;
pub mod mail_outbox;
pub mod membership;
pub mod mfa_backup_code;
pub mod mfa_totp;
pub mod oauth_client;
pub mod oauth_consent;
pub mod org_group;
pub mod org_group_member;
pub mod organization;
pub mod organization_domain;
pub mod passkey;
pub mod refresh_token;
pub mod role;
pub mod saml_connection;
pub mod session;
pub mod session_client;
pub mod signing_key;
pub mod user;
